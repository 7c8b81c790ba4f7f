"""Every example of docs/ runs: shell and Python against a live server with a real worker, trees through the
engine to the end, the component example through the engine's walker; each documented answer is compared.

A fenced block is an example when its language is bash, python, json or text; another language
(toml, ...) must be marked `illustrative`, like the few examples that cannot run here (`make run`,
docker compose, excerpts). Tags after the language say how a block runs:

- ```bash / ```python: run (the URL http://127.0.0.1:8000 becomes the live server's); the block
  right after it, when it is ```json or ```text, is its documented answer: a JSON answer must have
  the documented shape (every documented key, the same kind of value) and the same `result` and
  `code`, a text answer must be printed exactly;
- ```python sdk: run by the SDK's own tests (sdk/tests/test_docs_examples.py), where the SDK is
  installed;
- ```python component: imported as a module, then run by the engine (components.md);
- ```json pipeline_tree: imported as a template of business 2, then a task of it runs to the end.
"""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.support.contract import shape_errors
from tests.support.task_world import flush_retrying

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DEMO_URL = "http://127.0.0.1:8000"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
EXAMPLE_LANGUAGES = {"bash", "python", "json", "text"}
AUTH = {"X-Bkapi-Authorization": json.dumps(
    {"bk_app_code": "app_code", "bk_app_secret": "app_secret", "access_token": "access_token"})}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    tags: frozenset[str]
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def runs_here(self) -> bool:
        return self.language in ("bash", "python") and not self.tags & {"illustrative", "sdk", "component"}


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        info = match.group(1).split()
        if not info:
            continue  # a layout or a diagram, not an example
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, info[0], frozenset(info[1:]),
                           match.group(2)))
    return found


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def answered(page: Path) -> list[tuple[Block, Block | None]]:
    """The blocks that run here, each with the documented answer that follows it (if any)."""
    found = blocks(page)
    pairs = []
    for i, block in enumerate(found):
        if block.runs_here:
            following = found[i + 1] if i + 1 < len(found) else None
            answer = following if following and following.language in ("json", "text") and not following.tags else None
            pairs.append((block, answer))
    return pairs


def test_every_example_runs_or_is_marked_illustrative():
    problems = []
    for page in pages():
        found = blocks(page)
        answers = {answer.where for _, answer in answered(page) if answer}
        for block in found:
            if "illustrative" in block.tags:
                continue
            if block.language not in EXAMPLE_LANGUAGES:
                problems.append(f"{block.where}: a {block.language} block that is not marked illustrative")
            elif block.language == "json" and not block.tags and block.where not in answers:
                problems.append(f"{block.where}: a JSON block that answers no example and runs nothing")
            elif block.language == "text" and block.where not in answers:
                problems.append(f"{block.where}: a text block that answers no example")
            elif block.tags - {"sdk", "component", "pipeline_tree"}:
                problems.append(f"{block.where}: unknown tags {sorted(block.tags)}")
    assert problems == []
    # The endpoint pages, the quick start and the tree and component pages all have examples that run.
    assert len([p for p in pages() if answered(p)]) >= 24


@pytest.fixture
def demo(live_server: Any, settings: Any, tmp_path: Any) -> Iterator[str]:
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    call_command("bootstrap_demo", "--spec-placeholders", stdout=io.StringIO())
    yield live_server.url
    flush_retrying()  # the examples' runs may still be stepped by the worker (tests/support/task_world.py)


def run(block: Block, base_url: str) -> str:
    text = block.text.replace(DEMO_URL, base_url)
    command = ["bash", "-e", "-o", "pipefail", "-c", text] if block.language == "bash" else [sys.executable, "-c", text]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, f"{block.where} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def check_answer(block: Block, answer: Block, output: str) -> None:
    if answer.language == "text":
        assert output.strip() == answer.text.strip(), f"{block.where} printed:\n{output}"
        return
    actual, documented = json.loads(output), json.loads(answer.text)
    assert (actual["result"], actual["code"]) == (documented["result"], documented["code"]), (block.where, actual)
    errors = shape_errors(actual, documented)
    assert not errors, f"{block.where}: " + "\n".join(errors)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", [p for p in pages() if answered(p)], ids=lambda p: str(p.relative_to(DOCS)))
def test_shell_and_python_examples_answer_as_documented(page, demo, celery_worker_proc):
    for block, answer in answered(page):
        output = run(block, demo)
        if answer is not None:
            check_answer(block, answer, output)


def tagged(tag: str) -> list[Block]:
    return [b for p in pages() for b in blocks(p) if tag in b.tags]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("block", tagged("pipeline_tree"), ids=lambda b: b.where)
def test_tree_examples_run_to_the_end(block, demo, celery_worker_proc):
    import requests

    from access_app.models import Business
    from templates_app.services import create_template

    template = create_template(name="docs example", pipeline_tree=json.loads(block.text), creator="admin",
                               business=Business.objects.get(bk_biz_id=2))  # validated by the engine
    created = requests.post(f"{demo}/apigw/create_and_start_task/{template.pk}/2/", headers=AUTH,
                            data=json.dumps({"name": "docs tree", "constants": {"${name}": "docs"}}), timeout=30).json()
    assert created["result"] is True, created
    task_id = created["data"]["task_id"]

    def state() -> str | None:
        answer = requests.get(f"{demo}/apigw/get_task_status/{task_id}/2/", headers=AUTH, timeout=30).json()
        return answer["data"]["state"] if answer["data"]["state"] in ("FINISHED", "FAILED") else None

    assert wait_for(state, timeout=60, interval=0.2, message=f"task of {block.where}") == "FINISHED"
    outputs = requests.get(f"{demo}/apigw/get_task_detail/{task_id}/2/", headers=AUTH, timeout=30).json()
    documented = json.loads(block.text)["outputs"]
    assert [o["key"] for o in outputs["data"]["outputs"]] == documented
    if "${greeting}" in documented:
        assert outputs["data"]["outputs"][0]["value"] == "hello docs"


@pytest.mark.parametrize("block", tagged("component"), ids=lambda b: b.where)
def test_component_example_registers_and_runs(block, tmp_path, monkeypatch):
    from pipeline_engine import api
    from pipeline_engine.core.components import unregister
    from pipeline_engine.testing import Simulator as Sim

    (tmp_path / "docs_component_example.py").write_text(block.text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("docs_component_example")
    try:
        assert "word_count" in {c["code"] for c in api.list_components()}
        sim = Sim(word_count_tree("one two three")).start()
        sim.drain()
        assert (sim.run.state, sim.run.outputs) == ("FINISHED", {"${words}": 3})
        failed = Sim(word_count_tree(42)).start()
        failed.drain()
        assert failed.state("count") == "FAILED"
    finally:
        unregister("word_count")
        sys.modules.pop("docs_component_example", None)


def word_count_tree(sentence: Any) -> dict[str, Any]:
    """start -> count (word_count of ${sentence}) -> end; ${words} receives the count."""
    return {
        "start_event": {"id": "start", "type": "EmptyStartEvent", "name": "", "incoming": "", "outgoing": "f1"},
        "end_event": {"id": "end", "type": "EmptyEndEvent", "name": "", "incoming": "f2", "outgoing": ""},
        "activities": {"count": {
            "id": "count", "type": "ServiceActivity", "name": "count the words", "incoming": "f1", "outgoing": "f2",
            "component": {"code": "word_count", "data": {"text": {"hook": False, "value": "${sentence}"}}}}},
        "gateways": {},
        "flows": {"f1": {"id": "f1", "source": "start", "target": "count"},
                  "f2": {"id": "f2", "source": "count", "target": "end"}},
        "constants": {
            "${sentence}": {"key": "${sentence}", "name": "sentence", "value": sentence, "source_type": "custom"},
            "${words}": {"key": "${words}", "name": "words", "value": "", "source_type": "component_outputs",
                         "source_info": {"count": ["count"]}}},
        "outputs": ["${words}"],
    }


# --- the endpoint pages' parameter tables are the document's -----------------------------------------

TABLE_ROW = re.compile(r"^\| `([^`]+)` \| (path|query|body) \| [^|]* \| (yes|no) \|", re.M)


@pytest.mark.django_db
def test_endpoint_pages_list_the_parameters_of_the_document(client):
    document = client.get("/apigw/schema/", HTTP_ACCEPT="application/json").json()
    documented = {}
    for item in document["paths"].values():
        for method, op in item.items():
            name = op["operationId"].removesuffix("_post").removesuffix("_get")
            rows = {(p["name"], p["in"], bool(p.get("required"))) for p in op.get("parameters", [])}
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                body = document["components"]["schemas"][ref]
                rows |= {(k, "body", k in body.get("required", [])) for k in body["properties"]}
            if method == "get" and "post" in item:
                continue  # the page documents the POST; the GET takes the same parameters in the query
            documented[name] = rows
    pages_found = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        if page.name == "README.md":
            continue
        pages_found[page.stem] = {(n, where, req == "yes") for n, where, req in TABLE_ROW.findall(page.read_text())}
    assert set(pages_found) == set(documented) - {"get_template_info_by_list_path"}
    for name, rows in pages_found.items():
        assert rows == documented[name], name
