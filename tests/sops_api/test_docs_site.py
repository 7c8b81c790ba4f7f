"""/docs/: the documentation rendered as HTML, and nothing but the documentation."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize(("url", "text"), [
    ("/docs/", "sops documentation"),
    ("/docs/quickstart.md", "The first task in five minutes"),
    ("/docs/api/create_task.md", "<table>"),
    ("/docs/project/README.md", "Where the spec contradicts itself"),
])
def test_pages_render_as_html(client, url, text):
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert text in body and "<script" not in body


def test_links_stay_between_rendered_pages(client):
    body = client.get("/docs/production.md").content.decode()
    assert 'href="/docs/project/README.md#production-checklist"' in body
    assert 'href="components.md"' in body  # relative: /docs/components.md, also rendered


@pytest.mark.parametrize("url", ["/docs/../manage.py", "/docs/%2e%2e/pyproject.toml", "/docs/project/manage.py",
                                 "/docs/project/../pyproject.toml", "/docs/missing.md", "/docs/api/"])
def test_nothing_else_is_served(client, url):
    assert client.get(url).status_code == 404
