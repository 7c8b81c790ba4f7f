"""Writes on tasks. Each public function is one transaction: a refused request leaves nothing behind.

The engine is reached only through `pipeline_engine.api`; its writes join our
transaction and its messages go out on commit, so "mark started" and "run" can
never disagree.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from pipeline_engine.core.egress import EgressPolicy, EgressRefused
from sops_api.apigw.errors import BadRequest, InvalidOperation, NotFound
from templates_app.models import Business, Template, TemplateSource
from templates_app.subprocesses import unfold_subprocesses

from . import tree_prep
from .models import (
    TASK_NAME_MAX_LENGTH,
    CreateMethod,
    CurrentFlow,
    FlowType,
    TaskInstance,
)

TASK_ACTIONS = ("start", "pause", "resume", "revoke")


def _engine():
    # Imported late: the apps must import without the engine's Django models being ready.
    from pipeline_engine import api

    return api


# --- validation helpers ------------------------------------------------------------------------------

def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not (1 <= len(name.strip()) and len(name) <= TASK_NAME_MAX_LENGTH):
        raise BadRequest(f"task params is invalid: name must be a string of 1 to {TASK_NAME_MAX_LENGTH} characters")
    return name


def egress_policy() -> EgressPolicy:
    """The egress policy of the setting SOPS_HTTP_ALLOWLIST (rules: pipeline_engine/core/egress.py)."""
    return EgressPolicy.from_entries(getattr(settings, "SOPS_HTTP_ALLOWLIST", []))


def validate_callback_url(url: Any) -> str:
    """An http(s) URL the egress policy opens: the server must not be turned into a way into its own
    network. The same policy is applied again at every delivery attempt."""
    if url in (None, ""):
        return ""
    if not isinstance(url, str) or len(url) > 1024:
        raise BadRequest("callback_url must be an http(s) URL of at most 1024 characters")
    try:
        egress_policy().check_url(url, label="callback_url")
    except EgressRefused as exc:
        raise BadRequest(str(exc)) from exc
    return url


# --- create ------------------------------------------------------------------------------------------

def _existing_request(business: Business, app_code: str, request_id: str) -> TaskInstance | None:
    return TaskInstance.objects.filter(business=business, create_info=app_code, request_id=request_id).first()


def build_task_tree(*, business: Business, source_tree: dict, exclude_task_nodes_id: list[str] | None,
                    constants: dict | None) -> dict:
    """Prepare, unfold, regenerate ids and validate: the tree a task will run."""
    if not isinstance(source_tree, dict):
        raise BadRequest("pipeline_tree must be a JSON object")
    if constants is not None and not isinstance(constants, dict):
        raise BadRequest("task params is invalid: constants must be an object")
    if exclude_task_nodes_id is not None and (
            not isinstance(exclude_task_nodes_id, list) or not all(isinstance(i, str) for i in exclude_task_nodes_id)):
        raise BadRequest("task params is invalid: exclude_task_nodes_id must be a list of node ids")
    tree = tree_prep.prepare_tree(source_tree, exclude_task_nodes_id=exclude_task_nodes_id or [],
                                  constants=constants or {})
    unfold_subprocesses(tree, business)
    tree = tree_prep.regenerate_ids(tree)
    from pipeline_engine.errors import TreeInvalid

    try:
        _engine().validate_pipeline(tree)
    except TreeInvalid as exc:
        raise BadRequest(exc.message) from exc
    return tree


@transaction.atomic
def create_task(*, business: Business, template: Template | None, name: str, creator: str, app_code: str = "",
                constants: dict | None = None, exclude_task_nodes_id: list[str] | None = None,
                flow_type: str = FlowType.COMMON, create_method: str = CreateMethod.API, description: str = "",
                pipeline_tree: dict | None = None, callback_url: str | None = None,
                request_id: str | None = None, periodic_task_id: int | None = None) -> TaskInstance:
    """Create a task from a template (or from a given tree, e.g. a periodic snapshot).

    With `request_id`, the same app + business + request_id always answers the same
    task: a retried request never creates a second one, even when two race.
    """
    name = validate_name(name)
    if flow_type not in FlowType.values:
        raise BadRequest(f"task params is invalid: flow_type must be one of {', '.join(FlowType.values)}")
    if create_method not in CreateMethod.values:
        raise BadRequest(f"create_method must be one of {', '.join(CreateMethod.values)}")
    if create_method == CreateMethod.API and not app_code:
        raise BadRequest("app_code cannot be empty, make sure api gateway has sent correct params")
    callback_url = validate_callback_url(callback_url)
    if request_id is not None:
        if not isinstance(request_id, str) or not (1 <= len(request_id) <= 128):
            raise BadRequest("request_id must be a string of 1 to 128 characters")
        existing = _existing_request(business, app_code, request_id)
        if existing is not None:
            return existing
    if template is None and pipeline_tree is None:
        raise BadRequest("a task needs a template or a pipeline_tree")
    source_tree = pipeline_tree if pipeline_tree is not None else template.pipeline_tree
    tree = build_task_tree(business=business, source_tree=source_tree,
                           exclude_task_nodes_id=exclude_task_nodes_id, constants=constants)

    fields = dict(
        business=business, template=template,
        template_source=template.source if template else TemplateSource.BUSINESS,
        template_version=(template.version if template else "") or "",
        category=template.category if template else "Other",
        name=name, description=description or "", creator=creator,
        create_method=create_method,
        create_info=app_code if create_method == CreateMethod.API else (
            str(periodic_task_id) if periodic_task_id is not None else app_code),
        flow_type=flow_type,
        current_flow=CurrentFlow.FUNC_CLAIM if flow_type == FlowType.COMMON_FUNC else CurrentFlow.EXECUTE_TASK,
        pipeline_tree=tree, callback_url=callback_url, request_id=request_id,
        periodic_task_id=periodic_task_id,
    )
    try:
        with transaction.atomic():
            return TaskInstance.objects.create(**fields)
    except IntegrityError:
        # Lost a race on the request_id unique index: the winner's task is the answer.
        if request_id is not None:
            existing = _existing_request(business, fields["create_info"], request_id)
            if existing is not None:
                return existing
        raise


# --- start and operate -------------------------------------------------------------------------------

def _locked(task: TaskInstance) -> TaskInstance:
    """Re-read the task under a row lock so two starts (or start and claim) serialise."""
    return TaskInstance.objects.select_for_update().select_related("business").get(pk=task.pk)


@transaction.atomic
def start_task(*, task: TaskInstance, executor: str) -> None:
    """Mark started and hand the tree to the engine, in one transaction."""
    task = _locked(task)
    if task.is_deleted:
        raise NotFound(f"task[id={task.pk}] does not exist")
    if task.current_flow != CurrentFlow.EXECUTE_TASK:
        raise InvalidOperation(f"task with current_flow:{task.current_flow} cannot be started")
    if task.is_started:
        # The newest original's message; the older "pipeline instance already started." is not used.
        raise InvalidOperation("task already started")
    run_id = task.run_id or uuid.uuid4().hex
    now = timezone.now()
    TaskInstance.objects.filter(pk=task.pk).update(is_started=True, start_time=now, executor=executor, run_id=run_id)
    engine_run_id = _engine().run_pipeline(
        task.pipeline_tree, run_id=run_id, time_zone=task.business.time_zone or "UTC",
        executor=executor, meta={"task_id": task.pk},
    )
    if engine_run_id and engine_run_id != run_id:
        TaskInstance.objects.filter(pk=task.pk).update(run_id=engine_run_id)


@transaction.atomic
def operate_task(*, task: TaskInstance, action: str, username: str) -> None:
    if action not in TASK_ACTIONS:
        raise BadRequest("task action is invalid")
    if action == "start":
        start_task(task=task, executor=username)
        return
    task = _locked(task)
    if not task.is_started or not task.run_id:
        raise InvalidOperation("task not started")
    engine = _engine()
    {"pause": engine.pause_pipeline, "resume": engine.resume_pipeline, "revoke": engine.revoke_pipeline}[action](
        task.run_id)


NODE_ACTIONS = ("retry", "skip", "skip_exg", "callback", "pause_subproc", "resume_subproc", "forced_fail")


@transaction.atomic
def operate_node(*, task: TaskInstance, node_id: str, action: str, username: str, inputs: dict | None = None,
                 data: Any = None, flow_id: str | None = None) -> None:
    if action not in NODE_ACTIONS:
        raise BadRequest(f"node action[{action}] is invalid, use one of {', '.join(NODE_ACTIONS)}")
    if not task.is_started or not task.run_id:
        raise InvalidOperation("task not started")
    if not node_id or tree_prep.find_node(task.pipeline_tree, node_id)[0] is None:
        raise NotFound(f"task[{task.pk}] does not have node[{node_id}]")
    engine, run_id = _engine(), task.run_id
    if action == "retry":
        engine.retry_node(run_id, node_id, inputs=inputs)
    elif action == "skip":
        engine.skip_node(run_id, node_id)
    elif action == "skip_exg":
        if not flow_id:
            raise BadRequest("flow_id is required for skip_exg")
        engine.skip_exclusive_gateway(run_id, node_id, flow_id)
    elif action == "callback":
        engine.callback(run_id, node_id, data)
    elif action == "pause_subproc":
        engine.pause_subprocess(run_id, node_id)
    elif action == "resume_subproc":
        engine.resume_subprocess(run_id, node_id)
    elif action == "forced_fail":
        engine.forced_fail(run_id, node_id, ex_data=f"The node has been terminated by {username}.")


@transaction.atomic
def node_callback(*, task: TaskInstance, node_id: str, data: Any, version: str | None = None) -> None:
    if not node_id or tree_prep.find_node(task.pipeline_tree, node_id)[0] is None:
        raise NotFound(f"task[{task.pk}] does not have node[{node_id}]")
    if not task.is_started or not task.run_id:
        raise InvalidOperation("task not started")
    if task.is_finished:
        raise InvalidOperation("invalid operation, this node is finished or pipeline have been revoked")
    _engine().callback(task.run_id, node_id, data, version=version or None)


@transaction.atomic
def claim_functionalization_task(*, task: TaskInstance, username: str, constants: dict | None = None,
                                 name: str | None = None) -> TaskInstance:
    task = _locked(task)
    if task.flow_type != FlowType.COMMON_FUNC:
        raise InvalidOperation("task is not functional")
    if task.current_flow != CurrentFlow.FUNC_CLAIM:
        raise InvalidOperation(f"task with current_flow:{task.current_flow} cannot be claimed")
    if constants is not None and not isinstance(constants, dict):
        raise BadRequest("constants must be an object")
    fields = ["current_flow", "claimer"]
    if constants:
        tree_prep.merge_constants(task.pipeline_tree, constants)
        fields.append("pipeline_tree")
    if name is not None:
        task.name = validate_name(name)
        fields.append("name")
    task.current_flow = CurrentFlow.EXECUTE_TASK
    task.claimer = username
    task.save(update_fields=fields)
    return task


# --- run end ------------------------------------------------------------------------------------------

FINAL_STATES = ("FINISHED", "REVOKED")


@transaction.atomic
def record_run_end(*, run_id: str, state: str, meta: dict | None = None,
                   finish_time: Any = None) -> TaskInstance | None:
    """Mirror the engine's end of a run on the task, and queue the callback_url notification.

    FINISHED and REVOKED end the task (is_finished; is_revoked for REVOKED). FAILED with
    nothing left to do does not end it (an operator may retry or skip), but it is reported
    to callback_url, since a caller waiting for the end would otherwise wait forever.

    This runs in a worker after every run, so it is one conditional UPDATE (idempotent: a
    repeat finds is_finished already set; no row lock needed) and one small read. The
    signal arrives right after the engine's commit, so "now" is the finish time unless the
    caller knows better (a read that repairs a lost signal passes the run's own time).
    """
    task_id = (meta or {}).get("task_id")
    qs = TaskInstance.objects.filter(pk=task_id) if task_id else TaskInstance.objects.filter(run_id=run_id)
    if state in FINAL_STATES:
        qs.filter(is_finished=False).update(is_finished=True, is_revoked=state == "REVOKED",
                                            finish_time=finish_time or timezone.now())
    row = qs.values_list("pk", "callback_url").first()
    if row is None:
        return None
    task = None
    if row[1]:
        from .callbacks import queue_callback

        task = TaskInstance.objects.get(pk=row[0])
        queue_callback(task, state)
    return task

