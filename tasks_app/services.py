"""Writes on tasks. Each public function is one transaction: a refused request leaves nothing behind.

The engine is reached only through `pipeline_engine.api`; its writes join our
transaction and its messages go out on commit, so "mark started" and "run" can
never disagree.
"""
from __future__ import annotations

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from access_app.models import Business
from sops_common.errors import InvalidInput, InvalidOperation, NotFound
from sops_common.limits import parse_id
from sops_common.prepared import (
    compiled_first,
    compiled_first_versioned,
    insert_row,
    insert_with_children,
    next_key,
    update_rows,
    update_statement,
    writes,
)
from templates_app.models import Template, TemplateSource
from templates_app.subprocesses import check_expansion, template_label, unfold_subprocesses

from . import audit, callbacks, selection, selectors
from .models import (
    FINAL_RUN_STATES,
    TASK_NAME_MAX_LENGTH,
    CreateMethod,
    CurrentFlow,
    FlowType,
    OperateSource,
    OperateType,
    TaskInstance,
    TaskOperation,
)

if TYPE_CHECKING:
    from sops_common.prepared import Writes

TASK_ACTIONS = ("start", "pause", "resume", "revoke")


def _engine():
    # Imported late: the apps must import without the engine's Django models being ready.
    from pipeline_engine import api

    return api


def _trees():
    # The engine's pure tree editing; not faked by the tests that fake runs (see _engine).
    from pipeline_engine import api

    return api


# --- validation helpers ------------------------------------------------------------------------------

def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not (1 <= len(name.strip()) and len(name) <= TASK_NAME_MAX_LENGTH):
        raise InvalidInput(f"task params is invalid: name must be a string of 1 to {TASK_NAME_MAX_LENGTH} characters")
    return name


def validate_callback_url(url: Any) -> str:
    """An http(s) URL the egress policy opens: the server must not be turned into a way into its own
    network. The same policy is applied again at every delivery attempt."""
    if url in (None, ""):
        return ""
    if not isinstance(url, str) or len(url) > 1024:
        raise InvalidInput("callback_url must be an http(s) URL of at most 1024 characters")
    from pipeline_engine import api  # the real policy, also where tests fake the engine's runs

    try:
        api.egress_policy().check_url(url, label="callback_url")
    except api.EgressRefused as exc:
        raise InvalidInput(str(exc)) from exc
    return url


# --- create ------------------------------------------------------------------------------------------

def _existing_request(business: Business, app_code: str, request_id: str) -> TaskInstance | None:
    return TaskInstance.objects.filter(business=business, create_info=app_code, request_id=request_id).first()


def build_task_tree(*, business: Business, source_tree: dict, exclude_task_nodes_id: list[str] | None,
                    constants: dict | None, label: str = "pipeline_tree") -> dict:
    """Prepare, unfold, regenerate ids and validate: the tree a task will run.

    The expansion budget is checked first on the tree as it is (nothing below may recurse
    through a too-deep tree), then while unfolding; its error names `label`.
    """
    if not isinstance(source_tree, dict):
        raise InvalidInput("pipeline_tree must be a JSON object")
    if exclude_task_nodes_id is not None and (
            not isinstance(exclude_task_nodes_id, list) or not all(isinstance(i, str) for i in exclude_task_nodes_id)):
        raise InvalidInput("task params is invalid: exclude_task_nodes_id must be a list of node ids")
    from pipeline_engine.errors import TreeInvalid

    check_expansion(source_tree, label=label)
    try:
        tree = _trees().prepare_task_tree(source_tree, exclude_task_nodes_id=exclude_task_nodes_id,
                                          constants=constants)
        unfold_subprocesses(tree, business, label=label)
        tree = _trees().regenerate_ids(tree)
        _engine().validate_pipeline(tree)
    except TreeInvalid as exc:
        raise InvalidInput(exc.message) from exc
    return tree


# Django builds a choices class's `values` list anew on every access.
_FLOW_TYPES, _CREATE_METHODS = frozenset(FlowType.values), frozenset(CreateMethod.values)


def _new_task(*, audit_into: list[TaskOperation] | None = None, **create: Any) -> TaskInstance:
    """Create a task from a template (or from a given tree, e.g. a periodic snapshot): _unsaved_task,
    then its INSERT with its create audit row (`audit_into`: the row is left to the caller).

    With `request_id`, the same app + business + request_id always answers the same
    task: a retried request never creates a second one, even when two race.
    """
    task, new = _unsaved_task(**create)
    if not new:
        return task
    business, creator, request_id = task.business, task.creator, task.request_id
    source = CREATE_SOURCES.get(task.create_method, OperateSource.APP)
    try:
        # Only a request_id can collide (its unique index): only then is a savepoint needed to carry
        # on in a caller's transaction. Outside one, the task and its audit row are one statement.
        outside = not transaction.get_connection().in_atomic_block
        with nullcontext() if outside else transaction.atomic(savepoint=request_id is not None):
            if audit_into is None:
                created = audit.operation(task=task, operate_type=OperateType.CREATE, operator=creator,
                                          source=source)
                insert_with_children(task, [created], "task")
            else:
                insert_row(task)
    except IntegrityError:
        # Lost a race on the request_id unique index: the winner's task is the answer.
        if request_id is not None:
            existing = _existing_request(business, task.create_info, request_id)
            if existing is not None:
                return existing
        raise
    if audit_into is not None:
        audit.record(task=task, operate_type=OperateType.CREATE, operator=creator, source=source, into=audit_into)
    return task


def _unsaved_task(*, business: Business, template: Template | None, name: str, creator: str, app_code: str = "",
                  constants: dict | None = None, exclude_task_nodes_id: list[str] | None = None,
                  flow_type: str = FlowType.COMMON, create_method: str = CreateMethod.API, description: str = "",
                  pipeline_tree: dict | None = None, callback_url: str | None = None,
                  request_id: str | None = None, periodic_task_id: int | None = None,
                  execute_task_nodes_id: list[str] | None = None, template_schemes_id: Any = None,
                  simplify_vars: list[str] | None = None,
                  callback_version: str = "") -> tuple[TaskInstance, bool]:
    """The task to create, checked and with its tree built, not written: (task, True); or (the
    task a request_id names already, False).

    The template's nodes to run are chosen by exclude_task_nodes_id, execute_task_nodes_id or
    template_schemes_id (selection.py); simplify_vars turns custom variables into text ones.
    """
    name = validate_name(name)
    if flow_type not in _FLOW_TYPES:
        raise InvalidInput(f"task params is invalid: flow_type must be one of {', '.join(FlowType.values)}")
    if create_method not in _CREATE_METHODS:
        raise InvalidInput(f"create_method must be one of {', '.join(CreateMethod.values)}")
    if create_method == CreateMethod.API and not app_code:
        raise InvalidInput("app_code cannot be empty, make sure api gateway has sent correct params")
    callback_url = validate_callback_url(callback_url)
    if callback_version not in callbacks.CALLBACK_VERSIONS:
        raise InvalidInput('callback_version must be "v2" or absent')
    if request_id is not None:
        if not isinstance(request_id, str) or not (1 <= len(request_id) <= 128):
            raise InvalidInput("request_id must be a string of 1 to 128 characters")
        existing = _existing_request(business, app_code, request_id)
        if existing is not None:
            return existing, False
    if pipeline_tree is not None:
        if template_schemes_id not in (None, []):
            raise InvalidInput("template_schemes_id can not be used with pipeline_tree")
        source_tree = pipeline_tree
    elif template is not None:
        source_tree = selection.simplify_vars(template.pipeline_tree, simplify_vars)
        exclude_task_nodes_id = selection.excluded_nodes(
            template=template, tree=source_tree, exclude_task_nodes_id=exclude_task_nodes_id,
            execute_task_nodes_id=execute_task_nodes_id, template_schemes_id=template_schemes_id)
    else:
        raise InvalidInput("a task needs a template or a pipeline_tree")
    label = template_label(template) if template is not None and pipeline_tree is None else (
        f"periodic task[id={periodic_task_id}]" if periodic_task_id is not None else "pipeline_tree")
    tree = build_task_tree(business=business, source_tree=source_tree,
                           exclude_task_nodes_id=exclude_task_nodes_id, constants=constants, label=label)

    create_info = app_code if create_method == CreateMethod.API else (
        str(periodic_task_id) if periodic_task_id is not None else app_code)
    fields = dict(
        business=business, template=template,
        template_source=template.source if template else TemplateSource.BUSINESS,
        template_version=(template.version if template else "") or "",
        category=template.category if template else "Other",
        name=name, description=description or "", creator=creator,
        create_method=create_method,
        create_info=create_info,
        flow_type=flow_type,
        current_flow=CurrentFlow.FUNC_CLAIM if flow_type == FlowType.COMMON_FUNC else CurrentFlow.EXECUTE_TASK,
        pipeline_tree=tree, callback_url=callback_url, callback_version=callback_version if callback_url else "",
        request_id=request_id,
        periodic_task_id=periodic_task_id,
    )
    return TaskInstance(**fields), True


def create_task(**create: Any) -> TaskInstance:
    """Create a task (_new_task's parameters) in one transaction. Its only write is the task's INSERT
    with its audit row's: on PostgreSQL one statement, atomic on its own, so no BEGIN and COMMIT
    are sent around it (two round trips); elsewhere the two INSERTs' own transaction.

    create_and_start_task calls _new_task inside its own transaction, where a savepoint of its
    own would only cost two more round trips (a failure rolls the caller's transaction back anyway)."""
    return _new_task(**create)


# Who creates a task with each create_method, for the audit log (app_maker and mobile are pages too).
CREATE_SOURCES: dict[str, str] = {CreateMethod.API: OperateSource.API, CreateMethod.PERIODIC: OperateSource.PERIODIC,
                  CreateMethod.CLOCKED: OperateSource.CLOCKED}


# --- start and operate -------------------------------------------------------------------------------

def _locked(task: TaskInstance) -> TaskInstance:
    """Re-read the task under a row lock so two starts (or start and claim) serialise.

    The SQL is compiled once per process (sops_common.prepared: the ORM's compile cost
    more than the statement); the business is the one the caller's task row named."""
    found = _lock_row(task.pk)
    if found is None:
        raise TaskInstance.DoesNotExist(f"task[id={task.pk}] does not exist")
    if found.business_id == task.business_id:
        found.business = task.business
    return found


def _lock_row(pk: int) -> TaskInstance | None:
    return compiled_first("tasks_app._locked", lambda pk: TaskInstance.objects.select_for_update().filter(pk=pk),
                          pk=pk)


def create_and_start_task(*, executor: str, source: str, **create: Any) -> TaskInstance:
    """create_task, then start the task, atomically (the create_and_start_task endpoint).

    On PostgreSQL, outside a caller's transaction, it is one query with no transaction around it
    when create_and_start_into can build it: the task's key is taken from its sequence first, the
    run's first step walked with it, and the task (inserted started, or ended already), the run's
    rows and the create and start audit rows go together, which PostgreSQL runs as one implicit
    transaction (no row of the task exists before, so none can change: nothing to guard). That
    is three round trips with the template's read, where BEGIN, the task's INSERT, the run's, the
    task's UPDATE and COMMIT were five more. Otherwise both happen in one transaction."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        together = writes()
        task = create_and_start_into(together, executor=executor, source=source, **create)
        if task is not None:
            together.send_as_one()
            return task
    with transaction.atomic():
        return create_and_start_in_savepoint(executor=executor, source=source, **create)


def create_and_start_into(together: Writes, *, key: int | None = None, executor: str, source: str,
                          **create: Any) -> TaskInstance | None:
    """create_and_start_task's writes, added to `together` for the caller to send (PostgreSQL): the
    task, inserted under `key` (next_key's, taken here when None) already started or ended, its
    run's rows, and its create and start audit rows. The caller sends them as one query
    (create_and_start_task) or with a batch of others in its transaction (the scheduler's
    firings).

    None, with nothing added, when they cannot be built this way: a request_id (a replay answers
    an earlier task), a callback_url (an end reached at once queues its callback), or a first
    step whose writes cannot join them (history rows). Raises as create_task does, with nothing added."""
    if create.get("request_id") is not None or create.get("callback_url"):
        return None
    task, _ = _unsaved_task(**create)
    _check_startable(task)
    task.pk = next_key(TaskInstance) if key is None else key
    mine = writes()
    fields = _walked_into(mine, task, executor)
    if fields is None:
        return None
    for name, value in fields.items():
        setattr(task, name, value)
    mine.insert_keyed(task)
    operations: list[TaskOperation] = []
    audit.record(task=task, operate_type=OperateType.CREATE, operator=task.creator,
                 source=CREATE_SOURCES.get(task.create_method, OperateSource.APP), into=operations)
    audit.record(task=task, operate_type=OperateType.START, operator=executor, source=source, into=operations)
    audit.record_all(operations, mine)
    together.join(mine)
    return task


def create_and_start_in_savepoint(*, executor: str, source: str, **create: Any) -> TaskInstance:
    """create_and_start_task for a caller that holds a savepoint of its own around it and rolls it
    back when this raises (the schedulers' firings): no savepoint here, two round trips fewer.

    The row this call inserted is invisible to every other transaction until the commit, so it
    is started as it is, without a locked re-read; the create and start audit rows are written
    together. A request_id replay answers the task of the first call: started already, it is
    left as it is; not yet, it is started under its lock as any other start."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("create_and_start_in_savepoint needs its caller's transaction and savepoint")
    operations: list[TaskOperation] = []
    task = _new_task(**create, audit_into=operations)
    if create.get("request_id") is None:
        _start_locked(task, executor, source, audit_first=operations)
        return task
    audit.record_all(operations)
    if not task.is_started:
        start_task(task=task, executor=executor, source=source)
    return task


@transaction.atomic
def start_task(*, task: TaskInstance, executor: str, source: str) -> None:
    """Mark started and hand the tree to the engine, in one transaction. `source` (OperateSource)
    says through which door, for the audit log, as in every service below that operates."""
    task = _locked(task)
    if task.is_deleted:
        raise NotFound(f"task[id={task.pk}] does not exist")
    _start_locked(task, executor, source)


def start_task_in(*, business: Business, task_id: Any, executor: str, source: str) -> None:
    """start_task for a caller that has the task's id, not its row (the start_task endpoint).

    On PostgreSQL, outside a caller's transaction, the start takes no lock and no transaction:
    the task is read with its row version, the first step walked, and the run's rows, the
    task's UPDATE (only if the row is still the version read) and the audit row go as one
    query, which PostgreSQL runs as one implicit transaction: two round trips, where BEGIN,
    the locked read, the run's INSERT, the task's UPDATE and COMMIT were five. A row changed
    in between (another start, a claim, an edit of its constants) writes nothing, and the
    start is done again under the lock, which answers as it always did. Inline nodes, the
    only ones walked before the write, promise pure calls, so a walk thrown away costs
    nothing but its time."""
    pk = parse_id(task_id, "task_id")
    connection = transaction.get_connection()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        read = compiled_first_versioned("tasks_app.start_read", lambda pk: TaskInstance.objects.filter(pk=pk),
                                        pk=pk)
        if read is None or read[0].business_id != business.pk or read[0].is_deleted:
            raise selectors.task_missing(business, pk)
        task, version = read
        task.business = business
        if _start_unlocked(task, version, executor, source):
            return
    _start_in_locked(business, pk, executor, source)


@transaction.atomic
def _start_in_locked(business: Business, pk: int, executor: str, source: str) -> None:
    # The locked read is the only read, where a lookup first would read the row twice.
    task = _lock_row(pk)
    if task is None or task.business_id != business.pk or task.is_deleted:
        raise selectors.task_missing(business, pk)
    task.business = business
    _start_locked(task, executor, source)


def _check_startable(task: TaskInstance) -> None:
    if task.current_flow != CurrentFlow.EXECUTE_TASK:
        raise InvalidOperation(f"task with current_flow:{task.current_flow} cannot be started")
    if task.is_started:
        # The newest original's message; the older "pipeline instance already started." is not used.
        raise InvalidOperation("task already started")


def _start_fields(started: Any, now: Any, executor: str) -> dict[str, Any]:
    """The task's fields once its run started as `started` (an end included)."""
    return {"is_started": True, "start_time": now, "executor": executor, "run_id": started.run_id,
            **_end_fields(started.state, started.finished_at)}


def _walked_into(together: Writes, task: TaskInstance, executor: str) -> dict[str, Any] | None:
    """Start the task's run into `together` under a new run id: the task's start fields, or None
    when the engine declined (its first step is more than one statement), nothing added."""
    now = timezone.now()
    started = _engine().start_pipeline_into(
        together, task.pipeline_tree, run_id=uuid.uuid4().hex, time_zone=task.business.time_zone or "UTC",
        executor=executor, meta={"task_id": task.pk})
    return None if started is None else _start_fields(started, now, executor)


def _start_unlocked(task: TaskInstance, version: str, executor: str, source: str) -> bool:
    """start_task_in's start without a lock (see there): False, with nothing written, when it
    must be done under the lock instead."""
    _check_startable(task)
    if task.callback_url or task.run_id:
        # An end reached at once queues its callback with the start, in the locked transaction; a
        # run id given beforehand may be taken, which the locked start answers (InvalidOperation).
        return False
    together = writes()
    fields = _walked_into(together, task, executor)
    if fields is None:
        return False
    together.update_if_unchanged(TaskInstance, task.pk, version, fields)
    for name, value in fields.items():
        setattr(task, name, value)
    operations: list[TaskOperation] = []
    audit.record(task=task, operate_type=OperateType.START, operator=executor, source=source, into=operations)
    audit.record_all(operations, together)
    return together.send_as_one()


def _start_locked(task: TaskInstance, executor: str, source: str,
                  audit_first: list[TaskOperation] | None = None) -> None:
    """Start a task read under its row lock.

    An end the engine's first step already reaches (a chain of inline nodes) is recorded
    here, in the same UPDATE and transaction as the start, instead of by the run_finished
    receiver in a second transaction after the commit (start_pipeline does not send it).
    The task's UPDATE and its audit rows (`audit_first`, the caller's not yet written, then
    the start's) go to the database together, in one round trip."""
    _check_startable(task)
    now = timezone.now()
    started = _engine().start_pipeline(
        task.pipeline_tree, run_id=task.run_id or uuid.uuid4().hex, time_zone=task.business.time_zone or "UTC",
        executor=executor, meta={"task_id": task.pk},
    )
    fields = _start_fields(started, now, executor)
    for name, value in fields.items():
        setattr(task, name, value)
    operations = audit_first if audit_first is not None else []
    audit.record(task=task, operate_type=OperateType.START, operator=executor, source=source, into=operations)
    together = writes()
    together.update_rows(TaskInstance, {"pk": task.pk}, fields)
    audit.record_all(operations, together)
    together.send()
    if started.state in FINAL_RUN_STATES and task.callback_url:
        callbacks.queue_callback(task, started.state)


def _end_fields(state: str, finished_at: Any) -> dict[str, Any]:
    """The task's fields for a run's end (none while it runs or waits after a failure)."""
    if state not in FINAL_RUN_STATES:
        return {}
    return {"is_finished": True, "is_revoked": state == "REVOKED", "finish_time": finished_at or timezone.now()}


def _callback(task: TaskInstance, node_id: str, data: Any, version: str | None, together: Writes) -> None:
    """Deliver a callback in the caller's transaction. `together` (the caller's audit row) goes with
    the step's writes, in one round trip; an end the step reaches is recorded on the task in that
    same query (the run_ending receiver's statement), or, for a task with a callback_url, by
    run_finished's record_run_end once this commits, as a worker's step records it."""
    stepped = _engine().callback_along(task.run_id, node_id, data, version=version, along=together)
    for name, value in _end_fields(stepped.state, stepped.finished_at).items():
        setattr(task, name, value)


@transaction.atomic
def operate_task(*, task: TaskInstance, action: str, username: str, source: str) -> None:
    if action not in TASK_ACTIONS:
        raise InvalidInput("task action is invalid")
    if action == "start":
        start_task(task=task, executor=username, source=source)
        return
    task = _locked(task)
    if not task.is_started or not task.run_id:
        raise InvalidOperation("task not started")
    engine = _engine()
    {"pause": engine.pause_pipeline, "resume": engine.resume_pipeline, "revoke": engine.revoke_pipeline}[action](
        task.run_id)
    audit.record(task=task, operate_type=action, operator=username, source=source)


NODE_ACTIONS = ("retry", "skip", "skip_exg", "callback", "pause_subproc", "resume_subproc", "forced_fail")


@transaction.atomic
def operate_node(*, task: TaskInstance, node_id: str, action: str, username: str, source: str,
                 inputs: dict | None = None, data: Any = None, flow_id: str | None = None) -> None:
    if action not in NODE_ACTIONS:
        raise InvalidInput(f"node action[{action}] is invalid, use one of {', '.join(NODE_ACTIONS)}")
    if not task.is_started or not task.run_id:
        raise InvalidOperation("task not started")
    if not node_id or _trees().find_node(task.pipeline_tree, node_id)[0] is None:
        raise NotFound(f"task[{task.pk}] does not have node[{node_id}]")
    engine, run_id = _engine(), task.run_id
    together = writes()
    audit.record(task=task, operate_type=action, operator=username, source=source, node_id=node_id,
                 extra_info={"inputs": inputs, "data": data, "flow_id": flow_id}, writes=together)
    if action == "retry":
        engine.retry_node(run_id, node_id, inputs=inputs)
    elif action == "skip":
        engine.skip_node(run_id, node_id)
    elif action == "skip_exg":
        if not flow_id:
            raise InvalidInput("flow_id is required for skip_exg")
        engine.skip_exclusive_gateway(run_id, node_id, flow_id)
    elif action == "callback":
        _callback(task, node_id, data, None, together)  # sends the audit row recorded above
    elif action == "pause_subproc":
        engine.pause_subprocess(run_id, node_id)
    elif action == "resume_subproc":
        engine.resume_subprocess(run_id, node_id)
    elif action == "forced_fail":
        engine.forced_fail(run_id, node_id, ex_data=f"The node has been terminated by {username}.")
    together.send()


@transaction.atomic
def node_callback(*, task: TaskInstance, node_id: str, data: Any, username: str, source: str,
                  version: str | None = None) -> None:
    if not node_id or _trees().find_node(task.pipeline_tree, node_id)[0] is None:
        raise NotFound(f"task[{task.pk}] does not have node[{node_id}]")
    if not task.is_started or not task.run_id:
        raise InvalidOperation("task not started")
    if task.is_finished:
        raise InvalidOperation("invalid operation, this node is finished or pipeline have been revoked")
    together = writes()
    audit.record(task=task, operate_type=OperateType.CALLBACK, operator=username, source=source, node_id=node_id,
                 extra_info={"data": data, "version": version or None}, writes=together)
    _callback(task, node_id, data, version or None, together)


@transaction.atomic
def claim_functionalization_task(*, task: TaskInstance, username: str, source: str, constants: dict | None = None,
                                 name: str | None = None) -> TaskInstance:
    task = _locked(task)
    if task.flow_type != FlowType.COMMON_FUNC:
        raise InvalidOperation("task is not functional")
    if task.current_flow != CurrentFlow.FUNC_CLAIM:
        raise InvalidOperation(f"task with current_flow:{task.current_flow} cannot be claimed")
    from pipeline_engine.errors import TreeInvalid

    fields = ["current_flow", "claimer"]
    try:
        _trees().merge_constants(task.pipeline_tree, constants)
    except TreeInvalid as exc:
        raise InvalidInput(exc.message) from exc
    if constants:
        fields.append("pipeline_tree")
    if name is not None:
        task.name = validate_name(name)
        fields.append("name")
    task.current_flow = CurrentFlow.EXECUTE_TASK
    task.claimer = username
    task.save(update_fields=fields)
    audit.record(task=task, operate_type=OperateType.CLAIM, operator=username, source=source,
                 extra_info={"constants": constants or None, "name": name})
    return task


@transaction.atomic
def modify_task_constants(*, task: TaskInstance, constants: Any, username: str, source: str) -> dict[str, Any]:
    """Give new values to the global variables of a task that has not started; the values written.

    Keys the task does not define are ignored, as the original does; component outputs and hidden
    variables (show_type other than "show") are refused, since their values are not the caller's
    to set. Values are written as given (no type coercion, as the original).
    """
    task = _locked(task)
    if task.is_started:
        raise InvalidInput("task is started")
    if task.is_finished:
        raise InvalidInput("task is finished")
    if not isinstance(constants, dict):
        raise InvalidInput("constants must be an object")
    defined = task.pipeline_tree.get("constants") or {}
    known = {key: value for key, value in constants.items() if isinstance(defined.get(key), dict)}
    outputs = sorted(k for k in known if defined[k].get("source_type") == "component_outputs")
    hidden = sorted(k for k in known if k not in outputs and defined[k].get("show_type", "show") != "show")
    if outputs or hidden:
        raise InvalidInput(f"task constants cannot be modified: component outputs {outputs} and hidden "
                           f"variables {hidden} have values the task sets itself")
    for key, value in known.items():
        defined[key]["value"] = value
    if known:
        task.save(update_fields=["pipeline_tree"])
    audit.record(task=task, operate_type=OperateType.UPDATE, operator=username, source=source,
                 extra_info={"constants": known})
    return known


# --- run end ------------------------------------------------------------------------------------------


def _relaxed_commit() -> None:
    """Let the current (outermost) transaction commit without waiting for the WAL flush.

    Only for writes that are repaired if a database crash loses them: the end of a run is
    recorded again by `reconcile_run_ends`. A flush costs 1-5 ms, more than the whole
    write; on a worker connection (already asynchronous) and inside an enclosing
    transaction this does nothing.
    """
    if connection.vendor != "postgresql" or len(connection.atomic_blocks) != 1:
        return
    if "synchronous_commit=off" in connection.settings_dict.get("OPTIONS", {}).get("options", ""):
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def record_run_end(*, run_id: str, state: str, meta: dict | None = None,
                   finish_time: Any = None) -> TaskInstance | None:
    """Mirror the engine's end of a run on the task, and queue the callback_url notification.

    FINISHED and REVOKED end the task (is_finished; is_revoked for REVOKED) and are reported to
    callback_url. FAILED with nothing left to do does not end it (an operator may retry or skip);
    callback_url heard of it from each node's failure (`record_node_failure`): nothing to write.

    This runs in a worker after most runs, so the usual case (a task without callback_url) is
    one conditional UPDATE on its own, idempotent (a repeat finds is_finished already set; no
    row lock needed). A task with a callback_url records its end and queues the notification
    in one transaction, so neither is kept without the other. The signal arrives right after
    the engine's commit, so "now" is the finish time unless the caller knows better
    (`reconcile_run_ends` passes the run's own time).
    """
    fields = _end_fields(state, finish_time)
    if not fields:
        return None
    task_id = (meta or {}).get("task_id")
    if task_id and update_rows(TaskInstance, {"pk": task_id, **_QUIET_END}, fields):
        return None
    return _record_run_end_and_notify(run_id=run_id, state=state, task_id=task_id, fields=fields)


# A task nobody is to be told about (no callback_url) and not ended yet: its end is one UPDATE.
_QUIET_END = {"is_finished": False, "callback_url": ""}


def run_end_statement(*, state: str, meta: dict | None, finish_time: Any = None) -> tuple[str, list[Any]] | None:
    """record_run_end's UPDATE for a task without callback_url, as a statement the engine sends
    with the writes of the step that ends the run (a run_ending receiver's answer); None when
    the end records nothing on the task or the run names none. When it changes no row (the
    task has a callback_url, or was ended already), run_finished's record_run_end does the rest."""
    fields = _end_fields(state, finish_time)
    task_id = (meta or {}).get("task_id")
    if not fields or not task_id:
        return None
    return update_statement(TaskInstance, {"pk": task_id, **_QUIET_END}, fields)


@transaction.atomic
def _record_run_end_and_notify(*, run_id: str, state: str, task_id: Any, fields: dict[str, Any]) -> TaskInstance | None:
    _relaxed_commit()
    qs = TaskInstance.objects.filter(pk=task_id) if task_id else TaskInstance.objects.filter(run_id=run_id)
    qs.filter(is_finished=False).update(**fields)
    row = qs.values_list("pk", "callback_url").first()
    if row is None:
        return None
    task = None
    if row[1]:
        task = TaskInstance.objects.get(pk=row[0])
        callbacks.queue_callback(task, state)
    return task


@transaction.atomic
def record_node_failure(*, run_id: str, node_id: str, meta: dict | None = None) -> TaskInstance | None:
    """Tell callback_url that a node failed (task_success false), once per failure, as the original does.

    A caller that waits for the end would otherwise wait forever: a failed node stops its branch
    until an operator retries or skips it.
    """
    task_id = (meta or {}).get("task_id")
    qs = TaskInstance.objects.filter(pk=task_id) if task_id else TaskInstance.objects.filter(run_id=run_id)
    task = qs.exclude(callback_url="").select_related("business").first()
    if task is not None:
        callbacks.queue_callback(task, "FAILED", node_id=node_id)
    return task


RECONCILE_BATCH = 200


@dataclass(frozen=True)
class Reconciled:
    """What one `reconcile_run_ends` pass did."""

    recorded: int  # tasks whose run end it recorded
    next_after_id: int  # where the next pass starts; 0 when this one reached the last task


def reconcile_run_ends(*, after_id: int = 0, limit: int = RECONCILE_BATCH) -> Reconciled:
    """Record the end of runs the engine finished or revoked while their task still says running.

    The run_finished signal records an end as it happens; this repairs an end whose signal was
    lost (a worker killed between the engine's commit and the receiver). It looks at one batch
    of started, unfinished tasks, in id order after `after_id`: one query here, one batch read
    of the engine, and a `record_run_end` (one transaction) per run that has ended. Idempotent,
    like `record_run_end`: a second pass, or a signal arriving at the same time, records nothing
    twice and queues no second callback. The maintenance tick calls it with the cursor the
    previous call returned, so every unfinished task is looked at again after a full round.
    """
    rows = list(TaskInstance.objects.filter(is_started=True, is_finished=False, pk__gt=after_id)
                .exclude(run_id="").order_by("pk").values_list("pk", "run_id")[:limit])
    if not rows:
        return Reconciled(recorded=0, next_after_id=0)
    summaries = _engine().get_run_summaries([run_id for _pk, run_id in rows])
    recorded = 0
    for pk, run_id in rows:
        summary = summaries.get(run_id)
        if summary is not None and summary.state in FINAL_RUN_STATES:
            record_run_end(run_id=run_id, state=summary.state, meta={"task_id": pk}, finish_time=summary.finish_time)
            recorded += 1
    return Reconciled(recorded=recorded, next_after_id=rows[-1][0] if len(rows) == limit else 0)

