"""The original's template export file: reading it into templates to create, and its digest.

An export file is base64 of the JSON `{"template_data": …, "digest": md5}` (facts from the
original's read_encoded_template_data). `template_data` holds:

- `template`: `{id: {id, pipeline_template_str_id, category, notify_type, notify_receivers,
  time_out, …}}`, one entry per template, the templates its subprocesses use included;
- `pipeline_template_data.template`: `{str_id: {name, description, creator, …}}`;
- `pipeline_template_data.tree`: `{str_id: pipeline_tree}`, where a SubProcess node's
  `template_id` is the `str_id` of another template of the file;
- `template_source`: `project` or `common`.

The digest is md5 of the sorted JSON text of `template_data` followed by a salt: the current
one or the old community edition's. Files were digested by two JSON writers over the years,
so both texts are tried. Nothing here writes: services.import_exchange creates the templates.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sops_common import limits
from sops_common.errors import InvalidInput

from .models import Category

#: the original's TEMPLATE_DATA_SALT and OLD_COMMUNITY_TEMPLATE_DATA_SALT (config/default.py)
SALTS = ("821a11587ea434eb85c2f5327a90ae54", "e5483c1ccde63392bd439775bba6a7ae")

UNREADABLE = "模板解析失败: 文件解析异常, 模板参数缺陷. 请重试或联系管理员处理 | read_encoded_template_data"
TAMPERED = "模板解析失败: 文件解析异常, 模板参数非法. 请重试或联系管理员处理 | read_encoded_template_data"
PROJECT, COMMON = "project", "common"


@dataclass
class ImportItem:
    """One template to create: its fields, and which of its nodes name another item (by key)."""

    key: str
    name: str
    pipeline_tree: dict[str, Any]
    category: str = Category.DEFAULT
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    #: the id the file gave it (the original's template id): the `flows` map of override imports
    file_id: str = ""
    #: SubProcess node id -> key of the item it runs
    subprocesses: dict[str, str] = field(default_factory=dict)


@dataclass
class ExchangeFile:
    source: str  # PROJECT or COMMON
    items: list[ImportItem]


def _texts(data: Any) -> list[str]:
    # The original digests with ujson (compact, ASCII, "/" escaped) in newer versions and the
    # standard library's json (", " and ": ") in older ones.
    compact = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return [compact, compact.replace("/", "\\/"), json.dumps(data, sort_keys=True)]


def digest(template_data: Any, salt: str = SALTS[0]) -> str:
    """The digest this service writes (the standard library's text, current salt)."""
    return hashlib.md5((json.dumps(template_data, sort_keys=True) + salt).encode(), usedforsecurity=False).hexdigest()


def encode(template_data: dict[str, Any]) -> str:
    """An export file's content for `template_data` (what read() accepts)."""
    payload = {"template_data": template_data, "digest": digest(template_data)}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def _decode(content: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(content.encode("ascii"), validate=False)
        data = limits.loads(raw, "template_data")
    except (ValueError, UnicodeError, binascii.Error, InvalidInput) as exc:
        raise InvalidInput(UNREADABLE) from exc
    if not isinstance(data, dict) or not isinstance(data.get("template_data"), dict) \
            or not isinstance(data.get("digest"), str):
        raise InvalidInput(UNREADABLE)
    return data


def _digest_matches(template_data: Any, claimed: str) -> bool:
    for text in _texts(template_data):
        for salt in SALTS:
            if hashlib.md5((text + salt).encode(), usedforsecurity=False).hexdigest() == claimed:
                return True
    return False


def read(content: str) -> ExchangeFile:
    """The templates of an export file, checked: unreadable or tampered files are refused."""
    data = _decode(content)
    template_data = data["template_data"]
    if not _digest_matches(template_data, data["digest"]):
        raise InvalidInput(TAMPERED)
    return parse(template_data)


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"invalid template file: {where} must be a JSON object")
    return value


def _category(raw: Any) -> str:
    return raw if raw in Category.values else Category.DEFAULT


def _json_setting(raw: Any) -> Any:
    # The original stores notify_type / notify_receivers as JSON text.
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return raw


def _settings(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    notify_type = _json_setting(meta.get("notify_type"))
    if isinstance(notify_type, list):  # the legacy form: one list for both outcomes
        notify_type = {"success": notify_type, "fail": notify_type}
    if isinstance(notify_type, dict):
        out["notify_type"] = notify_type
    receivers = _json_setting(meta.get("notify_receivers"))
    if isinstance(receivers, dict):
        out["notify_receivers"] = receivers
    if isinstance(meta.get("time_out"), int) and not isinstance(meta.get("time_out"), bool) \
            and 0 <= meta["time_out"] <= 100_000:
        out["time_out"] = meta["time_out"]
    for key in ("default_flow_type", "executor_proxy"):
        if isinstance(meta.get(key), str) and len(meta[key]) <= 128:
            out[key] = meta[key]
    return out


def parse(template_data: dict[str, Any]) -> ExchangeFile:
    """Read `template_data` (already trusted) into items, subprocess references resolved to keys."""
    source = template_data.get("template_source") or PROJECT
    if source not in (PROJECT, COMMON):
        raise InvalidInput(f"invalid template file: template_source {limits.shown(source)} is unknown")
    templates = _dict(template_data.get("template"), "template")
    pipeline_data = _dict(template_data.get("pipeline_template_data"), "pipeline_template_data")
    metas = _dict(pipeline_data.get("template"), "pipeline_template_data.template")
    trees = _dict(pipeline_data.get("tree"), "pipeline_template_data.tree")
    if not templates:
        raise InvalidInput("invalid template file: it holds no template")
    items: list[ImportItem] = []
    for file_id, entry in templates.items():
        entry = _dict(entry, f"template[{file_id}]")
        str_id = str(entry.get("pipeline_template_str_id") or entry.get("pipeline_template_id") or "")
        meta = _dict(metas.get(str_id), f"pipeline_template_data.template[{str_id}]")
        tree = _dict(trees.get(str_id), f"pipeline_template_data.tree[{str_id}]")
        name = meta.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"invalid template file: template[{file_id}] has no name")
        description = meta.get("description")
        items.append(ImportItem(
            key=str_id, name=name.strip(), pipeline_tree=tree, category=_category(entry.get("category")),
            description=description if isinstance(description, str) else "",
            settings=_settings(entry), file_id=str(file_id)))
    keys = {item.key for item in items}
    if len(keys) != len(items):
        raise InvalidInput("invalid template file: two templates share one pipeline template")
    for item in items:
        item.subprocesses = subprocess_keys(item, keys)
    return ExchangeFile(source=source, items=items)


def subprocess_keys(item: ImportItem, keys: set[str]) -> dict[str, str]:
    """SubProcess node id -> the key of the file's template it runs; a missing one is refused."""
    found: dict[str, str] = {}
    activities = item.pipeline_tree.get("activities")
    for act_id, act in (activities.items() if isinstance(activities, dict) else ()):
        if isinstance(act, dict) and act.get("type") == "SubProcess":
            ref = str(act.get("template_id") or "")
            if ref not in keys:
                raise InvalidInput(f"invalid template file: subprocess node[id={act_id}] of template "
                                   f"{item.name} runs a template[{limits.shown(ref)}] the file does not hold")
            found[str(act_id)] = ref
    return found


def creation_order(items: list[ImportItem]) -> list[ImportItem]:
    """Items with every subprocess before the templates that run it; a cycle is refused."""
    by_key = {item.key: item for item in items}
    done: dict[str, bool] = {}  # key -> finished (False while on the current path)
    ordered: list[ImportItem] = []

    def visit(item: ImportItem) -> None:
        state = done.get(item.key)
        if state is True:
            return
        if state is False:
            raise InvalidInput(f"invalid template file: template {item.name} runs itself through its subprocesses")
        done[item.key] = False
        for ref in item.subprocesses.values():
            visit(by_key[ref])
        done[item.key] = True
        ordered.append(item)

    for item in items:
        visit(item)
    return ordered


def reset_biz_selectors(tree: dict[str, Any], bk_biz_id: int) -> None:
    """Point a tree's business selectors at `bk_biz_id` (the original does so on project import).

    A ServiceActivity input `biz_cc_id` or `bk_biz_id` that is not hooked to a variable, and a
    variable made from such an input (source_tag ending in `.biz_cc_id` / `.bk_biz_id`) that
    has a value, get the target business's id.
    """
    activities, constants = tree.get("activities"), tree.get("constants")
    for act in (activities.values() if isinstance(activities, dict) else ()):
        if not isinstance(act, dict) or act.get("type") != "ServiceActivity" \
                or not isinstance(act.get("component"), dict):
            continue
        data = act["component"].get("data")
        if not isinstance(data, dict):
            continue
        selector = data.get("biz_cc_id") or data.get("bk_biz_id")
        if isinstance(selector, dict) and not selector.get("hook"):
            selector["value"] = bk_biz_id
    for constant in (constants.values() if isinstance(constants, dict) else ()):
        if not isinstance(constant, dict):
            continue
        tag = str(constant.get("source_tag") or "")
        if tag.endswith((".biz_cc_id", ".bk_biz_id")) and constant.get("value"):
            constant["value"] = bk_biz_id
