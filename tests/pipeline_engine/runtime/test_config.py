"""The settings the runtime reads (runtime/config.py), at call time."""
from __future__ import annotations

from datetime import UTC

from pipeline_engine.runtime import config


def test_settings_are_read_when_used(settings):
    settings.SOPS_REAPER_LEASE_SECONDS = 7
    settings.SOPS_NODE_RERUN_LIMIT = 3
    settings.SOPS_REAPER_INTERVAL_SECONDS = 0.25
    settings.SOPS_ENGINE_SWEEP_IN_WORKER = False
    settings.SOPS_ENGINE_ASYNC_COMMIT = False
    assert (config.lease_seconds(), config.rerun_limit(), config.sweep_interval_seconds()) == (7, 3, 0.25)
    assert config.sweep_in_worker() is False and config.async_commit() is False
    settings.SOPS_REAPER_LEASE_SECONDS = 30
    assert config.lease_seconds() == 30


def test_the_clock_is_aware_with_time_zones(settings):
    settings.USE_TZ = True
    assert config.clock()().tzinfo is UTC
    settings.USE_TZ = False
    assert config.clock()().tzinfo is None
