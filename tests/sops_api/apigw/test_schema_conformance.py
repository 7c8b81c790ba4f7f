"""schemathesis against the live service: every operation of the OpenAPI document, generated requests, no finding.

The demo world (`bootstrap_demo --spec-placeholders`: business 2, templates 1..10, the spec's
placeholder credentials) is loaded into the test database, the document is read from the live
server's /apigw/schema/, and schemathesis sends each operation its documented examples, then the
coverage phase's deterministic cases (each limit, each enum value, each type broken, each required
parameter missing, unexpected methods), then MAX_EXAMPLES requests per mode it generates from the
schemas: valid ones (positive) and ones that break the schema (negative). Credentials go in the
X-Bkapi-Authorization header, the gateway SDK's way.

The protocol answers every refusal with HTTP 200, `result: false` and a code (3540000 for a bad
parameter), so the checks are chosen for it (docs/openapi.md says the same):

- kept as they are: not_a_server_error (no 5xx, ever), status_code_conformance (only documented
  statuses), content_type_conformance (JSON as documented), response_schema_conformance (every
  body, success or refusal, matches the operation's envelope and its `data`);
- negative_data_rejection is judged on the envelope instead of the HTTP status:
  `negative_data_rejected_in_the_envelope` lets the built-in check decide (it knows which
  mutations stop being invalid once serialised) on a copy of the response whose status is what
  the envelope's code means in HTTP: 3540000 -> 400, 3540100 -> 403, 3540400 -> 404, 3545000 ->
  409, 3599999 -> 500, `result: true` -> 200. A schema-violating request must be refused;
  a refusal for the object it names (404) counts, as it would over plain HTTP;
- `envelope_conformance` adds what one JSON schema cannot say: no answer is 3599999 (an
  unexpected error: the protocol's 500, which not_a_server_error cannot see behind HTTP 200),
  result false <=> code != 0, and data is null on every refusal;
- left out: positive_data_acceptance (a valid-looking request is often refused for the data it
  names, e.g. a node id the template does not have, with a clear 3540000 or 3540400 answer: the
  schema cannot know the database), ignored_auth and missing_required_header (an unauthenticated
  call is refused with HTTP 200 and 3540100, and credentials are not schema parameters),
  use_after_free / ensure_resource_availability (nothing is deleted through this API), stateful
  testing (its links are not declared).

Path ids are integers, so nearly all generated ones name nothing and every request would stop at
"not found": `demo_path_ids` swaps a generated (valid) id for one of the demo's most of the time, so
the requests reach the parameters' validation and the handlers. Malformed ids (negative cases) are
left alone.

The run sends about 2,700 requests to the 33 operations in 25 to 40 seconds here; `pytest -s` prints
the answers per operation, mode and code.
"""
from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from sops_api.apigw.errors import (
    CONTENT_NOT_EXIST,
    INVALID_OPERATION,
    REQUEST_FORBIDDEN_INVALID,
    REQUEST_PARAM_INVALID,
    SUCCESS,
    UNKNOWN_ERROR,
)
from sops_common.limits import MAX_ID
from tests.support.task_world import flush_retrying

pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = 15
DEMO_AUTH = {"X-Bkapi-Authorization": json.dumps(
    {"bk_app_code": "app_code", "bk_app_secret": "app_secret", "access_token": "access_token"})}


def envelope_conformance(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """No unexpected error (3599999 is the protocol's 500); a refusal has a non-zero code and data null; a
    success has code 0."""
    body = response.json()
    assert body["code"] != UNKNOWN_ERROR, f"an unexpected error (the protocol's 500): {body}"
    if body["result"] is False:
        assert body["code"] != SUCCESS, f"result false with code 0: {body}"
        assert body["data"] is None, f"a refusal carries data: {body}"
    else:
        assert body["code"] == SUCCESS, f"result true with code {body['code']}: {body}"
    return None


# What each envelope code would be in plain HTTP: the status negative_data_rejection judges.
HTTP_STATUS_OF_CODE = {SUCCESS: 200, REQUEST_PARAM_INVALID: 400, REQUEST_FORBIDDEN_INVALID: 403,
                       CONTENT_NOT_EXIST: 404, INVALID_OPERATION: 409, UNKNOWN_ERROR: 500}


def negative_data_rejected_in_the_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """negative_data_rejection, read off the envelope (see the module's docstring)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return None
    body = response.json()
    status = 200 if body.get("result") is True else HTTP_STATUS_OF_CODE.get(body.get("code"), 500)
    seen = Response(status_code=status, headers=response.headers, content=response.content,
                    request=response.request, elapsed=response.elapsed, verify=response.verify)
    return negative_data_rejection(ctx, seen, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          envelope_conformance, negative_data_rejected_in_the_envelope]

CONFIG = {
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none",
                   "with-security-parameters": False},
    "phases": {"examples": {"enabled": True}, "fuzzing": {"enabled": True},
               "coverage": {"enabled": True}, "stateful": {"enabled": False}},
}


# Filled by the fixture: the ids of the demo's objects, by path parameter.
DEMO_IDS: dict[str, list[int]] = {}


def demo_path_ids(context: Any, path_parameters: dict[str, Any]) -> Any:
    """A hook (flatmap_path_parameters): mostly the demo's ids in place of generated integers."""
    if path_parameters is None:  # an endpoint without path parameters (get_functionalization_task_list)
        return st.just(path_parameters)
    periodic = "periodic" in context.operation.path
    choices = {}
    for name, value in (path_parameters or {}).items():
        key = "periodic_task_id" if periodic and name == "task_id" else name
        # Only a valid id is swapped: an out-of-range one is a negative case's mutation, and must reach the server.
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID and DEMO_IDS.get(key):
            choices[name] = st.sampled_from([*DEMO_IDS[key], value])
        else:
            choices[name] = st.just(value)
    return st.fixed_dictionaries(choices)


def demo_objects() -> dict[str, list[int]]:
    """The demo, plus tasks (created, started, claimable) and a periodic task for the operations that need one."""
    from access_app.models import Business
    from periodic_app import services as periodic_services
    from periodic_app.cron import parse_cron
    from tasks_app import services as task_services
    from templates_app.models import Template

    call_command("bootstrap_demo", "--spec-placeholders", stdout=io.StringIO(), stderr=io.StringIO())
    business = Business.objects.get(bk_biz_id=2)
    template = Template.objects.get(pk=1)
    tasks = [task_services.create_task(business=business, template=template, name=f"demo {flow}",
                                       creator="admin", app_code="app_code", flow_type=flow)
             for flow in ("common", "common", "common_func")]
    # Started with no worker running: the run waits at its first node, operations apply to it.
    task_services.start_task(task=tasks[1], executor="admin", source="api")
    periodic = periodic_services.create_periodic_task(business=business, template=template, name="demo",
                                                      cron=parse_cron({"minute": "0"}), creator="admin")
    return {"bk_biz_id": [2], "template_id": [1, 4, 10], "task_id": [t.pk for t in tasks],
            "periodic_task_id": [periodic.pk]}


@pytest.fixture
def demo_schema(live_server: Any, settings: Any, tmp_path: Any) -> Iterator[Any]:
    settings.VAR_DIR = tmp_path  # the demo's credential file goes there, not into var/
    DEMO_IDS.update(demo_objects())
    config = schemathesis.Config.from_dict(CONFIG)
    loaded = schemathesis.openapi.from_url(f"{live_server.url}/apigw/schema/", config=config)
    loaded.hook("flatmap_path_parameters")(demo_path_ids)
    yield loaded
    # Runs the cases started may still be stepped by a worker of the session: empty the database
    # before pytest-django's own flush has to fight it for the tables' locks.
    flush_retrying()


schema = schemathesis.pytest.from_fixture("demo_schema")


ANSWERS: dict[str, Counter] = defaultdict(Counter)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case: Case, live_server: Any) -> None:
    response = case.call_and_validate(base_url=live_server.url, headers=DEMO_AUTH, checks=CHECKS)
    body = response.json()
    mode = case.meta.generation.mode.value if case.meta else "explicit"
    ANSWERS[case.operation.label][(mode, body["code"])] += 1


@pytest.fixture(scope="module", autouse=True)
def report_answers() -> Any:
    yield
    for label, counts in sorted(ANSWERS.items()):
        print(label, dict(counts))
