"""job_fast_execute_script and the script executors."""
from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

from pipeline_engine.core.components import ExecutionContext, config, get_component
from pipeline_engine.core.components.script_executors import (
    STDOUT_KEEP_BYTES,
    LocalScriptExecutor,
    ScriptExecutor,
    ScriptResult,
    get_script_executor,
    parse_sops_vars,
)


def run(inputs: dict, ctx: ExecutionContext | None = None):
    ctx = ctx or ExecutionContext(run_id="r", node_id="n", inputs=inputs)
    outcome = get_component("job_fast_execute_script")().execute(ctx)
    return outcome, ctx.outputs


@pytest.fixture
def enabled():
    with config.override(SOPS_SCRIPT_EXECUTION_ENABLED=True, SOPS_SCRIPT_EXECUTOR=""):
        yield


def test_disabled_by_default_with_a_clear_message():
    with config.override(SOPS_SCRIPT_EXECUTION_ENABLED=False, SOPS_SCRIPT_EXECUTOR=""):
        outcome, outputs = run({"job_content": "echo hi", "job_script_type": "1"})
    assert outcome.kind == "failure"
    assert "SOPS_SCRIPT_EXECUTION_ENABLED" in outcome.ex_data
    assert "operator" in outcome.ex_data
    assert outputs == {}


def test_shell_script_with_spec_inputs(enabled):
    # The inputs of the spec's node-detail example.
    outcome, outputs = run({
        "job_account": "root", "job_script_timeout": "", "job_script_source": "manual",
        "job_script_list_public": "", "job_content": "echo 0\nexit 0", "job_script_type": "1",
        "job_script_param": "", "job_script_list_general": "", "job_ip_list": "127.0.0.1",
    })
    assert outcome.kind == "success", outcome.ex_data
    assert isinstance(outputs["job_inst_id"], int) and outputs["job_inst_id"] > 0
    assert outputs["job_inst_url"] == ""
    assert outputs["exit_code"] == 0
    assert outputs["stdout"] == "0\n"
    assert outputs["log_outputs"] == {}


def test_unprefixed_input_keys_and_params(enabled):
    outcome, outputs = run({"content": 'echo "$1|$2"', "script_type": 1, "script_param": "a 'b c'",
                            "script_timeout": 30, "ip_list": "127.0.0.1", "account": "root"})
    assert outcome.kind == "success"
    assert outputs["stdout"] == "a|b c\n"


def test_sops_var_lines_become_log_outputs(enabled):
    script = "\n".join([
        'echo "<SOPS_VAR>version:1.2.3</SOPS_VAR>"',
        'echo "noise <SOPS_VAR>host:web-01</SOPS_VAR> <SOPS_VAR>url:http://x/y?a=1</SOPS_VAR>"',
        'echo "<SOPS_VAR>version:1.2.4</SOPS_VAR>"',
        'echo "<SOPS_VAR>broken</SOPS_VAR>"',
    ])
    outcome, outputs = run({"job_content": script, "job_script_type": "1"})
    assert outcome.kind == "success"
    assert outputs["log_outputs"] == {"version": "1.2.4", "host": "web-01", "url": "http://x/y?a=1"}


def test_nonzero_exit_fails_with_output_and_keeps_outputs(enabled):
    outcome, outputs = run({"job_content": "echo out; echo bad thing >&2; exit 3", "job_script_type": "1"})
    assert outcome.kind == "failure"
    assert "exited with code 3" in outcome.ex_data and "bad thing" in outcome.ex_data
    assert outputs["exit_code"] == 3
    assert outputs["stdout"] == "out\n" and outputs["stderr"] == "bad thing\n"


def test_python_script(enabled):
    outcome, outputs = run({"job_content": "import sys\nprint('<SOPS_VAR>n:%d</SOPS_VAR>' % (6 * 7))\n"
                                           "print(sys.argv[1:])", "job_script_type": "4",
                            "job_script_param": "x y"})
    assert outcome.kind == "success", outcome.ex_data
    assert outputs["log_outputs"] == {"n": "42"}
    assert "['x', 'y']" in outputs["stdout"]


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")
def test_perl_script(enabled):
    outcome, outputs = run({"job_content": 'print "perl $ARGV[0]\\n";', "job_script_type": "3",
                            "job_script_param": "ok"})
    assert outcome.kind == "success", outcome.ex_data
    assert outputs["stdout"] == "perl ok\n"


def test_bat_scripts_cannot_run_here(enabled):
    outcome, _ = run({"job_content": "echo hi", "job_script_type": "2"})
    assert outcome.kind == "failure" and "bat scripts cannot run" in outcome.ex_data


@pytest.mark.parametrize("inputs, reason", [
    ({"job_content": "", "job_script_type": "1"}, "empty"),
    ({"job_content": "echo", "job_script_type": "9"}, "script type '9' is unknown"),
    ({"job_content": "echo", "job_script_type": "ruby"}, "unknown"),
    ({"job_content": "echo", "job_script_timeout": "soon"}, "must be a number"),
    ({"job_content": "echo", "job_script_timeout": "0"}, "positive"),
    ({"job_content": "echo", "job_script_source": "general"}, "not supported"),
    ({"job_content": "echo", "job_script_param": "'unclosed"}, "cannot be split"),
])
def test_bad_inputs_fail_clearly(enabled, inputs, reason):
    outcome, _ = run(inputs)
    assert outcome.kind == "failure"
    assert reason in outcome.ex_data


def test_timeout_kills_the_process_group(enabled):
    started = time.monotonic()
    outcome, outputs = run({"job_content": "echo started; sleep 30 & sleep 30; wait", "job_script_type": "1",
                            "job_script_timeout": "0.5"})
    assert time.monotonic() - started < 10
    assert outcome.kind == "failure" and "did not finish within 0.5 seconds" in outcome.ex_data
    assert outputs["stdout"] == "started\n"


def test_stop_request_kills_the_script(enabled):
    ctx = ExecutionContext(run_id="r", node_id="n",
                           inputs={"job_content": "sleep 30", "job_script_type": "1"})
    threading.Timer(0.3, ctx.stop_event.set).start()
    started = time.monotonic()
    outcome, _ = run({}, ctx)
    assert time.monotonic() - started < 10
    assert outcome.kind == "failure" and "stopped" in outcome.ex_data


def test_worker_environment_is_not_passed_to_scripts(enabled, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret")
    monkeypatch.setenv("SOPS_TEST_SECRET", "s3cret")
    outcome, outputs = run({"job_content": "env", "job_script_type": "1"})
    assert outcome.kind == "success"
    assert "s3cret" not in outputs["stdout"] and "postgres://secret" not in outputs["stdout"]
    assert "PATH=" in outputs["stdout"]


def test_large_output_is_truncated_from_the_start(enabled):
    script = "import sys\nsys.stdout.write('x' * 500000)\nprint()\nprint('<SOPS_VAR>early:no</SOPS_VAR>')\n" \
             "sys.stdout.write('y' * 300000)\nprint('\\nEND')"
    outcome, outputs = run({"job_content": script, "job_script_type": "4"})
    assert outcome.kind == "success"
    stdout = outputs["stdout"]
    assert stdout.startswith("[... ") and "bytes truncated" in stdout
    assert stdout.endswith("END\n")
    assert len(stdout) < STDOUT_KEEP_BYTES + 100
    # Variables are collected from the whole stream, not just the kept tail.
    assert outputs["log_outputs"] == {"early": "no"}


def test_parse_sops_vars():
    text = "<SOPS_VAR>a:1</SOPS_VAR>\n<SOPS_VAR> b :x:y</SOPS_VAR><SOPS_VAR>:nokey</SOPS_VAR><SOPS_VAR>c:</SOPS_VAR>"
    assert parse_sops_vars(text) == {"a": "1", "b": "x:y", "c": ""}
    assert parse_sops_vars("<SOPS_VAR>a:1</SOPS_VAR><SOPS_VAR>b:2</SOPS_VAR>", limit=1) == {"a": "1"}


class RecordingExecutor:
    calls: list[tuple] = []

    def run(self, script, script_type, params, timeout, should_stop):
        RecordingExecutor.calls.append((script, script_type, params, timeout, should_stop()))
        return ScriptResult(exit_code=0, stdout="<SOPS_VAR>k:v</SOPS_VAR>\n", stderr="",
                            job_instance_id=407584, job_instance_url="http://job/407584")


def test_custom_executor_from_settings():
    RecordingExecutor.calls.clear()
    path = f"{__name__}.RecordingExecutor"
    # The local executor's switch does not govern other executors.
    with config.override(SOPS_SCRIPT_EXECUTOR=path, SOPS_SCRIPT_EXECUTION_ENABLED=False):
        assert isinstance(get_script_executor(), RecordingExecutor)
        outcome, outputs = run({"job_content": "echo", "job_script_type": "4", "job_script_timeout": "12",
                                "job_script_param": "-v"})
    assert outcome.kind == "success"
    assert RecordingExecutor.calls == [("echo", 4, "-v", 12.0, False)]
    assert outputs["job_inst_id"] == 407584
    assert outputs["job_inst_url"] == "http://job/407584"
    assert outputs["log_outputs"] == {"k": "v"}  # parsed from stdout when the executor does not


def test_bad_executor_setting_fails_clearly():
    with config.override(SOPS_SCRIPT_EXECUTOR="no.such.Executor"):
        outcome, _ = run({"job_content": "echo", "job_script_type": "1"})
    assert outcome.kind == "failure" and "SOPS_SCRIPT_EXECUTOR 'no.such.Executor'" in outcome.ex_data


def test_default_executor_is_local():
    with config.override(SOPS_SCRIPT_EXECUTOR=""):
        executor = get_script_executor()
    assert isinstance(executor, LocalScriptExecutor)
    assert isinstance(executor, ScriptExecutor)


def test_temp_files_are_removed(enabled, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    outcome, outputs = run({"job_content": "pwd", "job_script_type": "1"})
    assert outcome.kind == "success"
    assert outputs["stdout"].startswith(str(tmp_path))
    assert os.listdir(tmp_path) == []
