"""`${...}` references: finding, rendering and resolving them safely.

The original renders every fragment with Mako inside a sandbox that was
bypassed several times (engine-reference §4.6). Here a fragment is parsed with
`ast` and walked by a small interpreter that knows only a whitelist of node
types, functions and string methods; nothing user-written is ever compiled or
handed to eval/exec/Mako/Jinja.

Rules, in the order they apply to one fragment:

1. The fragment text is too long -> ExpressionError.
2. The text is not a Python expression (`${var:-x}` in a shell script) -> the
   fragment is kept literally, as the original keeps any failed render.
3. A forbidden construct appears (dunder names, private or dangerous
   attributes, non-whitelisted calls, lambdas, comprehensions, generators,
   walrus, f-strings, `|` filters, ...) -> ExpressionError, whatever the
   context holds. Payloads never get a chance to "stay literal".
4. A referenced name is missing from the context -> kept literally.
5. Otherwise it is evaluated; an evaluation error (bad type, division by zero,
   a result over the size bounds) -> ExpressionError.
"""
from __future__ import annotations

import ast
import keyword
import operator
import re
from collections.abc import Callable, Mapping
from graphlib import CycleError, TopologicalSorter
from typing import Any

from .bounded_cache import BoundedCache
from .settings import setting

__all__ = [
    "ExpressionError",
    "FRAGMENT_RE",
    "SAFE_FUNCTIONS",
    "SAFE_METHODS",
    "evaluate",
    "references",
    "render",
    "render_text",
    "resolve_context",
]


class ExpressionError(Exception):
    """A `${...}` fragment is forbidden, malformed or failed to evaluate.

    The message is a complete English sentence meant for users (a node's
    ex_data, a gateway's failure reason).
    """


# Same character class as the original: no nesting, no dict literals, no '#'.
FRAGMENT_RE = re.compile(r"\$\{[^${}#]+\}")

# Bounds that keep one fragment from eating the worker's memory or CPU.
MAX_FRAGMENT_CHARS = 2000
MAX_SEQUENCE_LEN = 1_000_000  # characters of a str, items of a list/tuple/dict
MAX_INT_BITS = 4096
MAX_DEPTH = 100  # nesting of the expression tree


def _bounded_round(number: Any, ndigits: Any = None) -> Any:
    # round(5, -10**9) would compute 10**(10**9) before answering.
    if ndigits is None:
        return round(number)
    if not isinstance(ndigits, int) or abs(ndigits) > 100:
        raise ValueError("round() digits must be an integer between -100 and 100")
    return round(number, ndigits)


def _to_dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    return dict(*args, **kwargs)


# Pure functions a fragment may call by name. A context value never shadows
# them in call position, so `${len(x)}` means the same in every template.
SAFE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "round": _bounded_round,
    "sum": sum,
    "sorted": sorted,
    "list": list,
    "tuple": tuple,
    "dict": _to_dict,
}

# Methods a fragment may call on values of these types. Anything else (in
# particular anything that reaches an object's internals) is refused.
SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({
        "split", "rsplit", "strip", "lstrip", "rstrip", "upper", "lower", "title",
        "capitalize", "replace", "startswith", "endswith", "join", "splitlines",
        "find", "rfind", "count", "isdigit", "isalpha", "isalnum", "isspace",
    }),
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"index", "count"}),
    tuple: frozenset({"index", "count"}),
}
_ALL_METHOD_NAMES = frozenset().union(*SAFE_METHODS.values())

# Attribute names the original sandbox learned to refuse the hard way (§4.6).
# They are refused statically even where the value is a plain dict, so that an
# injection attempt fails loudly instead of staying literal.
DANGEROUS_ATTRIBUTES = frozenset({
    "os", "sys", "modules", "popen", "system", "subprocess", "builtins", "globals",
    "locals", "eval", "exec", "compile", "open", "import_module", "getattr", "setattr",
    "delattr", "format", "format_map", "mro", "module", "cache", "util", "self",
    "context", "func_globals", "gi_frame", "gi_code", "cr_frame", "cr_code",
    "ag_frame", "ag_code", "f_builtins", "f_globals", "f_locals", "f_back", "f_code",
    "tb_frame", "tb_next", "co_code", "im_func", "im_self", "func_code", "environ",
    "spawn", "fork", "kill", "read", "write", "load", "loads", "pickle", "marshal",
    "ctypes", "runtime", "template", "caller", "capture", "local", "UNDEFINED",
})

# The arithmetic a fragment may do; * and ** (and % on a str) are checked first in _binop.
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_FORBIDDEN_BINOPS: dict[type, str] = {
    ast.BitOr: "the '|' filter syntax is not supported",
    ast.BitAnd: "bitwise '&' is not supported",
    ast.BitXor: "bitwise '^' is not supported",
    ast.LShift: "shift operators are not supported",
    ast.RShift: "shift operators are not supported",
    ast.MatMult: "the '@' operator is not supported",
}
_NODE_NAMES: dict[type, str] = {
    ast.Lambda: "lambda expressions",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Starred: "star unpacking",
    ast.Set: "set literals",
}
_ALLOWED_NODES: tuple[type, ...] = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.IfExp, ast.Tuple, ast.List, ast.Dict, ast.Subscript, ast.Slice,
    ast.Call, ast.keyword, ast.Attribute,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    *_BINOPS,
)


def _is_dunder(name: str) -> bool:
    return name.startswith("__")


# --------------------------------------------------------------------------
# Parsing and the static check
# --------------------------------------------------------------------------

class _Unparsable(Exception):
    """The fragment body is not an expression: keep the text literally."""


def _parse(body: str) -> ast.Expression:
    try:
        return ast.parse(body.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise _Unparsable from exc


def _forbid(fragment: str, rule: str) -> ExpressionError:
    return ExpressionError(f"Expression {fragment} is not allowed: {rule}.")


def _check(tree: ast.Expression, fragment: str) -> None:
    """Raise ExpressionError if any construct outside the whitelist appears."""
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and type(node.op) in _FORBIDDEN_BINOPS:
            raise _forbid(fragment, _FORBIDDEN_BINOPS[type(node.op)])
        if type(node) in _NODE_NAMES:
            raise _forbid(fragment, f"{_NODE_NAMES[type(node)]} are not supported")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            raise _forbid(fragment, "bitwise '~' is not supported")
        if not isinstance(node, _ALLOWED_NODES):
            raise _forbid(fragment, f"the syntax '{type(node).__name__}' is not supported")
        if isinstance(node, ast.Name) and _is_dunder(node.id):
            raise _forbid(fragment, f"the name '{node.id}' is reserved")
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise _forbid(fragment, f"the attribute '{node.attr}' is private")
            if node.attr in DANGEROUS_ATTRIBUTES:
                raise _forbid(fragment, f"the attribute '{node.attr}' is forbidden")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_dunder(node.value):
            # Blocks `x["__class__"]` and friends; a plain string that merely
            # starts with "__" is a rare price for that.
            raise _forbid(fragment, f"the key '{node.value}' is reserved")
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes | complex | type(...)):
            raise _forbid(fragment, "bytes, complex and Ellipsis literals are not supported")
        if isinstance(node, ast.keyword) and (node.arg is None or _is_dunder(node.arg)):
            raise _forbid(fragment, "keyword unpacking (**) is not supported")
        if isinstance(node, ast.Dict) and None in node.keys:  # `{**x}`: a None key in the tree
            raise _forbid(fragment, "dict unpacking (**) is not supported")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                if func.id not in SAFE_FUNCTIONS:
                    raise _forbid(fragment, f"the function '{func.id}' is not in the allowed list "
                                            f"({', '.join(sorted(SAFE_FUNCTIONS))})")
            elif isinstance(func, ast.Attribute):
                if func.attr not in _ALL_METHOD_NAMES:
                    raise _forbid(fragment, f"the method '{func.attr}' is not in the allowed list")
            else:
                raise _forbid(fragment, "only named functions and allowed methods may be called")
    if _too_deep(tree.body):
        raise _forbid(fragment, f"it is nested deeper than {MAX_DEPTH} levels")


def _too_deep(node: ast.AST) -> bool:
    # Iterative so that a pathological tree cannot blow the Python stack here.
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        if level > MAX_DEPTH:
            return True
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(current))
    return False


def _free_names(tree: ast.AST) -> set[str]:
    """Names looked up in the context (function names in call position excluded)."""
    called = {id(n.func) for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in SAFE_FUNCTIONS}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


# --------------------------------------------------------------------------
# The interpreter
# --------------------------------------------------------------------------

def _weight(value: Any, budget: int = MAX_SEQUENCE_LEN) -> int:
    """Items plus characters inside `value`, counting shared parts every time.

    `[[1] * 10**6] * 10**6` holds little memory but its str() would not; the
    walk stops as soon as the budget is exceeded.
    """
    total, stack = 0, [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 1
    return total


def _check_size(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ValueError(f"integer result exceeds {MAX_INT_BITS} bits")
    if isinstance(value, str) and len(value) > MAX_SEQUENCE_LEN:
        raise ValueError(f"result is longer than {MAX_SEQUENCE_LEN} characters")
    if isinstance(value, list | tuple | dict) and _weight(value) > MAX_SEQUENCE_LEN:
        raise ValueError(f"result holds more than {MAX_SEQUENCE_LEN} items and characters")
    return value


def _length(value: Any) -> int | None:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return _weight(value)
    return None


def _binop(op: type, left: Any, right: Any) -> Any:
    if op is ast.Mult:
        # Check repeat sizes before Python builds the result.
        for seq, times in ((left, right), (right, left)):
            n = _length(seq)
            if n is not None and isinstance(times, int) and n * times > MAX_SEQUENCE_LEN:
                raise ValueError(f"repeated sequence would exceed {MAX_SEQUENCE_LEN} items")
    elif op is ast.Pow:
        # (A zero or negative exponent gives a product <= 0 here, never over the bound.)
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise ValueError(f"power result would exceed {MAX_INT_BITS} bits")
        if isinstance(right, int | float) and abs(right) > 100_000:
            raise ValueError("exponent is too large")
    elif op is ast.Mod and isinstance(left, str):
        # printf-style formatting could reach attributes through '%(x)s' tricks
        # on mapping arguments and has no use here.
        raise ValueError("'%' formatting of strings is not supported")
    return _BINOPS[op](left, right)  # _check admitted only these operators


_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
}


def _call_method(obj: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    allowed = next((names for kind, names in SAFE_METHODS.items() if isinstance(obj, kind)), None)
    if allowed is None or name not in allowed:
        raise ValueError(f"{type(obj).__name__} values have no allowed method '{name}'")
    # Other argument counts are left to Python's own error.
    if isinstance(obj, str) and name == "join" and len(args) == 1:
        items = list(args[0])  # one pass over an iterable value, for the check and the join
        # The exact length of the result: the items and a separator between each two
        # (an item that is not a str makes the join itself fail).
        total = sum(len(x) for x in items if isinstance(x, str)) + len(obj) * (len(items) - 1)
        if total > MAX_SEQUENCE_LEN:
            raise ValueError(f"joined string would exceed {MAX_SEQUENCE_LEN} characters")
        args = [items]
    if isinstance(obj, str) and name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str):
            hits = obj.count(old)  # an empty `old` counts len(obj) + 1 places, as replace() fills them
            if len(obj) + hits * max(len(new) - len(old), 0) > MAX_SEQUENCE_LEN:
                raise ValueError(f"replaced string would exceed {MAX_SEQUENCE_LEN} characters")
    result = getattr(obj, name)(*args, **kwargs)
    if name in {"keys", "values", "items"}:
        result = list(result)
    return result


class _Evaluator:
    def __init__(self, context: Mapping[str, Any]) -> None:
        self.context = context

    def run(self, node: ast.AST) -> Any:
        return _check_size(self._eval(node))

    def _eval(self, node: ast.AST) -> Any:  # noqa: C901 - one branch per node type
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.context[node.id]
        if isinstance(node, ast.BinOp):
            return _check_size(_binop(type(node.op), self._eval(node.left), self._eval(node.right)))
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            if isinstance(node.op, ast.USub):
                return -operand
            return +operand
        if isinstance(node, ast.BoolOp):
            # Python's semantics: the first operand that settles it, else the last.
            is_and = isinstance(node.op, ast.And)
            *first, last = node.values
            for item in first:
                value = self._eval(item)
                if bool(value) is not is_and:
                    return value
            return self._eval(last)
        if isinstance(node, ast.Compare):
            left = self._eval(node.left)
            for i, op in enumerate(node.ops):  # ast gives one comparator per operator
                right = self._eval(node.comparators[i])
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self._eval(node.body) if self._eval(node.test) else self._eval(node.orelse)
        if isinstance(node, ast.Tuple):
            return _check_size(tuple(self._eval(e) for e in node.elts))
        if isinstance(node, ast.List):
            return _check_size([self._eval(e) for e in node.elts])
        if isinstance(node, ast.Dict):
            # ast gives one value per key.
            return _check_size({self._eval(k): self._eval(node.values[i])  # type: ignore[arg-type]  # k is never None: _check refused `{**x}`
                                for i, k in enumerate(node.keys)})
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Call):
            return _check_size(self._call(node))
        # Unreachable: _check admits only the node types handled above. Kept so
        # that a gap between the two fails closed. No mutant of it can be caught.
        raise ValueError(f"unsupported syntax {type(node).__name__}")  # pragma: no mutate

    def _subscript(self, node: ast.Subscript) -> Any:
        target = self._eval(node.value)
        if not isinstance(target, str | list | tuple | dict):
            raise TypeError(f"{type(target).__name__} values cannot be indexed")
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else self._eval(p)
                     for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            if not all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts):
                raise TypeError("slice bounds must be integers")
            if isinstance(target, dict):
                raise TypeError("dict values cannot be sliced")
            return target[slice(*parts)]
        key = self._eval(node.slice)
        if isinstance(key, str) and _is_dunder(key):
            raise ValueError(f"the key '{key}' is reserved")
        if not isinstance(key, int | str | float | bool | tuple) and key is not None:
            raise TypeError(f"{type(key).__name__} values cannot be used as keys")
        return target[key]  # type: ignore[index]  # a key the value cannot take raises, as it should

    def _attribute(self, node: ast.Attribute) -> Any:
        # A plain attribute is a key lookup on a mapping: `${_system.task_id}`,
        # `${cfg.host}`. Objects never expose attributes.
        target = self._eval(node.value)
        if isinstance(target, Mapping):
            if node.attr in target:
                return target[node.attr]
            raise KeyError(node.attr)
        raise TypeError(f"{type(target).__name__} values have no attribute '{node.attr}'")

    def _call(self, node: ast.Call) -> Any:
        args = [self._eval(a) for a in node.args]
        kwargs = {k.arg: self._eval(k.value) for k in node.keywords if k.arg is not None}
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in {"list", "tuple", "sorted", "sum", "min", "max", "dict"} and args:
                n = _length(args[0]) if not isinstance(args[0], dict) else len(args[0])
                if n is None and not isinstance(args[0], int | float):
                    # Only finite, already-bounded containers may be consumed.
                    raise TypeError(f"{func.id}() needs a list, tuple, str or dict")
            if func.id == "str" and args and _weight(args[0]) > MAX_SEQUENCE_LEN:
                raise ValueError(f"str() of a value holding more than {MAX_SEQUENCE_LEN} items")
            if func.id in {"int", "float"} and args and isinstance(args[0], str) and len(args[0]) > 5000:
                raise ValueError("number text is too long")
            return SAFE_FUNCTIONS[func.id](*args, **kwargs)
        assert isinstance(func, ast.Attribute)
        return _call_method(self._eval(func.value), func.attr, args, kwargs)


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------

_MISSING = object()


EXPRESSION_CACHE_SETTING = "SOPS_EXPRESSION_CACHE_BYTES"
DEFAULT_EXPRESSION_CACHE_BYTES = 16 * 1024 * 1024

# Parsed fragments, bounded in entries and in bytes (a fragment's tree can be far larger than
# its text); SOPS_EXPRESSION_CACHE_BYTES per process.
_fragments: BoundedCache[tuple[ast.expr, frozenset[str]] | None] = BoundedCache(
    "expression fragments", max_entries=8192, max_bytes=lambda: expression_cache_bytes())


def expression_cache_bytes() -> int:
    """The byte budget of each expression cache (fragments here, condition tokens in conditions.py)."""
    return int(setting(EXPRESSION_CACHE_SETTING, DEFAULT_EXPRESSION_CACHE_BYTES))


def _compile_fragment(fragment: str) -> tuple[ast.expr, frozenset[str]] | None:
    """Parse and check one `${...}` fragment: (body, free names), or None to keep it literally.

    Cached because the walker renders the same few fragments for every node
    of every run; exceptions (forbidden fragments) are not cached.
    """
    return _fragments.get_or_compute(fragment, lambda: _compile_fragment_uncached(fragment))


def _compile_fragment_uncached(fragment: str) -> tuple[ast.expr, frozenset[str]] | None:
    if len(fragment) > MAX_FRAGMENT_CHARS:
        raise ExpressionError(f"Expression {fragment[:60]}... is longer than {MAX_FRAGMENT_CHARS} characters.")
    body = fragment[2:-1].strip()
    if keyword.iskeyword(body) and body not in ("True", "False", "None"):
        # Constant keys may be Python keywords (`${from}`, `${class}`): such a
        # fragment can only mean the variable, as it did in the original.
        return ast.Name(id=body, ctx=ast.Load()), frozenset({body})
    try:
        tree = _parse(body)
    except _Unparsable:
        return None
    _check(tree, fragment)
    return tree.body, frozenset(_free_names(tree))


def _evaluate_fragment(fragment: str, context: Mapping[str, Any]) -> Any:
    """The value of one fragment, or _MISSING when it must stay literal."""
    compiled = _compile_fragment(fragment)
    if compiled is None:
        return _MISSING
    body, names = compiled
    if not all(name in context for name in names):
        return _MISSING
    try:
        return _Evaluator(context).run(body)
    except ExpressionError:
        raise
    except RecursionError as exc:
        raise ExpressionError(f"Expression {fragment} is nested too deeply.") from exc
    except KeyError as exc:
        raise ExpressionError(f"Expression {fragment} failed: key {exc} does not exist.") from exc
    except (TypeError, ValueError, ArithmeticError, IndexError, AttributeError, MemoryError) as exc:
        raise ExpressionError(f"Expression {fragment} failed: {exc}.") from exc


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a bare expression (no `${}`) against `context`.

    Unlike `render`, a missing name or unparsable text raises ExpressionError.
    """
    fragment = "${" + expression + "}"
    compiled = _compile_fragment(fragment)
    if compiled is None:
        raise ExpressionError(f"Expression {fragment} is not a valid expression.")
    missing = {name for name in compiled[1] if name not in context}
    if missing:
        raise ExpressionError(f"Expression {fragment} refers to unknown names: {', '.join(sorted(missing))}.")
    return _evaluate_fragment(fragment, context)


def _names_of_forbidden(fragment: str) -> tuple[None, frozenset[str]] | None:
    # A forbidden fragment still reports its names, so dependency ordering
    # stays right and the error surfaces where the fragment is rendered.
    if len(fragment) > MAX_FRAGMENT_CHARS:
        return None
    try:
        return None, frozenset(_free_names(_parse(fragment[2:-1])))
    except _Unparsable:
        return None


def references(value: Any) -> set[str]:
    """Bare names that `${...}` fragments inside `value` look up in the context.

    Never raises: a forbidden fragment is reported when it is rendered.
    """
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "${" not in item:
                continue
            for match in FRAGMENT_RE.finditer(item):
                fragment = match.group(0)
                compiled: tuple[Any, frozenset[str]] | None
                try:
                    compiled = _compile_fragment(fragment)
                except ExpressionError:
                    compiled = _names_of_forbidden(fragment)
                if compiled is not None:
                    found |= {n for n in compiled[1] if not _is_dunder(n)}
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


def _splice(text: str, context: Mapping[str, Any]) -> str:
    """`text` with every fragment spliced in as str(); fragments that cannot be resolved stay as written."""
    if "${" not in text:
        return text

    def splice(match: re.Match[str]) -> str:
        value = _evaluate_fragment(match.group(0), context)
        return match.group(0) if value is _MISSING else str(value)

    result = FRAGMENT_RE.sub(splice, text)
    if len(result) > MAX_SEQUENCE_LEN * 10:
        raise ExpressionError("The rendered text is too long.")
    return result


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every `${...}` fragment inside `value` (str, dict, list, tuple).

    A string that is exactly one fragment yields the evaluated object itself;
    fragments inside longer strings are spliced in as str(). Fragments that
    cannot be resolved from `context` stay as written.
    """
    if isinstance(value, str):
        if "${" in value and FRAGMENT_RE.fullmatch(value):
            result = _evaluate_fragment(value, context)
            return value if result is _MISSING else result
        return _splice(value, context)
    if isinstance(value, Mapping):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, tuple):
        return tuple(render(v, context) for v in value)
    return value


def render_text(text: str, context: Mapping[str, Any]) -> str:
    """Render `text` always as a string (what Mako did for a gateway condition)."""
    return _splice(text, context)


def resolve_context(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Render constants that reference other constants, dependencies first.

    Keys are bare names. A reference to a name outside `raw` stays literal; a
    reference cycle raises ExpressionError naming the keys involved.
    """
    graph = {key: references(value) & raw.keys() for key, value in raw.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        names = " -> ".join(f"${{{k}}}" for k in exc.args[1])  # CycleError's second argument: the cycle
        raise ExpressionError(f"Variables reference each other in a cycle: {names}.") from exc
    resolved: dict[str, Any] = dict(raw)
    for key in order:
        if graph[key]:
            resolved[key] = render(raw[key], resolved)
    return resolved

