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
    ("(1, 2) > 1", "cannot compare"),
    ("1 in 2", "'in' needs"),
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
    with pytest.raises(ExpressionError, match="must be a string"):
        evaluate_condition(1, CTX)  # type: ignore[arg-type]


def test_deep_nesting_fails_cleanly():
    with pytest.raises(ExpressionError):
        evaluate_rule("(" * 500 + "1" + ")" * 500)
    with pytest.raises(ExpressionError):
        evaluate_rule("not " * 5000 + "true")


def test_evaluation_is_not_python_eval():
    # Python would evaluate these; the rule language refuses them.
    for text in ("__import__('os')", "[].__class__", "1 if 1 else 0", "len('a') == 1"):
        with pytest.raises(ExpressionError):
            evaluate_rule(text)
