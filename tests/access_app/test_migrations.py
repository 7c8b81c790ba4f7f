"""access_app/migrations: a database the old code migrated moves to the new models without moving a row.

The tests migrate the test database back to an older state (apps and tickets
in sops_api, businesses and members in templates_app; or tickets without an
app), write rows through the old models, migrate forward, and read them
through the new ones and through the API.
"""
from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from access_app.models import App, Business, BusinessMember, UserTicket
from periodic_app.models import PeriodicTask
from tasks_app.models import TaskInstance
from templates_app.models import Template
from tests.support.gate import simple_tree

# The leaves of the old code's migration graph; access_app did not exist.
OLD_LEAVES = [("sops_api", "0001_initial"), ("templates_app", "0001_initial"),
              ("tasks_app", "0002_callback_resend"), ("periodic_app", "0002_history_order")]
MOVED = {"app": "sops_api", "userticket": "sops_api", "business": "templates_app",
         "businessmember": "templates_app"}

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    return executor


def labels() -> dict[str, tuple[int, str]]:
    return {ct.model: (ct.pk, ct.app_label)
            for ct in ContentType.objects.filter(model__in=MOVED)
            if ct.app_label in ("access_app", *MOVED.values())}


def test_old_rows_are_read_by_the_new_models_after_migrating_forward(client):
    from access_app.hashing import token_digest
    from tests.access_app.legacy import legacy_secret_hash

    before = labels()
    assert {model: label for model, (_pk, label) in before.items()} == dict.fromkeys(MOVED, "access_app")

    executor = migrate([*OLD_LEAVES, ("access_app", None)])
    # Backwards, the content types went back to the old apps: the same rows, relabelled.
    assert labels() == {model: (before[model][0], MOVED[model]) for model in MOVED}
    old = executor.loader.project_state(OLD_LEAVES).apps
    assert not old.all_models.get("access_app")

    user = old.get_model("auth", "User").objects.create(username="legacy")
    app = old.get_model("sops_api", "App").objects.create(app_code="legacy-app", secret_hash=legacy_secret_hash("s3"))
    old.get_model("sops_api", "UserTicket").objects.create(user=user, kind="access_token",
                                                          digest=token_digest("legacy-token"), hint="legacy")
    biz = old.get_model("templates_app", "Business").objects.create(bk_biz_id=42, name="legacy", time_zone="UTC")
    old.get_model("templates_app", "BusinessMember").objects.create(business=biz, user=user, role="operator")
    template = old.get_model("templates_app", "Template").objects.create(
        business=biz, source="business", name="legacy template", creator="legacy", pipeline_tree=simple_tree())
    task = old.get_model("tasks_app", "TaskInstance").objects.create(
        business=biz, template=template, name="legacy task", creator="legacy", pipeline_tree={})
    periodic = old.get_model("periodic_app", "PeriodicTask").objects.create(
        business=biz, template=template, name="legacy periodic", creator="legacy", pipeline_tree={})

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert labels() == before  # relabelled forward again, never recreated
    assert App.objects.get(pk=app.pk).check_secret("s3")
    assert UserTicket.objects.get(digest=token_digest("legacy-token")).user.get_username() == "legacy"
    business = Business.objects.get(pk=biz.pk)
    assert (business.bk_biz_id, business.name) == (42, "legacy")
    assert BusinessMember.objects.get(business=business).role == "operator"
    assert Template.objects.get(pk=template.pk).business == business
    assert TaskInstance.objects.get(pk=task.pk).business == business
    assert PeriodicTask.objects.get(pk=periodic.pk).business == business
    # And the API authenticates and authorises with the migrated rows.
    answer = client.get("/apigw/get_template_list/42/", {"app_code": "legacy-app", "app_secret": "s3",
                                                        "access_token": "legacy-token"}).json()
    assert answer["result"] is True, answer
    assert [item["name"] for item in answer["data"]] == ["legacy template"]
    # The old PBKDF2 hash was upgraded by that first call, and the secret still works.
    assert App.objects.get(pk=app.pk).secret_hash.startswith("hmac_sha256$")
    assert App.objects.get(pk=app.pk).check_secret("s3")


def test_access_tokens_issued_before_binding_stay_unbound_and_need_app_credentials(client):
    """0002 binds no existing access_token to a guessed app: each keeps working with app credentials."""
    from access_app.hashing import token_digest
    from access_app.services import create_app

    executor = migrate([("access_app", "0001_initial")])
    old = executor.loader.project_state([("access_app", "0001_initial")]).apps
    assert "app" not in {f.name for f in old.get_model("access_app", "UserTicket")._meta.get_fields()}
    user = old.get_model("auth", "User").objects.create(username="legacy")
    biz = old.get_model("access_app", "Business").objects.create(bk_biz_id=42, name="legacy", time_zone="UTC")
    old.get_model("access_app", "BusinessMember").objects.create(business=biz, user=user, role="viewer")
    tickets = old.get_model("access_app", "UserTicket").objects
    tickets.create(user=user, kind="access_token", digest=token_digest("old-access"), hint="old-ac")
    tickets.create(user=user, kind="bk_token", digest=token_digest("old-login"), hint="old-lo")

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert UserTicket.objects.get(digest=token_digest("old-access")).app is None
    assert UserTicket.objects.get(digest=token_digest("old-login")).app is None
    _app, secret = create_app(app_code="any-app")
    url = "/apigw/get_template_list/42/"
    alone = client.get(url, {"access_token": "old-access"}).json()
    assert alone["result"] is False and alone["code"] == 3540100
    assert "issued before tokens were bound to apps" in alone["message"]
    for token_kind, token in (("access_token", "old-access"), ("bk_token", "old-login")):
        answer = client.get(url, {"app_code": "any-app", "app_secret": secret, token_kind: token}).json()
        assert answer["result"] is True, answer


def test_the_models_match_the_migrations():
    """makemigrations finds nothing to do: the state-only moves left no difference behind."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
