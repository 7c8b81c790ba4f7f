"""Locust load for the throughput figure: one GET, many users, no think time.

The path (with credentials in the query, as the spec's GET examples send them)
comes from SOPS_BENCH_PATH, set by bench/http_scenarios.py.
"""
from __future__ import annotations

import os

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

PATH = os.environ.get("SOPS_BENCH_PATH", "/")


class StatusReader(FastHttpUser):
    # No think time: the figure is the server's capacity, not a user model.
    wait_time = constant(0)

    @task
    def status(self) -> None:
        with self.client.get(PATH, name="get_task_status", catch_response=True) as resp:
            if resp.status_code != 200 or not resp.json().get("result"):
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:120]}")
