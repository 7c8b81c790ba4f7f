"""The documentation (docs/*.md, and the README files it links to) served as HTML at /docs/.

Pages are rendered with Python-Markdown (pinned) and a plain stylesheet: no CDN, no script. Only
Markdown files under docs/ and the few project files docs/ links to are served; any other path is
a 404. A link to another Markdown page stays a link to its rendered page.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import markdown
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.html import escape

#: project files outside docs/ that its pages link to, served under /docs/project/
PROJECT_FILES = ("README.md", "sdk/README.md")
STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
pre { background: #f5f5f5; padding: .75rem; overflow-x: auto; } code { font-size: 90%; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .25rem .5rem; vertical-align: top; }
nav { margin-bottom: 1rem; } a { color: #0a58ca; }
"""
# href="x.md" or "x.md#anchor", relative: the rendered page keeps the same relative URL.
_OUTSIDE = re.compile(r'href="((?:\.\./)+)((?:sdk/)?README\.md)(#[^"]*)?"')


def docs_root() -> Path:
    return Path(getattr(settings, "SOPS_DOCS_DIR", Path(settings.BASE_DIR) / "docs"))


def _source(path: str) -> Path:
    root = docs_root().resolve()
    if path.startswith("project/"):
        name = path[len("project/"):]
        if name not in PROJECT_FILES:
            raise Http404(path)
        return root.parent / name
    target = (root / (path or "README.md")).resolve()
    if target.suffix != ".md" or root not in target.parents:
        raise Http404(path)
    return target


# Bounded in bytes by construction: keys are the project's own Markdown files (`_source` refuses any
# other path), so the cache holds at most the rendered docs folder, whatever callers ask for.
@lru_cache(maxsize=128)
def _render(source: Path, mtime: float) -> str:
    html = markdown.markdown(source.read_text(encoding="utf-8"),
                             extensions=["tables", "fenced_code", "toc"], output_format="html")
    # Links from docs/ to project files (../README.md) point at their /docs/project/ pages.
    return _OUTSIDE.sub(lambda m: f'href="/docs/project/{m.group(2)}{m.group(3) or ""}"', html)


def page(request: HttpRequest, path: str = "") -> HttpResponse:
    source = _source(path)
    if not source.is_file():
        raise Http404(path)
    body = _render(source, source.stat().st_mtime)
    title = escape(source.stem if source.stem != "README" else "sops documentation")
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{STYLE}</style></head><body><nav><a href='/docs/'>sops documentation</a> · "
            f"<a href='/apigw/docs/'>Swagger UI</a> · <a href='/apigw/schema/'>OpenAPI</a></nav>{body}</body></html>")
    return HttpResponse(html, content_type="text/html; charset=utf-8")
