"""The gateway condition language (rendered, then evaluated BoolRule-style)."""
from __future__ import annotations

import pytest

from pipeline_engine.core.conditions import evaluate_condition, evaluate_rule
from pipeline_engine.core.expressions import ExpressionError

CTX = {"a": 1, "s": "v", "n": 5, "m": "2", "flag": True, "off": False, "l": [1, 2], "name": "web-01",
       "empty": "", "f": 2.5}


@pytest.mark.parametrize("expr, expected", [
    # the forms the original's templates use
    ("${a} == 1", True),
    ("${a} == 2", False),
    ('"${s}" == "v"', True),
    ("'${s}' == 'v'", True),
    ("${n} > 3 and ${m} in (1, 2)", True),
    ("${n} > 3 and ${m} in (3, 4)", False),
    ("${n} < 3 or ${m} in (1, 2)", True),
    # comparison operators
    ("${a} != 2", True),
    ("${n} >= 5", True),
    ("${n} <= 4", False),
    ("${n} < 10", True),
    ("${f} > 2", True),
    ("1 = 1", True),
    # membership and sets
    ("${m} notin (1, 3)", True),
    ("${m} not in [1, 3]", True),
    ('"eb" in "${name}"', True),
    ('"x" in "${name}"', False),
    ("(1, 2, 3) issuperset (1, 2)", True),
    ("(1, 2) issuperset (1, 2, 3)", False),
    ("(1, 2) notissuperset (3,)", True),
    ('("a", "b") issuperset ("a",)', True),
    ("${l} == [1, 2]", True),
    # booleans and grouping
    ("not ${a} == 2", True),
    ("not (${a} == 1 or ${a} == 2)", False),
    ("(${a} == 1 or ${a} == 2) and true", True),
    ("${a} == 1 and (${n} == 1 or ${n} == 5)", True),
    ("${flag} == True", True),
    ("${flag} == true", True),
    ('${flag} == "true"', True),
    ("${off} == False", True),
    ("True", True),
    ("false", False),
    ("true and not false", True),
    ("None == none", True),
    # bare identifiers are their own name
    ("${s} == v", True),
    ("v == v", True),
    ("${name} == web-01", True),
    ("abc == 'abc'", True),
    ("abc != abd", True),
    # int/str coercion
    ('"10" > 9', True),
    ('${m} == "2"', True),
    ('"${m}" == 2', True),
    ('"2.0" == 2', True),
    ('"abc" == 1', False),
    ('"abc" != 1', True),
    ("-1 < 0", True),
    ("1e3 == 1000", True),
    # empty values
    ('"${empty}" == ""', True),
    # escapes inside strings
    (r'"a\"b" == ' + "'a\"b'", True),
    # every comparison, false as well as true
    ("${a} != 1", False),
    ("${n} > 5", False),
    ("${n} > 4", True),
    ("${n} >= 6", False),
    ("${n} < 5", False),
    ("${n} <= 5", True),
    ("${m} notin (1, 2)", False),
    ("${m} not in [1, 2]", False),
    ("(1, 2) notissuperset (1,)", False),
    ("(1, 2) issuperset 2", True),
    ("(1, 2) issuperset 3", False),
    ("1 ≠ 2", True),
    ("1 ≠ 1", False),
    ("2 ≥ 2", True),
    ("1 ≥ 2", False),
    ("2 ≤ 2", True),
    ("3 ≤ 2", False),
    # every boolean form, false as well as true
    ("(1 == 2)", False),
    ("(1 == 1)", True),
    ("not (1 == 2)", True),
    ("not true", False),
    ("not not true", True),
    ("true and false", False),
    ("false and true", False),
    ("true or false", True),
    ("false or true", True),
    ("false or false", False),
    ("${flag} == \"no\"", False),
    # groups, tuples and lists
    ("(1) == 1", True),
    ("(1,) == 1", False),
    ("(1, 2,) == (1, 2)", True),
    ("() == ()", True),
    ("[] == []", True),
    ("[1, [2, 3]] == [1, [2, 3]]", True),
    ("[1, 2] == [2, 1]", False),
    ("[1] == 1", False),  # brackets make a list even of one item; only parentheses group
    ("[1] == [1]", True),
    # a number in a string looks for its text
    ('1 in "a1b"', True),
    ('5 in "a1b"', False),
    ('"b" in "abc"', True),
    # a string on the left
    ('"1" == ${a}', True),
    ('"2" == ${a}', False),
    ('"abc" == 2', False),
    ('"1" < 2', True),
    ('"b" > 1', True),  # not a number: compared as text, "b" > "1"
    ('"TRUE " == true', True),
    ('"yes" == true', False),
    ("1 < \"x\"", True),  # the number as text: "1" < "x"
    # a number meets a string: read as a number when it is one, else compared as text
    ('10 > "9"', True),
    ('2 == "2.0"', True),
    ('2 == " 2 "', True),
    ('9 > "A"', False),  # "9" < "A"
    ('9 < "A"', True),
    ('"A" < 9', False),
    ('"A" > 9', True),
])
def test_conditions(expr, expected):
    assert evaluate_condition(expr, CTX) is expected


@pytest.mark.parametrize("expr, message", [
    ("1 ==", "cannot be parsed"),
    ("${a} == 1 and", "cannot be parsed"),
    ("(1 == 1", "expected ')'"),
    ("1 == 1)", "unexpected ')'"),
    ("1 == 1 ==", "unexpected"),
    ("1 + 1 == 2", "unexpected character '+'"),
    ('"unterminated == 1', "cannot be parsed"),
    ("a ?? b", "unexpected character"),
    ("and", "expected a value"),
    ("", "expected a value"),
    ("(1, 2) > 1", "cannot compare (1, 2) with 1"),
    ("1 in 2", "'in' needs a string, list or tuple on its right, not 2"),
    # where and what: the position is 1-based, the token is quoted as written
    ("1 2", "unexpected '2' at position 3"),
    ('"a" "b"', """unexpected '"b"' at position 5"""),
    ("1 == == 2", "expected a value at position 6, found '=='"),
    ("1 == or", "expected a value at position 6, found 'or'"),
    ("1 ==", "expected a value at position 5, found the end of the condition"),
    ("(1 == 1", "expected ')' at position 8, found the end of the condition"),
    ("a ?? b", "unexpected character '?' at position 3"),
    ("not in (1, 2)", "expected a value at position 1, found 'not'"),
    # mismatched brackets
    ("1 == )", "expected a value at position 6, found ')'"),
    ("(1, 2]", "expected ')' at position 6, found ']'"),
    ("[1, 2)", "expected ']' at position 6, found ')'"),
])
def test_parse_and_evaluation_errors(expr, message):
    with pytest.raises(ExpressionError) as err:
        evaluate_condition(expr, CTX)
    assert message in str(err.value)


def test_undefined_variable_is_named():
    with pytest.raises(ExpressionError, match=r"undefined variables: \$\{zz\}"):
        evaluate_condition("${zz} == 1", CTX)


def test_a_quoted_undefined_variable_compares_as_text():
    # As in the original: the fragment stays literal inside the quotes.
    assert evaluate_condition('"${zz}" == "x"', CTX) is False


def test_forbidden_fragment_raises():
    with pytest.raises(ExpressionError, match="not allowed"):
        evaluate_condition('${"".__class__} == 1', CTX)


def test_expressions_inside_fragments_are_rendered_first():
    assert evaluate_condition("${int(m) + n} == 7", CTX) is True
    assert evaluate_condition("${len(l)} >= 2", CTX) is True


def test_non_string_condition_is_rejected():
    with pytest.raises(ExpressionError) as err:
        evaluate_condition(1, CTX)  # type: ignore[arg-type]
    assert str(err.value) == "Condition must be a string, not int."


def test_deep_nesting_fails_cleanly():
    with pytest.raises(ExpressionError):
        evaluate_rule("(" * 500 + "1" + ")" * 500)
    with pytest.raises(ExpressionError):
        evaluate_rule("not " * 5000 + "true")


def test_the_nesting_guard_allows_100_levels_and_refuses_101_by_its_own_rule():
    # Wherever the nesting is: groups before it do not count towards it.
    assert evaluate_rule("(" * 100 + "1" + ")" * 100) is True
    assert evaluate_rule("(1) == [2] or " + "[" * 100 + "1" + "]" * 100) is True
    for text in ("(" * 101 + "1" + ")" * 101, "[" * 101 + "]" * 101,
                 "(1) == ((1)) or " + "(" * 101 + "1" + ")" * 101):
        with pytest.raises(ExpressionError, match="parentheses nest deeper than 100 levels"):
            evaluate_rule(text)


def test_many_groups_side_by_side_are_not_nesting():
    assert evaluate_rule(" or ".join(["(1 == 2)"] * 300)) is False
    assert evaluate_rule("1 in [" + ", ".join(["(1)"] * 300) + "]") is True


def test_recursion_without_brackets_is_caught_by_the_fallback():
    # `not` nests without brackets, so the bracket guard does not see it.
    text = "not " * 5000 + "true"
    with pytest.raises(ExpressionError) as err:
        evaluate_rule(text)
    assert str(err.value) == f"Condition {text[:60]!r}... nests too deeply."


@pytest.mark.parametrize("literal, value", [
    (r'"a\tb"', "a\tb"),
    (r'"a\nb"', "a\nb"),
    (r'"a\rb"', "a\rb"),
    (r'"a\0b"', "a\0b"),
    (r"'it\'s'", "it's"),
    (r'"\q"', "q"),  # an unknown escape keeps the character
])
def test_escapes_in_strings(literal, value):
    assert evaluate_condition(f'{literal} == "${{v}}"', {"v": value}) is True
    assert evaluate_condition(f'{literal} == "${{v}}"', {"v": value + "x"}) is False


def test_values_up_to_60_characters_are_shown_whole_in_messages():
    five = "(" + ", ".join(["1234567890"] * 5) + ")"  # its repr is 60 characters
    with pytest.raises(ExpressionError) as err:
        evaluate_rule(f"{five} > 1")
    assert f"cannot compare {five} with 1." in str(err.value)


def test_values_over_60_characters_are_shortened_in_messages():
    with pytest.raises(ExpressionError) as err:
        evaluate_rule('"' + "x" * 59 + '" > (1,)')  # its repr is 61 characters
    assert f"cannot compare {repr('x' * 59)[:57]}... with (1,)." in str(err.value)


def test_long_values_are_shortened_in_messages():
    big = "(" + ", ".join(["1234567890"] * 10) + ")"
    shown = repr(tuple([1234567890] * 10))[:57] + "..."
    with pytest.raises(ExpressionError) as err:
        evaluate_rule(f"{big} > 1")
    assert f"cannot compare {shown} with 1" in str(err.value)
    with pytest.raises(ExpressionError) as err:
        evaluate_rule(f"1 in {big[1:11]}")
    assert "not 1234567890." in str(err.value)


def test_condition_length_limits():
    padded = "1 == 1" + " " * (20_000 - 6)
    assert evaluate_condition(padded, {}) is True
    with pytest.raises(ExpressionError, match="Condition is longer than 20000 characters"):
        evaluate_condition(padded + " ", {})
    # The rendered text may be ten times as long, no more.
    expr = '"${big}" == "x"'  # 9 characters around the value
    assert evaluate_condition(expr, {"big": "a" * (200_000 - 9)}) is False
    with pytest.raises(ExpressionError, match="too long once its variables are filled in"):
        evaluate_condition(expr, {"big": "a" * (200_000 - 8)})


def test_undefined_variables_are_all_named_in_order():
    with pytest.raises(ExpressionError) as err:
        evaluate_condition("${zz} == ${yy} and ${zz} == 1", CTX)
    assert "refers to undefined variables: ${yy}, ${zz}." in str(err.value)


def test_evaluation_is_not_python_eval():
    # Python would evaluate these; the rule language refuses them.
    for text in ("__import__('os')", "[].__class__", "1 if 1 else 0", "len('a') == 1"):
        with pytest.raises(ExpressionError):
            evaluate_rule(text)
