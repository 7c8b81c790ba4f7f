"""Running mutants: the coverage pass, then each mutant's tests in a fresh process; results to var/mutation/.

    python -m mutation.run MODULE [MODULE ...] [--sample N] [--lines 10-20,31] [--jobs N]
                           [--budget SECONDS] [--include-messages] [--mutant NAME ...]

MODULE is a name from mutation/targets.toml (`conditions`), or any module of
the project as a path (`pipeline_engine/core/tree.py`) or dotted name.

For each mutant: the tests that run one of its lines in the coverage pass are
run with `-x` in a new Python process that imports the mutated source
(mutation/child.py). Exit status 0 means the mutant survived; a test failure,
a collection error (the mutant breaks the import), a crash or the time limit
mean it was caught. A mutant on a line no test runs survives as "no tests"
without a run. Mutants that change only exception or log text are not run
unless asked (they are counted and left out of the score).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mutation.mutants import Mutant, MutantSet, generate

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "var" / "mutation"
TARGETS_FILE = Path(__file__).with_name("targets.toml")
PYTEST_ARGS = ["-p", "no:django", "-p", "no:cacheprovider", "-q", "--no-header"]  # plus the project's addopts
MEMORY_LIMIT = 4 << 30  # a mutant that disables a size guard must fail, not swap the shared machine

CAUGHT = "caught"
SURVIVED = "survived"
NO_TESTS = "no tests"
TIMEOUT = "timeout"
CRASHED = "crashed"
ERROR = "error"
NOT_RUN = "not run"
MESSAGE_ONLY = "message only"
COUNTED_CAUGHT = frozenset({CAUGHT, TIMEOUT, CRASHED})
COUNTED_SURVIVED = frozenset({SURVIVED, NO_TESTS})


@dataclass(frozen=True)
class Target:
    name: str
    path: Path  # relative to ROOT
    target: float | None
    enforced: bool
    tests: tuple[str, ...]  # the candidate test paths that exist

    @property
    def module(self) -> str:
        return ".".join(self.path.with_suffix("").parts)


@dataclass
class Outcome:
    name: str
    line: int
    end_line: int
    original: str
    mutated: str
    message_only: bool
    status: str
    tests: int = 0
    seconds: float = 0.0
    detail: str = ""


@dataclass
class ModuleResult:
    name: str
    path: str
    target: float | None
    enforced: bool
    selection: str
    commit: str
    source_sha: str = ""  # of the mutated file: a partial run merges into a full one of the same source
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, statuses: Iterable[str]) -> int:
        wanted = set(statuses)
        return sum(1 for o in self.outcomes if o.status in wanted)

    @property
    def caught(self) -> int:
        return sum(1 for o in self.outcomes if o.status in COUNTED_CAUGHT and not o.message_only)

    @property
    def survived(self) -> int:
        return sum(1 for o in self.outcomes if o.status in COUNTED_SURVIVED and not o.message_only)

    @property
    def message_only(self) -> int:
        return sum(1 for o in self.outcomes if o.message_only)

    @property
    def score(self) -> float | None:
        """caught / (caught + survived), message-only mutants left out."""
        total = self.caught + self.survived
        return None if total == 0 else 100.0 * self.caught / total

    @property
    def score_with_messages(self) -> float | None:
        """The score counting message-only mutants too, when they were run (--include-messages)."""
        if self.count({MESSAGE_ONLY}):
            return None
        caught, survived = self.count(COUNTED_CAUGHT), self.count(COUNTED_SURVIVED)
        return None if caught + survived == 0 else 100.0 * caught / (caught + survived)


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------

def load_targets() -> dict[str, Target]:
    data = tomllib.loads(TARGETS_FILE.read_text(encoding="utf-8"))
    return {name: _target(name, entry) for name, entry in data["modules"].items()}


def _target(name: str, entry: dict[str, Any]) -> Target:
    tests = tuple(t for t in entry.get("tests", []) if (ROOT / t).exists())
    return Target(name=name, path=Path(entry["path"]), target=entry.get("target"),
                  enforced=bool(entry.get("enforced", False)), tests=tests)


def resolve(spec: str) -> Target:
    """A target by table name, file path or dotted module name."""
    targets = load_targets()
    if spec in targets:
        return targets[spec]
    path = Path(spec) if spec.endswith(".py") else Path(*spec.split(".")).with_suffix(".py")
    if (ROOT / path).resolve().is_relative_to(ROOT) and (ROOT / path).is_file():
        path = (ROOT / path).resolve().relative_to(ROOT)
    for target in targets.values():
        if target.path == path:
            return target
    if not (ROOT / path).is_file():
        raise SystemExit(f"mutation: no module {spec!r} (names: {', '.join(targets)}; or a path to a .py file)")
    data = tomllib.loads(TARGETS_FILE.read_text(encoding="utf-8"))
    return _target(path.stem, {"path": str(path), "tests": data["defaults"]["tests"]})


# --------------------------------------------------------------------------
# The coverage pass
# --------------------------------------------------------------------------

class BaselineFailed(RuntimeError):
    pass


@dataclass
class Coverage:
    tests: list[str]
    durations: dict[str, float]
    lines: dict[str, dict[int, set[str]]]  # absolute path -> line -> test ids ("<import>" for import time)
    lost: set[str] = field(default_factory=set)  # tests during which the tracer was lost: run for every mutant

    def tests_for(self, path: Path, first: int, last: int) -> list[str]:
        """The tests that ran a line of [first, last], in run order; all of them for import-time lines."""
        by_line = self.lines.get(str(path), {})
        hit: set[str] = set()
        for line in range(first, last + 1):
            hit |= by_line.get(line, set())
        if "<import>" in hit:
            return list(self.tests)
        return [t for t in self.tests if t in hit or t in self.lost]


def coverage_pass(paths: list[Path], tests: tuple[str, ...]) -> Coverage:
    """Run `tests` once, unmutated, recording which test runs which line of `paths`."""
    if not tests:
        raise BaselineFailed("none of the module's test paths exist (mutation/targets.toml)")
    with tempfile.TemporaryDirectory(prefix="sops-mutation-") as tmp:
        out = Path(tmp) / "coverage.json"
        env = dict(os.environ, MUTATION_TRACE_FILES=os.pathsep.join(str(ROOT / p) for p in paths),
                   MUTATION_TRACE_OUT=str(out))
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "mutation.tracer", *PYTEST_ARGS, *tests],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise BaselineFailed(f"the unmutated tests do not pass (exit {proc.returncode}):\n{tail}")
        data = json.loads(out.read_text(encoding="utf-8"))
    lines = {path: {int(line): set(ids) for line, ids in by_line.items()} for path, by_line in data["lines"].items()}
    return Coverage(tests=data["tests"], durations=data["durations"], lines=lines, lost=set(data["lost_trace"]))


# --------------------------------------------------------------------------
# One mutant
# --------------------------------------------------------------------------

def _limits(cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def run_mutant(target: Target, mutants: MutantSet, mutant: Mutant, coverage: Coverage, deadline: float,
               workdir: Path) -> Outcome:
    outcome = Outcome(name=mutant.name, line=mutant.line, end_line=mutant.end_line, original=mutant.original,
                      mutated=mutant.mutated, message_only=mutant.message_only, status=NOT_RUN)
    if time.monotonic() > deadline:  # first: a time-boxed run must not count only the untested mutants
        return outcome
    tests = coverage.tests_for(ROOT / target.path, mutant.line, mutant.end_line)
    outcome.tests = len(tests)
    if not tests:
        outcome.status = NO_TESTS
        return outcome
    source = workdir / f"{mutant.name}.py"
    source.write_text(mutants.source_of(mutant.name), encoding="utf-8")
    selected = workdir / f"{mutant.name}.tests"
    selected.write_text("\n".join(tests) + "\n", encoding="utf-8")
    files = list(dict.fromkeys(t.split("::", 1)[0] for t in tests))
    # Generous: the traced durations are already slower than a plain run, and
    # start-up dominates on a loaded machine. An endless loop still ends here.
    timeout = 30 + 5 * sum(coverage.durations.get(t, 0.0) for t in tests)
    command = [sys.executable, "-m", "mutation.child", target.module, str(source), str(selected), "--",
               "-x", *PYTEST_ARGS, *files]
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=lambda: _limits(int(timeout * 2) + 10))
    _LIVE.add(proc)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        outcome.status = TIMEOUT
    else:
        code = proc.returncode
        if code == 0:
            outcome.status = SURVIVED
        elif code in (1, 2, 3):  # tests failed / collection error (the mutant breaks the import) / internal
            outcome.status = CAUGHT
            outcome.detail = _first_failure(output)
        elif code < 0:
            outcome.status = CRASHED
            outcome.detail = f"killed by signal {-code}"
        else:  # 4 usage error, 5 nothing collected: the run itself is wrong, not the mutant's fault
            outcome.status = ERROR
            outcome.detail = "\n".join(output.splitlines()[-10:])
    finally:
        _LIVE.discard(proc)
        source.unlink(missing_ok=True)
        selected.unlink(missing_ok=True)
    outcome.seconds = round(time.monotonic() - started, 2)
    return outcome


_LIVE: set[subprocess.Popen] = set()  # running mutants, killed (by process group) if the runner is interrupted


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line[:200]
    return ""


# --------------------------------------------------------------------------
# A whole module
# --------------------------------------------------------------------------

def choose(mutants: list[Mutant], *, lines: set[int] | None = None, sample: int | None = None,
           names: set[str] | None = None) -> list[Mutant]:
    """The mutants to consider: all, those touching `lines`, a named few, or a deterministic sample."""
    chosen = mutants
    if names:
        chosen = [m for m in chosen if m.name in names]
    if lines is not None:
        chosen = [m for m in chosen if any(line in lines for line in range(m.line, m.end_line + 1))]
    if sample is not None and len(chosen) > sample:
        keep = {m.name for m in sorted((m for m in chosen if not m.message_only), key=lambda m: m.sample_key)[:sample]}
        chosen = [m for m in chosen if m.name in keep]
    return chosen


def run_module(target: Target, *, lines: set[int] | None = None, sample: int | None = None,
               names: set[str] | None = None, include_messages: bool = False, jobs: int = 2,
               deadline: float | None = None, coverage: Coverage | None = None,
               log=print) -> ModuleResult:
    started = time.monotonic()
    deadline = deadline if deadline is not None else float("inf")
    mutants = generate(ROOT / target.path)
    chosen = choose(mutants.mutants, lines=lines, sample=sample, names=names)
    selection = "named" if names else "lines" if lines is not None else f"sample of {sample}" if sample else "all"
    result = ModuleResult(name=target.name, path=str(target.path), target=target.target, enforced=target.enforced,
                          selection=selection, commit=_commit(),
                          source_sha=hashlib.sha256((ROOT / target.path).read_bytes()).hexdigest()[:16])
    to_run = [m for m in chosen if include_messages or not m.message_only]
    for m in chosen:
        if m.message_only and not include_messages:
            result.outcomes.append(Outcome(name=m.name, line=m.line, end_line=m.end_line, original=m.original,
                                           mutated=m.mutated, message_only=True, status=MESSAGE_ONLY))
    if to_run:
        if coverage is None:
            log(f"mutation: {target.name}: coverage pass over {', '.join(target.tests)}")
            coverage = coverage_pass([target.path], target.tests)
        log(f"mutation: {target.name}: {len(to_run)} mutants to run ({len(chosen) - len(to_run)} message-only "
            f"left out), {jobs} at a time")
        with tempfile.TemporaryDirectory(prefix="sops-mutants-") as tmp, ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(run_mutant, target, mutants, m, coverage, deadline, Path(tmp)) for m in to_run]
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    o = future.result()
                    if o.status in (SURVIVED, ERROR) or done % 50 == 0:
                        log(f"  [{done}/{len(to_run)}] {o.name} {o.status}: L{o.line} {o.original!r} -> {o.mutated!r}")
            except BaseException:
                for future in futures:
                    future.cancel()
                for proc in list(_LIVE):
                    _kill(proc)
                raise
            result.outcomes.extend(future.result() for future in futures)
    order = {m.name: i for i, m in enumerate(mutants.mutants)}
    result.outcomes.sort(key=lambda o: order[o.name])
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def save(result: ModuleResult, directory: Path = RESULTS_DIR) -> Path:
    """Write `result`; a partial run (some mutants) updates a full run of the same source instead."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.name}.json"
    if result.selection != "all" and path.exists():
        previous = load(path)
        if previous.selection == "all" and previous.source_sha == result.source_sha:
            fresh = {o.name: o for o in result.outcomes}
            previous.outcomes = [fresh.get(o.name, o) for o in previous.outcomes]
            previous.commit = result.commit
            result = previous
        else:
            path = directory / f"{result.name}.partial.json"
    path.write_text(json.dumps(asdict(result), indent=1), encoding="utf-8")
    return path


def load(path: Path) -> ModuleResult:
    data = json.loads(path.read_text(encoding="utf-8"))
    outcomes = [Outcome(**o) for o in data.pop("outcomes")]
    return ModuleResult(outcomes=outcomes, **data)


def parse_lines(text: str) -> set[int]:
    lines: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        lines.update(range(int(first), int(last or first) + 1))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation.run", description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="+", metavar="MODULE")
    parser.add_argument("--sample", type=int, help="a deterministic sample of N mutants (message-only ones excluded)")
    parser.add_argument("--lines", type=parse_lines, help="only mutants touching these lines, e.g. 10-20,31")
    parser.add_argument("--mutant", action="append", help="only this mutant (repeatable)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", os.cpu_count() or 2)))
    parser.add_argument("--budget", type=float, help="stop starting mutants after this many seconds")
    parser.add_argument("--include-messages", action="store_true", help="run message-only mutants too")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help=f"results folder (default {RESULTS_DIR})")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.budget if args.budget else None
    from mutation.report import print_survivors, print_table

    results = []
    for spec in args.modules:
        target = resolve(spec)
        result = run_module(target, lines=args.lines, sample=args.sample, names=set(args.mutant or ()),
                            include_messages=args.include_messages, jobs=args.jobs, deadline=deadline)
        print(f"mutation: {target.name}: results in {save(result, args.out)} ({result.seconds}s)")
        results.append(result)
    print()
    print_table(results)
    print_survivors(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
