"""bench/run_all.py: its profile summary reads whatever the profiled processes left, and a killed run
still stops what it started."""
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


def test_sigterm_unwinds_the_bench_so_its_finally_stops_the_children(tmp_path: Path):
    """`kill` of a bench run must run main's finally (which stops gunicorn, the workers and the
    scheduler), as Ctrl-C does; by default SIGTERM ends Python without it."""
    import subprocess
    import sys

    marker = tmp_path / "cleaned"
    code = (
        "import os, signal, sys, time\n"
        "sys.path.insert(0, os.getcwd())\n"
        "from bench.run_all import stop_on_sigterm\n"
        "stop_on_sigterm()\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(10)\n"
        "finally:\n"
        f"    open({str(marker)!r}, 'w').write('done')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode == 128 + 15 and marker.read_text() == "done"
