"""Long-lived processes freeze their start-up heap (sops_api/heap.py)."""
from __future__ import annotations

import gc

import pytest
from celery import signals


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps collecting everything


def test_freezing_moves_the_heap_out_of_the_collectors_reach(unfrozen):
    from sops_api.heap import freeze_startup_heap

    assert gc.get_freeze_count() == 0
    freeze_startup_heap()
    assert gc.get_freeze_count() > 10_000  # Django's apps and models, at least
    gc.disable()  # no automatic collection (another thread's) may take the cycles first
    try:
        garbage = [[] for _ in range(100)]
        for item in garbage:
            item.append(item)  # cycles made after the freeze are collected as usual
        del garbage, item
        assert gc.collect() >= 100
    finally:
        gc.enable()
    # (The frozen count itself may drop meanwhile: a frozen object freed by its reference count,
    # in this thread or another, leaves the permanent generation.)


def test_the_web_process_loads_its_urlconf_before_freezing(unfrozen, monkeypatch):
    import django.urls

    from sops_api.heap import freeze_startup_heap

    loaded = []

    class Resolver:
        @property
        def url_patterns(self):
            loaded.append(gc.get_freeze_count())
            return []

    monkeypatch.setattr(django.urls, "get_resolver", lambda: Resolver())
    freeze_startup_heap()
    assert loaded == []  # a pool process has no URLconf to load
    gc.unfreeze()
    freeze_startup_heap(load_urls=True)
    assert loaded == [0]  # loaded, and before the freeze
    assert gc.get_freeze_count() > 0


def test_every_celery_pool_process_freezes_its_heap_once_set_up(unfrozen):
    import sops_api.celery  # noqa: F401 - connects the receivers

    signals.worker_process_init.send(sender=None)
    assert gc.get_freeze_count() > 0


def test_the_wsgi_module_freezes_the_web_workers_heap(unfrozen):
    import importlib
    import sys

    sys.modules.pop("sops_api.wsgi", None)
    importlib.import_module("sops_api.wsgi")
    assert gc.get_freeze_count() > 0
