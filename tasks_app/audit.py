"""The audit log of tasks: one TaskOperation row per operation on a task or one of its nodes.

`record` is called by the task services inside the operation's transaction (never on its own),
so the log holds exactly the operations that took effect (selectors.task_operations reads it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sops_common import prepared
from sops_common.errors import InvalidInput

from .models import OperateSource, TaskInstance, TaskOperation

if TYPE_CHECKING:
    from sops_common.prepared import Writes


# Django builds a choices class's `values` list anew on every access.
_SOURCES = frozenset(OperateSource.values)


def check_source(source: str) -> str:
    """`source` if it names a door (OperateSource); a programming error otherwise, caught early."""
    if source not in _SOURCES:
        raise InvalidInput(f"operate source must be one of {', '.join(OperateSource.values)}")
    return source


def operation(*, task: TaskInstance, operate_type: str, operator: str, source: str, node_id: str = "",
              extra_info: dict[str, Any] | None = None) -> TaskOperation:
    """The audit row of one operation, not written: for a caller that writes it with the task's own
    INSERT (create_task). `record` writes one."""
    return TaskOperation(
        task_id=task.pk, operate_type=operate_type, operator=operator or "", operate_source=check_source(source),
        node_id=node_id or "", extra_info={k: v for k, v in (extra_info or {}).items() if v is not None})


def record(*, task: TaskInstance, operate_type: str, operator: str, source: str, node_id: str = "",
           extra_info: dict[str, Any] | None = None, into: list[TaskOperation] | None = None,
           writes: Writes | None = None) -> TaskOperation:
    """Write one audit row in the caller's transaction; with `into`, add it to a batch the caller
    writes later with `record_all`, still in its transaction (two operations, one INSERT); with
    `writes`, join those writes, which the caller sends with its own (one round trip); the row's
    key is then not read back (nobody reads an audit row by its key)."""
    row = operation(task=task, operate_type=operate_type, operator=operator, source=source, node_id=node_id,
                    extra_info=extra_info)
    if into is not None:
        into.append(row)
    elif writes is not None:
        writes.insert_rows([row], read_keys=False)
    else:
        prepared.insert_row(row)
    return row


def record_all(operations: list[TaskOperation], writes: Writes | None = None) -> None:
    """Write a batch `record(into=...)` collected, in order, in one INSERT (none when empty);
    with `writes`, the INSERT joins those writes, sent by the caller with its own."""
    if writes is None:
        prepared.insert_rows(operations)
    else:
        writes.insert_rows(operations, read_keys=False)
