"""One mutant's test run, in a process of its own: import the mutated source, run the chosen tests.

    python -m mutation.child MODULE MUTATED_FILE TESTS_FILE -- PYTEST_ARGS...

MODULE (dotted) is served from MUTATED_FILE by a finder placed first on
sys.meta_path, before pytest imports anything of the project; so the module's
import-time tables are built by the mutated code, and its caches start empty.
TESTS_FILE lists the node ids to run, one per line; every other collected
test is deselected. The exit status is pytest's.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import pytest


class _MutantFinder(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, path: str) -> None:
        self.module = module
        self.path = path

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> ModuleSpec | None:
        if fullname != self.module:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path)


class _Select:
    """Keeps only the listed tests, in their collected order."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep = [item for item in items if item.nodeid in self.wanted]
        drop = [item for item in items if item.nodeid not in self.wanted]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep


def main(argv: list[str]) -> int:
    module, mutated_file, tests_file, sep, *pytest_args = argv
    if sep != "--":
        raise SystemExit("usage: python -m mutation.child MODULE MUTATED_FILE TESTS_FILE -- PYTEST_ARGS...")
    if module in sys.modules:
        raise SystemExit(f"{module} was imported before the mutant could be installed")
    sys.meta_path.insert(0, _MutantFinder(module, mutated_file))
    with open(tests_file, encoding="utf-8") as fh:
        wanted = {line.rstrip("\n") for line in fh if line.strip()}
    return int(pytest.main(pytest_args, plugins=[_Select(wanted)]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
