"""The start-up heap of a long-lived process (web worker, Celery pool process) leaves the
garbage collector's reach once the process is ready.

A Django process holds ~100,000 objects once its apps, models and URLconf are loaded, and
every full collection walks all of them: ~27 ms on a 2-core machine, at moments the
process does not choose (a run of 1,000 nodes allocates enough to trigger one). Those objects
live as long as the process, so `gc.freeze()` moves them to the permanent generation, where
collections no longer look; later collections walk only what the process made since. A web
worker's first request also stops paying for the URLconf's import.
"""
from __future__ import annotations

import gc


def freeze_startup_heap(*, load_urls: bool = False) -> None:
    """Freeze what the process has built so far; `load_urls` imports the URLconf (views,
    serializers, schema) first, as a web process's first request would."""
    if load_urls:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 - loads the URLconf and every view module it names
    gc.freeze()
