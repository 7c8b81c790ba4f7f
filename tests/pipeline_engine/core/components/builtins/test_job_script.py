"""job_fast_execute_script and the script executors, including the local executor's sandbox (scrubbed
environment, private directory, limits, nothing left running)."""
from __future__ import annotations

import os
import resource
import shutil
import threading
import time

import pytest

from pipeline_engine.core.components import ExecutionContext, config, get_component
from pipeline_engine.core.components.script_executors import (
    SCRIPT_PATH,
    STDOUT_KEEP_BYTES,
    LocalScriptExecutor,
    ScriptExecutor,
    ScriptLimits,
    ScriptResult,
    child_env,
    get_script_executor,
    parse_sops_vars,
)
from tests.conftest import wait_for


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


WORKER_SECRETS = {"DATABASE_URL": "postgres://sops:pw@db/sops", "SECRET_KEY": "django-s3cret",
                  "CELERY_BROKER_URL": "redis://:pw@redis:6379/0", "SOPS_TEST_SECRET": "s3cret",
                  "AWS_SECRET_ACCESS_KEY": "aws-s3cret", "PYTHONPATH": "/secret/path", "LD_PRELOAD": "/evil.so"}
# What bash adds to any environment by itself.
SHELL_OWN = {"PWD", "SHLVL", "_", "OLDPWD"}


def _env_of(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def test_worker_environment_is_not_passed_to_scripts(enabled, monkeypatch):
    for name, value in WORKER_SECRETS.items():
        monkeypatch.setenv(name, value)
    outcome, outputs = run({"job_content": "env; echo cwd=$(pwd)", "job_script_type": "1"})
    assert outcome.kind == "success", outcome.ex_data
    env = _env_of(outputs["stdout"])
    cwd = env.pop("cwd")
    for name, value in WORKER_SECRETS.items():
        assert name not in env and value not in outputs["stdout"]
    assert set(env) - SHELL_OWN <= set(child_env(cwd)) | {"TZ"}
    assert env["PATH"] == SCRIPT_PATH and env["HOME"] == cwd == env["TMPDIR"]
    assert env["LANG"] == "C.UTF-8"
    assert os.path.basename(cwd).startswith("sops-script-")


def test_a_python_script_sees_no_secret_either(enabled, monkeypatch):
    for name, value in WORKER_SECRETS.items():
        monkeypatch.setenv(name, value)
    outcome, outputs = run({"job_content": "import os\nfor k, v in sorted(os.environ.items()): print(f'{k}={v}')",
                            "job_script_type": "4"})
    assert outcome.kind == "success", outcome.ex_data
    assert not set(WORKER_SECRETS) & set(_env_of(outputs["stdout"]))


def test_each_script_gets_a_fresh_private_directory_removed_after(enabled):
    script = "pwd; stat -c %a .; ls -A | tr '\\n' ' '; echo; touch left-here; mkdir -p deep/er; echo x > deep/er/f"
    dirs = []
    for _ in range(2):
        outcome, outputs = run({"job_content": script, "job_script_type": "1"})
        assert outcome.kind == "success", outcome.ex_data
        workdir, mode, listing = outputs["stdout"].splitlines()
        assert mode == "700" and listing.split() == ["script.sh"]  # nothing from an earlier run
        assert not os.path.exists(workdir)
        dirs.append(workdir)
    assert dirs[0] != dirs[1]


def test_the_directory_is_removed_after_a_failure_and_a_timeout(enabled):
    outcome, outputs = run({"job_content": "pwd; exit 4", "job_script_type": "1"})
    assert outcome.kind == "failure" and not os.path.exists(outputs["stdout"].strip())
    outcome, outputs = run({"job_content": "pwd; sleep 30", "job_script_type": "1", "job_script_timeout": "0.5"})
    assert outcome.kind == "failure" and not os.path.exists(outputs["stdout"].strip())


@pytest.fixture
def limits():
    """Small limits, so the tests that hit them are quick."""
    with config.override(SOPS_SCRIPT_CPU_SECONDS=1, SOPS_SCRIPT_MEMORY_MB=256, SOPS_SCRIPT_OUTPUT_MB=1,
                         SOPS_SCRIPT_FILE_MB=1, SOPS_SCRIPT_OPEN_FILES=64, SOPS_SCRIPT_PROCESSES=32):
        yield


def _limits_of(stdout: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in stdout.splitlines()[1:]:
        name, soft, hard = line[:26].strip(), *line[26:].split()[:2]
        rows[name] = (soft, hard)
    return rows


def test_the_limits_are_set_on_the_script(enabled, limits):
    outcome, outputs = run({"job_content": "cat /proc/self/limits", "job_script_type": "1"})
    assert outcome.kind == "success", outcome.ex_data
    rows = _limits_of(outputs["stdout"])
    assert rows["Max cpu time"] == ("1", "2")
    assert rows["Max address space"] == (str(256 * 1024 * 1024),) * 2
    assert rows["Max file size"] == (str(1024 * 1024),) * 2
    assert rows["Max open files"] == ("64", "64")
    assert rows["Max core file size"] == ("0", "0")
    soft, hard = rows["Max processes"]
    assert soft == hard and soft != "unlimited" and int(soft) >= 32


def test_the_default_limits(enabled):
    limits = ScriptLimits.from_settings()
    assert limits == ScriptLimits(cpu_seconds=600, memory_mb=1024, output_mb=16, file_mb=1024, open_files=1024,
                                  processes=64, wall_seconds=86400)
    outcome, outputs = run({"job_content": "cat /proc/self/limits", "job_script_type": "1"})
    rows = _limits_of(outputs["stdout"])
    assert rows["Max cpu time"] == ("600", "601") and rows["Max address space"] == (str(1024 ** 3),) * 2


def test_zero_turns_a_limit_off(enabled):
    with config.override(SOPS_SCRIPT_CPU_SECONDS=0, SOPS_SCRIPT_MEMORY_MB=0):
        outcome, outputs = run({"job_content": "cat /proc/self/limits", "job_script_type": "1"})
    rows = _limits_of(outputs["stdout"])
    assert rows["Max cpu time"] == (resource_limit(resource.RLIMIT_CPU),) * 2
    assert rows["Max address space"] == (resource_limit(resource.RLIMIT_AS),) * 2


def resource_limit(kind: int) -> str:
    soft, _hard = resource.getrlimit(kind)
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)


@pytest.mark.parametrize("script_type, script", [
    ("4", "block = bytearray(600 * 1024 * 1024)\nprint('allocated')"),
    ("1", "x=$(head -c 400000000 /dev/zero | tr '\\0' a); echo allocated ${#x}"),
])
def test_too_much_memory_stops_the_script(enabled, limits, script_type, script):
    # Filling 256 MiB through a pipe costs about a CPU second, more on a busy machine: the CPU
    # limit is raised here so that the memory limit is the one this test meets.
    with config.override(SOPS_SCRIPT_CPU_SECONDS=30):
        outcome, outputs = run({"job_content": script, "job_script_type": script_type})
    assert outcome.kind == "failure"
    assert outcome.ex_data.startswith(
        "Script was stopped by a limit: it ran out of memory: a process may use at most 256 MiB of address "
        "space (SOPS_SCRIPT_MEMORY_MB).")
    assert "allocated" not in outputs["stdout"]


def test_memory_within_the_limit_is_fine(enabled, limits):
    outcome, outputs = run({"job_content": "block = bytearray(64 * 1024 * 1024)\nprint('allocated')",
                            "job_script_type": "4"})
    assert outcome.kind == "success", outcome.ex_data
    assert outputs["stdout"] == "allocated\n"


def test_a_cpu_loop_is_stopped_by_the_cpu_limit(enabled, limits):
    started = time.monotonic()
    outcome, outputs = run({"job_content": "echo spinning; while :; do :; done", "job_script_type": "1",
                            "job_script_timeout": "60"})
    assert outcome.kind == "failure"
    assert outcome.ex_data == ("Script was stopped by a limit: it used more than 1 CPU second "
                               "(SOPS_SCRIPT_CPU_SECONDS) and was killed.")
    assert outputs["stdout"] == "spinning\n" and outputs["exit_code"] < 0
    assert time.monotonic() - started < 30


def test_megabytes_of_output_stop_the_script(enabled, limits):
    started = time.monotonic()
    outcome, outputs = run({"job_content": "import sys\nwhile True:\n    sys.stdout.write('y' * 4096 + '\\n')",
                            "job_script_type": "4", "job_script_timeout": "60"})
    assert outcome.kind == "failure"
    assert outcome.ex_data.startswith("Script was stopped by a limit: it printed more than 1 MiB of output "
                                      "(SOPS_SCRIPT_OUTPUT_MB) and was killed.")
    assert outputs["stdout"].startswith("[... ") and "bytes truncated ...]" in outputs["stdout"]
    assert len(outputs["stdout"]) < STDOUT_KEEP_BYTES + 100
    assert time.monotonic() - started < 30


def test_output_within_the_limit_is_fine(enabled, limits):
    outcome, outputs = run({"job_content": "head -c 700000 /dev/zero | tr '\\0' 'z'; echo; echo done",
                            "job_script_type": "1"})
    assert outcome.kind == "success", outcome.ex_data
    assert outputs["stdout"].endswith("done\n")


def test_stderr_counts_towards_the_output_limit(enabled, limits):
    outcome, _ = run({"job_content": "yes error-line >&2", "job_script_type": "1", "job_script_timeout": "60"})
    assert outcome.kind == "failure" and "printed more than 1 MiB of output" in outcome.ex_data


@pytest.mark.parametrize("script_type, script", [
    ("4", "open('big', 'wb').write(b'0' * 5 * 1024 * 1024)"),
    ("1", "exec head -c 5000000 /dev/zero > big"),
])
def test_a_file_larger_than_the_limit_stops_the_script(enabled, limits, script_type, script):
    outcome, _ = run({"job_content": script, "job_script_type": script_type})
    assert outcome.kind == "failure"
    assert outcome.ex_data.startswith("Script was stopped by a limit: it tried to write a file larger than 1 MiB "
                                      "(SOPS_SCRIPT_FILE_MB).")


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


DAEMON = ("import os, sys, time\n"
          "if os.fork(): sys.exit(0)\n"
          "os.setsid()\n"
          "if os.fork(): sys.exit(0)\n"
          "print('daemon', os.getpid(), flush=True)\n"
          "time.sleep(300)\n")


def test_processes_left_behind_are_killed_and_the_node_fails(enabled, tmp_path):
    daemon = tmp_path / "daemon.py"
    daemon.write_text(DAEMON)
    script = (f"sleep 300 & echo background $!\n"
              f"setsid sleep 301 & echo detached $!\n"
              f"python3 {daemon}\n"
              f"sleep 0.3\n"
              f"exit 0\n")
    started = time.monotonic()
    outcome, outputs = run({"job_content": script, "job_script_type": "1", "job_script_timeout": "60"})
    assert time.monotonic() - started < 20
    pids = {line.split()[0]: int(line.split()[1]) for line in outputs["stdout"].splitlines()}
    assert set(pids) == {"background", "detached", "daemon"}
    assert outcome.kind == "failure"
    assert outcome.ex_data == ("Script was stopped by a limit: it left 3 processes running after it ended; they "
                               "were killed (a script must wait for what it starts).")
    assert outputs["exit_code"] == 0
    for pid in pids.values():
        assert wait_for(lambda pid=pid: _gone(pid), timeout=5, message=f"process {pid} gone")


def test_a_script_that_waits_for_its_children_is_fine(enabled):
    outcome, outputs = run({"job_content": "sleep 0.2 & sleep 0.1 & wait; echo all done", "job_script_type": "1"})
    assert outcome.kind == "success", outcome.ex_data
    assert outputs["stdout"] == "all done\n"


def test_a_timeout_kills_detached_processes_too(enabled):
    script = "setsid sleep 302 & echo detached $!\nsleep 300\n"
    outcome, outputs = run({"job_content": script, "job_script_type": "1", "job_script_timeout": "1"})
    assert outcome.kind == "failure" and "did not finish within 1 seconds" in outcome.ex_data
    pid = int(outputs["stdout"].split()[1])
    assert wait_for(lambda: _gone(pid), timeout=5, message=f"process {pid} gone")


def test_the_wall_time_setting_caps_the_node_timeout(enabled):
    started = time.monotonic()
    with config.override(SOPS_SCRIPT_MAX_SECONDS=1):
        outcome, _ = run({"job_content": "sleep 30", "job_script_type": "1", "job_script_timeout": "600"})
    assert outcome.kind == "failure" and outcome.ex_data == "Script did not finish within 1 seconds and was killed."
    assert time.monotonic() - started < 15


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
