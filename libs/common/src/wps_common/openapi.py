"""The OpenAPI document as the services really answer: problem details for every error status a
route can give, `Idempotency-Key` on the writes that honour it, and OpenID Connect sign-in.

FastAPI documents a route's success model and its own 422; everything in front of the route
(wps_common.limits, idempotency, auth and the problem handlers) is invisible to it. One hook
completes each operation from what the route is: protected or public, with a body or not, a
write or a read, naming a resource in its path or not. What only the code knows (a 404 on a
body reference, a 409 on a read, a 429) a route declares itself with FastAPI's `responses`,
giving a description only: the hook adds the problem+json content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from copy import deepcopy
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from wps_common import auth
from wps_common.errors import PROBLEM_BASE, PROBLEM_JSON
from wps_common.idempotency import WRITE_METHODS
from wps_common.settings import ServiceSettings

# Where `wps-platform` runs the development OpenID provider when no OIDC_ISSUERS is set.
DEVELOPMENT_DISCOVERY_URL = "http://localhost:8006/.well-known/openid-configuration"
OIDC_SCHEME = "oidc"
BEARER_SCHEME = "bearer"
PROBLEM_REF = "#/components/schemas/Problem"
REQUEST_ID_REF = "#/components/headers/X-Request-ID"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details: every error any operation answers.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "description": f"What kind of problem: `{PROBLEM_BASE}<slug>`.",
            "examples": [PROBLEM_BASE + "invalid-input"],
        },
        "title": {"type": "string", "description": "The kind of problem, in a few words."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong, for a person to read."},
        "instance": {"type": "string", "description": "The path of the request."},
        "request_id": {
            "type": "string",
            "description": "The request's X-Request-ID: quote it when reporting a problem.",
        },
        "errors": {
            "type": "array",
            "description": "For invalid input: each offending field and what is wrong with it.",
            "items": {"$ref": "#/components/schemas/FieldProblem"},
        },
    },
    # RFC 9457 lets a problem carry extension members (a conflict names the code it is about).
    "additionalProperties": True,
}
FIELD_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "FieldProblem",
    "type": "object",
    "required": ["field", "message"],
    "properties": {
        "field": {
            "type": "string",
            "description": "Dotted path of the field (`body`, a parameter or header name).",
        },
        "message": {"type": "string"},
    },
}
READINESS_SCHEMA: dict[str, Any] = {
    "title": "Readiness",
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {
            "type": "string",
            "enum": ["ready", "not ready", "draining"],
            "description": "`draining`: the service is shutting down and takes no new work.",
        },
        "checks": {
            "type": "object",
            "description": "Each dependency (database, NATS) and `ok` or why it failed.",
            "additionalProperties": {"type": "string"},
        },
    },
}

# What each error status means on any route; a route's own description wins.
STATUS_TEXT = {
    400: "Bad request: an `Idempotency-Key` that is empty or longer than 200 characters.",
    401: "No bearer token, or one that does not verify (expired, wrong issuer or audience).",
    403: "The token is valid, but its roles do not allow this.",
    404: "There is no such resource, or none the caller may see (another academy's, say).",
    409: (
        "The request conflicts with the current state, or a request with the same "
        "`Idempotency-Key` is still running."
    ),
    413: "The body is larger than this service accepts.",
    422: (
        "Invalid input: `errors` names each offending field. Also: an `Idempotency-Key` "
        "reused with a different body."
    ),
    429: "Too many requests from this address; wait the seconds in `Retry-After`.",
    500: "An unexpected error; quote `request_id` when reporting it.",
    503: "Sign-in cannot be checked now (the identity provider is unreachable); retry shortly.",
}
IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: a repeat with the same key (same caller, method and path) within "
        "24 hours gets the first response back, marked `Idempotent-Replayed: true`, instead of "
        "running again. A key reused with a different body is a 422."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: the scheme to authenticate with.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before the next request.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
    303: {
        "Location": {
            "description": "Where the answer is.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
}
PROBLEM_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "PayloadTooLarge",
    422: "InvalidInput",
    429: "TooManyRequests",
    500: "InternalError",
    503: "SignInUnavailable",
}
RESPONSES_REF = "#/components/responses/"
READINESS = {"schema": {"$ref": "#/components/schemas/Readiness"}}
NO_BODY = {204, 303, 304}
# FastAPI's text for responses nobody described.
_FASTAPI_DEFAULTS = {"Successful Response", "Validation Error"}


def install_openapi(app: FastAPI, settings: ServiceSettings, *, idempotent: bool) -> None:
    """Replace `app.openapi` with one that completes each document FastAPI makes.
    `idempotent`: the service runs the IdempotencyMiddleware, so every write honours the key."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        # FastAPI caches its document and makes a new one when routes were added since.
        schema = generate()
        if not completed or completed[0] is not schema:
            complete(schema, app, discovery_url(settings), idempotent=idempotent)
            completed[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def discovery_url(settings: ServiceSettings) -> str:
    """The first issuer's discovery document, as a browser (Swagger UI) reaches it: the issuer's
    own address, not OIDC_DISCOVERY_URLS (those are for services inside a container network)."""
    if settings.issuers:
        return settings.issuers[0].rstrip("/") + "/.well-known/openid-configuration"
    return DEVELOPMENT_DISCOVERY_URL


def complete(
    schema: dict[str, Any], app: FastAPI, discovery: str, *, idempotent: bool
) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = deepcopy(PROBLEM_SCHEMA)
    schemas["FieldProblem"] = deepcopy(FIELD_PROBLEM_SCHEMA)
    schemas["Readiness"] = deepcopy(READINESS_SCHEMA)
    responses = components.setdefault("responses", {})
    for status, name in PROBLEM_RESPONSES.items():
        responses[name] = _complete_response(status, {"description": STATUS_TEXT[status]})
    components.setdefault("headers", {})["X-Request-ID"] = {
        "description": "The request's correlation id (the one sent, or a new one).",
        "required": True,
        "schema": {"type": "string"},
    }
    components["securitySchemes"] = {
        OIDC_SCHEME: {
            "type": "openIdConnect",
            "openIdConnectUrl": discovery,
            "description": "An access token from the institution's OpenID Connect provider.",
        },
        # Swagger UI's Authorize dialog offers a text field only for an http bearer scheme:
        # an operator pastes a token obtained elsewhere (or from `wps-token` in development).
        BEARER_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The same access token, pasted (the OpenID Connect one).",
        },
    }
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _complete_operation(operation, route, method, idempotent=idempotent)
    return schema


def _complete_operation(
    operation: dict[str, Any], route: RouteContext, method: str, *, idempotent: bool
) -> None:
    calls = {dependant.call for dependant in _dependants(route.dependant)}
    protected = auth.current_principal in calls
    has_role_check = any(_is_role_check(call) for call in calls)
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    write = method in WRITE_METHODS
    if write and idempotent:
        parameters.append(deepcopy(IDEMPOTENCY_KEY))
    has_path_parameter = any(p.get("in") == "path" for p in parameters)
    has_input = bool(parameters) or "requestBody" in operation

    statuses = {500}
    if has_input:
        statuses.add(422)
    if protected:
        statuses |= {401, 503}
        operation["security"] = [{OIDC_SCHEME: []}, {BEARER_SCHEME: []}]
    else:
        operation.pop("security", None)
    if has_role_check:
        statuses.add(403)
    if has_path_parameter:
        statuses.add(404)
    if write:
        # Every write may carry a body: wps_common.limits refuses one past the limit.
        statuses.add(413)
        if idempotent:
            statuses |= {400, 409, 422}

    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in statuses:
        responses.setdefault(str(status), {})
    for code, response in responses.items():
        if code.isdigit():
            responses[code] = _complete_response(int(code), response)
    if route.path_format == "/readyz":
        # wps_common.app's readiness answers its checks as JSON, ready or not.
        for code, text in (
            ("200", "Ready: every check is `ok`."),
            ("503", "Not ready, or draining."),
        ):
            responses[code] = _complete_response(
                int(code),
                {"description": text, "content": {"application/json": READINESS}},
                problem=False,
            )
    operation["responses"] = dict(sorted(responses.items()))
    if not parameters:
        del operation["parameters"]


def _complete_response(
    status: int, response: dict[str, Any], *, problem: bool = True
) -> dict[str, Any]:
    if status >= 400 and response.get("description") in (None, "", *_FASTAPI_DEFAULTS):
        if status in STATUS_TEXT:
            return {"$ref": RESPONSES_REF + PROBLEM_RESPONSES[status]}
    if status in NO_BODY:
        # FastAPI gives every described response a JSON body; these have none.
        response.pop("content", None)
    elif status >= 400 and problem:
        response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
    headers = response.setdefault("headers", {})
    headers.setdefault("X-Request-ID", {"$ref": REQUEST_ID_REF})
    for name, header in HEADERS.get(status, {}).items():
        headers.setdefault(name, deepcopy(header))
    for media, content in response.get("content", {}).items():
        if not content.get("schema") and not media.endswith("json"):
            # A file or page: bytes or text, whatever the media type says they are.
            content["schema"] = {"type": "string", "format": "binary"}
    return response


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for child in dependant.dependencies:
        yield from _dependants(child)


def _is_role_check(call: Any) -> bool:
    # wps_common.auth.require(...) builds one such dependency per set of roles.
    return getattr(call, "__qualname__", "").startswith(f"{auth.require.__name__}.<locals>.")
