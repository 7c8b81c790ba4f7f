"""The engine's JSON text (core/jsontext.py): orjson's speed, the standard library's answers."""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_engine.core import jsontext

# What a tree, a context or a component's outputs hold: JSON values, integers of any size included.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_every_json_value_reads_back_as_the_standard_library_writes_it(value):
    assert json.loads(jsontext.dumps(value)) == json.loads(json.dumps(value))


def test_the_text_is_compact_and_keeps_non_ascii_characters():
    assert jsontext.dumps({"a": [1, 2.5, None, True], "名": "é"}) == '{"a":[1,2.5,null,true],"名":"é"}'


@pytest.mark.parametrize("value", [2**70, -(2**70), {1: "a", "b": 2}, {"nested": {2: [2**64]}}])
def test_what_orjson_refuses_is_written_by_the_standard_library(value):
    assert jsontext.dumps(value) == json.dumps(value)


class Colour(str, enum.Enum):
    RED = "red"


class Tag(str):
    pass


def test_subclasses_of_json_types_are_written_as_the_standard_library_writes_them():
    assert json.loads(jsontext.dumps({"c": Colour.RED, "t": Tag("x")})) == {"c": "red", "t": "x"}


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize("value", [dt.datetime(2026, 1, 1), dt.date(2026, 1, 1), {1, 2}, object(), Point(1),
                                   {"deep": [dt.datetime(2026, 1, 1)]}])
def test_what_the_standard_library_refuses_is_still_refused(value):
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        jsontext.dumps(value)


def test_a_float_that_json_cannot_hold_becomes_null_not_invalid_json():
    # json.dumps writes NaN, which PostgreSQL's json types reject; orjson writes null.
    assert jsontext.dumps({"x": float("nan"), "y": float("inf")}) == '{"x":null,"y":null}'


# --- copy ----------------------------------------------------------------------------------------------

@given(json_values)
def test_a_copy_is_what_a_standard_library_round_trip_makes(value):
    assert jsontext.copy(value) == json.loads(json.dumps(value))


@pytest.mark.parametrize("value", [{"big": 2**70}, {1: "a", "b": [2**64]}, {"t": ("a", 1)}, {"e": Colour.RED}])
def test_what_orjson_would_copy_differently_is_copied_by_the_standard_library(value):
    assert jsontext.copy(value) == json.loads(json.dumps(value))


def test_a_float_that_json_cannot_hold_is_copied_as_null_as_it_is_written():
    assert jsontext.copy({"x": float("nan"), "y": [float("inf"), 1.5], "z": None}) == {"x": None, "y": [None, 1.5],
                                                                                        "z": None}


def test_a_copy_shares_nothing_with_its_original():
    tree = {"activities": {"a": {"component": {"data": {"x": {"value": [1, 2]}}}}}, "same": None}
    inner = tree["activities"]["a"]["component"]["data"]
    tree["same"] = inner  # one object reached twice: the copy holds two
    copied = jsontext.copy(tree)
    copied["activities"]["a"]["component"]["data"]["x"]["value"].append(3)
    assert inner["x"]["value"] == [1, 2]
    assert copied["same"] is not copied["activities"]["a"]["component"]["data"]


def test_what_json_cannot_hold_is_refused_as_the_standard_library_refuses_it():
    with pytest.raises(TypeError):
        jsontext.copy({"when": dt.datetime(2026, 1, 1)})


objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@given(objects)
def test_an_object_dumps_wrote_reads_back_as_the_standard_library_reads_it(value):
    text = jsontext.dumps(value)
    assert jsontext.loads_object(text) == json.loads(text)


@pytest.mark.parametrize(("text", "path", "expected"), [
    ('{"n": 18446744073709551617}', ["n"], 2**64 + 1),  # beyond 64 bits, in the standard library's layout
    (jsontext.dumps({"n": [2**70, 1]}), ["n", 0], 2**70),  # the fallback dumps writes for such a value
    ('{"deep":{"a": -9223372036854775809}}', ["deep", "a"], -(2**63) - 1),  # one key in that layout is enough
])
def test_integers_beyond_64_bits_read_back_exactly(text, path, expected):
    value = jsontext.loads_object(text)
    for step in path:
        value = value[step]
    assert type(value) is int and value == expected


def test_what_orjson_rejects_is_read_by_the_standard_library():
    assert jsontext.loads_object('{"x":NaN}')["x"] != jsontext.loads_object('{"x":NaN}')["x"]  # NaN
    assert jsontext.loads_object('{"s":"\\ud800"}') == {"s": "\ud800"}
    with pytest.raises(ValueError):
        jsontext.loads_object('{"x":')
