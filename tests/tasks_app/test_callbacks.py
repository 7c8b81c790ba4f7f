"""callback_url delivery (backoff, give-up, allowlist) and re-dispatch of deliveries whose Celery message was
lost (callbacks.resend_stuck), engine faked."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from tasks_app import callbacks, services
from tasks_app.models import CallbackStatus, TaskCallbackRecord
from tests.conftest import wait_for
from tests.support.live_http import Http, Receiver, ok

GRACE = callbacks.RESEND_GRACE_SECONDS


@pytest.fixture
def dispatched(monkeypatch) -> list[tuple[int, int]]:
    """Every delivery message queued, instead of queueing it."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(callbacks, "_dispatch", lambda record_id, dispatch: sent.append((record_id, dispatch)))
    return sent


def _pending(world, name: str = "t", url: str = "http://127.0.0.1:9/hook") -> TaskCallbackRecord:
    with override_settings(SOPS_HTTP_ALLOWLIST=["127.0.0.1"]):  # callback_url is checked at create
        task = services.create_task(business=world.biz2, template=world.templates[10], name=name, creator="alice",
                                    app_code="app_code", callback_url=url)
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    services.record_run_end(run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})
    return TaskCallbackRecord.objects.get(task=task)


def _later(record: TaskCallbackRecord, seconds: float) -> dt.datetime:
    return record.next_attempt_at + dt.timedelta(seconds=seconds)


@pytest.mark.django_db
def test_only_overdue_pending_records_are_resent_once(world, fake_engine, dispatched,
                                                      django_capture_on_commit_callbacks):
    record = _pending(world)
    assert record.next_attempt_at is not None and record.resends == 0
    done = _pending(world, "done")
    TaskCallbackRecord.objects.filter(pk=done.pk).update(status=CallbackStatus.SUCCESS)
    with django_capture_on_commit_callbacks(execute=True):
        assert callbacks.resend_stuck(record.next_attempt_at) == 0
        assert callbacks.resend_stuck(_later(record, GRACE - 1)) == 0  # late, but within the grace period
    assert dispatched == []
    now = _later(record, GRACE + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert callbacks.resend_stuck(now) == 1
        assert callbacks.resend_stuck(now) == 0  # a second scheduler at the same moment finds nothing
    assert dispatched == [(record.pk, 1)]
    record.refresh_from_db()
    assert record.resends == 1 and record.next_attempt_at == now and record.status == CallbackStatus.PENDING
    assert TaskCallbackRecord.objects.get(pk=done.pk).resends == 0


@pytest.mark.django_db
def test_a_late_message_of_an_earlier_dispatch_is_dropped(world, fake_engine, dispatched, settings):
    receiver = Receiver()
    try:
        _late_message_is_dropped(world, receiver, settings)
    finally:
        receiver.close()


def _late_message_is_dropped(world, receiver: Receiver, settings) -> None:
    record = _pending(world, url=receiver.base + "/hook")
    settings.SOPS_HTTP_ALLOWLIST = ["127.0.0.1"]  # the receiver listens on loopback
    callbacks.resend_stuck(_later(record, GRACE + 1))
    posts = receiver.posts
    assert callbacks.attempt_delivery(record.pk, 0) is None  # the "lost" message turned up after all
    assert posts == [] and TaskCallbackRecord.objects.get(pk=record.pk).attempts == 0
    assert callbacks.attempt_delivery(record.pk, 1) is None
    assert len(posts) == 1
    assert callbacks.attempt_delivery(record.pk, None) is None  # an unnumbered (older) message: already done
    record.refresh_from_db()
    assert len(posts) == 1 and record.status == CallbackStatus.SUCCESS and record.attempts == 1


@pytest.mark.django_db
def test_a_post_in_flight_is_not_overdue(world, fake_engine, dispatched, monkeypatch):
    record = _pending(world)
    during: list[int] = []

    def post(url, payload, body_format="json"):
        # Another scheduler runs while the POST waits for its answer, with no grace at all.
        during.append(callbacks.resend_stuck(timezone.now(), grace_seconds=0))
        return 503, "HTTP 503", False
    monkeypatch.setattr(callbacks, "_post", post)
    assert callbacks.attempt_delivery(record.pk, 0) == callbacks.backoff(1)
    assert during == [0] and dispatched == []
    record.refresh_from_db()
    # the backoff's message is due then: only after that plus the grace period is it taken for lost
    assert record.next_attempt_at > timezone.now() and record.attempts == 1
    assert callbacks.resend_stuck(_later(record, GRACE - 1)) == 0
    assert callbacks.resend_stuck(_later(record, GRACE + 1)) == 1


@pytest.mark.django_db
def test_resends_and_attempts_are_bounded(world, fake_engine, dispatched, django_capture_on_commit_callbacks):
    record = _pending(world)
    now = record.next_attempt_at
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(callbacks.MAX_RESENDS):
            now += dt.timedelta(seconds=GRACE + 1)
            assert callbacks.resend_stuck(now) == 1  # each message is lost again
        now += dt.timedelta(seconds=GRACE + 1)
        assert callbacks.resend_stuck(now) == 0
    record.refresh_from_db()
    assert record.status == CallbackStatus.FAILED and record.resends == callbacks.MAX_RESENDS
    assert "delivery messages lost" in record.last_error
    assert [d for _, d in dispatched] == list(range(1, callbacks.MAX_RESENDS + 1))

    # the worker died during the last allowed attempt: nothing is left to try
    last = _pending(world, "last")
    TaskCallbackRecord.objects.filter(pk=last.pk).update(attempts=callbacks.MAX_ATTEMPTS)
    assert callbacks.resend_stuck(_later(last, GRACE + 1)) == 0
    assert TaskCallbackRecord.objects.get(pk=last.pk).status == CallbackStatus.FAILED


@pytest.mark.django_db
def test_the_celery_task_uses_the_grace_setting(world, fake_engine, dispatched, settings,
                                                django_capture_on_commit_callbacks):
    record = _pending(world)
    assert callbacks.resend_stuck_callbacks() == 0
    settings.SOPS_CALLBACK_RESEND_GRACE_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True):
        assert callbacks.resend_stuck_callbacks() == 1
    assert dispatched == [(record.pk, 1)]


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks and SKIP LOCKED are PostgreSQL's")
def test_a_row_another_scheduler_holds_is_skipped_not_waited_for(live_world, fake_engine, dispatched):
    record = _pending(live_world)
    dispatched.clear()  # the first delivery's message, queued on commit
    locked, release = threading.Event(), threading.Event()

    def rival() -> None:
        try:
            with transaction.atomic():
                list(TaskCallbackRecord.objects.select_for_update().filter(pk=record.pk))
                locked.set()
                release.wait(10)
        finally:
            connection.close()
    thread = threading.Thread(target=rival)
    thread.start()
    try:
        assert locked.wait(10)
        now = _later(record, GRACE + 1)
        assert callbacks.resend_stuck(now) == 0  # returns at once: SKIP LOCKED
    finally:
        release.set()
        thread.join(10)
    assert callbacks.resend_stuck(now) == 1 and dispatched == [(record.pk, 1)]


@pytest.mark.worker
def test_a_lost_delivery_message_is_resent_and_delivered_once(live_server, live_world, open_loopback,
                                                              monkeypatch):
    receiver = Receiver()
    real_dispatch, lost = callbacks._dispatch, []

    def lose_the_first(record_id: int, dispatch: int) -> None:
        if not lost:
            lost.append((record_id, dispatch))
            return
        real_dispatch(record_id, dispatch)
    monkeypatch.setattr(callbacks, "_dispatch", lose_the_first)
    http = Http(live_server.url, {"app_code": "app_code", "app_secret": "app_secret", "access_token": "access_token"})
    try:
        task = ok(http.post("create_task/10/2/", {"name": "lost", "callback_url": receiver.base + "/hook",
                                                  "constants": {"${bk_timing}": "60"}}))
        tid = task["task_id"]
        ok(http.post(f"start_task/{tid}/2/"))
        # Revoking ends the run inside the live server's process, so the first message is queued (and lost) here.
        ok(http.post(f"operate_task/{tid}/2/", {"action": "revoke"}))
        record = wait_for(lambda: TaskCallbackRecord.objects.filter(task_id=tid).first(), message="the record")
        assert lost == [(record.pk, 0)]
        assert record.status == CallbackStatus.PENDING and record.attempts == 0
        assert callbacks.resend_stuck() == 0  # not overdue yet: it could still be on its way
        assert callbacks.resend_stuck(timezone.now() + dt.timedelta(seconds=GRACE + 1)) == 1

        wait_for(lambda: receiver.posts, timeout=30, message="the re-sent callback POST")
        done = wait_for(lambda: TaskCallbackRecord.objects.filter(pk=record.pk, status=CallbackStatus.SUCCESS).first(),
                        message="the record says success")
        assert done.attempts == 1 and done.resends == 1
        (body,) = receiver.posts
        assert body == {"task_id": str(tid), "task_success": "False"}  # revoked: the original's form
    finally:
        receiver.close()


def _record(world, fake_engine, monkeypatch, url="http://127.0.0.1:9/hook"):
    monkeypatch.setattr(callbacks, "_dispatch", lambda *a, **k: None)
    task = services.create_task(business=world.biz2, template=world.templates[10], name="t", creator="alice",
                                app_code="app_code", callback_url=url)
    services.start_task(task=task, executor="alice", source="api")
    task.refresh_from_db()
    services.record_run_end(run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})
    services.record_run_end(run_id=task.run_id, state="FINISHED", meta={"task_id": task.pk})  # a repeat
    (record,) = TaskCallbackRecord.objects.filter(task=task)
    return record


def test_a_failed_attempt_queues_the_next_one_with_its_delay(monkeypatch):
    queued: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(callbacks, "attempt_delivery", lambda record_id, dispatch: 4)
    monkeypatch.setattr(callbacks.send_task_callback, "apply_async", lambda args, **kw: queued.append((args, kw)))
    callbacks.send_task_callback(7, 2)
    assert queued == [((7, 2), {"countdown": 4})]


def test_a_finished_delivery_queues_nothing(monkeypatch):
    monkeypatch.setattr(callbacks, "attempt_delivery", lambda record_id, dispatch: None)
    monkeypatch.setattr(callbacks.send_task_callback, "apply_async", lambda *a, **k: pytest.fail("queued again"))
    callbacks.send_task_callback(7, 2)


@pytest.mark.django_db
def test_the_resend_task_runs_resend_stuck():
    assert callbacks.resend_stuck_callbacks() == 0  # nothing pending


@pytest.mark.django_db
def test_a_broker_that_cannot_take_the_delivery_message_is_logged_not_raised(world, fake_engine, monkeypatch,
                                                                            django_capture_on_commit_callbacks,
                                                                            caplog):
    """The record is committed: the request that ended the run is not told otherwise, and
    resend_stuck dispatches the delivery once the broker is back."""
    from kombu.exceptions import OperationalError

    def broker_down(record_id: int, dispatch: int) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(callbacks, "_dispatch", broker_down)
    with django_capture_on_commit_callbacks(execute=True), caplog.at_level("WARNING", logger="pipeline_engine"):
        record = _pending(world)
    assert record.status == CallbackStatus.PENDING and record.next_attempt_at is not None
    assert f"callback {record.pk} dispatch 0: message not sent, the broker is unavailable" in caplog.text
