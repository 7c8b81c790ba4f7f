"""Operator commands: output, transactions, errors; bootstrap_demo's idempotence and ids."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from access_app.hashing import token_digest
from access_app.models import App, Business, BusinessMember, UserTicket
from templates_app.models import Template, TemplateVersion

from .conftest import broken_tree, simple_tree

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(*args: str):
    return json.loads(run(*args, "--json"))


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


# --- create_business -----------------------------------------------------------

def test_create_business():
    data = run_json("create_business", "--bk-biz-id", "5", "--name", "ops", "--time-zone", "Europe/Paris")
    assert data == {"bk_biz_id": 5, "name": "ops", "time_zone": "Europe/Paris"}
    assert Business.objects.get(bk_biz_id=5).time_zone == "Europe/Paris"


def test_create_business_human_text():
    assert "business 6 ops created (Asia/Shanghai)" in run("create_business", "--bk-biz-id", "6", "--name", "ops")


def test_create_business_refuses_duplicates_and_bad_zones():
    run("create_business", "--bk-biz-id", "5", "--name", "ops")
    with pytest.raises(CommandError, match="already exists"):
        run("create_business", "--bk-biz-id", "5", "--name", "again")
    with pytest.raises(CommandError, match="not an IANA time zone"):
        run("create_business", "--bk-biz-id", "8", "--name", "x", "--time-zone", "Mars/Olympus")
    assert not Business.objects.filter(bk_biz_id=8).exists()


# --- create_app ----------------------------------------------------------------

def test_create_app_prints_a_working_secret():
    data = run_json("create_app", "--app-code", "my-app", "--name", "Mine")
    app = App.objects.get(app_code="my-app")
    assert app.name == "Mine" and app.enabled
    assert app.check_secret(data["app_secret"]) and data["app_secret"] not in app.secret_hash


def test_create_app_with_explicit_secret_and_reset():
    run("create_app", "--app-code", "my-app", "--secret", "chosen")
    assert App.objects.get(app_code="my-app").check_secret("chosen")
    with pytest.raises(CommandError, match="already exists"):
        run("create_app", "--app-code", "my-app")
    data = run_json("create_app", "--app-code", "my-app", "--reset-secret")
    app = App.objects.get(app_code="my-app")
    assert app.check_secret(data["app_secret"]) and not app.check_secret("chosen")


def test_create_app_human_text_shows_secret_once():
    text = run("create_app", "--app-code", "shown")
    assert "app_secret:" in text and "shown only now" in text


# --- issue_token ---------------------------------------------------------------

def test_issue_token_creates_user_membership_and_token(client):
    run("create_business", "--bk-biz-id", "5", "--name", "ops")
    app_secret = run_json("create_app", "--app-code", "a")["app_secret"]
    data = run_json("issue_token", "--username", "alice", "--bk-biz-id", "5", "--role", "operator")
    assert data["kind"] == "access_token" and data["role"] == "operator"
    ticket = UserTicket.objects.get(digest=token_digest(data["access_token"]))
    # access_token: 7 days by default
    assert abs(ticket.expires_at - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)
    assert BusinessMember.objects.get(user__username="alice", business__bk_biz_id=5).role == "operator"
    body = client.get("/apigw/get_template_list/5/", {"app_code": "a", "app_secret": app_secret,
                                                       "access_token": data["token"]}).json()
    assert body["result"] is True


def test_issue_token_bk_token_has_no_expiry_and_role_changes():
    run("create_business", "--bk-biz-id", "5", "--name", "ops")
    run("issue_token", "--username", "bob", "--bk-biz-id", "5", "--role", "viewer")
    data = run_json("issue_token", "--username", "bob", "--bk-biz-id", "5", "--role", "maintainer",
                    "--kind", "bk_token")
    assert UserTicket.objects.get(digest=token_digest(data["bk_token"])).expires_at is None
    assert BusinessMember.objects.get(user__username="bob").role == "maintainer"


def test_issue_token_expires_in():
    run("create_business", "--bk-biz-id", "5", "--name", "ops")
    data = run_json("issue_token", "--username", "c", "--bk-biz-id", "5", "--role", "viewer",
                    "--kind", "bk_token", "--expires-in", "60")
    ticket = UserTicket.objects.get(digest=token_digest(data["token"]))
    assert dt.timedelta(seconds=50) < ticket.expires_at - timezone.now() <= dt.timedelta(seconds=60)


def test_issue_token_unknown_business_leaves_nothing():
    from django.contrib.auth import get_user_model

    with pytest.raises(CommandError, match=r"business\[bk_biz_id=404\] does not exist"):
        run("issue_token", "--username", "ghost", "--bk-biz-id", "404", "--role", "viewer")
    assert not get_user_model().objects.filter(username="ghost").exists()


def test_issue_token_rejects_unknown_role():
    with pytest.raises(CommandError):
        run("issue_token", "--username", "x", "--bk-biz-id", "1", "--role", "king")


# --- import_templates ------------------------------------------------------------

def write(tmp_path, payload) -> str:
    path = tmp_path / "templates.json"
    path.write_text(json.dumps(payload, ensure_ascii=False))
    return str(path)


@pytest.fixture
def biz5():
    return Business.objects.create(bk_biz_id=5, name="ops")


def test_import_one_object(tmp_path, biz5):
    out = run("import_templates", write(tmp_path, {"name": "one", "pipeline_tree": simple_tree()}),
              "--bk-biz-id", "5", "--creator", "carol")
    listed = json.loads(out)
    template = Template.objects.get(pk=listed[0]["id"])
    assert listed == [{"id": template.pk, "name": "one"}]
    assert (template.business, template.category, template.creator, template.source) == (biz5, "Other", "carol",
                                                                                         "business")
    assert TemplateVersion.objects.filter(template=template).count() == 1


def test_import_list_as_common(tmp_path):
    payload = [{"name": "a", "category": "OpsTools", "pipeline_tree": simple_tree("a")},
               {"name": "b", "pipeline_tree": simple_tree("b")}]
    data = run_json("import_templates", write(tmp_path, payload), "--common")
    assert [d["name"] for d in data] == ["a", "b"]
    assert set(Template.objects.values_list("source", flat=True)) == {"common"}


def test_import_is_all_or_nothing_and_names_the_node(tmp_path, biz5):
    payload = [{"name": "fine", "pipeline_tree": simple_tree("a")},
               {"name": "broken", "pipeline_tree": broken_tree()}]
    with pytest.raises(CommandError) as info:
        run("import_templates", write(tmp_path, payload), "--bk-biz-id", "5")
    message = str(info.value)
    assert "template #2 (broken)" in message and "pipeline_tree is invalid" in message
    assert "nowhere" in message  # the engine names the offending flow's target
    assert Template.objects.count() == 0 and TemplateVersion.objects.count() == 0


@pytest.mark.parametrize(("payload", "fragment"), [
    ({"pipeline_tree": {}}, "name is required"),
    ({"name": "x"}, "pipeline_tree must be a JSON object"),
    ({"name": "x", "category": "Nope", "pipeline_tree": {}}, "category 'Nope'"),
    ([], "non-empty list"),
    ("text", "non-empty list"),
])
def test_import_refuses_malformed_items(tmp_path, biz5, payload, fragment):
    with pytest.raises(CommandError, match=fragment):
        run("import_templates", write(tmp_path, payload), "--bk-biz-id", "5")


def test_import_needs_a_target_and_a_readable_json_file(tmp_path, biz5):
    path = write(tmp_path, {"name": "x", "pipeline_tree": simple_tree()})
    with pytest.raises(CommandError):
        run("import_templates", path)
    with pytest.raises(CommandError, match="does not exist"):
        run("import_templates", path, "--bk-biz-id", "404")
    with pytest.raises(CommandError, match="cannot read"):
        run("import_templates", str(tmp_path / "missing.json"), "--bk-biz-id", "5")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(CommandError, match="not valid JSON"):
        run("import_templates", str(bad), "--bk-biz-id", "5")


# --- bootstrap_demo ---------------------------------------------------------------

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
