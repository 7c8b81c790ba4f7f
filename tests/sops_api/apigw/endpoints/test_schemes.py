"""get_template_schemes through the HTTP API: answer, with_constants, roles, other businesses, bad input."""
from __future__ import annotations

import json

import pytest

from templates_app.schemes import create_scheme

pytestmark = pytest.mark.django_db

CREDS = {"app_code": "app_code", "app_secret": "app_secret"}


def get(client, path: str, token: str = "access_token", **params) -> dict:
    response = client.get(f"/apigw/{path}", {**CREDS, "access_token": token, **params})
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def schemes(world):
    template = world.templates[11]
    return (create_scheme(template=template, name="a only", data=["opt_a"], creator="alice"),
            create_scheme(template=template, name="all", data=["opt_a", "opt_b", "last"]))


def test_lists_the_schemes_oldest_first(client, world, schemes):
    answer = get(client, "get_template_schemes/2/11/")
    assert answer["result"] is True and answer["code"] == 0
    assert answer["data"] == [{"id": "11-a only", "name": "a only", "data": '["opt_a"]'},
                              {"id": "11-all", "name": "all", "data": '["opt_a", "opt_b", "last"]'}]
    assert json.loads(answer["data"][1]["data"]) == ["opt_a", "opt_b", "last"]


def test_with_constants_gives_the_constants_each_scheme_keeps(client, world, schemes):
    (a_only, everything) = get(client, "get_template_schemes/2/11/", with_constants="TRUE")["data"]
    assert set(a_only["detail"]["constants"]) == {"${t_first}", "${t_a}", "${t_keep}", "${t_base}"}
    assert set(everything["detail"]["constants"]) == {"${t_first}", "${t_a}", "${t_b}", "${t_keep}", "${t_base}"}
    assert "detail" not in get(client, "get_template_schemes/2/11/", with_constants="false")["data"][0]


def test_a_template_without_schemes_has_none(client, world):
    assert get(client, "get_template_schemes/2/10/")["data"] == []


def test_a_viewer_reads_a_stranger_does_not(client, world, schemes):
    assert len(get(client, "get_template_schemes/2/11/", token="viewer_token")["data"]) == 2
    refused = get(client, "get_template_schemes/2/11/", token="olga_token")
    assert refused["result"] is False and refused["code"] == 3540100 and refused["data"] is None


def test_a_template_of_another_business_is_not_found(client, world, schemes):
    refused = get(client, "get_template_schemes/1/11/")
    assert refused["result"] is False and refused["code"] == 3540400
    assert refused["message"] == "template[id=11] of business[bk_biz_id=1] does not exist"


def test_a_deleted_template_is_not_found(client, world, schemes):
    world.templates[11].__class__.objects.filter(pk=11).update(is_deleted=True)
    assert get(client, "get_template_schemes/2/11/")["code"] == 3540400


@pytest.mark.parametrize(("params", "field"), [({"with_constants": "maybe"}, "with_constants"),
                                               ({"template_source": "nope"}, "template_source")])
def test_bad_input(client, world, params, field):
    refused = get(client, "get_template_schemes/2/11/", **params)
    assert refused["result"] is False and refused["code"] == 3540000 and field in refused["message"]


def test_bad_template_id(client, world):
    refused = get(client, "get_template_schemes/2/99999999999999999999999/")
    assert refused["result"] is False and refused["code"] == 3540000
