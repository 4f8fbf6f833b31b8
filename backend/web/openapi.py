"""The OpenAPI 3.1 document of the REST API, served at ``GET /api/openapi.json``.

Every view under ``/api`` declares itself with ``@api_route(...)`` (below its ``@bp.get``):
the same Field / Shape objects its validators read (services/schema.py), and the shape
of each answer (a TypedDict of backend/shapes/, rendered by pydantic). The document is
built from ``app.url_map`` and those declarations at request time, so it lists exactly
the routes the server has, with enums (providers, styles, models) as the running studio
has them. A route under /api without a declaration is listed in ``x-undeclared`` and
fails tests/test_openapi.py. The SPA's types are generated from it (web/api_types.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from backend import __version__
from backend.services.schema import Field, Shape, ref
from backend.shapes import component_schemas
from backend.web.auth import SESSION_COOKIE
from backend.web.context import studio
from backend.web.security import COOKIE

bp = Blueprint("openapi", __name__)

OPENAPI_ATTR = "_openapi_operation"
_RULE_ARG = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTER_TYPES = {"int": "integer", "float": "number"}
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "The body is missing or not JSON",
    404: "Not found",
    401: "Only when the server has ATELIER_TOKEN set: no valid token (`unauthorized`)",
    402: "The job would take this month's spend over a budget: the studio's (ATELIER_MONTHLY_BUDGET_USD), "
    "its user's or its API key's; the message names which (`budget_exceeded`)",
    403: "A browser page of an origin that ATELIER_ALLOWED_ORIGINS does not allow (`forbidden_origin`)",
    409: "Conflict with the current state",
    413: "The request is too large",
    422: "A value that cannot be used; `field` names it",
    429: "Only with a limit set: too many job submissions from this client (ATELIER_RATE_LIMIT), user or API key "
    "(`rate_limited`), or too many of the user's or key's jobs queued and running (`too_many_jobs`)",
    503: "Only with ATELIER_REDIS_URL set: the job queue cannot be reached (`queue_unavailable`)",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}


@dataclass(frozen=True)
class Reply:
    """One documented answer: a component name (JSON) or a raw schema and media type."""

    schema: str | dict[str, Any] | None
    description: str = ""
    media: str = "application/json"
    #: OpenAPI links: name -> (operationId, {parameter: runtime expression}), e.g. the new job's id
    links: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def render(self, status: int) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description or _STATUS_TEXT.get(status, "")}
        if self.schema is not None:
            schema = ref(self.schema) if isinstance(self.schema, str) else self.schema
            out["content"] = {self.media: {"schema": schema}}
        if self.headers:
            out["headers"] = self.headers
        if self.links:
            out["links"] = {
                name: {"operationId": operation, "parameters": parameters}
                for name, (operation, parameters) in self.links.items()
            }
        return out


ERROR = Reply("Error")
#: answers with the Error shape and a Retry-After header
RETRY_LATER = {429: Reply("Error", headers=RETRY_AFTER), 503: Reply("Error", headers=RETRY_AFTER)}
#: answers the security layer (web/security.py) may give on any /api route
GUARDED = {401: ERROR, 403: ERROR}
TOKEN_SCHEMES = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "ATELIER_TOKEN, or with accounts on an API key (`atl_...`, POST /api/keys), as "
        "`Authorization: Bearer <secret>`. Needed only when the server has ATELIER_TOKEN set or a user exists; "
        "otherwise every route is open and no 401 is ever answered.",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE,
        "description": "Set by the server on the first request with a valid bearer token (browsers: <img> requests).",
    },
    "accountSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "With accounts on: set by POST /api/session (or OpenID Connect sign-in). A request that "
        "changes state with it also sends `X-CSRF-Token` (from /api/session or /api/me) and a same-site Origin.",
    },
}
#: eventlet's WSGI server answers a request line over 8 KB itself, with no body
URI_TOO_LONG = Reply(None, "The URL is longer than the server takes (8 KB under eventlet)")


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: dict[int, Reply | str]
    description: str = ""
    tags: tuple[str, ...] = ()
    query: tuple[Field, ...] = ()
    path: tuple[Field, ...] = ()  # descriptions / patterns for the rule's <params>
    body: Shape | None = None  # a JSON body
    form: tuple[Field, ...] = ()  # a multipart/form-data body
    extra: dict[str, Any] = field(default_factory=dict)


def api_route(
    summary: str,
    *,
    responses: dict[int, Reply | str],
    errors: Iterable[int] = (),
    **kwargs: Any,
) -> Callable[[Callable], Callable]:
    """Declare a view for the OpenAPI document; put it below the blueprint's route decorator.

    ``responses`` maps a status to a component name (a shape of backend/shapes/) or a Reply;
    ``errors`` lists the 4xx statuses it can answer, each with the Error shape."""
    all_responses = dict(responses)
    for status in errors:
        all_responses.setdefault(status, RETRY_LATER.get(status, ERROR))
    operation = Operation(summary, all_responses, **kwargs)

    def mark(view: Callable) -> Callable:
        setattr(view, OPENAPI_ATTR, operation)
        return view

    return mark


def declared_operation(app: Flask, endpoint: str) -> Operation | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, OPENAPI_ATTR, None) if view else None


def openapi_path(rule: str) -> str:
    """``/api/jobs/<job_id>`` -> ``/api/jobs/{job_id}``."""
    return _RULE_ARG.sub(lambda m: "{" + m.group("name") + "}", rule)


def _parameters(rule: str, operation: Operation, env: Any) -> list[dict[str, Any]]:
    declared = {f.name: f for f in operation.path}
    params = []
    for m in _RULE_ARG.finditer(rule):
        name = m.group("name")
        fld = declared.get(name) or Field(name, _CONVERTER_TYPES.get(m.group("converter") or "", "string"))
        schema = fld.json_schema(env)
        params.append({"name": name, "in": "path", "required": True, "schema": schema, "description": fld.description})
    for fld in operation.query:
        params.append(
            {"name": fld.name, "in": "query", "required": fld.required, "schema": fld.json_schema(env)}
            | ({"description": fld.description} if fld.description else {})
        )
    return params


def _request_body(operation: Operation, env: Any) -> dict[str, Any] | None:
    if operation.body is not None:
        return {"required": True, "content": {"application/json": {"schema": operation.body.json_schema(env)}}}
    if operation.form:
        schema = Shape(operation.form, additional=True).json_schema(env)
        return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    return None


def _operation_json(rule: str, endpoint: str, method: str, operation: Operation, env: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": f"{endpoint}.{method}", "summary": operation.summary}
    if operation.description:
        out["description"] = operation.description
    if operation.tags:
        out["tags"] = list(operation.tags)
    params = _parameters(rule, operation, env)
    if params:
        out["parameters"] = params
    body = _request_body(operation, env)
    if body:
        out["requestBody"] = body
    responses = {**GUARDED, **operation.responses}
    if params:
        responses.setdefault(414, URI_TOO_LONG)
    out["responses"] = {
        str(status): (Reply(reply) if isinstance(reply, str) else reply).render(status)
        for status, reply in sorted(responses.items())
    }
    out.update(operation.extra)
    return out


def build_document(app: Flask, env: Any = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route under /api of ``app``."""
    paths: dict[str, dict[str, Any]] = {}
    undeclared: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/"):
            continue
        operation = declared_operation(app, rule.endpoint)
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if operation is None:
            undeclared += [f"{m} {rule.rule}" for m in methods]
            continue
        item = paths.setdefault(openapi_path(rule.rule), {})
        for method in methods:
            item[method.lower()] = _operation_json(rule.rule, rule.endpoint, method.lower(), operation, env)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Atelier",
            "version": __version__,
            "description": "The REST API of the Atelier image studio. Live events go over Socket.IO (docs/events.md).",
        },
        "paths": paths,
        "components": {"schemas": component_schemas(), "securitySchemes": TOKEN_SCHEMES},
        # this server's own setting: anonymous access ({}) is listed only when ATELIER_TOKEN is
        # unset and no user exists
        "security": [{"bearerToken": []}, {"sessionCookie": []}, {"accountSession": []}]
        + ([] if app.extensions.get("atelier_token") or app.extensions["atelier"].accounts.active else [{}]),
    }
    if undeclared:
        document["x-undeclared"] = undeclared
    return document


@bp.get("/api/openapi.json")
@api_route("This document", responses={200: Reply({"type": "object"}, "The OpenAPI 3.1 document")}, tags=("meta",))
def openapi_json():
    return jsonify(build_document(current_app, studio()))
