"""Provider settings from the studio: GET/PUT /api/providers/<id>/settings, POST .../test.

Only a caller who may configure the studio (``Principal.may_configure``: an admin; without
accounts a loopback client or a holder of ATELIER_TOKEN) reads or changes them; others
get 403. The work is ProviderSetup's (services/provider_setup.py); this edge translates.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from backend.services.provider_fields import MAX_KEY_CHARS, MAX_URL_CHARS, FieldProblem
from backend.services.provider_setup import UnknownProvider
from backend.services.schema import Field, Shape
from backend.web.context import json_body, no_body, principal, studio
from backend.web.errors import ApiError
from backend.web.openapi import api_route

bp = Blueprint("provider_settings", __name__, url_prefix="/api/providers")
TAGS = ("providers",)
PROVIDER_ID = Field("provider_id", "string", "a provider's id (GET /api/providers)", max_length=100)

SETTINGS_REQUEST = Shape(
    (
        Field(
            "api_key",
            "string",
            "the key, stored encrypted; spaces around it are trimmed; null removes the key set in the studio",
            nullable=True,
            max_length=MAX_KEY_CHARS,
        ),
        Field(
            "base_url", "string", "http(s) URL of the API; null: the default", nullable=True, max_length=MAX_URL_CHARS
        ),
        Field("enabled", "boolean", "false turns the provider off"),
        Field("timeout_seconds", "number", "cloud providers: longest silence while waiting", nullable=True),
        Field("retries", "integer", "cloud providers: retries after a failure", nullable=True),
        Field("concurrency", "integer", "jobs of this provider at once", nullable=True),
        Field("models", "array", "huggingface: other Hub model ids", nullable=True, items=Field("model", "string")),
    ),
    description="The settings to change; those left out stay as they are. Each provider takes the fields its "
    "GET answer lists, plus enabled and (cloud providers) api_key.",
)


def _may() -> None:
    who = principal()
    if who.may_configure:
        return
    if who.via == "key" and not who.can("admin"):
        raise ApiError(403, "insufficient_scope", "this API key lacks the scope 'admin' (provider settings)")
    if who.via == "open":
        raise ApiError(
            403, "forbidden", "provider settings are set from the studio's own machine or with ATELIER_TOKEN"
        )
    raise ApiError(403, "forbidden", "only admins may set providers up")


def _answer(call):
    try:
        return call()
    except UnknownProvider:
        raise ApiError(404, "not_found", "no such provider", "provider_id") from None
    except FieldProblem as exc:
        code = "validation_error" if exc.status == 422 else "conflict"
        raise ApiError(exc.status, code, exc.message, exc.field) from None


@bp.get("/<provider_id>/settings")
@api_route(
    "A provider's settings (never its key)",
    path=(PROVIDER_ID,),
    responses={200: "ProviderSettings"},
    errors=(403, 404),
    tags=TAGS,
)
def get_settings(provider_id: str):
    _may()
    return jsonify(_answer(lambda: studio().provider_setup.view(provider_id)))


@bp.put("/<provider_id>/settings")
@api_route(
    "Change a provider's settings; new jobs use them at once",
    description="The last save wins; the answer's version and the providers.changed event tell every page.",
    path=(PROVIDER_ID,),
    body=SETTINGS_REQUEST,
    responses={200: "ProviderSettings"},
    errors=(400, 403, 404, 409, 413, 422),
    tags=TAGS,
)
def put_settings(provider_id: str):
    _may()
    body = json_body()
    return jsonify(_answer(lambda: studio().provider_setup.update(provider_id, body)))


@bp.post("/<provider_id>/test")
@api_route(
    "Test a provider with its cheapest call (no paid generation)",
    path=(PROVIDER_ID,),
    responses={200: "ProviderTest"},
    errors=(403, 404, 413),
    tags=TAGS,
)
def test_provider(provider_id: str):
    _may()
    no_body()
    result = _answer(lambda: studio().provider_setup.test(provider_id))  # a green request under eventlet
    return jsonify(result.to_json())
