"""Locust load for the task loop: each user creates and starts a task, then polls its status
until FINISHED, and reports "request -> FINISHED" as its own entry (time from the
create_and_start_task request to the status that said FINISHED).

The template, business and credentials come from SOPS_BENCH_TEMPLATE, SOPS_BENCH_BIZ and
SOPS_BENCH_CREDS (app_code:app_secret:access_token), set by bench/task_scenarios.py.
"""
from __future__ import annotations

import itertools
import os
import time

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

TEMPLATE = os.environ.get("SOPS_BENCH_TEMPLATE", "1")
BIZ = os.environ.get("SOPS_BENCH_BIZ", "1")
APP_CODE, APP_SECRET, ACCESS_TOKEN = (os.environ.get("SOPS_BENCH_CREDS", "::").split(":") + ["", "", ""])[:3]
CREDS = {"app_code": APP_CODE, "app_secret": APP_SECRET, "access_token": ACCESS_TOKEN}
QUERY = f"app_code={APP_CODE}&app_secret={APP_SECRET}&access_token={ACCESS_TOKEN}"
POLL_S = 0.002
TIMEOUT_S = 30
_names = itertools.count()


class TaskLooper(FastHttpUser):
    wait_time = constant(0)

    @task
    def create_start_wait(self) -> None:
        t0 = time.perf_counter()
        body = {**CREDS, "name": f"loop {os.getpid()} {next(_names)}", "flow_type": "common"}
        with self.client.post(f"/apigw/create_and_start_task/{TEMPLATE}/{BIZ}/", json=body,
                              name="create_and_start_task", catch_response=True) as resp:
            data = resp.json() if resp.status_code == 200 else {}
            if not data.get("result"):
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:160]}")
                return
            task_id = data["data"]["task_id"]
        path = f"/apigw/get_task_status/{task_id}/{BIZ}/?{QUERY}"
        deadline = t0 + TIMEOUT_S
        error = None
        while time.perf_counter() < deadline:
            with self.client.get(path, name="get_task_status", catch_response=True) as resp:
                state = ((resp.json() if resp.status_code == 200 else {}).get("data") or {}).get("state")
                if resp.status_code != 200:
                    resp.failure(f"HTTP {resp.status_code}")
            if state == "FINISHED":
                break
            if state in ("FAILED", "REVOKED"):
                error = RuntimeError(f"task {task_id} ended {state}")
                break
            time.sleep(POLL_S)
        else:
            error = RuntimeError(f"task {task_id} not FINISHED after {TIMEOUT_S}s")
        self.environment.events.request.fire(
            request_type="TASK", name="request -> FINISHED", response_time=(time.perf_counter() - t0) * 1e3,
            response_length=0, exception=error, context={})
