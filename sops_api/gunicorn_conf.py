"""Gunicorn settings shared by `make run` and docker-compose (`--config python:sops_api.gunicorn_conf`)."""
from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = "-"
# The access log carries the path and status; the app's own lines carry the caller.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def child_exit(server, worker) -> None:  # noqa: ANN001 (gunicorn's hook signature)
    """A dead worker's live-gauge files must be dropped, or /metrics keeps counting it."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
