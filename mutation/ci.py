"""The CI gate: mutate what changed since main, or a fixed sample of each module; fail below a target.

    python -m mutation.ci [--base main] [--sample 40] [--budget 540] [--jobs N]

Lines changed between the merge base of BASE and the working tree are
mutated, in every module of mutation/targets.toml. When no mutant falls on a
changed line (on main itself, for one), each module gets the same
deterministic sample of `--sample` mutants instead. No mutant starts after
`--budget` seconds (the whole job stays under ten minutes); those left are
reported as not run. Exit status 1 when an enforced module scores below its
target, when a module's tests fail unmutated, or when a mutant's run is broken.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from mutation.mutants import generate
from mutation.report import print_survivors, print_table
from mutation.run import (
    ERROR,
    NOT_RUN,
    ROOT,
    BaselineFailed,
    Coverage,
    ModuleResult,
    Target,
    choose,
    coverage_pass,
    load_targets,
    run_module,
    save,
)

RESULTS_DIR = ROOT / "var" / "mutation" / "ci"


def _git(*args: str, root: Path = ROOT) -> str | None:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def changed_lines(path: Path, base: str, root: Path = ROOT) -> set[int]:
    """Lines of `path` (in the working tree) added or changed since `base`; for a deletion, the lines around it."""
    diff = _git("diff", "--no-color", "--unified=0", base, "--", str(path), root=root) or ""
    lines: set[int] = set()
    for line in diff.splitlines():
        if not line.startswith("@@"):
            continue
        new = line.split("+", 1)[1].split(" ", 1)[0]  # "@@ -a,b +c,d @@" -> "c,d"
        start, _, count = new.partition(",")
        first, n = int(start), int(count) if count else 1
        lines.update(range(first, first + n) if n else (first, first + 1))
    return lines


def plan(targets: list[Target], base: str | None, sample: int) -> tuple[str, dict[str, dict]]:
    """('lines', {name: {"lines": ...}}) when a mutant lies on a changed line, else ('sample', ...)."""
    if base:
        by_lines = {t.name: changed_lines(t.path, base) for t in targets}
        touched = {name: lines for name, lines in by_lines.items() if lines}
        with_mutants = {
            name: lines for name, lines in touched.items()
            if choose(generate(ROOT / next(t.path for t in targets if t.name == name)).mutants, lines=lines)
        }
        if with_mutants:
            return "lines", {name: {"lines": lines} for name, lines in with_mutants.items()}
    return "sample", {t.name: {"sample": sample} for t in targets}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation.ci", description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=os.environ.get("MUTATION_BASE", "main"))
    parser.add_argument("--sample", type=int, default=int(os.environ.get("MUTATION_SAMPLE", "40")))
    parser.add_argument("--budget", type=float, default=float(os.environ.get("MUTATION_BUDGET", "540")))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", os.cpu_count() or 2)))
    args = parser.parse_args(argv)
    started = time.monotonic()
    deadline = started + args.budget

    targets = list(load_targets().values())
    for t in targets:
        if not (ROOT / t.path).is_file():
            print(f"mutation-ci: {t.name}: {t.path} does not exist in this tree; skipped")
    targets = [t for t in targets if (ROOT / t.path).is_file()]
    merge_base = (_git("merge-base", args.base, "HEAD") or "").strip() or None
    if merge_base is None:
        print(f"mutation-ci: no merge base with {args.base!r}; taking the fixed sample")
    mode, selections = plan(targets, merge_base, args.sample)
    chosen = [t for t in targets if t.name in selections]
    print(f"mutation-ci: {mode} mode ("
          + (f"lines changed since {args.base} {merge_base[:10]}" if mode == "lines" else
             f"{args.sample} mutants per module") + f"), modules: {', '.join(t.name for t in chosen)}")

    failures: list[str] = []
    results: list[ModuleResult] = []
    coverage_by_tests: dict[tuple[str, ...], Coverage] = {}
    for target in chosen:
        if target.tests not in coverage_by_tests:
            group = [t.path for t in chosen if t.tests == target.tests]
            try:
                coverage_by_tests[target.tests] = coverage_pass(group, target.tests)
            except BaselineFailed as exc:
                failures.append(f"{target.name}: {exc}")
                continue
        result = run_module(target, jobs=args.jobs, deadline=deadline, coverage=coverage_by_tests[target.tests],
                            **selections[target.name])
        save(result, RESULTS_DIR)
        results.append(result)
        if result.count({ERROR}):
            failures.append(f"{target.name}: {result.count({ERROR})} mutant runs broke (see 'error' below)")
        score = result.score
        if target.enforced and score is not None and target.target is not None and score < target.target:
            failures.append(f"{target.name}: score {score:.1f} % is below its target {target.target:g} %")

    print()
    print_table(results)
    print_survivors(results)
    not_run = sum(r.count({NOT_RUN}) for r in results)
    elapsed = time.monotonic() - started
    print(f"\nmutation-ci: {elapsed:.0f}s" + (f"; {not_run} mutants not run (time box)" if not_run else ""))
    if failures:
        print("mutation-ci: FAILED\n  " + "\n  ".join(failures))
        return 1
    print("mutation-ci: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
