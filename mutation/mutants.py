"""The mutants of one source file: mutmut's operators, each applied alone to the plain source text.

mutmut (pinned in pyproject.toml) decides *which* mutants exist: the same
operators, the same scope (the bodies of top-level functions and of methods;
decorated functions, module-level statements and `# pragma: no mutate` lines
are left alone) and the same names (`x_func__mutmut_3`, `xǁClassǁmethod__mutmut_1`),
so a mutant here is the mutant `mutmut show` would print. What differs is how a
mutant is run: instead of mutmut's trampolines switched by an environment
variable inside one forked process, a mutant is the module's source with that
one change, imported by a fresh process (mutation/child.py). See
docs/mutation-testing.md for why.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

__all__ = ["Mutant", "MutantSet", "generate"]

_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's name, e.g. x__order__mutmut_3
    line: int  # first and last line of the changed node in the original file
    end_line: int
    original: str  # the changed node's code before ...
    mutated: str  # ... and after
    message_only: bool  # only a string literal of an exception message or a log call changes

    @property
    def function(self) -> str:
        return self.name.rsplit("__mutmut_", 1)[0]

    @property
    def sample_key(self) -> str:
        """A stable pseudo-random order: a deterministic sample takes the first N by this key."""
        return hashlib.sha256(self.name.encode()).hexdigest()


class MutantSet:
    """The mutants of one file and the means to build each mutant's source."""

    def __init__(self, path: Path, mutants: list[Mutant], parts: list[str], header: str, footer: str,
                 statements: list[cst.CSTNode], changes: dict[str, tuple[int, cst.CSTNode, cst.CSTNode]]) -> None:
        self.path = path
        self._module = cst.Module([])
        self.mutants = mutants
        self._parts = parts
        self._header = header
        self._footer = footer
        self._statements = statements
        self._changes = changes  # name -> (index of the top-level statement, original node, mutated node)

    def source_of(self, name: str) -> str:
        """The whole file with this one mutant applied (built on demand: most runs need few)."""
        from mutmut.mutation.file_mutation import deep_replace

        index, original, mutated = self._changes[name]
        statement = deep_replace(self._statements[index], original, mutated)
        parts = list(self._parts)
        parts[index] = self._module.code_for_node(statement)
        return self._header + "".join(parts) + self._footer


def _configure_mutmut() -> None:
    """Give mutmut the settings its mutant generator reads, without a [tool.mutmut] section.

    mutmut's `config()` otherwise insists on guessing a source folder; only the
    pattern list matters to generation, and the project uses none.
    """
    import mutmut.configuration as mc

    if mc._config is not None:
        return
    mc._config = mc.Config(
        also_copy=[], only_mutate=[], do_not_mutate=[], do_not_mutate_patterns=[], max_stack_depth=-1,
        debug=False, source_paths=[], resolved_mutated_source_paths=[], pytest_add_cli_args=[],
        pytest_add_cli_args_test_selection=[], mutate_only_covered_lines=False, timeout_multiplier=15.0,
        timeout_constant=1.0, type_check_command=[], use_setproctitle=False, track_dependencies=False,
        dependency_tracking_depth=-1, cache_invalidation_files=[], cache_invalidation_exclude=[],
        on_dependency_change="warn", use_git_change_detection=False,
        process_isolation=mc.ProcessIsolation.FORK, forkserver_warmup=mc.ForkServerWarmup.NONE,
        max_forkserver_restarts=0, preload_modules_file=None, log_to_file=False, log_file_path="",
    )


def _is_message_only(node: cst.CSTNode, mutated: cst.CSTNode, parents: dict) -> bool:
    """True when the mutant changes one string literal that is exception or log text.

    Mechanical on purpose: the literal must sit in the exception expression of a
    `raise` statement (any depth: `raise Err(f"... {', '.join(x)}")` counts), or
    in the arguments of a call to a logger method. A message kept in a variable,
    returned by a helper or used in a comparison is not recognised, and counts
    as behaviour.
    """
    if not (isinstance(node, cst.SimpleString) and isinstance(mutated, cst.SimpleString)):
        return False
    child, current = node, parents.get(node)
    while current is not None:
        if isinstance(current, cst.Raise):
            return child is current.exc
        if isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute):
            owner = current.func.value
            if (current.func.attr.value in _LOG_METHODS and isinstance(owner, cst.Name | cst.Attribute)
                    and "log" in cst.Module([]).code_for_node(owner).lower()):
                return child is not current.func
        if isinstance(current, cst.BaseStatement | cst.BaseSmallStatement):
            return False
        child, current = current, parents.get(current)
    return False


def _short(code: str, limit: int = 120) -> str:
    flat = " ".join(code.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def generate(path: Path) -> MutantSet:
    """Every mutant mutmut makes of the file at `path`, in mutmut's order and with its names."""
    _configure_mutmut()
    from mutmut.mutation.file_mutation import MutationVisitor
    from mutmut.mutation.mutators import mutation_operators
    from mutmut.mutation.pragma_handling import get_ignored_lines
    from mutmut.mutation.trampoline_templates import mangle_function_name

    source = path.read_text(encoding="utf-8")
    wrapper = MetadataWrapper(cst.parse_module(source))
    visitor = MutationVisitor(mutation_operators, get_ignored_lines(str(path), source, wrapper))
    module = wrapper.visit(visitor)
    positions = wrapper.resolve(PositionProvider)
    parents = wrapper.resolve(ParentNodeProvider)

    parts = [module.code_for_node(statement) for statement in module.body]
    header = "".join(module.code_for_node(line) for line in module.header)
    footer = "".join(module.code_for_node(line) for line in module.footer)
    if not module.has_trailing_newline:
        footer = footer.removesuffix(module.default_newline)
    statement_index = {id(statement): i for i, statement in enumerate(module.body)}

    def top_level(node: cst.CSTNode) -> int:
        current = node
        while id(current) not in statement_index:
            current = parents[current]
        return statement_index[id(current)]

    def function_key(function: cst.FunctionDef) -> str:
        owner = parents.get(function)
        if isinstance(owner, cst.IndentedBlock) and isinstance(parents.get(owner), cst.ClassDef):
            return mangle_function_name(name=function.name.value, class_name=parents[owner].name.value)
        return mangle_function_name(name=function.name.value, class_name=None)

    counters: dict[str, int] = {}
    mutants: list[Mutant] = []
    changes: dict[str, tuple[int, cst.CSTNode, cst.CSTNode]] = {}
    empty = cst.Module([])
    for mutation in visitor.mutations:
        function = mutation.contained_by_top_level_function
        if not isinstance(function, cst.FunctionDef):
            continue  # module-level code: mutmut makes no mutant of it either
        key = function_key(function)
        counters[key] = counters.get(key, 0) + 1
        name = f"{key}__mutmut_{counters[key]}"
        index = top_level(mutation.original_node)
        position = positions[mutation.original_node]
        mutants.append(Mutant(
            name=name,
            line=position.start.line,
            end_line=position.end.line,
            original=_short(empty.code_for_node(mutation.original_node)),
            mutated=_short(empty.code_for_node(mutation.mutated_node)),
            message_only=_is_message_only(mutation.original_node, mutation.mutated_node, parents),
        ))
        changes[name] = (index, mutation.original_node, mutation.mutated_node)
    return MutantSet(path, mutants, parts, header, footer, list(module.body), changes)
