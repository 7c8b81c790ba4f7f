"""bootstrap_demo: the spec's world, idempotent, repairing what no longer works, ids lined up with the spec."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from access_app.hashing import token_digest
from access_app.models import App, Business, BusinessMember, UserTicket
from tasks_app import services
from templates_app.models import Template, TemplateVersion
from tests.support.commands import run, run_json
from tests.support.gate import simple_tree

pytestmark = pytest.mark.django_db






@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path











































def counts() -> dict[str, int]:
    from django.contrib.auth import get_user_model

    return {"apps": App.objects.count(), "tickets": UserTicket.objects.count(),
            "templates": Template.objects.count(), "versions": TemplateVersion.objects.count(),
            "members": BusinessMember.objects.count(), "businesses": Business.objects.count(),
            "users": get_user_model().objects.count()}


def test_bootstrap_demo_creates_the_spec_world(var_dir):
    data = run_json("bootstrap_demo")
    assert {b["bk_biz_id"] for b in data["businesses"]} == {1, 2}
    assert Business.objects.get(bk_biz_id=2).name == "blueking"
    t1, t10, t30 = (Template.objects.get(pk=pk) for pk in (1, 10, 30))
    assert (t1.business.bk_biz_id, t10.business.bk_biz_id, t30.business.bk_biz_id) == (2, 2, 1)
    pause = t1.pipeline_tree["activities"]["nodea5c396a3ef0f9f3cd7d4d7695f78"]
    assert pause["optional"] is True and pause["component"]["code"] == "pause_node"
    assert t1.pipeline_tree["constants"]["${bk_timing}"]["value"] == "2"
    assert {"${content}", "${params}", "${script_timeout}", "${script_type}"} <= set(t10.pipeline_tree["constants"])
    assert "631b6576cc5dfbdcaa4f510ce88a7e67" in t30.pipeline_tree["activities"]
    assert data["spec_placeholders"] is None
    assert not App.objects.filter(app_code="app_code").exists()
    # generated credentials work and are kept for the next run
    assert App.objects.get(app_code=data["app_code"]).check_secret(data["app_secret"])
    saved = json.loads((var_dir / "demo-credentials.json").read_text())
    assert saved["access_token"] == data["access_token"]
    assert (var_dir / "demo-credentials.json").stat().st_mode & 0o077 == 0


def test_bootstrap_demo_is_idempotent(var_dir):
    first = run_json("bootstrap_demo", "--spec-placeholders")
    before = counts()
    second = run_json("bootstrap_demo", "--spec-placeholders")
    assert counts() == before
    for key in ("app_secret", "access_token", "bk_token"):
        assert first[key] == second[key]
    assert {t["status"] for t in second["templates"]} == {"kept"}


def test_bootstrap_demo_replaces_what_no_longer_works(var_dir):
    first = run_json("bootstrap_demo")
    UserTicket.objects.filter(digest=token_digest(first["access_token"])).update(revoked=True)
    (var_dir / "demo-credentials.json").unlink()
    second = run_json("bootstrap_demo")
    assert second["access_token"] != first["access_token"]
    assert second["app_secret"] != first["app_secret"]
    assert App.objects.get(app_code="sops-demo").check_secret(second["app_secret"])
    assert Template.objects.filter(pk__in=[1, 10, 30]).count() == 3


def test_bootstrap_demo_spec_placeholders(var_dir, client):
    run("bootstrap_demo", "--spec-placeholders")
    UserTicket.objects.filter(digest=token_digest("access_token")).update(revoked=True)
    run("bootstrap_demo", "--spec-placeholders")  # repairs the placeholder ticket
    body = client.get("/apigw/get_template_list/2/", {"app_code": "app_code", "app_secret": "app_secret",
                                                       "access_token": "access_token"}).json()
    assert body["result"] is True
    assert {1, 10} <= {item["id"] for item in body["data"]}
    body = client.get("/apigw/get_template_list/30/1/", {"app_code": "app_code", "app_secret": "app_secret",
                                                          "bk_token": "bk_token"}).json()
    assert body["result"] is True and body["data"]["name"] == "new20180416213944"


def test_bootstrap_demo_warns_about_placeholders(var_dir):
    err = io.StringIO()
    call_command("bootstrap_demo", "--spec-placeholders", stdout=io.StringIO(), stderr=err)
    assert "DEMO ONLY" in err.getvalue()


def test_templates_created_after_the_demo_get_fresh_ids(var_dir):
    run("bootstrap_demo")
    from templates_app.services import create_template

    template = create_template(name="after", pipeline_tree=simple_tree(), creator="x", validate=False)
    assert template.pk > 100


def _new_task_id() -> int:
    business = Business.objects.get(bk_biz_id=2)
    return services.create_task(business=business, template=Template.objects.get(pk=4), name="t",
                                creator="admin", app_code="demo").pk


def test_first_task_of_the_demo_is_10_and_a_rerun_keeps_counting(tmp_path, settings):
    settings.VAR_DIR = tmp_path  # the demo keeps its credentials file there
    call_command("bootstrap_demo", "--spec-placeholders", "--json")
    assert _new_task_id() == 10
    call_command("bootstrap_demo", "--spec-placeholders", "--json")  # idempotent: tasks exist now
    assert _new_task_id() == 11



def test_the_demo_access_token_is_the_demo_apps_and_works_alone(var_dir, client):
    data = run_json("bootstrap_demo")
    saved = json.loads((var_dir / "demo-credentials.json").read_text())
    assert saved["app_code"] == data["app_code"] == "sops-demo"
    assert UserTicket.objects.get(digest=token_digest(data["access_token"])).app.app_code == "sops-demo"
    assert UserTicket.objects.get(digest=token_digest(data["bk_token"])).app is None
    header = json.dumps({"access_token": data["access_token"]})
    assert client.get("/apigw/get_template_list/2/", HTTP_X_BKAPI_AUTHORIZATION=header).json()["result"] is True
    header = json.dumps({"bk_app_code": "sops-demo", "bk_app_secret": data["app_secret"], "bk_token": data["bk_token"]})
    assert client.get("/apigw/get_template_list/2/", HTTP_X_BKAPI_AUTHORIZATION=header).json()["result"] is True


def test_a_rerun_binds_a_demo_token_issued_before_binding(var_dir):
    first = run_json("bootstrap_demo")
    UserTicket.objects.filter(digest=token_digest(first["access_token"])).update(app=None)
    second = run_json("bootstrap_demo")
    assert second["access_token"] == first["access_token"]
    assert UserTicket.objects.get(digest=token_digest(first["access_token"])).app.app_code == "sops-demo"


def test_a_saved_token_of_the_wrong_kind_or_app_is_replaced(var_dir):
    first = run_json("bootstrap_demo")
    other, _ = App.objects.get_or_create(app_code="elsewhere", defaults={"secret_hash": "x"})
    UserTicket.objects.filter(digest=token_digest(first["access_token"])).update(app=other)
    second = run_json("bootstrap_demo")
    assert second["access_token"] != first["access_token"]
    assert UserTicket.objects.get(digest=token_digest(second["access_token"])).app.app_code == "sops-demo"


def test_the_placeholder_access_token_is_the_placeholder_apps(var_dir, client):
    run("bootstrap_demo", "--spec-placeholders")
    assert UserTicket.objects.get(digest=token_digest("access_token")).app.app_code == "app_code"
    assert UserTicket.objects.get(digest=token_digest("bk_token")).app is None
    url = "/apigw/get_template_list/2/"
    header = json.dumps({"access_token": "access_token"})
    assert client.get(url, HTTP_X_BKAPI_AUTHORIZATION=header).json()["result"] is True
    assert client.get(url, {"access_token": "access_token"}).json()["result"] is True
    # The demo app's credentials belong to another app than the placeholder token's.
    demo_secret = json.loads((var_dir / "demo-credentials.json").read_text())["app_secret"]
    body = client.get(url, {"app_code": "sops-demo", "app_secret": demo_secret,
                            "access_token": "access_token"}).json()
    assert body["result"] is False and "issued for another app" in body["message"]
