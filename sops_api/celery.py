"""The Celery application shared by the web process, workers and the scheduler."""
import gc
import os
import sys

from celery import Celery
from celery.signals import worker_init, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sops_api.settings")

app = Celery("sops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def refuse_unsafe_settings(**kwargs: object) -> None:
    """A worker with the code's SECRET_KEY outside the demo does not start (sops_api/checks.py).

    SystemExit, not an exception: Celery logs and swallows exceptions raised by signal handlers.
    """
    from django.core.exceptions import ImproperlyConfigured

    from sops_api.checks import require_safe_deployment

    try:
        require_safe_deployment()
    except ImproperlyConfigured as exc:
        print(f"refusing to start the worker: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from exc


@worker_shutdown.connect
def freeze_heap_before_exit(**kwargs: object) -> None:
    """The worker's last step: skip the finalization collections over the whole heap (see
    gunicorn_conf.worker_exit); nothing is skipped but garbage collection."""
    gc.freeze()
