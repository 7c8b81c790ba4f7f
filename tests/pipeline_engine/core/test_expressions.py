"""Rendering `${...}` references: types, splicing, nesting, literals, resolution."""
from __future__ import annotations

import re

import pytest

from pipeline_engine.core.expressions import (
    ExpressionError,
    evaluate,
    references,
    render,
    render_text,
    resolve_context,
)

CTX = {
    "a": 1,
    "b": "2",
    "s": "x, y ,z",
    "f": 1.5,
    "flag": True,
    "items": [1, 2, 3],
    "cfg": {"host": "h1", "ports": [80, 443]},
    "none": None,
    "_system": {"task_id": 7},
}


class TestTypeKeeping:
    @pytest.mark.parametrize("text, expected", [
        ("${a}", 1),
        ("${f}", 1.5),
        ("${flag}", True),
        ("${items}", [1, 2, 3]),
        ("${cfg}", {"host": "h1", "ports": [80, 443]}),
        ("${none}", None),
        ("${ a }", 1),
        ("${int(b) + a}", 3),
        ("${a == 1}", True),
        ("${items[1:]}", [2, 3]),
        ("${cfg['ports'][-1]}", 443),
        ("${cfg.host}", "h1"),
        ("${_system.task_id}", 7),
        ("${len(items)}", 3),
        ("${'yes' if flag else 'no'}", "yes"),
    ])
    def test_exact_fragment_returns_the_object(self, text, expected):
        assert render(text, CTX) == expected

    def test_object_identity_is_not_required_but_value_is_not_stringified(self):
        assert isinstance(render("${items}", CTX), list)
        assert render("${a}", CTX) is not None


class TestSplicing:
    def test_fragments_inside_text_are_spliced_as_str(self):
        assert render("a=${a}, b=${b}, f=${f}", CTX) == "a=1, b=2, f=1.5"

    def test_bool_none_and_containers_splice_like_python_str(self):
        assert render("${flag}/${none}/${items}", CTX) == "True/None/[1, 2, 3]"

    def test_expression_splice(self):
        assert render("n=${a + int(b) * 10}", CTX) == "n=21"

    def test_render_text_always_gives_a_string(self):
        assert render_text("${a}", CTX) == "1"

    def test_text_without_fragments_is_untouched(self):
        assert render("plain $ {a} $a {a}", CTX) == "plain $ {a} $a {a}"


class TestLiteralFallback:
    @pytest.mark.parametrize("text", [
        "${missing}",
        "${missing + 1}",
        "${cfg.host + missing}",
        "x ${missing} y",
    ])
    def test_unknown_names_stay_literal(self, text):
        assert render(text, CTX) == text

    @pytest.mark.parametrize("text", [
        "${var:-default}", "${HOME}", "${arr[@]}", "${#arr}", "${var%.txt}", "${!ref}",
        "${var/foo/bar}", "${PATH}", "${x,,}",
    ])
    def test_shell_parameter_expansions_pass_through(self, text):
        script = f"echo {text}; echo ${{a}}"
        assert render(script, CTX) == f"echo {text}; echo 1"

    def test_partial_splice_keeps_unknown_fragment(self):
        assert render("${a}-${nope}-${b}", CTX) == "1-${nope}-2"


class TestNested:
    def test_dicts_lists_tuples_are_rendered_recursively(self):
        value = {"k": ["${a}", {"deep": "v${b}"}, ("${flag}", 5)], "n": 3, "none": None}
        assert render(value, CTX) == {"k": [1, {"deep": "v2"}, (True, 5)], "n": 3, "none": None}

    def test_keys_are_kept(self):
        assert render({"${a}": "${a}"}, CTX) == {"${a}": 1}

    def test_input_is_not_mutated(self):
        value = {"k": ["${a}"]}
        render(value, CTX)
        assert value == {"k": ["${a}"]}


class TestFunctionsAndMethods:
    @pytest.mark.parametrize("expr, expected", [
        ("s.split(',')", ["x", " y ", "z"]),
        ("s.strip()", "x, y ,z"),
        ("s.upper()", "X, Y ,Z"),
        ("s.lower()", "x, y ,z"),
        ("s.replace(' ', '')", "x,y,z"),
        ("s.startswith('x')", True),
        ("s.endswith('z')", True),
        ("'-'.join(['a', 'b'])", "a-b"),
        ("str(a) + b", "12"),
        ("float(b)", 2.0),
        ("bool(0)", False),
        ("abs(-3)", 3),
        ("min(items)", 1),
        ("max(3, 4)", 4),
        ("round(2.567, 2)", 2.57),
        ("sum(items)", 6),
        ("sorted([3, 1, 2], reverse=True)", [3, 2, 1]),
        ("list('ab')", ["a", "b"]),
        ("tuple(items)", (1, 2, 3)),
        ("dict([('k', 1)])", {"k": 1}),
        ("cfg.get('host')", "h1"),
        ("cfg.keys()", ["host", "ports"]),
        ("3 in items", True),
        ("4 not in items", True),
        ("1 < a + 1 <= 2", True),
        ("not flag or a", 1),
        ("-a", -1),
        ("a - 3", -2),
        ("3 - a", 2),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("2 ** 10", 1024),
        ("7 / 2", 3.5),
        ("(1, 2)", (1, 2)),
        ("none is None", True),
    ])
    def test_whitelisted_constructs(self, expr, expected):
        assert evaluate(expr, CTX) == expected

    @pytest.mark.parametrize("expr, expected", [
        # every comparison, false as well as true
        ("a == 2", False),
        ("a != 1", False),
        ("a != 2", True),
        ("a < 1", False),
        ("a < 2", True),
        ("a <= 0", False),
        ("a <= 1", True),
        ("a > 1", False),
        ("a > 0", True),
        ("a >= 2", False),
        ("a >= 1", True),
        ("4 in items", False),
        ("3 not in items", False),
        ("none is not None", False),
        ("a is None", False),
        ("1 < a + 1 <= 1", False),  # a chain is false when a later link is
        ("3 > a < 2", True),
        ("3 > a > 2", False),
        # not, unary minus and plus, the conditional's both arms
        ("not flag", False),
        ("not none", True),
        ("-f", -1.5),
        ("--a", 1),
        ("+a", 1),
        ("'yes' if none else 'no'", "no"),
        ("'yes' if a == 1 else 'no'", "yes"),
        # `and` / `or` give the operand that settles them, as in Python
        ("a and b", "2"),
        ("0 and b", 0),
        ("a and none and b", None),
        ("none or 0 or ''", ""),
        ("none or b", "2"),
        ("a or b", 1),
        # containers and calls
        ("[a, b][1]", "2"),
        ("(a,) + (b,)", (1, "2")),
        ("{'k': a}", {"k": 1}),  # a dict literal (only through evaluate(): `${` excludes braces)
        ("items[::2]", [1, 3]),
        ("items[:2]", [1, 2]),
        ("items[-2:-1]", [2]),
        ("dict(k=a)", {"k": 1}),
        ("round(2.5)", 2),
        ("round(1.25, 1)", 1.2),
        ("list(cfg)", ["host", "ports"]),
        ("sorted(cfg, reverse=True)", ["ports", "host"]),
        ("cfg.values()", ["h1", [80, 443]]),
        ("cfg.items()", [("host", "h1"), ("ports", [80, 443])]),
        ("'ab'.replace('', '-')", "-a-b-"),
        ("'a,b'.join(['x', 'y'])", "xa,by"),
        ("''.join([])", ""),
        ("s.split(',', 1)", ["x", " y ,z"]),
        ("s.rsplit(',', 1)", ["x, y ", "z"]),
        ("s.find('y')", 3),
        ("s.rfind(',')", 5),
        ("s.split(maxsplit=1)", ["x,", "y ,z"]),
        ("cfg.get('nope', 'dflt')", "dflt"),
        ("'-'.join('ab')", "a-b"),
        ("s.lstrip('x')", ", y ,z"),
        ("s.rstrip('z')", "x, y ,"),
    ])
    def test_values_false_and_true(self, expr, expected):
        assert evaluate(expr, CTX) == expected
        assert type(evaluate(expr, CTX)) is type(expected)

    def test_an_operand_after_the_settling_one_is_not_evaluated(self):
        assert evaluate("a or 1 / 0", CTX) == 1
        assert evaluate("none and 1 / 0", CTX) is None
        assert evaluate("1 if a else 1 / 0", CTX) == 1

    def test_dict_unpacking_is_refused(self):
        with pytest.raises(ExpressionError) as err:
            evaluate("{'a': 1, **cfg}", CTX)
        assert str(err.value) == "Expression ${{'a': 1, **cfg}} is not allowed: dict unpacking (**) is not supported."

    def test_none_is_a_valid_key(self):
        assert evaluate("d[None]", {"d": {None: "n"}}) == "n"

    def test_evaluate_refuses_what_render_keeps_literally(self):
        with pytest.raises(ExpressionError, match=r"Expression \$\{1 \+\} is not a valid expression"):
            evaluate("1 +", CTX)
        with pytest.raises(ExpressionError, match="unknown names: yy, zz"):
            evaluate("zz + yy", CTX)

    @pytest.mark.parametrize("expr, reason", [
        ("1 / 0", "division by zero"),
        ("int(s)", "invalid literal"),
        ("items[10]", "out of range"),
        ("cfg['nope']", "does not exist"),
        ("cfg.nope", "key 'nope' does not exist"),
        ("a.strip()", "no allowed method"),
        ("items + 1", "can only concatenate"),
        ("'%s' % a", "formatting"),
        # what the evaluator refuses that Python would do
        ("items[flag:]", "slice bounds must be integers"),
        ("cfg[1:]", "dict values cannot be sliced"),
        ("a[0]", "int values cannot be indexed"),
        ("r[0]", "range values cannot be indexed"),
        ("cfg[items]", "list values cannot be used as keys"),
        ("s.index('x')", "str values have no allowed method 'index'"),
        ("raw.upper()", "bytes values have no allowed method 'upper'"),
        ("cfg.split(',')", "dict values have no allowed method 'split'"),
        ("s.upper", "str values have no attribute 'upper'"),
        ("list(r)", "list() needs a list, tuple, str or dict"),
        ("tuple(r)", "tuple() needs a list, tuple, str or dict"),
        ("sorted(r)", "sorted() needs a list, tuple, str or dict"),
        ("sum(r)", "sum() needs a list, tuple, str or dict"),
        ("min(r)", "min() needs a list, tuple, str or dict"),
        ("max(r)", "max() needs a list, tuple, str or dict"),
        ("dict(r)", "dict() needs a list, tuple, str or dict"),
        ("round(1.5, 1.0)", "round() digits must be an integer between -100 and 100"),
        ("round(1.5, 101)", "round() digits must be an integer between -100 and 100"),
        ("round(1.5, -101)", "round() digits must be an integer between -100 and 100"),
        ("+b", "bad operand type for unary +"),
        # argument mistakes get Python's own error
        ("'x'.join()", "takes exactly one argument (0 given)"),
        ("'x'.join(items, items)", "takes exactly one argument (2 given)"),
        ("'-'.join(items)", "sequence item 0: expected str instance, int found"),
        ("s.replace('x', 1)", "replace() argument 2 must be str, not int"),
    ])
    def test_evaluation_errors_raise_a_clear_expression_error(self, expr, reason):
        ctx = {**CTX, "r": range(3), "raw": b"x"}
        with pytest.raises(ExpressionError) as err:
            render("${" + expr + "}", ctx)
        assert "${" + expr + "}" in str(err.value)
        assert reason in str(err.value)

    def test_braces_cannot_appear_in_a_fragment(self):
        # The fragment grammar excludes '{' and '}', as the original's does.
        assert render("${{'k': a}}", CTX) == "${{'k': a}}"

    def test_evaluate_reports_unknown_names(self):
        with pytest.raises(ExpressionError, match="unknown names: zz"):
            evaluate("zz + 1", CTX)


class TestReferences:
    def test_simple_and_expression_names(self):
        assert references("${a}") == {"a"}
        assert references("${int(a) + b}") == {"a", "b"}

    def test_function_names_are_excluded_only_in_call_position(self):
        assert references("${len(x)} ${str(y)}") == {"x", "y"}

    def test_recursive_structures(self):
        value = {"k": ["${a}", {"x": "pre ${b.c} post ${d[0]}"}], "n": 1, "t": ("${e}",)}
        assert references(value) == {"a", "b", "d", "e"}

    def test_unparsable_fragments_reference_nothing(self):
        assert references("${var:-x} ${#y}") == set()

    def test_plain_strings_among_values_do_not_stop_the_search(self):
        assert references(["${a}", "plain", "${b}", "more"]) == {"a", "b"}

    def test_forbidden_fragments_still_report_names_without_raising(self):
        assert references("${a.__class__}") == {"a"}
        assert references("${a.__class__ + b}") == {"a", "b"}
        assert references("${ a.__class__ }") == {"a"}

    def test_reserved_names_and_too_long_fragments_reference_nothing(self):
        assert references("${__x} ${b}") == {"b"}
        too_long = "${" + " + ".join(["a.__class__"] * 200) + "}"
        assert references(too_long) == set()
        at_the_limit = "${a.__class__" + " " * (2000 - 14) + "}"  # 2000 characters: still parsed
        assert len(at_the_limit) == 2000 and references(at_the_limit) == {"a"}
        assert references(at_the_limit[:-1] + " }") == set()

    def test_non_strings(self):
        assert references(5) == set()
        assert references(None) == set()


class TestResolveContext:
    def test_transitive_resolution_in_dependency_order(self):
        raw = {"c": "${b}!", "b": "${a}-${a}", "a": "x", "n": "${int(m) + 1}", "m": "41"}
        assert resolve_context(raw) == {"a": "x", "b": "x-x", "c": "x-x!", "m": "41", "n": 42}

    def test_type_is_kept_through_a_chain(self):
        assert resolve_context({"a": [1, 2], "b": "${a}", "c": "${b}"})["c"] == [1, 2]

    def test_unknown_references_stay_literal(self):
        assert resolve_context({"a": "${outside}", "b": "${a}"}) == {"a": "${outside}", "b": "${outside}"}

    def test_nested_values_are_resolved(self):
        assert resolve_context({"a": 1, "b": {"k": ["${a}"]}}) == {"a": 1, "b": {"k": [1]}}

    def test_a_cycle_is_shown_as_a_chain(self):
        with pytest.raises(ExpressionError) as err:
            resolve_context({"a": "${b}", "b": "${a}"})
        assert re.search(r"cycle: \$\{(a|b)\} -> \$\{(a|b)\} -> \$\{(a|b)\}\.", str(err.value))

    def test_cycle_names_the_keys(self):
        with pytest.raises(ExpressionError) as err:
            resolve_context({"a": "${b}", "b": "${c}", "c": "${a}", "ok": 1})
        message = str(err.value)
        assert "cycle" in message
        for key in ("${a}", "${b}", "${c}"):
            assert key in message

    def test_self_reference_is_a_cycle(self):
        with pytest.raises(ExpressionError, match=r"\$\{a\}"):
            resolve_context({"a": "x${a}"})

    def test_raw_is_not_mutated(self):
        raw = {"a": "1", "b": "${a}"}
        resolve_context(raw)
        assert raw == {"a": "1", "b": "${a}"}


class TestKeywordKeys:
    def test_keyword_named_constants_render_and_are_referenced(self):
        ctx = {"from": "alice", "class": 3}
        assert render("${from}", ctx) == "alice"
        assert render("${ class }!", ctx) == "3!"
        assert references("${from} ${class}") == {"from", "class"}
        assert resolve_context({"from": "a", "to": "${from}-b"})["to"] == "a-b"

    def test_missing_keyword_key_stays_literal(self):
        assert render("${from}", {}) == "${from}"

    def test_true_false_none_stay_literals(self):
        assert render("${True}", {}) is True
        assert render("${False}", {}) is False and references("${False}") == set()
        assert render("${None}", {}) is None and references("${None}") == set()
