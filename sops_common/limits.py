"""What a caller may send: body size, JSON depth, field counts, integers, list lengths and text.

Every limit an outside request is held to is defined here, and every check that
enforces one: the tunable numbers come from the request-limits block of the
settings (SOPS_MAX_BODY_BYTES, SOPS_MAX_JSON_DEPTH, SOPS_MAX_FORM_FIELDS,
SOPS_MAX_LIST_ITEMS), the fixed ones are constants below. A value outside a
limit raises `InvalidInput` (the API answers 3540000) with a message that names the
parameter and the limit, so no outside input reaches the database or the engine
in a form that would fail there with an internal error. The OpenAPI/serializer
work reuses the same numbers.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent

from sops_common.errors import InvalidInput

#: The largest key a table can hold: PostgreSQL's BIGINT and SQLite's INTEGER are 64-bit signed.
MAX_ID = 2**63 - 1
#: Paging offsets: far past any real table, and offset + limit stays inside a 64-bit integer.
MAX_OFFSET = 1_000_000_000
#: One cron field ("1,2,3-19/2"): the longest meaningful field (every minute listed) is 169
#: characters, but ranges and steps say the same in far fewer; 64 keeps stored texts short.
MAX_CRON_FIELD_CHARS = 64
#: Millisecond timestamps (conditions' bare create_time/finish_time): up to 9999-12-31, the last
#: day a datetime (and the database's timestamp columns) can hold; none before 1970.
MAX_TIMESTAMP_MS = 253_402_300_799_999
#: How much of a refused value a message repeats.
SHOWN_CHARS = 60

_ASCII_INT = re.compile(r"[+-]?[0-9]+")
# NUL cannot be stored by PostgreSQL (text or jsonb); a lone surrogate cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def max_body_bytes() -> int:
    return int(settings.SOPS_MAX_BODY_BYTES)


def max_json_depth() -> int:
    return int(settings.SOPS_MAX_JSON_DEPTH)


def max_form_fields() -> int:
    return int(settings.SOPS_MAX_FORM_FIELDS)


def max_list_items() -> int:
    return int(settings.SOPS_MAX_LIST_ITEMS)


def shown(value: Any) -> str:
    """A value as messages repeat it: cut short, so a refused 2 MiB value is not echoed back."""
    text = value if isinstance(value, str) else repr(value)
    text = _UNSTORABLE.sub("\N{REPLACEMENT CHARACTER}", text)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


# --- bodies and JSON ------------------------------------------------------------------------------

def body_too_large() -> InvalidInput:
    return InvalidInput(f"request body is larger than {max_body_bytes()} bytes")


def check_body_size(body: bytes) -> bytes:
    if len(body) > max_body_bytes():
        raise body_too_large()
    return body


def too_many_fields() -> InvalidInput:
    return InvalidInput(f"the request has more than {max_form_fields()} query or form fields")


def refusal_for(exc: SuspiciousOperation) -> InvalidInput:
    """The answer to Django's own refusals of a request (raised wherever Django parses it,
    e.g. DRF reading the query string during content negotiation)."""
    if isinstance(exc, RequestDataTooBig):
        return body_too_large()
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return too_many_fields()
    return InvalidInput(f"the request cannot be read: {shown(str(exc))}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes, name: str, *, check: bool = True) -> Any:
    """Parse JSON text sent by a caller, then `check_value` it.

    The parser's own recursion is bounded by the interpreter's recursion limit (a RecursionError
    is answered like any document deeper than the limit); the depth check itself walks with an
    explicit stack. NaN and Infinity are refused: no database column or JSON answer can hold them.
    Raises ValueError for text that is not JSON, InvalidInput for JSON outside the limits.
    `check=False` leaves `check_value` to the caller (which names each top-level field).
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise InvalidInput(f"{name} is nested deeper than {max_json_depth()} levels") from exc
    return check_value(value, name) if check else value


def check_value(value: Any, name: str, depth: int = 1) -> Any:
    """Refuse a decoded value nested deeper than the limit, or holding text no database can store
    (NUL, lone surrogates) in a key or a string, or a non-finite float. Iterative: no recursion.

    `depth` is the value's own level: 1 for a whole document, 2 for a field of the body."""
    limit = max_json_depth()
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                raise InvalidInput(f"{name} is nested deeper than {limit} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and _UNSTORABLE.search(key):
                        raise InvalidInput(f"{name} has a key with a NUL character or an invalid code point")
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if _UNSTORABLE.search(item):
                raise InvalidInput(f"{name} holds a NUL character or an invalid code point")
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidInput(f"{name} holds a number that is not finite")
    return value


# --- integers, lists, text ------------------------------------------------------------------------

class NotAnInteger(InvalidInput):
    """The value is not written as an integer at all (as opposed to one out of range)."""


def parse_int(value: Any, name: str, *, minimum: int | None = None, maximum: int = MAX_ID) -> int:
    """An integer from a JSON number or a text of ASCII digits, inside [minimum, maximum].

    `int()` alone would read "٣", "３" or "1٣" as numbers and accept any size; ids, offsets and
    timestamps are written with 0-9 and fit the column they are compared with.
    """
    if isinstance(value, bool):
        raise NotAnInteger(f"{name}[{shown(value)}] must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise NotAnInteger(f"{name}[{shown(value)}] must be an integer")
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not _ASCII_INT.fullmatch(text):
            if text and all(ch.isdigit() or ch in "+-" for ch in text):
                raise NotAnInteger(f"{name}[{shown(value)}] must be written with ASCII digits 0-9")
            raise NotAnInteger(f"{name}[{shown(value)}] must be an integer")
        if len(text.lstrip("+-")) > len(str(MAX_ID)):
            raise InvalidInput(f"{name}[{shown(value)}] must be at most {maximum}")
        value = int(text)
    if not isinstance(value, int):
        raise NotAnInteger(f"{name}[{shown(value)}] must be an integer")
    if value > maximum:
        raise InvalidInput(f"{name}[{shown(value)}] must be at most {maximum}")
    low = -MAX_ID if minimum is None else minimum
    if value < low:
        raise InvalidInput(f"{name}[{shown(value)}] must be at least {low}")
    return value


def parse_id(value: Any, name: str) -> int:
    """A database key: an integer from 0 to MAX_ID."""
    return parse_int(value, name, minimum=0, maximum=MAX_ID)


def check_list(value: list[Any], name: str) -> list[Any]:
    if len(value) > max_list_items():
        raise InvalidInput(f"{name} holds at most {max_list_items()} items")
    return value
