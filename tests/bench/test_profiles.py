"""bench/run_all.py's profile summary: it reads what the profiled processes left, whatever that is."""
from __future__ import annotations

import cProfile
from pathlib import Path

from bench.run_all import profile_summary


def _busy() -> int:
    return sum(i * i for i in range(2000))


def test_the_summary_skips_files_without_a_profile_table(tmp_path: Path):
    real = cProfile.Profile()
    real.enable()
    _busy()
    real.disable()
    real.dump_stats(tmp_path / "scen-101.prof")
    cProfile.Profile().dump_stats(tmp_path / "scen-driver.prof")  # a driver that profiled nothing
    (tmp_path / "scen-102.prof").write_bytes(b"")  # a child that never wrote its profile

    text = profile_summary(tmp_path, ["scen"])
    assert "### scen (workers)" in text and "_busy" in text
    assert "### scen (driver)" not in text


def test_no_profile_at_all_gives_only_the_heading(tmp_path: Path):
    cProfile.Profile().dump_stats(tmp_path / "scen-driver.prof")
    assert "###" not in profile_summary(tmp_path, ["scen"])
