"""The input fields read each value in every style the spec's requests use, and name the parameter they refuse."""
from __future__ import annotations

import pytest

from sops_api.apigw.serializers import fields
from sops_api.apigw.serializers.base import Input
from sops_common.errors import InvalidInput


class Sample(Input):
    text = fields.String(required=False, max_length=5)
    number = fields.Integer(required=False, min_value=1, max_value=10)
    flag = fields.Boolean(required=False, default=None, allow_null=True)
    mapping = fields.Object(required=False)
    items = fields.List(child=fields.String(allow_blank=False), required=False)
    word = fields.Choice(["a", "b"], required=False, error="word[{value}] is not a or b")
    anything = fields.AnyValue(required=False, allow_null=True)


def parse(**params):
    return Sample.parse(params)


def refused(**params) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(**params)
    return caught.value.message


@pytest.mark.parametrize(("given", "read"), [
    ({"number": 3}, 3), ({"number": "3"}, 3), ({"number": ""}, None),
])
def test_integers_from_json_numbers_or_digits(given, read):
    assert parse(**given).get("number") == read


@pytest.mark.parametrize(("given", "message"), [
    ({"number": "x"}, "number[x] must be an integer"),
    ({"number": 0}, "number[0] must be at least 1"),
    ({"number": "11"}, "number[11] must be at most 10"),
    ({"number": True}, "number must be an integer"),
    ({"number": 1.5}, "number must be an integer"),
    ({"number": [1]}, "number must be an integer"),
])
def test_integers_refused_name_the_parameter(given, message):
    assert refused(**given) == message


@pytest.mark.parametrize(("raw", "read"), [
    (True, True), ("true", True), ("1", True), ("on", True), (False, False), ("false", False), ("0", False),
])
def test_booleans_from_values_or_text(raw, read):
    assert parse(flag=raw)["flag"] is read


@pytest.mark.parametrize("raw", [1, 0, 2.5, [True], "maybe"])
def test_a_json_number_or_other_text_is_not_a_boolean(raw):
    assert refused(flag=raw) == "flag must be a boolean"


def test_text_may_be_lenient_about_numbers():
    class Lenient(Input):
        key = fields.String(strict=False)

    assert Lenient.parse({"key": 12}) == {"key": "12"}


def test_an_empty_string_is_absent_but_for_text():
    assert parse(flag="", number="", text="") == {"flag": None, "text": ""}


def test_objects_and_lists_from_values_or_json_text():
    assert parse(mapping={"${a}": 1}, items=["x"]) == {"mapping": {"${a}": 1}, "items": ["x"], "flag": None}
    assert parse(mapping='{"${a}": 1}', items='["x", "y"]')["items"] == ["x", "y"]
    assert refused(mapping="[1]") == "mapping must be a dict"
    assert refused(mapping="{nope") == "mapping is not valid JSON"
    assert refused(items='{"a": 1}') == "items must be a list"
    assert refused(items=[""]) == "items may not be blank"
    # null sent as JSON text (a query string's constants=null) is null, refused where null is.
    assert refused(mapping="null") == "mapping may not be null"
    assert refused(items="null") == "items may not be null"


def test_a_field_with_its_own_message_answers_it_for_any_failure():
    assert refused(word="c") == "word[c] is not a or b"
    assert refused(word=None) == "word[None] is not a or b"


def test_text_keeps_spaces_and_names_the_parameter():
    assert parse(text=" a ")["text"] == " a "
    assert refused(text=12) == "text must be a string"
    assert refused(text="toolong") == "text: Ensure this field has no more than 5 characters."
    assert refused(text={"a": 1}) == "text must be a string"


def test_any_value_passes_as_received():
    assert parse(anything={"deep": [1, None]})["anything"] == {"deep": [1, None]}
    assert parse(anything=None)["anything"] is None


class Required(Input):
    first = fields.String(allow_blank=False)
    second = fields.Integer()


def test_the_first_wrong_parameter_in_declaration_order_is_reported():
    with pytest.raises(InvalidInput, match="^first is required$"):
        Required.parse({"second": "x"})
    with pytest.raises(InvalidInput, match="^first may not be blank$"):
        Required.parse({"first": "", "second": 1})
    with pytest.raises(InvalidInput, match="^second may not be null$"):
        Required.parse({"first": "a", "second": None})
    # Unknown parameters (credentials among them) are ignored.
    assert Required.parse({"first": "a", "second": 2, "app_secret": "s"}) == {"first": "a", "second": 2}


def test_a_domain_rule_reads_a_parsed_value_with_its_own_message():
    def read_even(value):
        if int(value) % 2:
            raise InvalidInput(f"even must be even, not {value}")
        return int(value)

    class Even(Input):
        even = fields.Parsed(read_even)

    assert Even.parse({"even": "4"}) == {"even": 4}
    with pytest.raises(InvalidInput, match="^even must be even, not 3$"):
        Even.parse({"even": 3})
