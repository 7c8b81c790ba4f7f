"""The Celery application shared by the web process, workers and the scheduler."""
import gc
import logging
import os
import sys

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_shutdown

from sops_api import embedded_broker, redis_broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sops_api.settings")
embedded_broker.register()  # filesystem:// (the embedded default) polls briefly; see the module
redis_broker.register()  # redis:// keeps one client object per channel; see the module

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


@worker_process_init.connect
def freeze_pool_process_heap(**kwargs: object) -> None:
    """A pool process, once forked and set up, keeps its start-up heap out of the collector's
    reach (sops_api/heap.py): a full collection of it cost more than a 1,000-node run's step."""
    from sops_api.heap import freeze_startup_heap

    freeze_startup_heap()


@worker_shutdown.connect
def exit_without_teardown(sender: object = None, **kwargs: object) -> None:
    """The worker's last step, once its pool is stopped and its broker connection closed (messages
    not acknowledged are back in the queue): end the process now.

    What remained was interpreter teardown: billiard's exit handler joining pool threads that
    sleep in 1 s loops, and the final garbage collections over the whole heap, ~2 s of a
    4 s stop on a loaded 2-core machine. Logs and streams are flushed first.
    """
    gc.freeze()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(int(getattr(sender, "exitcode", 0) or 0))
