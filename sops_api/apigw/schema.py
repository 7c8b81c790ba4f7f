"""OpenAPI for /apigw/ endpoints (drf-spectacular), built from what each view declares.

`ApigwAutoSchema` is the schema class of every ApigwView. It documents:
- the path ids (PATH_PARAMETERS: integers, with an example that names a demo object);
- the view's `input_serializer`: as the JSON body of a POST, as the query string of a GET
  (an object or list parameter of a query string is JSON text: `content: application/json`);
- the view's `output_serializer` as `data` inside the envelope. The envelope is one component
  (`Envelope`); `data` is null whenever `result` is false;
- the credentials (SECURITY_SCHEMES), which every endpoint takes in the query, the body or the
  X-Bkapi-Authorization header.
Each field's `example=` (serializers/fields.py) is written into its schema.
"""
from __future__ import annotations

from typing import Any, cast

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_parameter_type
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from .errors import (
    CONTENT_NOT_EXIST,
    INVALID_OPERATION,
    REQUEST_FORBIDDEN_INVALID,
    REQUEST_PARAM_INVALID,
    SERVICE_UNAVAILABLE,
    SUCCESS,
    UNKNOWN_ERROR,
)
from .serializers.fields import NO_EXAMPLE, Parsed

# Swagger UI's "Authorize" fills these in; the views read them wherever they come.
SECURITY_SCHEMES = {
    "app_code": {"type": "apiKey", "in": "query", "name": "app_code",
                 "description": "App code (bk_app_code is accepted too). Also read from the body."},
    "app_secret": {"type": "apiKey", "in": "query", "name": "app_secret",
                   "description": "App secret (bk_app_secret is accepted too). Also read from the body."},
    "access_token": {"type": "apiKey", "in": "query", "name": "access_token",
                     "description": "User access token, issued for one app: alone, or with that app's "
                                    "app_code and app_secret (or give bk_token). Also read from the body."},
    "bk_token": {"type": "apiKey", "in": "query", "name": "bk_token",
                 "description": "User login ticket, with any enabled app's app_code and app_secret "
                                "(or give access_token). Also read from the body."},
    "bkapi_authorization": {
        "type": "apiKey", "in": "header", "name": "X-Bkapi-Authorization",
        "description": 'A JSON object: {"access_token": ...} alone (as bkapi-client-core sends it), '
                       'or {"bk_app_code": ..., "bk_app_secret": ..., "bk_token": ...}.',
    },
}
SECURITY: list[dict[str, list[str]]] = [
    {"access_token": []},
    {"app_code": [], "app_secret": [], "access_token": []},
    {"app_code": [], "app_secret": [], "bk_token": []},
    {"bkapi_authorization": []},
]

#: the path ids of every route (label, example); a view's `path_help` may name one differently
PATH_PARAMETERS: dict[str, tuple[str, int]] = {
    "bk_biz_id": ("business id", 2),
    "template_id": ("template id", 1),
    "task_id": ("task id", 10),
}
PATH_ID_NOTE = "(the spec types it string: any decimal integer)"

ENVELOPE_COMPONENT = "Envelope"
ENVELOPE_REF = {"$ref": f"#/components/schemas/{ENVELOPE_COMPONENT}"}
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every answer, success or failure, is HTTP 200 with this body (a wrong method is HTTP 405 "
                   "with it). `result` false means the request was refused: `message` says why, `code` says "
                   "what kind of refusal, and `data` is null.",
    "properties": {
        "result": {"type": "boolean", "example": True, "description": "true when the request was carried out"},
        "data": {"nullable": True, "description": "the answer (see each endpoint); null when result is false"},
        "message": {"type": "string", "example": "success",
                    "description": '"success", or why the request was refused'},
        "code": {"type": "integer", "example": SUCCESS,
                 "enum": [SUCCESS, REQUEST_PARAM_INVALID, REQUEST_FORBIDDEN_INVALID, CONTENT_NOT_EXIST,
                          INVALID_OPERATION, SERVICE_UNAVAILABLE, UNKNOWN_ERROR],
                 "description": f"{SUCCESS} success; {REQUEST_PARAM_INVALID} bad parameter (the message names "
                                f"it); {REQUEST_FORBIDDEN_INVALID} authentication or role refused; "
                                f"{CONTENT_NOT_EXIST} not found; {INVALID_OPERATION} not possible in the "
                                f"object's state; {UNKNOWN_ERROR} unexpected (logged)"},
    },
    "required": ["result", "data", "message", "code"],
}


def envelope(data: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON schema of an envelope whose `data` has the given schema on success (null on failure),
    with `extra` keys beside `data` (get_task_list's `count`)."""
    if data is None and not extra:
        return ENVELOPE_REF
    properties = dict(extra or {})
    if data is not None:
        properties["data"] = {"allOf": [data], "nullable": True} if "$ref" in data else {**data, "nullable": True}
    return {"allOf": [ENVELOPE_REF, {"type": "object", "properties": properties}]}


def _is_json_text(schema: dict[str, Any]) -> bool:
    """Whether a query parameter of this schema travels as JSON text (an object, a list, or either of them)."""
    if schema.get("type") in ("object", "array") or "$ref" in schema:
        return True
    return any(_is_json_text(option) for option in schema.get("oneOf", []))


class ApigwAutoSchema(AutoSchema):
    def _get_serializer(self) -> None:
        # Inputs and outputs are declared apart (input_serializer, output_serializer).
        return None

    def _is_create_operation(self) -> bool:
        return False  # every answer is HTTP 200, creations included

    def _input(self) -> type[serializers.Serializer] | None:
        return getattr(self.view, "input_serializer", None)

    def map_parsers(self) -> list[str]:
        # params.py reads bodies itself; JSON is the documented one (with or without its content type).
        return ["application/json"]

    def get_request_serializer(self) -> Any:
        if self.method in ("POST", "PUT", "PATCH"):
            return self._input()
        return None

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        input_serializer = self._input()
        if self.method == "GET" and input_serializer is not None:
            parameters.append(input_serializer)
        return parameters

    def _get_parameters(self) -> list[dict[str, Any]]:
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema") or {}
            if parameter["in"] == "query" and _is_json_text(schema):
                # An object or a list in a query string is JSON text (requests.get(url, {"k": json.dumps(v)})).
                example = schema.pop("example", NO_EXAMPLE)
                parameter.pop("schema")
                parameter.pop("style", None)
                parameter.pop("explode", None)
                parameter["content"] = {"application/json": {"schema": schema}}
                if example is not NO_EXAMPLE:
                    parameter["content"]["application/json"]["example"] = example
        return parameters

    def _resolve_path_parameters(self, variables: list[str]) -> list[dict[str, Any]]:
        labels = getattr(self.view, "path_help", {})
        parameters = []
        for name in variables:
            label, example = PATH_PARAMETERS.get(name, (name, 1))
            parameters.append(build_parameter_type(
                name=name, location=OpenApiParameter.PATH, description=f"{labels.get(name, label)} {PATH_ID_NOTE}",
                schema={"type": "integer", "format": "int64", "example": example},
            ))
        return parameters

    def _map_serializer_field(self, field: Any, direction: str, bypass_extensions: bool = False) -> Any:
        if isinstance(field, Parsed):
            # A domain rule reads it: its schema is all it declares.
            schema = {**self._get_serializer_field_meta(field, direction), **field.schema_extra}
        else:
            schema = super()._map_serializer_field(field, direction, bypass_extensions)
            extra = getattr(field, "schema_extra", None)
            if schema is not None and extra:
                if "oneOf" in extra:  # the alternatives say the type and its limits
                    schema = {k: v for k, v in schema.items() if k not in ("type", "minLength", "maxLength")}
                schema = {**schema, **extra}
        if schema is not None and direction == "request":
            schema = _blank_means_default(field, schema)
        example = getattr(field, "example", NO_EXAMPLE)
        if schema is not None and example is not NO_EXAMPLE and "$ref" not in schema:
            schema["example"] = example
        return schema

    def get_response_serializers(self) -> Any:
        output = getattr(self.view, "output_serializer", None)
        if output is None:
            data = None
        elif isinstance(output, dict):
            data = output
        elif isinstance(output, serializers.ListSerializer):
            data = {"type": "array", "items": self.resolve_serializer(cast(Any, output.child), "response").ref}
        elif isinstance(output, serializers.BaseSerializer) or isinstance(output, type):
            data = self.resolve_serializer(cast(Any, output), "response").ref
        else:  # a field: a map of constants, say
            data = self._map_serializer_field(output, "response")
        extra = getattr(self.view, "envelope_extra", None)
        return {"200": OpenApiResponse(response=envelope(data, extra), description="the envelope (HTTP 200, also "
                                                                               "when result is false)")}

    def get_auth(self) -> list[dict[str, list]]:
        return SECURITY

    def get_tags(self) -> list[str]:
        # The endpoint module's name: templates, tasks or periodic.
        return [type(self.view).__module__.rsplit(".", 1)[-1]]

    def get_operation_id(self) -> str:
        # The endpoint's own name (the first path segment after /apigw/),
        # suffixed by the method when a view answers several.
        segments = [s for s in self.path.split("/") if s and not s.startswith("{")]
        name = segments[1] if len(segments) > 1 and segments[0] == "apigw" else "_".join(segments)
        name = getattr(self.view, "schema_operation_name", None) or name
        methods = [m for m in getattr(self.view, "http_method_names", []) if m not in ("options", "head")]
        return name if len(methods) <= 1 else f"{name}_{self.method.lower()}"


def add_security_schemes(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: declare the credential schemes and the envelope the operations refer to."""
    components = result.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    components.setdefault("schemas", {})[ENVELOPE_COMPONENT] = ENVELOPE_SCHEMA
    return result


def _blank_means_default(field: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """An optional number or boolean may be sent empty (`?limit=`) and is then read as absent
    (serializers/fields.py, `blank_is_absent`): the document says so, as Choice's enum does with ""."""
    if (not getattr(field, "blank_is_absent", False) or field.required
            or schema.get("type") not in ("integer", "number", "boolean")):
        return schema
    kept = {k: v for k, v in schema.items() if k in ("default", "description", "nullable", "readOnly", "writeOnly")}
    typed = {k: v for k, v in schema.items() if k not in kept}
    return {**kept, "oneOf": [typed, {"type": "string", "enum": [""], "description": "empty: the default"}]}
