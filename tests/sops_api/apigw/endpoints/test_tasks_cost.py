"""What the hot task endpoints cost in statements, with the real engine (issue 11's fixed cost of a task).

A chain of no-op nodes finishes in the start's own walk, so no worker is needed. Each test counts
the statements of one request (the test's own transaction adds none: its savepoints are left out)
and says which reads and writes there are, so a change that adds a read or a transaction to the
hot path fails here before it shows in `make bench`.
"""
from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app.models import TaskInstance
from tests.support import task_trees as trees
from tests.support.sql import seq_scans_in_kept_plans, statements
from tests.support.task_world import make_template

pytestmark = pytest.mark.django_db
CREDS = {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"}
CHAIN = 50  # the template's id
PAUSE = 51


@pytest.fixture
def chain(world):
    b = trees.TreeBuilder()
    ids = [f"n{i}" for i in range(10)]
    for node_id in ids:
        b.act(trees.activity(node_id, "noop"))
    b.chain("start", *ids, "end")
    return make_template(CHAIN, "ten no-ops", b.build(), world.biz2)


@pytest.fixture
def pause(world):
    b = trees.TreeBuilder()
    b.act(trees.activity("p", "pause_node"))
    b.act(trees.activity("after", "noop"))
    b.chain("start", "p", "after", "end")
    return make_template(PAUSE, "pause then a no-op", b.build(), world.biz2)


def _post(client, path: str, **body):
    answer = client.post(f"/apigw/{path}", json.dumps({**CREDS, **body}), content_type="application/json")
    data = answer.json()
    assert data["result"], data
    return data["data"]


def _statements(queries) -> list[str]:
    # an executemany is logged as "<n> times: <sql>" (the node rows on SQLite)
    sql = [re.sub(r"^\d+ times: ", "", s.lstrip()) for s in statements(queries)]
    return [s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE"))]


def _on(table: str, verb: str, sql: list[str]) -> int:
    return sum(1 for s in sql if s.startswith(verb) and f'"{table}"' in s.split(" WHERE ")[0])


def test_start_task_reads_the_task_once_and_records_the_end_in_its_own_update(client, chain):
    task_id = _post(client, f"create_task/{CHAIN}/2/", name="t")["task_id"]
    with CaptureQueriesContext(connection) as queries:
        assert _post(client, f"start_task/{task_id}/2/") == "success"
    sql = _statements(queries)
    assert _on("tasks_app_taskinstance", "SELECT", sql) == 1  # the locked read, nothing before it
    if connection.vendor == "postgresql":
        # Three round trips: the locked read; the run's INSERT with its node rows; the task's
        # UPDATE (started and finished at once) with its audit row.
        assert len(sql) == 3 and sql[0].startswith("SELECT"), sql
        assert re.match(r'WITH run AS \(INSERT INTO "pipeline_engine_run" .* INSERT INTO "pipeline_engine_nodestate"',
                        sql[1])
        assert re.match(r'UPDATE "tasks_app_taskinstance" .*; INSERT INTO "tasks_app_taskoperation"', sql[2])
    else:
        assert _on("tasks_app_taskinstance", "UPDATE", sql) == 1  # started and finished at once
        assert _on("pipeline_engine_run", "INSERT", sql) == 1 and _on("pipeline_engine_nodestate", "INSERT", sql) == 1
        assert len(sql) <= 6, sql
    task = TaskInstance.objects.get(pk=task_id)
    assert task.is_started and task.is_finished and task.finish_time is not None  # before any worker


def test_create_and_start_task_never_reads_the_task_it_inserts(client, chain):
    _post(client, f"create_and_start_task/{CHAIN}/2/", name="first")  # the caller's identity is read once
    with CaptureQueriesContext(connection) as queries:
        task_id = _post(client, f"create_and_start_task/{CHAIN}/2/", name="t")["task_id"]
    sql = _statements(queries)
    assert not any('FROM "tasks_app_taskinstance"' in s for s in sql)
    assert _on("tasks_app_taskinstance", "INSERT", sql) == 1
    assert list(TaskInstance.objects.get(pk=task_id).operations.order_by("id").values_list(
        "operate_type", flat=True)) == ["create", "start"]
    if connection.vendor == "postgresql":
        # The template's read, the task's INSERT, the run's with its nodes, and the task's UPDATE
        # with the audit log's two rows (one INSERT), sent together.
        assert len(sql) == 4, sql
        assert re.match(r'UPDATE "tasks_app_taskinstance" .*; INSERT INTO "tasks_app_taskoperation"', sql[3])
    else:
        assert _on("tasks_app_taskinstance", "UPDATE", sql) == 1
        assert _on("tasks_app_taskoperation", "INSERT", sql) == 1  # the audit log's two rows, in one statement
        assert len(sql) <= 6, sql
    assert TaskInstance.objects.get(pk=task_id).is_finished


def test_create_task_is_the_templates_read_and_one_write(client, chain):
    _post(client, f"create_task/{CHAIN}/2/", name="first")  # the caller's identity is read once
    with CaptureQueriesContext(connection) as queries:
        task_id = _post(client, f"create_task/{CHAIN}/2/", name="t")["task_id"]
    sql = _statements(queries)
    assert _on("templates_app_template", "SELECT", sql) == 1 and not any("tasks_app_taskinstance\" WHERE" in s
                                                                          for s in sql)
    assert list(TaskInstance.objects.get(pk=task_id).operations.values_list("operate_type", flat=True)) == ["create"]
    if connection.vendor == "postgresql":
        # The task's INSERT and its audit row's are one statement, atomic on its own.
        assert len(sql) == 2, sql
        assert re.match(r'WITH parent AS \(INSERT INTO "tasks_app_taskinstance" .*\) '
                        r'INSERT INTO "tasks_app_taskoperation"', sql[1]), sql[1]
    else:
        assert _on("tasks_app_taskinstance", "INSERT", sql) == 1 and _on("tasks_app_taskoperation", "INSERT", sql) == 1
        assert len(sql) == 3, sql


def test_a_status_poll_is_one_read(client, chain):
    task_id = _post(client, f"create_and_start_task/{CHAIN}/2/", name="t")["task_id"]
    client.get(f"/apigw/get_task_status/{task_id}/2/", CREDS)  # the caller's identity is read once
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(f"/apigw/get_task_status/{task_id}/2/", CREDS).json()
    assert answer["result"] and answer["data"]["state"] == "FINISHED" and len(answer["data"]["children"]) == 12
    assert answer["data"]["name"] == "t"
    sql = _statements(queries)
    # the run and its nodes, with the task read by the statement's subqueries
    assert len(sql) == 1 and sql[0].startswith("SELECT") and '"tasks_app_taskinstance"' in sql[0], sql


@pytest.mark.parametrize("callback_url", ["", "http://127.0.0.1:9/hook"])
def test_a_callback_to_a_pause_node_ends_the_task_in_its_own_request(client, pause, settings, monkeypatch,
                                                                     django_capture_on_commit_callbacks,
                                                                     callback_url):
    """pause_node is inline: the request that delivers the callback runs its schedule call, walks
    to the end and records the end on the task, no worker involved. On PostgreSQL the node's log
    lines, the audit row, the node rows, the run's UPDATE and the task's end go as one query,
    nothing read first; a task with a callback_url has its end recorded and its call queued
    once the request commits (run_finished), as a worker's step leaves it."""
    from tasks_app import callbacks
    from tasks_app.models import TaskCallbackRecord

    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]
    monkeypatch.setattr(callbacks, "_dispatch", lambda record_id, dispatch: None)
    body = {"name": "t", **({"callback_url": callback_url} if callback_url else {})}
    task_id = _post(client, f"create_and_start_task/{PAUSE}/2/", **body)["task_id"]
    tree = TaskInstance.objects.get(pk=task_id).pipeline_tree
    (node_id,) = [k for k, v in tree["activities"].items() if v["component"]["code"] == "pause_node"]
    assert not TaskInstance.objects.get(pk=task_id).is_finished
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        _post(client, f"node_callback/{task_id}/2/", node_id=node_id, callback_data={"ok": 1})
    sql = _statements(queries)
    task = TaskInstance.objects.get(pk=task_id)
    assert task.is_finished and not task.is_revoked and task.finish_time is not None
    assert list(TaskCallbackRecord.objects.filter(task=task).values_list("state", flat=True)) == (
        ["FINISHED"] if callback_url else [])
    assert list(task.operations.values_list("operate_type", flat=True).order_by("id")) == ["create", "start", "callback"]
    log_reads = sum(bool(re.search(r'SELECT .* FROM "pipeline_engine_nodelog"', x)) for x in sql)
    assert log_reads == (0 if connection.vendor == "postgresql" else 1)  # the upsert reads nothing first
    run_updates = [x for x in sql if re.search(r'(^|; )UPDATE "?pipeline_engine_run"? ', x)]
    assert len(run_updates) == 1
    if connection.vendor == "postgresql":
        (step,) = run_updates  # the step's one query: every write of the request
        assert re.search(r'INSERT INTO "pipeline_engine_nodelog" .*; INSERT INTO "tasks_app_taskoperation" .*'
                         r'; UPDATE "?pipeline_engine_run"? .*; UPDATE "tasks_app_taskinstance" ', step), step
        # the task's read, the run's lock, its node rows, the step's writes (and, with a
        # callback_url, record_run_end's transaction after the commit: its commit setting, the
        # UPDATE, two reads of the task, the outbox row)
        assert len(sql) <= (4 if not callback_url else 9), sql
    else:
        assert _on("tasks_app_taskoperation", "INSERT", sql) == 1
        assert len(sql) <= (10 if not callback_url else 15), sql
    status = client.get(f"/apigw/get_task_status/{task_id}/2/", CREDS).json()["data"]
    assert status["state"] == "FINISHED" and status["children"][node_id]["state"] == "FINISHED"


@pytest.mark.parametrize("callback_url", ["", "http://127.0.0.1:9/hook"])
def test_a_worker_step_that_ends_the_run_records_the_end_with_its_own_writes(client, chain, settings, monkeypatch,
                                                                             django_capture_on_commit_callbacks,
                                                                             callback_url):
    """The end of a run a worker's step reaches is recorded on the task by a statement sent with
    the step's writes (run_ending), not by a transaction of its own after the commit; a task
    with a callback_url is left to run_finished, which records the end and queues the call."""
    from pipeline_engine import signals
    from pipeline_engine.runtime.step import step
    from tasks_app import callbacks
    from tasks_app.models import TaskCallbackRecord

    settings.SOPS_ENGINE_START_WALK_MS = 0  # the start walks nothing: a worker's advance ends the run
    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]
    monkeypatch.setattr(callbacks, "_dispatch", lambda record_id, dispatch: None)
    body = {"name": "t", **({"callback_url": callback_url} if callback_url else {})}
    task_id = _post(client, f"create_and_start_task/{CHAIN}/2/", **body)["task_id"]
    task = TaskInstance.objects.get(pk=task_id)
    assert task.is_started and not task.is_finished
    heard: list[dict] = []
    monkeypatch.setattr(signals.run_finished, "receivers", list(signals.run_finished.receivers))
    signals.run_finished.connect(lambda sender, **kw: heard.append(kw), weak=False)
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        step(task.run_id, lambda w: None)  # what the worker's advance does
    sql = _statements(queries)
    task.refresh_from_db()
    assert task.is_finished and not task.is_revoked and task.finish_time is not None
    assert [h["state"] for h in heard] == ["FINISHED"] and heard[0]["recorded"] is (not callback_url)
    task_updates = [s for s in sql if re.search(r'(^|; )UPDATE "tasks_app_taskinstance"', s)]
    if not callback_url:
        assert len(task_updates) == 1  # in the step's query, and nothing after the commit
        if connection.vendor == "postgresql":
            assert re.search(r'UPDATE "?pipeline_engine_run"? .*; UPDATE "tasks_app_taskinstance"', task_updates[0])
        assert not TaskCallbackRecord.objects.filter(task=task).exists()
    else:
        assert TaskCallbackRecord.objects.filter(task=task, state="FINISHED").count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="server-side PREPARE is PostgreSQL's")
def test_the_hot_requests_statements_are_executed_prepared(client, chain, settings):
    """Once a connection has prepared them, create_and_start, create, start and a poll send no SQL
    text for PostgreSQL to parse and plan: every statement is an EXECUTE of a prepared one (here
    the transactional ways, as a django_db test runs in a transaction; test_start_unlocked.py
    reads the others)."""
    settings.SOPS_AUTH_CACHE_SECONDS = 600  # the caller's identity is read once, not again mid-test

    def task_life() -> None:
        started = _post(client, f"create_and_start_task/{CHAIN}/2/", name="t")["task_id"]
        _post(client, f"start_task/{_post(client, f'create_task/{CHAIN}/2/', name='t')['task_id']}/2/")
        assert client.get(f"/apigw/get_task_status/{started}/2/", CREDS).json()["data"]["state"] == "FINISHED"

    task_life()  # prepares what this connection has not prepared yet
    with CaptureQueriesContext(connection) as queries:
        task_life()
    sent = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(sent) >= 5 and all(s.startswith("EXECUTE sops_p") for s in sent), "\n".join(s[:70] for s in sent)
    settings.SOPS_DB_PREPARE = False  # off (a pooler in transaction mode): the same requests send text
    with CaptureQueriesContext(connection) as queries:
        task_life()
    assert not any(q["sql"].startswith(("EXECUTE", "PREPARE")) for q in queries.captured_queries)


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="plans of prepared statements are PostgreSQL's")
def test_no_prepared_statement_of_the_hot_requests_is_planned_to_scan_a_table_that_grows(client, chain, settings):
    """PostgreSQL keeps a prepared statement's plan once the statement has run five times, possibly
    while the tables are nearly empty (as here): the plan of each statement create_and_start,
    create, start and a poll execute must read the tables that grow with every task by index."""
    from pipeline_engine.runtime.models import NodeHistory, NodeLog, NodeState, Run
    from tasks_app.models import TaskOperation

    settings.SOPS_AUTH_CACHE_SECONDS = 600
    started = _post(client, f"create_and_start_task/{CHAIN}/2/", name="t")["task_id"]
    with CaptureQueriesContext(connection) as queries:
        _post(client, f"create_and_start_task/{CHAIN}/2/", name="t")
        _post(client, f"start_task/{_post(client, f'create_task/{CHAIN}/2/', name='t')['task_id']}/2/")
        client.get(f"/apigw/get_task_status/{started}/2/", CREDS)
    names = sorted({name for q in queries.captured_queries for name in re.findall(r"EXECUTE (sops_p\d+_\d+)", q["sql"])})
    assert len(names) >= 5
    growing = [m._meta.db_table for m in (TaskInstance, TaskOperation, Run, NodeState, NodeLog, NodeHistory)]
    assert seq_scans_in_kept_plans(names, growing) == {}


def _answer(client, method: str, path: str, **body):
    if method == "GET":
        return client.get(f"/apigw/{path}", {**CREDS, **body}).json()
    return client.post(f"/apigw/{path}", json.dumps({**CREDS, **body}), content_type="application/json").json()


def test_the_hot_reads_name_a_task_or_a_template_by_its_key_alone(client, chain, world):
    """A read of one task or template names its key and no other indexed column (the business):
    given the business too, PostgreSQL may plan the read on the business's index, which it does
    on tables it has no statistics of, and keeps that plan for the connection: every poll then
    reads all the business's tasks. Each request still answers only its business's rows."""
    started = _post(client, f"create_and_start_task/{CHAIN}/2/", name="t")["task_id"]
    with CaptureQueriesContext(connection) as queries:
        _post(client, f"create_and_start_task/{CHAIN}/2/", name="t")
        _post(client, f"start_task/{_post(client, f'create_task/{CHAIN}/2/', name='t')['task_id']}/2/")
        assert _answer(client, "GET", f"get_task_status/{started}/2/")["data"]["state"] == "FINISHED"
        _answer(client, "GET", f"get_task_detail/{started}/2/")
    reads = [s for s in _statements(queries) if s.startswith(("SELECT", "WITH"))
             and ('"tasks_app_taskinstance"' in s or '"templates_app_template"' in s)]
    assert len(reads) >= 4
    assert [s for s in reads if re.search(r'"business_id" = ', s)] == []


def test_a_started_task_and_a_template_answer_only_in_their_business_and_while_not_deleted(client, chain, world):
    started = _post(client, f"create_and_start_task/{CHAIN}/2/", name="t")["task_id"]
    assert _answer(client, "GET", f"get_task_status/{started}/2/")["data"]["state"] == "FINISHED"
    elsewhere = _answer(client, "GET", f"get_task_status/{started}/1/")
    assert elsewhere["result"] is False
    assert elsewhere["message"] == f"task[id={started}] of business[bk_biz_id=1] does not exist"
    assert _answer(client, "GET", f"get_task_detail/{started}/1/")["message"] == elsewhere["message"]
    TaskInstance.objects.filter(pk=started).update(is_deleted=True)
    gone = _answer(client, "GET", f"get_task_status/{started}/2/")
    assert gone["result"] is False and gone["message"] == f"task[id={started}] of business[bk_biz_id=2] does not exist"
    # templates: another business's, a common one asked as a business one and back, a deleted one
    assert _answer(client, "POST", f"create_task/{CHAIN}/1/", name="x")["message"] == \
        f"template[id={CHAIN}] of business[bk_biz_id=1] does not exist"
    assert _answer(client, "POST", "create_task/40/2/", name="x")["message"] == \
        "template[id=40] of business[bk_biz_id=2] does not exist"
    assert _answer(client, "POST", f"create_task/{CHAIN}/2/", name="x", template_source="common")["message"] == \
        f"common template[id={CHAIN}] does not exist"
    assert _answer(client, "POST", "create_task/40/2/", name="x", template_source="common")["result"] is True
    chain.is_deleted = True
    chain.save(update_fields=["is_deleted"])
    assert _answer(client, "POST", f"create_and_start_task/{CHAIN}/2/", name="x")["message"] == \
        f"template[id={CHAIN}] of business[bk_biz_id=2] does not exist"
    assert TaskInstance.objects.filter(name="x", template_id=CHAIN).count() == 0
