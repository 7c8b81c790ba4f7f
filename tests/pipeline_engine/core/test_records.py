"""NodeRecord's resets (core/records.py): each clears exactly what its name says."""
from __future__ import annotations

from datetime import UTC, datetime

from pipeline_engine.core import states as s
from pipeline_engine.core.records import NodeRecord, RunData

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def busy() -> NodeRecord:
    """A record with everything set, as after a failed, retried, timed pass."""
    return NodeRecord(
        key="sp/a", scope="sp", node_id="a", node_type="ServiceActivity", state=s.RUNNING, version="v1",
        loop=2, inner_loop=3, retry=1, skip=True, error_ignored=True, started_at=NOW, finished_at=NOW,
        inputs={"i": 1}, outputs={"o": 2}, ex_data="boom", inputs_override={"i": 9}, phase=s.PHASE_POLL,
        schedule_count=4, comp_state={"c": 1}, wake_at=NOW, lease_until=NOW, deadline=NOW, nudged_at=NOW,
        callback_data={"cb": 1}, callback_status=s.CB_QUEUED,
    )


def test_clear_timers_and_callback():
    rec = busy()
    rec.clear_timers()
    assert (rec.wake_at, rec.lease_until, rec.deadline, rec.nudged_at) == (None, None, None, None)
    assert rec.callback_status == s.CB_QUEUED  # untouched
    rec.clear_callback()
    assert (rec.callback_data, rec.callback_status) == (None, s.CB_NONE)
    assert rec.phase == s.PHASE_POLL


def test_end_and_fail():
    later = datetime(2024, 1, 2, tzinfo=UTC)
    rec = busy()
    rec.end(s.FINISHED, later)
    assert (rec.state, rec.finished_at, rec.phase, rec.wake_at, rec.deadline) == (s.FINISHED, later, "", None, None)
    assert rec.ex_data == "boom" and rec.outputs == {"o": 2}  # an end keeps what the pass produced
    rec = busy()
    rec.fail("bad", later)
    assert (rec.state, rec.ex_data, rec.finished_at, rec.phase, rec.lease_until) == (s.FAILED, "bad", later, "", None)
    assert rec.callback_status == s.CB_QUEUED  # a failure alone keeps the callback bookkeeping


def test_start():
    rec = busy()
    rec.start(NOW)
    assert (rec.state, rec.started_at, rec.finished_at) == (s.RUNNING, NOW, None)


def test_reenter_clears_the_last_pass_and_counts_on():
    rec = busy()
    history = rec.history_entry()
    rec.reenter("v2")
    assert (rec.loop, rec.inner_loop, rec.retry, rec.skip, rec.error_ignored) == (3, 4, 0, False, False)
    assert (rec.version, rec.inputs, rec.outputs, rec.ex_data) == ("v2", {}, {}, None)
    assert (rec.phase, rec.schedule_count, rec.comp_state) == ("", 0, {})
    assert (rec.callback_data, rec.callback_status, rec.wake_at, rec.nudged_at) == (None, "", None, None)
    assert rec.inputs_override == {"i": 9}  # an operator's new inputs outlive loops
    assert history["loop"] == 2 and history["version"] == "v1" and history["ex_data"] == "boom"


def test_run_data_fills_a_missing_frontier():
    data = RunData("r", s.RUNNING, {"ready": [["start", "enter"]]}, {})
    assert data.frontier == {"ready": [["start", "enter"]], "active": {}, "joins": {}, "seen": {}, "paused": []}
