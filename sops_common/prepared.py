"""Querysets compiled to SQL once per process: the engine's one implementation, for the apps.

`pipeline_engine/runtime/prepared.py` holds the rule (a hot read's SQL built once with marker
values, later calls only put their own values in). The apps reach it here, through the engine's
API, as they reach its caches (sops_common/caches.py).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Model, QuerySet

if TYPE_CHECKING:
    from pipeline_engine.api import Writes

# Writes is imported for type checking only (the engine's API loads with the apps): a star import
# gets the functions, and `writes()` gives the batch.
__all__ = ["compiled", "compiled_rows", "compiled_first", "compiled_first_versioned", "insert_row", "insert_rows", "insert_with_children", "next_key", "next_keys",
           "update_rows", "update_statement", "writes"]

M = TypeVar("M", bound=Model)


def compiled(name: str, build: Callable[..., QuerySet], /, **params: Any) -> tuple[str, list[Any]]:
    """The SQL of `build(**params)` and its parameters, compiled on the first call only."""
    from pipeline_engine import api  # late: the engine's app loads with the others

    return api.compiled_sql(name, build, **params)


def compiled_rows(name: str, build: Callable[..., QuerySet], /, **params: Any) -> list[tuple[Any, ...]]:
    """The rows of `build(**params)`, a values_list of plain fields, compiled once per thread."""
    from pipeline_engine import api

    return api.compiled_rows(name, build, **params)


def compiled_first(name: str, build: Callable[..., QuerySet[M]], /, **params: Any) -> M | None:
    """The first model instance `build(**params)` gives, or None, compiled once per thread."""
    from pipeline_engine import api

    return api.compiled_first(name, build, **params)


def compiled_first_versioned(name: str, build: Callable[..., QuerySet[M]], /, **params: Any) -> tuple[M, str] | None:
    """compiled_first with the row's version, for Writes.update_if_unchanged (PostgreSQL only)."""
    from pipeline_engine import api

    return api.compiled_first_versioned(name, build, **params)


def insert_row(obj: Model) -> None:
    """obj.save(force_insert=True) with the INSERT compiled once (no save signal is sent)."""
    from pipeline_engine import api

    api.insert_row(obj)


def insert_rows(objs: Sequence[Model]) -> None:
    """insert_row for a few instances of one model, in one INSERT compiled once per batch size."""
    from pipeline_engine import api

    api.insert_rows(objs)


def insert_with_children(parent: Model, children: Sequence[Model], link: str) -> None:
    """INSERT `parent` and the `children` whose foreign key `link` names it, atomically: one statement
    on PostgreSQL, which needs no transaction around it; the parent's key and the links are set."""
    from pipeline_engine import api

    api.insert_with_children(parent, children, link)


def next_key(model: type[Model]) -> int:
    """A primary key for a new row of `model`, taken now (PostgreSQL), for Writes.insert_keyed."""
    from pipeline_engine import api

    return api.next_key(model)


def next_keys(model: type[Model], count: int) -> list[int]:
    """`count` keys of next_key's, in one round trip (PostgreSQL)."""
    from pipeline_engine import api

    return api.next_keys(model, count)


def update_rows(model: type[Model], where: dict[str, Any], values: dict[str, Any]) -> int:
    """model.objects.filter(**where).update(**values) for plain values and equality conditions,
    the UPDATE compiled once; the number of rows changed."""
    from pipeline_engine import api

    return api.update_rows(model, where, values)


def writes() -> Writes:
    """A batch of update_rows and insert_rows sent in one round trip on PostgreSQL (`.send()`)."""
    from pipeline_engine import api

    return api.Writes()


def update_statement(model: type[Model], where: dict[str, Any], values: dict[str, Any]) -> tuple[str, list[Any]]:
    """The SQL and parameters of update_rows(model, where, values), not run: for a caller that
    hands it to the engine to send with its own writes."""
    from pipeline_engine import api

    return api.update_statement(model, where, values)
