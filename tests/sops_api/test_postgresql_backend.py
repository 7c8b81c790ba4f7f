"""The PostgreSQL backend's health check (sops_api/postgresql/base.py): no round trip for an idle
connection that nothing happened to, and a dead one is still found before it is used."""
from __future__ import annotations

import time

import pytest
from django.db import connection, connections
from django.db.backends.postgresql import base as django_base

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's backend")]


@pytest.fixture
def own():
    """A connection of the test's own, outside the test's transaction (it may be killed)."""
    conn = connections.create_connection("default")
    conn.ensure_connection()
    yield conn
    conn.close()


@pytest.fixture
def round_trips(monkeypatch):
    """Every `SELECT 1` Django's own check makes."""
    made = []
    original = django_base.DatabaseWrapper.is_usable

    def counted(self):
        made.append(self.alias)
        return original(self)

    monkeypatch.setattr(django_base.DatabaseWrapper, "is_usable", counted)
    return made


def test_the_service_runs_on_this_backend_with_health_checks_on():
    from sops_api.postgresql.base import DatabaseWrapper

    assert isinstance(connections["default"], DatabaseWrapper)
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True and connection.settings_dict["CONN_MAX_AGE"] > 0


def test_an_idle_live_connection_is_usable_without_a_round_trip(own, round_trips):
    with own.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert own.is_usable() is True and round_trips == []
    own.health_check_enabled, own.health_check_done = True, False
    own.close_if_health_check_failed()  # what a new request does first
    assert own.connection is not None and round_trips == []


def test_a_terminated_connection_is_found_and_closed_before_use(own, round_trips):
    pid = own.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while own.is_usable() and time.monotonic() < deadline:  # the server's goodbye is on its way
        time.sleep(0.01)
    assert own.is_usable() is False and round_trips  # the round trip that found it dead
    own.health_check_enabled, own.health_check_done = True, False
    own.close_if_health_check_failed()
    assert own.connection is None  # closed: the next statement reconnects
    with own.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_closed_connection_is_unusable_and_one_with_something_to_read_asks_the_server(own, round_trips):
    with own.cursor() as cursor:
        cursor.execute("LISTEN sops_backend_test")
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:  # another session notifies: the idle socket becomes readable
            cursor.execute("SELECT pg_notify('sops_backend_test', 'x')")
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while not round_trips and time.monotonic() < deadline:
        assert own.is_usable() is True  # alive: once readable, the round trip says so
        time.sleep(0.01)
    assert round_trips  # the readable socket was asked about
    own.connection.close()
    assert own.is_usable() is False


# --- JSON columns ----------------------------------------------------------------------------------------

def test_a_json_column_is_written_as_the_engine_writes_json_text():
    from pipeline_engine.api import json_text

    value = {"名": "é", "n": [1, 2.5, None, True]}
    adapted = connection.ops.adapt_json_value(value, None)
    adapted.prepare(connection.connection)
    assert adapted.getquoted().decode() == "'" + json_text(value) + "'::jsonb"
    assert json_text(value) == '{"名":"é","n":[1,2.5,null,true]}'


def test_a_json_column_with_an_encoder_of_its_own_keeps_it():
    import datetime as dt

    from django.core.serializers.json import DjangoJSONEncoder

    adapted = connection.ops.adapt_json_value({"at": dt.date(2026, 1, 2)}, DjangoJSONEncoder)
    adapted.prepare(connection.connection)
    assert adapted.getquoted().decode() == """'{"at": "2026-01-02"}'::jsonb"""


@pytest.mark.parametrize("tree", [
    {"名称": "部署 ✓", "nested": {"list": [1, -2, 3.25, None, False, "\\u0000 is text here"]}},
    {"big": 2**70, "keys": {"1": "a"}},
    {"quote": "it's \"quoted\"", "backslash": "a\\b", "newline": "a\nb"},
])
def test_what_a_json_column_stores_reads_back_equal(tree):
    from access_app.models import Business
    from templates_app.models import Template

    business = Business.objects.create(bk_biz_id=98765, name="json")
    template = Template.objects.create(business=business, name="json", pipeline_tree=tree)
    assert Template.objects.get(pk=template.pk).pipeline_tree == tree
    with connection.cursor() as cursor:  # the database holds the value, not text to be read our way
        cursor.execute("SELECT pipeline_tree = %s::jsonb FROM templates_app_template WHERE id = %s",
                       [__import__("json").dumps(tree), template.pk])
        assert cursor.fetchone() == (True,)
