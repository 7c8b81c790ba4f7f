"""Reading mutation results: the score table and the survivors, from var/mutation/*.json.

    python -m mutation.report [MODULE ...] [--diff]

With no MODULE, every result file in var/mutation/ is read. `--diff` prints
each survivor as a diff of its function (the mutant rebuilt from the current
source, so it is exact only while the file is unchanged since the run).
"""
from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable
from pathlib import Path

from mutation.run import (
    ERROR,
    NO_TESTS,
    NOT_RUN,
    RESULTS_DIR,
    ROOT,
    SURVIVED,
    ModuleResult,
    load,
)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def table_rows(results: Iterable[ModuleResult]) -> list[list[str]]:
    rows = [["module", "mutants", "caught", "survived", "message-only excluded", "score", "target"]]
    results = list(results)
    with_messages = any(r.score_with_messages is not None for r in results)
    if with_messages:
        rows[0].insert(6, "score with messages")
    for r in results:
        extra = []
        if r.count({NOT_RUN}):
            extra.append(f"{r.count({NOT_RUN})} not run (time box)")
        if r.count({ERROR}):
            extra.append(f"{r.count({ERROR})} errors")
        target = "-" if r.target is None else f"{r.target:g} %" + ("" if r.enforced else " (not enforced)")
        no_tests = sum(1 for o in r.outcomes if o.status == NO_TESTS and not o.message_only)
        row = [
            r.path + (f" [{r.selection}]" if r.selection != "all" else ""),
            str(len(r.outcomes)),
            str(r.caught),
            str(r.survived) + (f" ({no_tests} no tests)" if no_tests else ""),
            str(r.message_only),
            _percent(r.score) + (f"; {', '.join(extra)}" if extra else ""),
            target,
        ]
        if with_messages:
            row.insert(6, _percent(r.score_with_messages))
        rows.append(row)
    return rows


def print_table(results: Iterable[ModuleResult], out=sys.stdout) -> None:
    rows = table_rows(results)
    print("| " + " | ".join(rows[0]) + " |", file=out)
    print("|" + "|".join(" --- " for _ in rows[0]) + "|", file=out)
    for row in rows[1:]:
        print("| " + " | ".join(row) + " |", file=out)


def print_survivors(results: Iterable[ModuleResult], diff: bool = False, out=sys.stdout) -> None:
    for r in results:
        survivors = [o for o in r.outcomes if o.status in (SURVIVED, NO_TESTS, ERROR)]
        survivors.sort(key=lambda o: o.message_only)
        if not survivors:
            continue
        print(f"\nsurvivors in {r.path} ({len(survivors)}):", file=out)
        mutant_set = None
        if diff:
            from mutation.mutants import generate

            mutant_set = generate(ROOT / r.path)
        for o in survivors:
            note = ("" if o.status == SURVIVED else f" [{o.status}]") + (" [message only]" if o.message_only else "")
            print(f"  {o.name}  L{o.line}: {o.original}  ->  {o.mutated}{note}", file=out)
            if mutant_set is not None and any(m.name == o.name for m in mutant_set.mutants):
                before = (ROOT / r.path).read_text(encoding="utf-8").splitlines()
                after = mutant_set.source_of(o.name).splitlines()
                for line in list(difflib.unified_diff(before, after, r.path, o.name, n=1, lineterm=""))[2:]:
                    print("      " + line, file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation.report", description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE")
    parser.add_argument("--diff", action="store_true", help="print each survivor as a diff")
    parser.add_argument("--dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.modules:
        from mutation.run import resolve

        files = [args.dir / f"{resolve(m).name}.json" for m in args.modules]
    else:
        files = sorted(args.dir.glob("*.json"))
    missing = [f for f in files if not f.exists()]
    if missing or not files:
        print(f"mutation: no results for {', '.join(map(str, missing)) or args.dir}; run `make mutate MODULE=...`",
              file=sys.stderr)
        return 1
    results = [load(f) for f in files]
    print_table(results)
    print_survivors(results, diff=args.diff)
    return 0


if __name__ == "__main__":
    sys.exit(main())
