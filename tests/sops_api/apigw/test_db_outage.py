"""sops_api.apigw.db_outage: a request meeting a lost database connection is retried once, or answers
"service unavailable" (3550300, HTTP 200), never 3599999; /healthz names the database.

Real faults on the test's own session (tests/faults/db_outage.py). Django's test client does not run
`close_old_connections` around a request (gunicorn does, and with CONN_HEALTH_CHECKS that replaces a
dead connection before the view runs), so here a killed session reaches the view itself: the case the
retry exists for, a server restarting between the health check and the request's first query.
"""
from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import close_old_connections

from sops_api.apigw.errors import SERVICE_UNAVAILABLE, UNKNOWN_ERROR
from tests.faults.db_outage import kill_own_backend, require_postgresql, unreachable_database

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def creds() -> dict[str, Any]:
    """App `outage-app`, user `vera` (viewer of business 2) with an access_token."""
    from access_app.models import Business, Role
    from access_app.services import create_app, ensure_user, issue_ticket, set_member_role

    biz = Business.objects.create(bk_biz_id=2, name="blueking", time_zone="Asia/Shanghai")
    app, _ = create_app(app_code="outage-app", secret="s3cret")
    user = ensure_user(username="vera")
    set_member_role(business=biz, user=user, role=Role.OPERATOR)
    token = issue_ticket(user=user, app=app, expires_in=3600)[1]
    return {"app_code": "outage-app", "app_secret": "s3cret", "access_token": token}


def test_a_request_whose_connection_was_lost_is_answered_normally(client, creds, caplog) -> None:
    require_postgresql()
    assert client.get("/apigw/get_template_list/2/", creds).json()["result"] is True
    kill_own_backend()
    with caplog.at_level(logging.WARNING, logger="pipeline_engine.db"):
        body = client.get("/apigw/get_template_list/2/", creds).json()
    assert body["result"] is True and body["code"] == 0, body
    assert "request GET /apigw/get_template_list/2/: database connection lost before anything changed" in caplog.text


def test_with_the_request_boundary_the_health_check_replaces_a_dead_connection(client, creds, caplog) -> None:
    """What gunicorn does before each request (close_old_connections): the check finds the dead
    session and reconnects before the view runs, so the view needs no retry."""
    require_postgresql()
    client.get("/apigw/get_template_list/2/", creds)
    kill_own_backend()
    close_old_connections()
    with caplog.at_level(logging.WARNING, logger="pipeline_engine.db"):
        body = client.get("/apigw/get_template_list/2/", creds).json()
    assert body["result"] is True, body
    assert "retrying" not in caplog.text


def test_while_the_database_is_down_reads_and_writes_answer_unavailable(client, creds) -> None:
    require_postgresql()
    from tasks_app.models import TaskInstance

    with unreachable_database():
        read = client.get("/apigw/get_template_list/2/", creds)
        write = client.post("/apigw/create_task/1/2/", {**creds, "name": "x"}, content_type="application/json")
        health = client.get("/healthz")
    for response in (read, write):
        assert response.status_code == 200
        body = response.json()
        assert body["result"] is False and body["data"] is None, body
        assert body["code"] == SERVICE_UNAVAILABLE != UNKNOWN_ERROR
        assert body["message"] == "service unavailable: the database cannot be reached; retry later"
    assert health.status_code == 503
    checks = health.json()["checks"]
    assert checks["broker"] == "ok" and "Connection refused" in checks["database"], checks
    # And back to normal at once.
    assert client.get("/apigw/get_template_list/2/", creds).json()["result"] is True
    assert client.get("/healthz").status_code == 200
    assert TaskInstance.objects.count() == 0


def test_other_database_errors_stay_unexpected(client, creds) -> None:
    """Only a lost connection is "unavailable": a query the database refuses is still 3599999."""
    require_postgresql()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET search_path TO no_such_schema")  # every table is "missing" now
    try:
        body = client.get("/apigw/get_template_list/2/", creds).json()
    finally:
        connection.close()
    assert body["code"] == UNKNOWN_ERROR, body
