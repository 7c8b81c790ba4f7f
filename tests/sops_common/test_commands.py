"""The operator command base: --json output, one transaction, domain errors as one-line CommandErrors."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from access_app.models import Business
from sops_common.commands import OperatorCommand
from sops_common.errors import InvalidInput
from tests.faults.db_outage import closed_port, require_postgresql, unreachable_database

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


class CreateThenMaybeFail(OperatorCommand):
    def add_arguments(self, parser):
        parser.add_argument("--fail", action="store_true")

    def run(self, **options):
        Business.objects.create(bk_biz_id=77, name="half")
        if options["fail"]:
            raise InvalidInput("business 77 cannot be made")
        return {"bk_biz_id": 77}, "business 77 made"


def run(*args):
    out = io.StringIO()
    call_command(CreateThenMaybeFail(), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_text_and_json_output():
    assert run().strip() == "business 77 made"
    Business.objects.all().delete()
    assert json.loads(run("--json")) == {"bk_biz_id": 77}


def test_a_domain_error_is_one_line_and_leaves_nothing():
    with pytest.raises(CommandError, match="^business 77 cannot be made$"):
        run("--fail")
    assert not Business.objects.filter(bk_biz_id=77).exists()


# --- a database that cannot be reached: one line, no traceback ---------------------------------------

@pytest.mark.django_db(transaction=True)
def test_call_command_while_the_database_is_down_raises_one_line() -> None:
    require_postgresql()
    with unreachable_database(), pytest.raises(CommandError) as caught:
        call_command("create_business", "--bk-biz-id", "41", "--name", "nope")
    message = str(caught.value)
    assert message.startswith("database unavailable: OperationalError: ") and "\n" not in message, message
    assert not Business.objects.filter(bk_biz_id=41).exists()


def test_manage_py_exits_1_with_one_line_and_no_traceback() -> None:
    """The operator's view: the real command line, a PostgreSQL URL where nothing listens."""
    env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/sops",
               DJANGO_SETTINGS_MODULE="sops_api.settings")
    done = subprocess.run([sys.executable, "manage.py", "issue_token", "--username", "a", "--bk-biz-id", "2",
                           "--role", "viewer"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr)
    err = done.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("CommandError: database unavailable: OperationalError: connection to server"), err
    assert "Connection refused" in err
