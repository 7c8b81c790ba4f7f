"""`job_fast_execute_script`: run a script through the configured executor.

Inputs accept both spellings the spec shows (`job_content` and `content`,
`job_script_type` and `script_type`, ...). The script runs synchronously
inside `execute`: the component is not inline, so that happens in its own
worker task with no run lock held, and a child process cannot outlive the
message that started it anyway. Outputs are written on failure too, so a
failed node still shows its exit code and output.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from pipeline_engine.core.components.base import Component, ExecutionContext, FieldSpec, Outcome
from pipeline_engine.core.components.builtins._inputs import first, number
from pipeline_engine.core.components.registry import register
from pipeline_engine.core.components.script_executors import (
    SCRIPT_TYPES,
    ScriptExecutionDisabled,
    ScriptLimits,
    ScriptResult,
    get_script_executor,
    parse_sops_vars,
)

DEFAULT_TIMEOUT = 7200.0  # JOB's default
_TYPE_NAMES = {name: code for code, name in SCRIPT_TYPES.items()}
_TYPE_NAMES.update({"sh": 1, "bash": 1, "py": 4, "python3": 4, "pl": 3, "ps1": 5})


def _input(inputs: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return first(inputs, f"job_{key}", key, default=default)


def script_type_of(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower() in _TYPE_NAMES:
        return _TYPE_NAMES[value.strip().lower()]
    try:
        code = int(number(value, field="script_type"))
    except ValueError:
        code = 0
    if code not in SCRIPT_TYPES:
        raise ValueError(f"script type {value!r} is unknown; use 1 (shell), 2 (bat), 3 (perl), "
                         f"4 (python) or 5 (powershell)")
    return code


def _tail(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


@register
class FastExecuteScriptComponent(Component):
    code = "job_fast_execute_script"
    group = "JOB"
    name = "Fast execute script"
    inline = False
    inputs_format = [
        FieldSpec("job_script_source", "Script source", "string",
                  description="Only 'manual' (the script is given in job_content) is supported."),
        FieldSpec("job_script_type", "Script type", "string", required=True,
                  description="1 shell, 2 bat, 3 perl, 4 python, 5 powershell (alias: script_type)."),
        FieldSpec("job_content", "Script content", "string", required=True,
                  description="The script text (alias: content)."),
        FieldSpec("job_script_param", "Script parameters", "string",
                  description="Arguments, split like a shell would (alias: script_param)."),
        FieldSpec("job_script_timeout", "Timeout (seconds)", "int",
                  description=f"Default {int(DEFAULT_TIMEOUT)}, at most SOPS_SCRIPT_MAX_SECONDS "
                              f"(alias: script_timeout)."),
        FieldSpec("job_ip_list", "Target IPs", "string",
                  description="Where to run; the local executor runs on the worker host and "
                              "ignores it (alias: ip_list)."),
        FieldSpec("job_account", "Account", "string",
                  description="Account to run as; the local executor ignores it (alias: account)."),
    ]
    outputs_format = [
        FieldSpec("job_inst_id", "JOB任务ID", "int"),
        FieldSpec("job_inst_url", "JOB任务链接", "string"),
        FieldSpec("exit_code", "Exit code", "int"),
        FieldSpec("stdout", "Standard output", "string",
                  description="The end of the script's standard output."),
        FieldSpec("stderr", "Standard error", "string",
                  description="The end of the script's standard error."),
        FieldSpec("log_outputs", "Log variables", "object",
                  description="Values the script printed as <SOPS_VAR>key:value</SOPS_VAR>."),
    ]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        inputs = ctx.inputs
        try:
            source = str(_input(inputs, "script_source", "manual")).strip().lower()
            if source not in ("manual", ""):
                raise ValueError(f"script source {source!r} is not supported; give the script in job_content")
            script = _input(inputs, "content", "")
            if not isinstance(script, str) or not script.strip():
                raise ValueError("job_content (the script) is empty")
            script_type = script_type_of(_input(inputs, "script_type", 1))
            params = _input(inputs, "script_param", "")
            params = "" if params is None else str(params)
            timeout = number(_input(inputs, "script_timeout", DEFAULT_TIMEOUT), field="script_timeout")
            if timeout <= 0:
                raise ValueError("script_timeout must be a positive number of seconds")
            # The wall-time limit an operator set (SOPS_SCRIPT_MAX_SECONDS) caps what a node may ask.
            timeout = min(timeout, ScriptLimits.from_settings().wall_seconds or timeout)
        except ValueError as exc:
            ctx.log.error("script input is invalid: %s", exc)
            return Outcome.failure(f"Script input is invalid: {exc}.")
        ctx.log.info("running a script (type %s, %d characters, timeout %g s)", script_type, len(script), timeout)

        try:
            executor = get_script_executor()
            result = executor.run(script, script_type, params, timeout, ctx.should_stop)
        except ScriptExecutionDisabled as exc:
            ctx.log.error("script cannot run: %s", exc)
            return Outcome.failure(f"Script cannot run: {exc}.")
        except (ValueError, OSError) as exc:
            ctx.log.error("script cannot start: %s", exc)
            return Outcome.failure(f"Script cannot start: {exc}.")
        return self._report(ctx, result, timeout)

    def _report(self, ctx: ExecutionContext, result: ScriptResult, timeout: float) -> Outcome:
        log_outputs = result.log_outputs if result.log_outputs is not None else parse_sops_vars(result.stdout)
        ctx.outputs.update({
            "job_inst_id": result.job_instance_id or secrets.randbelow(10**12 - 10**9) + 10**9,
            "job_inst_url": result.job_instance_url or "",
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "log_outputs": log_outputs,
        })
        ctx.log.info("exit code %s, %d characters of stdout, %d of stderr", result.exit_code,
                     len(result.stdout or ""), len(result.stderr or ""))
        if result.stderr and result.stderr.strip():
            ctx.log.warning("stderr (end): %s", _tail(result.stderr.strip()))
        if result.stopped:
            return Outcome.failure("Script was stopped before it finished.")
        if result.timed_out:
            return Outcome.failure(f"Script did not finish within {timeout:g} seconds and was killed.")
        if result.limit:
            detail = _tail(result.stderr.strip())
            return Outcome.failure(f"Script was stopped by a limit: {result.limit}."
                                   + (f" Output: {detail}" if detail else ""))
        if result.exit_code != 0:
            detail = _tail(result.stderr.strip() or result.stdout.strip())
            return Outcome.failure(f"Script exited with code {result.exit_code}."
                                   + (f" Output: {detail}" if detail else ""))
        return Outcome.success()
