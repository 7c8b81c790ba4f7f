"""The bench prints the machine's reference speed with its figures, so that runs on machines of
different speeds can be compared (bench/harness.reference_speed)."""
from __future__ import annotations

from bench import harness
from bench.run_all import markdown


def test_the_python_reference_grows_with_the_work_it_times():
    small = harness.python_reference_ms(rounds=3, n=20_000)
    large = harness.python_reference_ms(rounds=3, n=400_000)
    assert 0 < small < large


def test_an_unreachable_database_is_reported_not_raised():
    cfg = harness.Config(pg_url="postgres://nobody@127.0.0.1:1/")
    info = harness.reference_speed(cfg)
    assert info["python_reference_ms"] > 0
    assert str(info["postgres_round_trip_us"]).startswith("unknown (")


def test_the_report_header_quotes_both_references():
    text = markdown({"python_reference_ms": 71.5, "python_reference_ms_at_end": 38.2, "postgres_round_trip_us": 64}, [])
    assert "Python loop 71.5 ms at start, 38.2 ms at end" in text
    assert "round trip 64 µs" in text
