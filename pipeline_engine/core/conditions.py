"""Gateway conditions: the small boolean language flows are labelled with.

As in the original, a condition is first rendered (every `${...}` fragment
spliced in as text, e.g. `"${c1}" == "v"` -> `"v" == "v"`) and the text is then
evaluated by a rule language in the style of BoolRule:

    condition  := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand [OPERATOR operand]
    operand    := NUMBER | STRING | true | false | none | IDENTIFIER
                | "(" condition ")" | "(" operand "," ... ")" | "[" operand, ... "]"
    OPERATOR   := == = != < > <= >= in notin "not in" issuperset notissuperset

A bare identifier stands for its own name as a string (`v == v` is true). When
a number meets a string the string is read as a number if it can be. The text
is tokenized and parsed here by hand: nothing is ever handed to eval.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline_engine.core.bounded_cache import BoundedCache
from pipeline_engine.core.expressions import ExpressionError, expression_cache_bytes, render_text

__all__ = ["evaluate_condition", "evaluate_rule"]

MAX_CONDITION_CHARS = 20_000
MAX_NESTING = 100

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.]))
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|>=|<=|=|<|>|≠|≥|≤)
  | (?P<punct>[(),\[\]])
  | (?P<word>[^\W\d][\w.\-]*)
    """,
    re.VERBOSE | re.UNICODE,
)

_KEYWORD_OPERATORS = {"in", "notin", "issuperset", "notissuperset"}
_CONSTANTS: dict[str, Any] = {
    "true": True, "True": True, "TRUE": True,
    "false": False, "False": False, "FALSE": False,
    "none": None, "None": None, "null": None,
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, op, punct, word, end
    text: str
    value: Any
    pos: int


def _unquote(literal: str) -> str:
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        # The string token's pattern only matches a backslash together with
        # the character after it, so that character is always there.
        if ch == "\\":
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


# Cached: a gateway's rendered condition text repeats from run to run. Bounded in bytes too: a
# text may be long (up to the tree's size), and 4,096 long ones would hold hundreds of MB.
_tokens: BoundedCache[tuple[_Token, ...]] = BoundedCache(
    "condition tokens", max_entries=4096, max_bytes=lambda: expression_cache_bytes())


def _tokenize(text: str) -> tuple[_Token, ...]:
    return _tokens.get_or_compute(text, lambda: tuple(_scan(text)))


def _scan(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise _ParseError(f"unexpected character {text[pos]!r} at position {pos + 1}")
        kind = match.lastgroup  # every alternative of _TOKEN_RE is a named group
        chunk = match.group(0)
        if kind == "number":
            tokens.append(_Token("number", chunk, _number(chunk), pos))
        elif kind == "string":
            tokens.append(_Token("string", chunk, _unquote(chunk), pos))
        elif kind == "op":
            canonical = {"=": "==", "≠": "!=", "≥": ">=", "≤": "<="}.get(chunk, chunk)
            tokens.append(_Token("op", chunk, canonical, pos))
        elif kind in ("punct", "word"):
            # No value: the parser reads punctuation and words by their text.
            tokens.append(_Token(kind, chunk, None, pos))
        pos = match.end()
    tokens.append(_Token("end", "", None, len(text)))
    return tokens


class _ParseError(Exception):
    pass


# --------------------------------------------------------------------------
# Comparison semantics
# --------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _coerce_pair(left: Any, right: Any) -> tuple[Any, Any]:
    """Bring a number and a string (or a bool and a string) to one type."""
    if _is_number(left) and isinstance(right, str):
        converted = _to_number(right)
        return (left, converted) if converted is not None else (str(left), right)
    if isinstance(left, str) and _is_number(right):
        converted = _to_number(left)
        return (converted, right) if converted is not None else (left, str(right))
    if isinstance(left, bool) and isinstance(right, str):
        return str(left).lower(), right.strip().lower()
    if isinstance(left, str) and isinstance(right, bool):
        return left.strip().lower(), str(right).lower()
    return left, right


def _to_number(text: str) -> int | float | None:
    try:
        return _number(text.strip())
    except ValueError:
        return None


def _equal(left: Any, right: Any) -> bool:
    a, b = _coerce_pair(left, right)
    return bool(a == b)


def _order(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        a, b = _coerce_pair(left, right)
        try:
            return bool(op(a, b))
        except TypeError as exc:
            raise _EvalError(f"cannot compare {_show(left)} with {_show(right)}") from exc
    return compare


# The language's values are numbers, strings, booleans, None, tuples and lists
# (a rendered fragment is text), so no other collection is handled.
def _as_collection(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _contains(left: Any, right: Any) -> bool:
    if isinstance(right, str):
        return str(left) in right  # `1 in "a1"` looks for the number's text
    if isinstance(right, list | tuple):
        return any(_equal(left, item) for item in right)
    raise _EvalError(f"'in' needs a string, list or tuple on its right, not {_show(right)}")


def _superset(left: Any, right: Any) -> bool:
    big = _as_collection(left)
    return all(any(_equal(item, have) for have in big) for item in _as_collection(right))


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": _order(lambda a, b: a < b),
    ">": _order(lambda a, b: a > b),
    "<=": _order(lambda a, b: a <= b),
    ">=": _order(lambda a, b: a >= b),
    "in": _contains,
    "notin": lambda a, b: not _contains(a, b),
    "issuperset": _superset,
    "notissuperset": lambda a, b: not _superset(a, b),
}


class _EvalError(Exception):
    pass


def _describe(token: _Token) -> str:
    # Only the end token has no text: every other token matched at least one character.
    return "the end of the condition" if token.text == "" else repr(token.text)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------
# Parser (evaluates while it parses; the language has no side effects)
# --------------------------------------------------------------------------

class _Parser:
    def __init__(self, tokens: tuple[_Token, ...]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> None:
        self.index += 1

    def _is_word(self, *words: str) -> bool:
        return self.current.kind == "word" and self.current.text in words

    def _expect(self, text: str) -> None:
        # Only a punctuation token has the text of a bracket (a string token keeps its quotes).
        if self.current.text != text:
            raise _ParseError(f"expected {text!r} at position {self.current.pos + 1}, "
                              f"found {_describe(self.current)}")
        self._advance()

    def parse(self) -> Any:
        value = self._or()
        if self.current.kind != "end":
            raise _ParseError(f"unexpected {self.current.text!r} at position {self.current.pos + 1}")
        return value

    def _or(self) -> Any:
        value = self._and()
        while self._is_word("or"):
            self._advance()
            right = self._and()
            value = bool(value) or bool(right)
        return value

    def _and(self) -> Any:
        value = self._not()
        while self._is_word("and"):
            self._advance()
            right = self._not()
            value = bool(value) and bool(right)
        return value

    def _not(self) -> Any:
        if self._is_word("not") and not self._next_is_in():
            self._advance()
            return not bool(self._not())
        return self._comparison()

    def _next_is_in(self) -> bool:
        nxt = self.tokens[self.index + 1]
        return nxt.kind == "word" and nxt.text == "in"

    def _operator(self) -> str | None:
        token = self.current
        if token.kind == "op":
            self._advance()
            return str(token.value)
        if token.kind == "word" and token.text in _KEYWORD_OPERATORS:
            self._advance()
            return token.text
        if token.kind == "word" and token.text == "not" and self._next_is_in():
            self._advance()
            self._advance()
            return "notin"
        return None

    def _comparison(self) -> Any:
        left = self._operand()
        op = self._operator()
        if op is None:
            return left
        right = self._operand()
        return _OPERATORS[op](left, right)

    def _operand(self) -> Any:
        token = self.current
        if token.kind in ("number", "string"):
            self._advance()
            return token.value
        if token.kind == "word":
            if token.text in ("and", "or", "not") or token.text in _KEYWORD_OPERATORS:
                raise _ParseError(f"expected a value at position {token.pos + 1}, found {token.text!r}")
            self._advance()
            return _CONSTANTS.get(token.text, token.text)
        if token.text in ("(", "["):  # only punctuation has such a text
            return self._group(token.text)
        raise _ParseError(f"expected a value at position {token.pos + 1}, "
                          f"found {_describe(token)}")

    def _group(self, opener: str) -> Any:
        closer = ")" if opener == "(" else "]"
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _ParseError(f"parentheses nest deeper than {MAX_NESTING} levels")
        self._advance()
        items: list[Any] = []
        if not (self.current.kind == "punct" and self.current.text == closer):
            items.append(self._or())
            while self.current.kind == "punct" and self.current.text == ",":
                self._advance()
                if self.current.kind == "punct" and self.current.text == closer:
                    break
                items.append(self._or())
        trailing_comma = self.tokens[self.index - 1].text == ","
        self._expect(closer)
        self.depth -= 1
        if opener == "[":
            return items
        # `(x)` groups; `()`, `(x,)` and `(x, y)` are tuples.
        return items[0] if len(items) == 1 and not trailing_comma else tuple(items)


def evaluate_rule(text: str) -> bool:
    """Evaluate an already rendered condition text."""
    try:
        return bool(_Parser(_tokenize(text)).parse())
    except _ParseError as exc:
        raise ExpressionError(f"Condition {text!r} cannot be parsed: {exc}.") from exc
    except _EvalError as exc:
        raise ExpressionError(f"Condition {text!r} cannot be evaluated: {exc}.") from exc
    except RecursionError as exc:
        raise ExpressionError(f"Condition {text[:60]!r}... nests too deeply.") from exc


def evaluate_condition(expr: str, context: Mapping[str, Any]) -> bool:
    """Render the `${...}` fragments of `expr` against `context`, then evaluate it.

    Raises ExpressionError (a user-facing sentence) when the condition is
    forbidden, refers to undefined variables or cannot be parsed.
    """
    if not isinstance(expr, str):
        raise ExpressionError(f"Condition must be a string, not {type(expr).__name__}.")
    if len(expr) > MAX_CONDITION_CHARS:
        raise ExpressionError(f"Condition is longer than {MAX_CONDITION_CHARS} characters.")
    text = render_text(expr, context)
    if len(text) > MAX_CONDITION_CHARS * 10:
        raise ExpressionError("Condition is too long once its variables are filled in.")
    try:
        return evaluate_rule(text)
    except ExpressionError as exc:
        unresolved = sorted(set(re.findall(r"\$\{[^${}#]+\}", text)))
        if unresolved:
            raise ExpressionError(f"Condition {expr!r} refers to undefined variables: "
                                  f"{', '.join(unresolved)}.") from exc
        raise
