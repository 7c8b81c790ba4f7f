"""The operator pages: parse, check the role (access.py), call one selector or service, render.

Pages answer HTML; the task page's status poll, node panel and actions are fetched by its
script (pages.js) and answer JSON or an HTML fragment. A user without a role in the
business of what is asked gets a 403 page that names nothing of it.
"""
from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline_engine import api as engine_api
from sops_common import limits
from sops_common.errors import InvalidInput, NotFound
from sops_common.timefmt import format_time
from tasks_app import selectors as task_selectors
from tasks_app import services as task_services
from tasks_app.models import CreateMethod, TaskInstance, TaskStatus
from templates_app import selectors as template_selectors
from templates_app.models import Category, Template, TemplateSource
from templates_app.services import validate_template_tree
from templates_app.subprocesses import unfold_subprocesses

from . import access, actions, graph, svg
from .states import LEGEND, TASK_ENDED, node_state, unreached_state

PAGE_SIZE = 25
POLL_MS = 1000
# The API's names (query_task_count's groups); REVOKED has no display name there, so its code stands.
LIST_STATES = [("CREATED", TaskStatus.CREATED.label), ("EXECUTING", TaskStatus.EXECUTING.label),
               ("FINISHED", TaskStatus.FINISHED.label), ("REVOKED", "REVOKED")]


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _problem(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": False, "message": message}, status=status)
    return render(request, "pages/problem.html", {"title": title, "message": message}, status=status)


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required; refusals, missing objects and bad input become a 403/404/400/409 page (or JSON)."""
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if _wants_json(request):
                return JsonResponse({"ok": False, "message": "Log in again."}, status=401)
            return redirect_to_login(request.get_full_path(), reverse("pages:login"))
        try:
            return view(request, *args, **kwargs)
        except access.Refused as exc:
            return _problem(request, 403, "Access refused", str(exc))
        except NotFound as exc:
            return _problem(request, 404, "Not found", exc.message)
        except InvalidInput as exc:
            return _problem(request, 400, "Bad request", exc.message)
        except actions.REFUSALS as exc:  # e.g. a run the engine no longer knows
            return _problem(request, 409, "Refused", actions.refusal(exc))
    return wrapper


def duration(seconds: int) -> str:
    seconds = max(0, int(seconds or 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _json_pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def _field(key: str, value: Any) -> dict[str, Any]:
    """A form field for a value: text for strings, JSON for anything else (kept typed on the way back).

    Keys starting with "_" (the engine's own, such as `_loop`) go back unchanged in hidden fields.
    """
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return {"key": key, "value": text, "kind": "text" if isinstance(value, str) else "json",
            "multiline": "\n" in text or len(text) > 80, "hidden": key.startswith("_")}


def _business_choice(request: HttpRequest) -> tuple[list[tuple[Any, str]], Any, str]:
    """The user's businesses, the one chosen by ?biz= (the first by default) and the role there."""
    mine = access.businesses_of(request.user)
    if not mine:
        raise access.Refused("You have no role in any business yet. Ask a maintainer to add you.")
    wanted = request.GET.get("biz")
    for business, role in mine:
        if wanted in (None, "") or str(business.bk_biz_id) == wanted:
            return mine, business, role
    raise access.Refused("You have no role in this business.")


# --- task list ----------------------------------------------------------------------------------------

def _int_or_none(raw: str | None, what: str) -> int | None:
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInput(f"{what} must be a number") from exc


def _date(raw: str | None, what: str) -> str:
    if not raw:
        return ""
    try:
        dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(f"{what} must be a date written YYYY-mm-dd") from exc
    return raw


def _templates_of(business: Any) -> list[dict[str, Any]]:
    return (template_selectors.list_templates(business, TemplateSource.BUSINESS)
            + [{**t, "common": True} for t in template_selectors.list_templates(business, TemplateSource.COMMON)])


@require_GET
@page
def task_list(request: HttpRequest) -> HttpResponse:
    mine, business, role = _business_choice(request)
    q = request.GET
    state = q.get("state") or ""
    if state and state not in dict(LIST_STATES):
        raise InvalidInput(f"state must be one of {', '.join(dict(LIST_STATES))}")
    filters: dict[str, Any] = {
        "state": state, "template": _int_or_none(q.get("template"), "template"),
        "creator": (q.get("creator") or "").strip(),
        "created_from": _date(q.get("created_from"), "created from"),
        "created_to": _date(q.get("created_to"), "created to"),
    }
    page_no = _int_or_none(q.get("page"), "page") or 1
    items, count = task_selectors.task_list(
        business, state=state, template_id=filters["template"], creator=filters["creator"],
        create_time_start=filters["created_from"],
        create_time_end=f"{filters['created_to']} 23:59:59" if filters["created_to"] else "",
        offset=(max(page_no, 1) - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    templates = _templates_of(business)
    names = {t["id"]: t["name"] for t in templates}
    labels = dict(LIST_STATES)
    categories = dict(Category.choices)
    for item in items:
        item["template_name"] = names.get(item["template_id"], f"#{item['template_id']}" if item["template_id"] else "")
        item["state_label"] = labels.get(item["state"], item["state"])
        item["category_label"] = categories.get(item["category"], item["category"])
    pager: Page = Paginator(range(count or 0), PAGE_SIZE).get_page(page_no)
    keep = q.copy()
    keep.pop("page", None)
    return render(request, "pages/task_list.html", {
        "business": business, "businesses": mine, "role": role, "items": items, "count": count,
        "filters": filters, "states": LIST_STATES, "templates": templates, "pager": pager,
        "query": keep.urlencode(),
    })


# --- task page ----------------------------------------------------------------------------------------

def _header(task: TaskInstance, live: dict[str, Any]) -> dict[str, Any]:
    tz = task.business.tzinfo
    return {
        "state": live["state"],
        "create_time": format_time(task.create_time, tz),
        "start_time": live["start_time"] or format_time(task.start_time, tz),
        "finish_time": live["finish_time"] or format_time(task.finish_time, tz),
        "elapsed": duration(live["elapsed_time"] or task.elapsed_time),
    }


def _live(task: TaskInstance) -> dict[str, Any]:
    """States for the page: the run's, and each node's as the legend names it."""
    raw = task_selectors.task_node_states(task)
    nodes = {key: node_state(state, skip) for key, (state, skip) in raw["nodes"].items()}
    return {**raw, "nodes": nodes, "unreached": unreached_state(task.is_started)}


@require_GET
@gzip_page
@page
def task_page(request: HttpRequest, task_id: int) -> HttpResponse:
    task = task_selectors.get_task_by_id(task_id)
    role = access.require_role(request.user, task.business)
    may_operate = access.can_operate(role)
    live = _live(task)
    drawing = graph.draw(task.pipeline_tree)
    markup = svg.render(drawing, lambda b: live["nodes"].get(b.key, live["unreached"]),
                        label=f"Pipeline of task {task.name}: {len(drawing.boxes)} nodes. Arrow keys move "
                              f"between nodes, Enter opens one.")
    offered = {a.code for a in actions.task_actions(state=live["state"], started=task.is_started,
                                                    may_operate=may_operate)}
    all_task_actions = [actions.LABELS[c] for c in ("start", "pause", "resume", "revoke")] if may_operate else []
    config = {
        "status": reverse("pages:task_status", args=[task.pk]), "node": reverse("pages:node_panel", args=[task.pk]),
        "ended": live["state"] in TASK_ENDED, "interval": POLL_MS,
    }
    return render(request, "pages/task.html", {
        "task": task, "business": task.business, "role": role, "may_operate": may_operate,
        "header": _header(task, live), "category": dict(Category.choices).get(task.category, task.category),
        "svg": mark_safe(markup),  # noqa: S308 - every text and attribute is escaped in svg.py
        "legend": LEGEND, "task_actions": [(a, a.code in offered) for a in all_task_actions],
        "config": config, "node_count": len(drawing.boxes),
    })


@require_GET
@gzip_page
@page
def task_status(request: HttpRequest, task_id: int) -> JsonResponse:
    """The compact poll: the run's state, the header's fields and `key -> state` of reached nodes."""
    task = task_selectors.get_task_by_id(task_id, with_tree=False)
    role = access.require_role(request.user, task.business)
    live = _live(task)
    offered = actions.task_actions(state=live["state"], started=task.is_started,
                                   may_operate=access.can_operate(role))
    return JsonResponse({
        "state": live["state"], "ended": live["state"] in TASK_ENDED, "header": _header(task, live),
        "nodes": live["nodes"], "unreached": live["unreached"], "actions": [a.code for a in offered],
    })


def _level(tree: dict, stack: list[str]) -> dict:
    level = tree
    for sp in stack:
        level = ((level.get("activities") or {}).get(sp) or {}).get("pipeline") or {}
    return level


def _branches(level: dict, node: dict) -> list[dict[str, str]]:
    """The outgoing flows of a gateway, named by their condition and their target."""
    names = {n.get("id"): n.get("name") or n.get("id") for n in engine_api.all_nodes(level).values()}
    conditions = node.get("conditions") or {}
    out = []
    for fid in engine_api.as_list(node.get("outgoing")):
        flow = (level.get("flows") or {}).get(fid) or {}
        cond = conditions.get(fid) or {}
        out.append({"id": fid, "label": f"{cond.get('name') or cond.get('evaluate') or fid} → "
                                        f"{names.get(flow.get('target'), flow.get('target'))}"})
    return out


@require_GET
@page
def node_panel(request: HttpRequest, task_id: int) -> HttpResponse:
    """The side panel of one node: timings, inputs, outputs, ex_data, one row per attempt, actions."""
    task = task_selectors.get_task_by_id(task_id)
    role = access.require_role(request.user, task.business)
    key = request.GET.get("key") or ""
    *stack, node_id = key.split("/")
    node, _path = engine_api.find_node(task.pipeline_tree, node_id, stack or None)
    if node is None or not node_id:
        raise NotFound(f"node[{key}] is not in this task")
    code = str((node.get("component") or {}).get("code") or "")
    detail = task_selectors.node_detail(task, node_id, component_code=code, subprocess_stack=stack)
    live = _live(task)
    state = node_state(detail.get("state") or "", bool(detail.get("skip")))
    offered = actions.node_actions(node, state=detail.get("state") or "", task_state=live["state"],
                                   may_operate=access.can_operate(role))
    attempts = list(detail.get("histories") or [])
    if detail.get("start_time"):
        attempts.append({**detail, "current": True})
    inputs = detail.get("inputs") or {}
    return render(request, "pages/node_panel.html", {
        "task": task, "key": key, "node": node, "detail": detail, "state": state,
        "type_label": graph.TYPE_LABELS.get(node.get("type") or "", node.get("type")),
        "name": node.get("name") or {graph.START: "start", graph.END: "end"}.get(node.get("type") or "", node_id),
        "inputs": [(k, _json_pretty(v)) for k, v in inputs.items()],
        "outputs": [(o.get("name") or o.get("key"), o.get("key"), _json_pretty(o.get("value")))
                    for o in detail.get("outputs") or []],
        "ex_data": _json_pretty(detail.get("ex_data")) if detail.get("ex_data") else "",
        "attempts": [{**a, "elapsed": duration(a.get("elapsed_time") or 0),
                      "ex_data": _json_pretty(a.get("ex_data")) if a.get("ex_data") else ""} for a in attempts],
        "elapsed": duration(detail.get("elapsed_time") or 0),
        "actions": {a.code: a for a in offered},
        "simple_actions": ("skip", "forced_fail", "pause_subproc", "resume_subproc"),
        "retry_fields": [_field(k, v) for k, v in inputs.items()],
        "branches": _branches(_level(task.pipeline_tree, stack), node) if "skip_exg" in {a.code for a in offered}
        else [],
    })


@require_POST
@page
def task_action(request: HttpRequest, task_id: int) -> HttpResponse:
    """One task or node action, through the services the API uses; the refusal's message when refused."""
    task = task_selectors.get_task_by_id(task_id)
    access.require_role(request.user, task.business, operate=True)
    try:
        message = actions.perform(task=task, post=request.POST, username=request.user.get_username())
    except actions.REFUSALS as exc:
        text = actions.refusal(exc)
        if _wants_json(request):
            return JsonResponse({"ok": False, "message": text}, status=409)
        messages.error(request, text)
    else:
        if _wants_json(request):
            return JsonResponse({"ok": True, "message": message})
        messages.success(request, message)
    return redirect("pages:task_page", task_id=task.pk)


# --- templates ----------------------------------------------------------------------------------------

def _template_access(request: HttpRequest, template: Template) -> tuple[str, list[tuple[Any, str]]]:
    """The role the user sees a template with, and the businesses a task may be created in from it."""
    if template.business is not None:
        role = access.require_role(request.user, template.business)
        return role, ([(template.business, role)] if access.can_operate(role) else [])
    best = access.role_in_any(request.user)
    if best is None:
        raise access.Refused("You have no role in any business.")
    role = best
    return role, [(b, r) for b, r in access.businesses_of(request.user) if access.can_operate(r)]


def _display_tree(template: Template) -> dict:
    """The template's tree with its subprocesses unfolded, for drawing; as it is when one cannot be."""
    tree = copy.deepcopy(template.pipeline_tree)
    try:
        unfold_subprocesses(tree, template.business, (template.pk,))
    except InvalidInput:
        return copy.deepcopy(template.pipeline_tree)
    return tree


def _constants(tree: dict) -> list[dict[str, Any]]:
    items = [c for c in (tree.get("constants") or {}).values() if isinstance(c, dict) and c.get("key")]
    items.sort(key=lambda c: (c.get("index") if isinstance(c.get("index"), int) else 0, c["key"]))
    return [{**c, "shown": _json_pretty(c.get("value")),
             "editable": c.get("show_type", "show") == "show" and c.get("source_type") != "component_outputs",
             "field": _field(c["key"], c.get("value", ""))} for c in items]


@require_GET
@page
def template_list(request: HttpRequest) -> HttpResponse:
    mine, business, role = _business_choice(request)
    categories = dict(Category.choices)
    templates = [{**t, "category_label": categories.get(t["category"], t["category"])}
                 for t in _templates_of(business)]
    return render(request, "pages/template_list.html", {
        "business": business, "businesses": mine, "role": role, "templates": templates})


def _template_context(request: HttpRequest, template: Template, role: str, targets: list,
                      form: dict[str, Any] | None = None) -> dict[str, Any]:
    tree = _display_tree(template)
    drawing = graph.draw(tree)
    markup = svg.render(drawing, lambda b: "",
                        label=f"Pipeline of template {template.name}: {len(drawing.boxes)} nodes.")
    optional = [{"id": a["id"], "name": a.get("name") or a["id"]}
                for a in (template.pipeline_tree.get("activities") or {}).values()
                if isinstance(a, dict) and a.get("optional")]
    summary = template_selectors.template_summary(template, template.business) if template.business else None
    constants = _constants(template.pipeline_tree)
    for const in constants:  # a refused form comes back with what was typed
        if form and const["key"] in form.get("values", {}):
            const["field"]["value"] = form["values"][const["key"]]
    return {
        "template": template, "business": template.business, "role": role, "targets": targets,
        "svg": mark_safe(markup),  # noqa: S308 - escaped in svg.py
        "constants": constants, "optional": optional, "form": form or {},
        "summary": summary, "category": dict(Category.choices).get(template.category, template.category),
        "node_count": len(drawing.boxes),
        "config": {"node": reverse("pages:template_node", args=[template.pk])},
    }


@require_GET
@gzip_page
@page
def template_page(request: HttpRequest, template_id: int) -> HttpResponse:
    template = template_selectors.get_template_by_id(template_id)
    role, targets = _template_access(request, template)
    return render(request, "pages/template.html", _template_context(request, template, role, targets))


@require_POST
@page
def template_create_task(request: HttpRequest, template_id: int) -> HttpResponse:
    """Create a task from the template (create_task, the service the API uses) and open its page."""
    template = template_selectors.get_template_by_id(template_id)
    role, targets = _template_access(request, template)
    if not targets:
        raise access.Refused(f"Your role is {role}; creating a task needs the operator role.")
    post = request.POST
    business = targets[0][0]
    if template.business is None:
        chosen = [b for b, _r in targets if str(b.bk_biz_id) == post.get("biz")]
        if not chosen:
            raise access.Refused("Choose a business you are an operator of.")
        business = chosen[0]
    try:
        constants = actions.prefixed_values(post, "const", "constant")
        task = task_services.create_task(
            business=business, template=template, name=post.get("name") or "", creator=request.user.get_username(),
            create_method=CreateMethod.APP, constants=constants, exclude_task_nodes_id=post.getlist("exclude"))
    except actions.REFUSALS as exc:
        form = {"name": post.get("name", ""), "error": actions.refusal(exc), "exclude": post.getlist("exclude"),
                "values": {k[len("const:"):]: v for k, v in post.items() if k.startswith("const:")}}
        context = _template_context(request, template, role, targets, form)
        return render(request, "pages/template.html", context, status=400)
    return redirect("pages:task_page", task_id=task.pk)


@require_GET
@page
def template_node(request: HttpRequest, template_id: int) -> HttpResponse:
    """The side panel of one template node: what it runs, with which inputs, and how it may be handled."""
    template = template_selectors.get_template_by_id(template_id)
    _template_access(request, template)
    key = request.GET.get("key") or ""
    *stack, node_id = key.split("/")
    tree = _display_tree(template)
    node, _path = engine_api.find_node(tree, node_id, stack or None)
    if node is None or not node_id:
        raise NotFound(f"node[{key}] is not in this template")
    component = node.get("component") or {}
    inputs = [(k, _json_pretty(v.get("value") if isinstance(v, dict) and "value" in v else v),
               bool(isinstance(v, dict) and v.get("hook")))
              for k, v in (component.get("data") or {}).items()]
    level = _level(tree, stack)
    flags = [(flag, node.get(flag, default)) for flag, default in
             (("optional", False), ("retryable", True), ("skippable", True), ("error_ignorable", False))
             if node.get("type") == graph.ACTIVITY]
    return render(request, "pages/template_node.html", {
        "node": node, "key": key, "code": component.get("code") or "",
        "type_label": graph.TYPE_LABELS.get(node.get("type") or "", node.get("type")),
        "name": node.get("name") or {graph.START: "start", graph.END: "end"}.get(node.get("type") or "", node_id),
        "inputs": inputs, "flags": flags,
        "branches": _branches(level, node) if node.get("type") in graph.GATEWAYS else [],
    })


PREVIEW_MAX_BYTES = 2_000_000


def _tree_from_text(text: str) -> dict:
    """A pasted tree: a pipeline_tree, or one import item ({"name", "pipeline_tree", ...}) holding one."""
    if len(text.encode()) > PREVIEW_MAX_BYTES:
        raise InvalidInput(f"the tree is larger than {PREVIEW_MAX_BYTES // 1_000_000} MB")
    try:
        # The API's JSON limits (depth: a RecursionError of the parser is refused, not a server error).
        value = limits.loads(text, "the text")
    except ValueError as exc:
        raise InvalidInput(f"the text is not JSON: {exc}") from exc
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict) and isinstance(value.get("pipeline_tree"), dict):
        value = value["pipeline_tree"]
    if not isinstance(value, dict):
        raise InvalidInput("give one pipeline_tree object (or one import item holding it)")
    return value


@require_http_methods(["GET", "POST"])
@gzip_page
@page
def template_preview(request: HttpRequest) -> HttpResponse:
    """A tree pasted before importing it: checked as an import would check it, and drawn. Nothing is saved."""
    mine, business, role = _business_choice(request)
    context: dict[str, Any] = {"business": business, "businesses": mine, "role": role, "text": ""}
    if request.method == "POST":
        context["text"] = text = request.POST.get("tree") or ""
        try:
            tree = _tree_from_text(text)
        except InvalidInput as exc:
            context["error"] = exc.message
            return render(request, "pages/template_preview.html", context, status=400)
        try:
            validate_template_tree(tree, business)
            context["valid"] = True
        except InvalidInput as exc:
            context["error"] = exc.message
        shown = copy.deepcopy(tree)
        try:
            unfold_subprocesses(shown, business)
        except InvalidInput:
            shown = tree
        drawing = graph.draw(shown)
        markup = svg.render(drawing, lambda b: "", label=f"Pasted pipeline: {len(drawing.boxes)} nodes.")
        context.update({
            "svg": mark_safe(markup),  # noqa: S308 - escaped in svg.py
            "node_count": len(drawing.boxes), "constants": _constants(tree),
        })
    return render(request, "pages/template_preview.html", context)


def home(request: HttpRequest) -> HttpResponse:
    return redirect("pages:task_list")
