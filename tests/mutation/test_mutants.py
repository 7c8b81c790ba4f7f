"""Mutant generation: mutmut's mutants and names, one change each, the message-only rule, the choice."""
from __future__ import annotations

import ast
import difflib
from pathlib import Path

import pytest

from mutation.mutants import generate
from mutation.run import choose

SOURCE = '''\
import logging

logger = logging.getLogger(__name__)
LIMIT = 10


def check(value):
    if value > LIMIT:
        raise ValueError("value is too large")
    if value < 0:
        raise ValueError(f"negative: {value}, {', '.join(['a', 'b'])}")
    logger.warning("checked %s", value)
    return "ok" if value else "zero"


class Box:
    def label(self, name):
        return name.upper() + "!"


@some_decorator
def decorated(x):
    return x + 1
'''


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "sample.py"
    path.write_text(SOURCE, encoding="utf-8")
    return path


def test_mutants_and_names_are_mutmuts(source_file: Path):
    from mutmut.mutation.file_mutation import mutate_file_contents

    from mutation.mutants import _configure_mutmut

    _configure_mutmut()
    expected = mutate_file_contents(str(source_file), SOURCE).mutant_names
    names = [m.name for m in generate(source_file).mutants]
    assert names == list(expected)
    assert "xǁBoxǁlabel__mutmut_1" in names
    # Module-level statements and decorated functions are out of mutmut's scope, and so of ours.
    assert not any(n.startswith("x_decorated") for n in names)


def test_each_mutant_changes_only_its_own_lines_and_still_parses(source_file: Path):
    mutants = generate(source_file)
    original = SOURCE.splitlines()
    seen = set()
    for m in mutants.mutants:
        text = mutants.source_of(m.name)
        ast.parse(text)
        changed = [line for line in difflib.unified_diff(original, text.splitlines(), n=0, lineterm="")
                   if line.startswith("@@")]
        assert len(changed) == 1, m
        first = int(changed[0].split("-")[1].split(",")[0].split(" ")[0])
        assert m.line <= first <= m.end_line, m
        seen.add(text)
    assert len(seen) == len(mutants.mutants)  # no two mutants are the same program text


def test_message_only_means_a_string_literal_of_a_raise_or_a_log_call(source_file: Path):
    mutants = generate(source_file).mutants
    message_only = {(m.original, m.line) for m in mutants if m.message_only}
    assert ('"value is too large"', 9) in message_only
    assert ("', '", 11) in message_only  # inside the f-string of a raise
    assert ("'a'", 11) in message_only
    assert ('"checked %s"', 12) in message_only
    behaviour = {(m.original, m.line) for m in mutants if not m.message_only}
    assert ('"ok"', 13) in behaviour  # a returned string is behaviour
    assert ('"!"', 18) in behaviour
    # Only the literal itself: dropping the argument of the exception is not message-only.
    assert any(m.line == 9 and not m.message_only and m.mutated == "ValueError(None)" for m in mutants)


def test_choose_by_lines_by_name_and_a_deterministic_sample(source_file: Path):
    mutants = generate(source_file).mutants
    on_line_8 = choose(mutants, lines={8})
    assert on_line_8 and all(m.line <= 8 <= m.end_line for m in on_line_8)
    assert [m.name for m in choose(mutants, names={mutants[3].name})] == [mutants[3].name]
    sample = choose(mutants, sample=5)
    assert len(sample) == 5
    assert not any(m.message_only for m in sample)
    assert [m.name for m in choose(generate(source_file).mutants, sample=5)] == [m.name for m in sample]
    assert choose(mutants, sample=1000) == mutants
