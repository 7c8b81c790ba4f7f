"""sops_api.management.base: an operator command fails with one line when the database cannot be reached."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.faults.db_outage import closed_port, require_postgresql, unreachable_database

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db(transaction=True)
def test_call_command_while_the_database_is_down_raises_one_line() -> None:
    require_postgresql()
    with unreachable_database(), pytest.raises(CommandError) as caught:
        call_command("create_business", "--bk-biz-id", "41", "--name", "nope")
    message = str(caught.value)
    assert message.startswith("database unavailable: OperationalError: ") and "\n" not in message, message
    from templates_app.models import Business

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
