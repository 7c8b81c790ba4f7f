"""The runner end to end: each mutant in a fresh process, so import-time tables and caches see it."""
from __future__ import annotations

from pathlib import Path

from mutation.mutants import generate
from mutation.run import CAUGHT, NO_TESTS, ROOT, SURVIVED, Target, run_module

SAMPLE = Target(name="sample", path=Path("tests/mutation/fixture/sample.py"), target=None, enforced=False,
                tests=("tests/mutation/fixture/checks.py",))


def _mutant(function: str, mutated: str) -> str:
    return next(m.name for m in generate(ROOT / SAMPLE.path).mutants
                if m.function == function and m.mutated == mutated)


def test_import_time_tables_and_cached_functions_see_the_mutant():
    table = _mutant("x__double", "x / 2")  # runs only at import, while TABLE is built
    cached = _mutant("x__parse", "int(text) - 1")  # behind parse()'s lru_cache, called by two tests
    weak = _mutant("x_label", '"XXn=XX"')  # its test only checks that there is some text
    unused = _mutant("x_unused", "x + 1")  # no test runs it
    result = run_module(SAMPLE, names={table, cached, weak, unused}, jobs=2, log=lambda *_: None)
    status = {o.name: o.status for o in result.outcomes}
    assert status == {table: CAUGHT, cached: CAUGHT, weak: SURVIVED, unused: NO_TESTS}
    assert (result.caught, result.survived, result.score) == (2, 2, 50.0)
