"""Querysets compiled to SQL once per process: the hot reads of every request (the apps reach it
through sops_common.prepared).

Building a queryset's SQL (clone, filters, select mask, compiler) costs Django
~1 ms of CPU for a simple lookup, more than the statement itself on loopback.
A hot read whose shape never changes is compiled once, with marker values in
place of its parameters, and later calls only put their own values where the
markers were. What runs is exactly the SQL Django built.
"""
from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DatabaseError, connection, transaction
from django.db.models import Field, Model, QuerySet
from django.db.models.query import ModelIterable
from django.db.models.sql import InsertQuery

from . import config

_plans: dict[tuple[str, str], tuple[str, tuple[Any, ...]]] = {}
M = TypeVar("M", bound=Model)
_seq = itertools.count(1)


class _Slot(str):
    """Where a parameter goes in a compiled statement's parameter list (a name, not a value)."""


def _marker(value: Any) -> Any:
    n = next(_seq)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"only int and str parameters can be prepared, not {type(value).__name__}")
    return -(2**62) - n if isinstance(value, int) else f"\x00sops-prepared-{n}\x00"


def compiled(name: str, build: Callable[..., QuerySet], /, **params: Any) -> tuple[str, list[Any]]:
    """The SQL of `build(**params)` and its parameters, the SQL compiled on the first call only.

    `build` must give the same shape of query whatever the values (int and str
    parameters, used as plain lookup values); `name` names that shape.
    """
    key = (connection.vendor, name)
    plan = _plans.get(key)
    if plan is None:
        markers = {k: _marker(v) for k, v in params.items()}
        sql, template = build(**markers).query.sql_with_params()
        plan = _plans[key] = (sql, _slots(name, markers, template))
    sql, slots = plan
    return sql, _values(slots, params)


def _slots(name: str, markers: dict[str, Any], template: Any) -> tuple[Any, ...]:
    """The compiled statement's parameters, each marker replaced by the name of its parameter."""
    names = {m: k for k, m in markers.items()}
    # A parameter may appear more than once (a query whose subqueries each read the same row).
    found = {names[v] for v in template if _hashable(v) and v in names}
    if found != set(markers):
        raise ValueError(f"prepared query {name}: every parameter must appear as a value")
    return tuple(_Slot(names[v]) if _hashable(v) and v in names else v for v in template)


def _values(slots: tuple[Any, ...], params: dict[str, Any]) -> list[Any]:
    return [params[v] if isinstance(v, _Slot) else v for v in slots]


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


# --- statements prepared by the server ------------------------------------------------------------
# PostgreSQL plans a statement each time it is sent as text: for a status poll's one read (a run,
# its nodes and two subqueries on the task) planning took ~0.3 ms of the ~0.5 ms the statement
# cost, measured on loopback. A statement PREPAREd once per connection and then EXECUTEd is parsed
# and planned once (the server keeps a generic plan once it is no worse than a custom one), so a
# hot read costs what running it costs. Prepared statements belong to the server's session, not
# to a transaction (a ROLLBACK keeps them), and die with the connection: each connection has its
# own names, and a new connection starts with none.
#
# A statement's shape is its SQL text. Each shape gets a number, and a connection prepares it as
# `sops_p<number>_<try>`: after a call that failed (which may have left the statement prepared or
# not) it is prepared again under the next try. The shapes are the few fixed statements of the hot
# paths; past MAX_SHAPES (a caller whose SQL varies) statements are sent as text.
MAX_SHAPES = 256
_shape_numbers: dict[str, int] = {}
_shape_sql: dict[int, str] = {}
_shape_lock = threading.Lock()
# Shapes PostgreSQL refused to prepare (it could not infer a parameter's type): sent as text.
_unpreparable: set[str] = set()
_PLACEHOLDER = re.compile(r"%%|%s")
_EXECUTED = re.compile(r"(?:^|; )EXECUTE sops_p(\d+)_\d+\b")
# The codes of a PREPARE that cannot type its parameters (indeterminate or ambiguous), and of an
# EXECUTE whose statement is gone (a pooler's DISCARD ALL) or must be planned again (its result's
# columns changed under it).
_UNTYPED = {"42P18", "42P08"}
_GONE = {"26000", "0A000"}


def execute_prepared(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    """`cursor.execute(sql, params)`, on PostgreSQL (unless SOPS_DB_PREPARE is off) as a statement
    prepared on this connection's first call, in the same round trip as its first execution;
    later calls only EXECUTE it with their values. For statements of a fixed shape only."""
    execute_prepared_many(cursor, [(sql, params)])


def execute_prepared_many(cursor: Any, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """The statements as one query (psycopg2 gives the last one's result and row count), each
    prepared as execute_prepared prepares one: what was not prepared yet on this connection is,
    first, then every statement is EXECUTEd in order."""
    if connection.vendor != "postgresql" or not config.server_prepare():
        _as_text(cursor, statements)
        return
    found = [_shape_number(sql) for sql, _ in statements]
    if None in found or not any(params for _, params in statements):
        _as_text(cursor, statements)  # (without values the driver would not undo the SQL's `%%`)
        return
    numbers = [n for n in found if n is not None]
    tries = _prepared_here()
    preparing: dict[int, int] = {}
    prepares: list[str] = []
    executes: list[str] = []
    values: list[Any] = []
    for number, (_, params) in zip(numbers, statements, strict=True):
        attempt = tries.get(number, 0)
        if attempt <= 0:  # not prepared on this connection yet (a shape may come twice in a query)
            if number not in preparing:
                preparing[number] = -attempt + 1
                prepares.append(f"PREPARE sops_p{number}_{preparing[number]} AS {_shape_sql[number]}")
            attempt = preparing[number]
        executes.append(f"EXECUTE sops_p{number}_{attempt} ({', '.join(['%s'] * len(params))})"
                        if params else f"EXECUTE sops_p{number}_{attempt}")
        values.extend(params)
    try:
        cursor.execute("; ".join([*prepares, *executes]), values)
    except DatabaseError as exc:
        code = getattr(exc.__cause__, "pgcode", None)
        for number, attempt in preparing.items():
            tries[number] = -attempt  # prepare again, under the next try's name
        if code in _GONE:
            for number in numbers:
                tries[number] = -abs(tries.get(number, 0))
        if code in _UNTYPED:
            _unpreparable.update(sql for (sql, _), number in zip(statements, numbers, strict=True)
                                 if number in preparing)
        raise
    tries.update(preparing)


def _as_text(cursor: Any, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    if len(statements) == 1:
        cursor.execute(*statements[0])
    else:
        cursor.execute("; ".join(sql for sql, _ in statements), [p for _, params in statements for p in params])


def _shape_number(sql: str) -> int | None:
    if _unpreparable and sql in _unpreparable:
        return None
    number = _shape_numbers.get(sql)
    if number is None:
        if len(_shape_numbers) >= MAX_SHAPES:
            return None
        with _shape_lock:
            number = _shape_numbers.get(sql)
            if number is None:
                number = len(_shape_numbers) + 1
                _shape_sql[number] = _numbered(sql)
                _shape_numbers[sql] = number
    return number


def _prepared_here() -> dict[int, int]:
    """This thread's current connection's statements: {shape number: its try, positive once
    prepared, negative after a failed one (the next call prepares under the next try)}.

    A new connection (a reconnect after a restart, or after CONN_MAX_AGE) starts empty:
    prepared statements die with their session."""
    raw = connection.connection
    held = getattr(_compilers, "server", None)
    if held is None or held[0] is not raw:
        held = _compilers.server = (raw, {})
    return held[1]


def prepared_on_this_connection() -> dict[str, str]:
    """{server name: SQL with numbered placeholders} of each statement prepared on this thread's
    current connection, for reading its plan (`EXPLAIN EXECUTE name (values)`)."""
    return {f"sops_p{number}_{attempt}": _shape_sql[number]
            for number, attempt in _prepared_here().items() if attempt > 0}


def _numbered(sql: str) -> str:
    """Django's SQL with its placeholders numbered for PREPARE: the n-th `%s` becomes `$n`, and
    `%%` stays as it is (the PREPARE goes through the driver's formatting with the values)."""
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: m.group() if m.group() == "%%" else f"${next(counter)}", sql)


def statement_of(executed: str) -> str:
    """The SQL a captured query stands for: what execute_prepared(_many) sent (its PREPAREs and
    EXECUTEs) is given as the statements it executed, in order, with numbered placeholders and
    joined by "; "; any other text as it is. For tests and readers of captured queries."""
    numbers = _EXECUTED.findall(executed)
    if not numbers:
        return executed
    return "; ".join(_shape_sql[int(n)].replace("%%", "%") for n in numbers)


# --- value rows -----------------------------------------------------------------------------------
# A values_list read compiled once per thread (its compiler holds the thread's connection), with
# Django's own converters applied to the rows: what a status poll reads on every request.
_compilers = threading.local()


def compiled_rows(name: str, build: Callable[..., QuerySet], /, **params: Any) -> list[tuple[Any, ...]]:
    """The rows of `build(**params)`, a `values_list` queryset, as Django would give them; the SQL
    is compiled on this thread's first call only (same rules as `compiled`).

    Expressions (a Subquery's column) may follow the fields, not precede them: the rows are the
    statement's own, and Django's SQL puts the fields first."""
    plans: dict[str, Any] = _compilers.__dict__.setdefault("plans", {})
    plan = plans.get(name)
    if plan is None or plan[0].connection is not connection:
        markers = {k: _marker(v) for k, v in params.items()}
        qs = build(**markers)
        fields = getattr(qs, "_fields", None)  # what values_list named (Django's own attribute)
        query = qs.query
        if (query.extra_select or not fields
                or list(fields) != [*query.values_select, *query.annotation_select]):
            raise ValueError(f"prepared rows {name}: a values_list of fields, then expressions, only")
        compiler = qs.query.get_compiler(connection=connection)
        sql, template = compiler.as_sql()
        slots = _slots(name, markers, template)
        if compiler.col_count != len(fields):
            raise ValueError(f"prepared rows {name}: a values_list of fields, then expressions, only")
        converters = compiler.get_converters([col[0] for col in compiler.select[:compiler.col_count]])
        plan = plans[name] = (compiler, sql, slots, converters)
    compiler, sql, slots, converters = plan
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, _values(slots, params))
        rows = cursor.fetchall()
    if converters:
        return [tuple(row) for row in compiler.apply_converters(rows, converters)]
    return rows


# --- model instances ------------------------------------------------------------------------------
# The first instance of a queryset of one model (plain filters, defer/only, select_for_update),
# compiled once per thread as compiled_rows is, and built as Django's model iterable builds it:
# converters, then Model.from_db. A RawQuerySet over the compiled SQL cost ~0.1 ms more per
# call, matching its columns to the model's fields again on every execution.


def compiled_first(name: str, build: Callable[..., QuerySet[M]], /, **params: Any) -> M | None:
    """The first instance `build(**params)` gives, or None; its SQL compiled on this thread's
    first call only (same rules as `compiled`). `build` should slice ([:1]) if it may match more."""
    found = _first(name, build, params, versioned=False)
    return None if found is None else found[0]


def compiled_first_versioned(name: str, build: Callable[..., QuerySet[M]], /,
                             **params: Any) -> tuple[M, str] | None:
    """compiled_first, with the row's version as PostgreSQL keeps it (the `xmin` of the row read:
    the transaction that wrote it last, changed by every UPDATE and by nothing else), for a
    write that must find the row as it was read (Writes.update_if_unchanged). PostgreSQL only."""
    if connection.vendor != "postgresql":
        raise NotImplementedError("row versions are PostgreSQL's xmin")
    found = _first(name, build, params, versioned=True)
    return None if found is None else (found[0], found[1] or "")


def _first(name: str, build: Callable[..., QuerySet[M]], params: dict[str, Any], *,
           versioned: bool) -> tuple[M, str | None] | None:
    plans: dict[str, Any] = _compilers.__dict__.setdefault("instances", {})
    key = f"{name}:versioned" if versioned else name
    plan = plans.get(key)
    if plan is None or plan[0].connection is not connection:
        markers = {k: _marker(v) for k, v in params.items()}
        qs = build(**markers)
        query = qs.query
        if (getattr(qs, "_fields", None) or query.select_related or query.annotation_select
                or query.extra_select or qs._iterable_class is not ModelIterable):
            raise ValueError(f"prepared instance {name}: a queryset of model instances with plain filters only")
        compiler = query.get_compiler(connection=connection)
        sql, template = compiler.as_sql()
        slots = _slots(name, markers, template)
        select = compiler.select[:compiler.col_count]
        attnames = [col[0].target.attname for col in select]
        converters = compiler.get_converters([col[0] for col in select])
        if versioned:  # the version goes last, after the columns the converters are for
            head = "SELECT "
            if not sql.startswith(head) or sql.startswith("SELECT DISTINCT"):
                raise ValueError(f"prepared instance {name}: cannot add the row version to {sql[:40]}")
            table = connection.ops.quote_name(qs.model._meta.db_table)
            from_at = sql.index(" FROM ")
            sql = f"{sql[:from_at]}, {table}.xmin::text{sql[from_at:]}"
        plan = plans[key] = (compiler, sql, slots, converters, qs.model, attnames)
    compiler, sql, slots, converters, model, attnames = plan
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, _values(slots, params))
        row = cursor.fetchone()
    if row is None:
        return None
    version = row[-1] if versioned else None
    if converters:
        (row,) = compiler.apply_converters([row], converters)
    obj: M = model.from_db(connection.alias, attnames, tuple(row[:len(attnames)]))
    return obj, version


# --- new rows -------------------------------------------------------------------------------------
# An INSERT of one model instance as Model.save(force_insert=True) runs it (or of a few in one
# statement), its SQL compiled once per process, vendor, model and number of rows: Django's save path (signals, field loops, the query and its
# compiler) cost ~0.5 ms of CPU per row, more than the statement, on the hot creates of every
# task (the task, its audit rows, a periodic firing's history).
_inserts: dict[tuple[str, type, int], tuple[str, list[Any], list[Any]]] = {}
# Larger batches go through bulk_create: a plan per batch size is kept for the small ones only.
MAX_PREPARED_BATCH = 8


def insert_row(obj: Model) -> None:
    """INSERT `obj`, a new instance, and set its primary key: what `obj.save(force_insert=True)`
    does, for a model whose saves no signal receiver listens to (none is sent).

    The values are prepared by the fields themselves on every call (pre_save, so auto_now_add
    applies, then get_db_prep_save), exactly as Django's insert compiler does; only the
    statement is built once. An expression as a value is refused (its SQL would differ)."""
    insert_rows([obj])


def _insert_plan(model: type[Model], objs: Sequence[Model]) -> tuple[str, list[Any], list[Any]] | None:
    """(INSERT statement, fields given values, fields returned) for `len(objs)` rows of `model`."""
    meta = model._meta
    fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
    features = connection.features
    if len(objs) == 1:  # exactly the statement Model.save(force_insert=True) runs
        query = InsertQuery(model)
        query.insert_values(fields, list(objs))
        compiler = query.get_compiler(connection=connection)
        returning = list(meta.db_returning_fields) if features.can_return_columns_from_insert else []
        compiler.returning_fields = returning or None
        ((sql, _params),) = compiler.as_sql()
        return sql, fields, returning
    # Several rows: Django's bulk INSERT on PostgreSQL passes one array per column (UNNEST); a
    # VALUES row per instance keeps the parameters in the single-row order.
    if not features.has_bulk_insert or any(hasattr(f, "get_placeholder") for f in fields):
        return None
    ops = connection.ops
    returning = list(meta.db_returning_fields) if features.can_return_rows_from_bulk_insert else []
    placeholder_rows: Any = [["%s"] * len(fields)] * len(objs)  # the stubs say list[str]; Django takes rows
    sql = (f"INSERT INTO {ops.quote_name(meta.db_table)} ({', '.join(ops.quote_name(f.column) for f in fields)}) "
           f"{ops.bulk_insert_sql(fields, placeholder_rows)}")
    if returning:
        returning_sql, _ = ops.return_insert_columns(returning)
        sql = f"{sql} {returning_sql}"
    return sql, fields, returning


def insert_rows(objs: Sequence[Model]) -> None:
    """insert_row for a few new instances of one model in one INSERT (a statement compiled once per
    batch size, up to MAX_PREPARED_BATCH rows; bulk_create beyond). Primary keys are set where the
    database returns them from a multi-row INSERT (PostgreSQL, SQLite >= 3.35), as bulk_create does."""
    statement = _insert_statement(objs)
    if statement is not None:
        _run(statement)


# A statement ready to run: its SQL, its parameters, and what reads its result (None: nothing).
Statement = tuple[str, list[Any], Callable[[Any], None] | None]

# A new row and the rows that point at it, as one statement (PostgreSQL): per vendor, parent model,
# child model, link and number of children.
_families: dict[tuple[str, type, type, str, int], tuple[str, list[Field]]] = {}


def insert_with_children(parent: Model, children: Sequence[Model], link: str) -> None:
    """INSERT `parent` and `children`, new instances whose foreign key `link` names the parent, and
    set the parent's primary key and the children's link: insert_row(parent), then insert_rows.

    On PostgreSQL it is one statement, the parent's INSERT in a WITH clause whose key the
    children's INSERT reads, so it is atomic on its own: a caller outside a transaction needs none
    (no BEGIN and COMMIT of its own, two round trips fewer). The children's own keys are not read
    back. Elsewhere the two INSERTs run in a transaction of their own (or the caller's)."""
    if not children:
        insert_row(parent)
        return
    child_model = type(children[0])
    if any(type(child) is not child_model for child in children):
        raise TypeError("insert_with_children: the children must be of one model")
    link_field = _link_field(child_model, link)
    link_attname = link_field.attname
    if connection.vendor != "postgresql" or len(children) > MAX_PREPARED_BATCH:
        with transaction.atomic(savepoint=False):
            insert_row(parent)
            for child in children:
                setattr(child, link_attname, parent.pk)
            insert_rows(children)
        return
    statement = _insert_statement([parent])
    if statement is None:  # never for one row: its plan is Model.save's own statement
        raise TypeError("insert_with_children: the parent's INSERT could not be prepared")
    parent_sql, parent_params, _ = statement
    key = (connection.vendor, type(parent), child_model, link, len(children))
    plan = _families.get(key)
    if plan is None:
        plan = _families[key] = _family_plan(type(parent), link_field, len(children), parent_sql)
    sql, fields = plan
    params = [*parent_params, *_insert_values(children, fields, "insert_with_children")]
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, params)
        row = cursor.fetchone()
    parent.pk = row[0]
    parent._state.adding, parent._state.db = False, connection.alias
    for child in children:
        setattr(child, link_attname, parent.pk)


def _insert_values(objs: Sequence[Model], fields: list[Field], caller: str) -> list[Any]:
    """The parameters of new instances' INSERT, as Django's insert compiler prepares them: each field's
    pre_save (auto_now_add applies), then get_db_prep_save. An expression is refused (its SQL differs)."""
    params = []
    for obj in objs:
        for field in fields:
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):
                raise TypeError(f"{caller}: {field.name} is an expression; save the instance instead")
            params.append(field.get_db_prep_save(value, connection))
    return params


def _link_field(model: type[Model], link: str) -> Field:
    field = model._meta.get_field(link)
    if not isinstance(field, Field) or not field.is_relation or not field.many_to_one:
        raise ValueError(f"insert_with_children: {link} is not a foreign key of {model._meta.label}")
    return field


def _family_plan(parent_model: type[Model], link_field: Field, count: int,
                 parent_sql: str) -> tuple[str, list[Field]]:
    """(statement, the children's fields given values) for `count` children linked by `link_field`."""
    meta, quote = link_field.model._meta, connection.ops.quote_name
    pk_column = quote(parent_model._meta.pk.column)
    fields = [f for f in meta.local_concrete_fields
              if not f.generated and f is not meta.auto_field and f is not link_field]
    if any(hasattr(f, "get_placeholder") for f in fields):
        raise TypeError("insert_with_children: a field with a placeholder of its own")
    if not parent_sql.rstrip().endswith(f"RETURNING {quote(parent_model._meta.db_table)}.{pk_column}"):
        raise TypeError("insert_with_children: the parent's INSERT must return its key alone")
    row = f"((SELECT {pk_column} FROM parent), {', '.join(['%s'] * len(fields))})"
    sql = (f"WITH parent AS ({parent_sql}) "
           f"INSERT INTO {quote(meta.db_table)} ({quote(link_field.column)}, "
           f"{', '.join(quote(f.column) for f in fields)}) VALUES {', '.join([row] * count)} "
           f"RETURNING {quote(link_field.column)}")
    return sql, fields


def _insert_statement(objs: Sequence[Model]) -> Statement | None:
    """The INSERT of `objs` and what sets their keys from its result; None when there is nothing
    to run (no instances) or the rows were written already (bulk_create, past the prepared sizes)."""
    if not objs:
        return None
    model = type(objs[0])
    if any(type(obj) is not model for obj in objs):
        raise TypeError("insert_rows: the instances must be of one model")
    if len(objs) > MAX_PREPARED_BATCH:
        model._default_manager.bulk_create(objs)
        return None
    key = (connection.vendor, model, len(objs))
    plan = _inserts.get(key)
    if plan is None:
        plan = _insert_plan(model, objs)
        if plan is None:  # a field with a placeholder of its own, or no multi-row INSERT
            model._default_manager.bulk_create(objs)
            return None
        _inserts[key] = plan
    sql, fields, returning = plan
    params = _insert_values(objs, fields, "insert_row")

    def inserted(cursor: Any) -> None:
        if returning:
            for obj, row in zip(objs, cursor.fetchall(), strict=True):
                for field, value in zip(returning, row, strict=True):
                    setattr(obj, field.attname, value)
        elif len(objs) == 1:
            meta = model._meta
            objs[0].pk = connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column)
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias

    return sql, params, inserted


def _run(statement: Statement) -> Any:
    sql, params, read = statement
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, params)
        if read is not None:
            read(cursor)
        return cursor.rowcount


# --- changed rows ---------------------------------------------------------------------------------
# An UPDATE of some fields of the rows matching a few equality conditions, as QuerySet.update runs
# it, its SQL built once per process, vendor, model, set of fields and set of conditions: the
# queryset's clone, filter and update compiler cost ~0.2 ms of CPU, more than the statement, on
# the hot writes of a task's life (its start, and the end of its run in the worker).
_updates: dict[tuple[str, type, tuple[str, ...], tuple[str, ...]], tuple[str, list[Field], list[Field]]] = {}


def _column(model: type[Model], name: str) -> Field:
    """The concrete field `name` (`pk`: the primary key) of `model`; ValueError for anything else."""
    meta = model._meta
    field = meta.pk if name == "pk" else meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete or field.many_to_many:
        raise ValueError(f"update_rows: {name} is not a column of {meta.label}")
    return field


def update_rows(model: type[Model], where: dict[str, Any], values: dict[str, Any]) -> int:
    """`model.objects.filter(**where).update(**values)` for plain values and equality conditions on
    concrete fields (`pk` names the primary key); returns the number of rows changed.

    Values and conditions are prepared by their fields on every call (get_db_prep_save and
    get_db_prep_value, as the update compiler and the lookups do); only the statement is built
    once. As QuerySet.update, it sends no signal and applies no auto_now."""
    return int(_run(_update_statement(model, where, values)))


def update_statement(model: type[Model], where: dict[str, Any], values: dict[str, Any]) -> tuple[str, list[Any]]:
    """The SQL and parameters update_rows would run, for a caller that sends it with other writes
    (a run_ending receiver's answer)."""
    sql, params, _ = _update_statement(model, where, values)
    return sql, params


def _update_statement(model: type[Model], where: dict[str, Any], values: dict[str, Any]) -> Statement:
    if not values or not where:
        raise ValueError("update_rows needs values to set and conditions to match")
    key = (connection.vendor, model, tuple(values), tuple(where))
    plan = _updates.get(key)
    if plan is None:
        set_fields = [_column(model, name) for name in values]
        where_fields = [_column(model, name) for name in where]
        quote = connection.ops.quote_name
        sql = (f"UPDATE {quote(model._meta.db_table)} SET {', '.join(f'{quote(f.column)} = %s' for f in set_fields)} "
               f"WHERE {' AND '.join(f'{quote(f.column)} = %s' for f in where_fields)}")
        plan = _updates[key] = (sql, set_fields, where_fields)
    sql, set_fields, where_fields = plan
    params = []
    for field, value in zip(set_fields, values.values(), strict=True):
        if hasattr(value, "resolve_expression"):
            raise TypeError(f"update_rows: {field.name} is an expression; use QuerySet.update")
        params.append(field.get_db_prep_save(value, connection))
    for field, value in zip(where_fields, where.values(), strict=True):
        if value is None or hasattr(value, "resolve_expression"):
            raise TypeError(f"update_rows: the condition on {field.name} must be a plain value")
        params.append(field.get_db_prep_value(value, connection, prepared=False))
    return sql, params, None


# --- keys taken before the INSERT -----------------------------------------------------------------
_sequences: dict[tuple[str, type], str] = {}
_keyed_inserts: dict[tuple[str, type], tuple[str, list[Field]]] = {}


def next_key(model: type[Model]) -> int:
    """A primary key for a new row of `model`, taken from its sequence now (PostgreSQL), for a caller
    that names the row before it is written: other rows sent in the same query point at it
    (Writes.insert_keyed). A key taken and never used leaves a gap, as a rolled-back INSERT does."""
    (key,) = next_keys(model, 1)
    return key


def next_keys(model: type[Model], count: int) -> list[int]:
    """`count` keys of next_key's, in one round trip (a scheduler's batch of firings)."""
    if connection.vendor != "postgresql":
        raise NotImplementedError("next_key takes PostgreSQL's sequence of the key")
    if count < 1:
        return []
    sequence = _sequences.get((connection.alias, model))
    with connection.cursor() as cursor:
        if sequence is None:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)",
                           [connection.ops.quote_name(model._meta.db_table), model._meta.pk.column])
            (sequence,) = cursor.fetchone()
            if sequence is None:
                raise ValueError(f"next_key: {model._meta.label}'s key has no sequence")
            _sequences[(connection.alias, model)] = sequence
        if count == 1:
            execute_prepared(cursor, "SELECT nextval(%s::regclass)", [sequence])
        else:
            execute_prepared(cursor, "SELECT nextval(%s::regclass) FROM generate_series(1, %s::int)", [sequence, count])
        return [int(value) for (value,) in cursor.fetchall()]


# --- writes sent together -------------------------------------------------------------------------
# The function (migration pipeline_engine 0004) that fails a statement with this SQLSTATE when an
# update_if_unchanged changed no row: its error rolls back every statement of the query it is in.
EXPECT_ONE_ROW = "sops_expect_one_row"
ROW_CHANGED_SQLSTATE = "SP409"

class Writes:
    """update_rows and insert_rows of one transaction, sent to PostgreSQL in one round trip
    (`send`); or, outside any transaction, as one query that is its own (`send_as_one`).

    A round trip to the database costs a system call and a wake-up on each side, about as much as
    a small statement itself (an UPDATE by key), and a task's start ends with two writes whose
    results nobody reads: the task's UPDATE and its audit row. psycopg2 puts the parameters
    into the text itself, so several statements go as one query; its result is the last
    statement's, so a statement whose result is read (an INSERT that returns keys) ends a group.
    Other backends (SQLite, in process) run the statements one by one. Row counts are not given.

        writes = Writes()
        writes.update_rows(TaskInstance, {"pk": task.pk}, fields)
        writes.insert_rows(operations)
        writes.send()
    """

    def __init__(self) -> None:
        self._pending: list[Statement] = []
        self._after: list[Callable[[], None]] = []

    def update_rows(self, model: type[Model], where: dict[str, Any], values: dict[str, Any]) -> None:
        self._pending.append(_update_statement(model, where, values))

    def update_if_unchanged(self, model: type[Model], pk: Any, version: str, values: dict[str, Any]) -> None:
        """UPDATE the row `pk` of `model` only if it is still the version compiled_first_versioned
        read; otherwise the statement fails (SQLSTATE ROW_CHANGED_SQLSTATE), and with it everything
        send_as_one sends, which then answers False (PostgreSQL only)."""
        sql, params, _ = _update_statement(model, {"pk": pk}, values)
        table = connection.ops.quote_name(model._meta.db_table)
        self._pending.append((
            f"WITH changed AS ({sql} AND {table}.xmin = %s::xid RETURNING 1) "
            f"SELECT {EXPECT_ONE_ROW}((SELECT count(*) FROM changed)::int)",
            [*params, version], None))

    def insert_keyed(self, obj: Model) -> None:
        """The INSERT of a new instance whose primary key is set already (next_key), the key
        included; nothing is read back."""
        if obj.pk is None:
            raise ValueError("insert_keyed: the instance has no primary key yet (next_key gives one)")
        model = type(obj)
        key = (connection.vendor, model)
        plan = _keyed_inserts.get(key)
        if plan is None:
            fields = [f for f in model._meta.local_concrete_fields if not f.generated]
            query = InsertQuery(model)
            query.insert_values(fields, [obj])
            ((sql, _params),) = query.get_compiler(connection=connection).as_sql()
            plan = _keyed_inserts[key] = (sql, fields)
        sql, fields = plan
        self._pending.append((sql, _insert_values([obj], fields, "insert_keyed"), None))
        obj._state.adding, obj._state.db = False, connection.alias

    def join(self, other: Writes) -> None:
        """Take `other`'s writes and after-commit callbacks, in order, after this one's: a caller
        builds one item's writes apart, then joins them to its batch only once the item is whole."""
        self._pending += other._pending
        self._after += other._after
        other._pending, other._after = [], []

    def add(self, sql: str, params: list[Any]) -> None:
        """A statement of the caller's own, whose result nobody reads."""
        self._pending.append((sql, params, None))

    def after(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the writes are committed: after the caller's transaction's commit
        (transaction.on_commit), or at once when send_as_one sent them outside one."""
        self._after.append(callback)

    def insert_rows(self, objs: Sequence[Model], *, read_keys: bool = True) -> None:
        """INSERT new instances, setting their keys when sent. `read_keys=False` for rows nobody
        reads back by key (audit and history rows): their INSERT then ends no group of `send`, so
        a batch of many items' writes stays one round trip; their keys stay unset."""
        # Past the prepared sizes the rows go by bulk_create at once: what was queued goes first.
        if len(objs) > MAX_PREPARED_BATCH:
            self.send()
        statement = _insert_statement(objs)
        if statement is not None:
            self._pending.append(statement if read_keys else (statement[0], statement[1], None))

    def take_unread(self) -> list[tuple[str, list[Any]]]:
        """Hand the writes to a caller that sends them with statements of its own, in its query
        (a step's save: `step(along=...)`), in the transaction this is called in; their
        after-commit callbacks are registered now. ValueError when one of them reads its result
        (an INSERT that sets keys): among the caller's statements, that result is not the query's."""
        if any(read is not None for _, _, read in self._pending):
            raise ValueError("take_unread: a write whose result is read must be sent on its own")
        pending, self._pending = self._pending, []
        self._committed()
        return [(sql, params) for sql, params, _ in pending]

    def send(self) -> None:
        pending, self._pending = self._pending, []
        if connection.vendor != "postgresql":
            for statement in pending:
                _run(statement)
        else:
            group: list[Statement] = []
            for statement in pending:
                group.append(statement)
                if statement[2] is not None:
                    _run_group(group)
                    group = []
            if group:
                _run_group(group)
        self._committed()

    def send_as_one(self) -> bool:
        """Send every write as one query outside any transaction, for a caller that wants their
        atomicity without BEGIN and COMMIT round trips: PostgreSQL runs the statements of one
        query as one implicit transaction, committed when the last one succeeds. False, and
        nothing written, when an update_if_unchanged found its row changed.

        Only the last statement's result can be read (psycopg2 gives no other). PostgreSQL only,
        and not inside a transaction, where the caller's own BEGIN makes this pointless."""
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            raise RuntimeError("send_as_one: PostgreSQL outside any transaction only")
        pending, self._pending = self._pending, []
        if any(read is not None for _, _, read in pending[:-1]):
            raise ValueError("send_as_one: only the last statement's result can be read")
        if pending:
            try:
                _run_group(pending)
            except DatabaseError as exc:
                if getattr(exc.__cause__, "pgcode", None) == ROW_CHANGED_SQLSTATE:
                    self._after.clear()
                    return False
                raise
        self._committed()
        return True

    def _committed(self) -> None:
        after, self._after = self._after, []
        for callback in after:
            transaction.on_commit(callback)


def _run_group(group: list[Statement]) -> None:
    with connection.cursor() as cursor:
        execute_prepared_many(cursor, [(sql, params) for sql, params, _ in group])
        read = group[-1][2]
        if read is not None:
            read(cursor)
