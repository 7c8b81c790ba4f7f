"""OpenAPI for /apigw/ endpoints (drf-spectacular).

`ApigwAutoSchema` is the schema class of every ApigwView, so each endpoint is
documented with the credentials it takes and the envelope it answers, even
without annotations. `@extend_schema(responses=envelope_response(...))` adds
the shape of `data`; `request=body_schema({...})` the body's fields.
"""
from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

# Swagger UI's "Authorize" fills these in; the views read them wherever they come.
SECURITY_SCHEMES = {
    "app_code": {"type": "apiKey", "in": "query", "name": "app_code",
                 "description": "App code (bk_app_code is accepted too)."},
    "app_secret": {"type": "apiKey", "in": "query", "name": "app_secret",
                   "description": "App secret (bk_app_secret is accepted too)."},
    "access_token": {"type": "apiKey", "in": "query", "name": "access_token",
                     "description": "User access token, issued for one app: alone, or with that app's "
                                    "app_code and app_secret (or give bk_token)."},
    "bk_token": {"type": "apiKey", "in": "query", "name": "bk_token",
                 "description": "User login ticket, with any enabled app's app_code and app_secret "
                                "(or give access_token)."},
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

ANY: dict[str, Any] = {}
TIME = {"type": "string", "example": "2018-04-23 17:30:48 +0800",
        "description": "YYYY-mm-dd HH:MM:SS +zzzz in the business's time zone; \"\" when unset"}


def envelope(data: dict[str, Any] | None = None, *, description: str = "") -> dict[str, Any]:
    """The JSON schema of an envelope whose `data` has the given schema."""
    return {
        "type": "object",
        "description": description or "result false: data null, message says why, code is not 0",
        "properties": {
            "result": {"type": "boolean"},
            "data": data if data is not None else ANY,
            "message": {"type": "string"},
            "code": {"type": "integer", "example": 0,
                     "description": "0 success; 3540000 bad parameter; 3540100 forbidden; 3540400 not found; "
                                    "3545000 invalid operation; 3550300 service unavailable "
                                    "(database unreachable, retry later); 3599999 unexpected"},
        },
        "required": ["result", "data", "message", "code"],
    }


def envelope_response(data: dict[str, Any] | None = None, description: str = "") -> dict[str, OpenApiResponse]:
    """For `@extend_schema(responses=...)`: HTTP 200 with the envelope around `data`."""
    return {"200": OpenApiResponse(response=envelope(data), description=description or "envelope")}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


def body_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """For `@extend_schema(request=...)`: a JSON body (sent with or without a JSON content type).

    Credentials may be part of it too (the spec's examples put them there).
    """
    return {"application/json": obj(properties, required, additionalProperties=True)}


class ApigwAutoSchema(AutoSchema):
    def _get_serializer(self) -> None:
        # These views read parameters by hand (three styles, see params.py);
        # there is no serializer to guess from.
        return None

    def _is_create_operation(self) -> bool:
        return False  # every answer is HTTP 200, creations included

    def get_response_serializers(self) -> Any:
        return envelope_response()

    def get_request_serializer(self) -> Any:
        if self.method in ("POST", "PUT", "PATCH"):
            return body_schema({})
        return None

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
    """Postprocessing hook: declare the credential schemes the operations refer to."""
    components = result.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    return result
