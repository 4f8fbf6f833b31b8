"""Accounts over HTTP: first run, sign-in sessions, who am I, API keys, users (admins).

The edge (web/auth.py) has already resolved the caller; these routes translate to
services/accounts.py and back. Secrets leave the server once: a key's in the answer that
creates it, a session's in its cookie.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, Flask, g, jsonify, request

from backend.services.accounts import (
    MAX_KEY_NAME,
    MAX_PASSWORD,
    NAME_PATTERN,
    SESSION_SECONDS,
    AccountError,
    TooManyAttempts,
    user_brief,
    user_json,
)
from backend.services.principal import ALL_SCOPES
from backend.services.schema import Field, Shape
from backend.web.auth import (
    SESSION_COOKIE,
    accounts_on,
    clear_session_cookie,
    is_own_machine,
    require_admin,
    same_origin,
    set_session_cookie,
)
from backend.web.context import json_body, no_body, principal, studio
from backend.web.errors import ApiError, error_response
from backend.web.openapi import Reply, api_route

bp = Blueprint("accounts", __name__, url_prefix="/api")
TAGS = ("accounts",)

NAME = Field(
    "name",
    "string",
    "lower-case letters, digits, '_' and '-' (also a folder name)",
    pattern=NAME_PATTERN,
    max_length=32,
)
PASSWORD = Field("password", "string", "at least 8 characters", min_length=8, max_length=MAX_PASSWORD)
ROLE = Field("role", "string", "admin: everything; member: their own work and what is shared", enum=("admin", "member"))
BUDGET = Field(
    "monthly_budget_usd", "number", "null: no budget of its own", nullable=True, minimum=0, maximum=1_000_000
)
SCOPES = Field(
    "scopes",
    "array",
    "what the key may do (never more than its user's role)",
    items=Field("scope", "string", enum=tuple(sorted(ALL_SCOPES))),
    min_items=1,
    max_items=len(ALL_SCOPES),
)
USER_ID = Field("user_id", "string", "the user's id", max_length=64)
KEY_ID = Field("key_id", "string", "the key's id", max_length=64)
ALL = Field("all", "string", "admins: everyone's keys", enum=("true", "false"))

CREDENTIALS = Shape(
    (
        Field("username", "string", "the user's name", required=True, max_length=64),
        Field("password", "string", required=True, max_length=MAX_PASSWORD),
    ),
    description="A user name and password.",
)
SETUP = Shape(
    (replace(NAME, name="username", required=True), replace(PASSWORD, required=True)),
    description="The first admin's name and password.",
)
NEW_USER = Shape(
    (
        replace(NAME, required=True),
        replace(PASSWORD, required=True),
        replace(ROLE, required=True),
        BUDGET,
    ),
    description="A new user.",
)
USER_CHANGE = Shape(
    (
        ROLE,
        Field("disabled", "boolean", "a disabled user's sessions, keys and sockets stop at once"),
        PASSWORD,
        BUDGET,
    ),
    description="What to change about a user.",
)
NEW_KEY = Shape(
    (
        Field("name", "string", "what the key is for", required=True, min_length=1, max_length=MAX_KEY_NAME),
        replace(SCOPES, required=True),
        BUDGET,
    ),
    description="A new API key.",
)


def register_account_errors(app: Flask) -> None:
    @app.errorhandler(AccountError)
    def _account(e: AccountError):
        response, status = error_response(e.status, e.code, e.message, e.field)
        if isinstance(e, TooManyAttempts):
            response.headers["Retry-After"] = str(e.retry_after)
        return response, status


def _body(shape: Shape) -> dict[str, Any]:
    body = shape.check_object(json_body())
    for fld in shape.fields:
        fld.check_type(body.get(fld.name))  # the values' own checks are the service's
    return body


def _client() -> str:
    return request.remote_addr or "?"


def _check_sign_in_origin() -> None:
    """A sign-in from another site's page is refused: it would sign the browser in as someone else."""
    origin = request.headers.get("Origin")
    allowed = tuple(o for o in studio().settings.scaleout.allowed_origins if o != "*")
    if origin and not same_origin(origin, allowed):
        raise ApiError(403, "csrf_failed", "a sign-in from another site is refused")


def _oidc_info() -> dict[str, str] | None:
    oidc = getattr(studio(), "oidc", None)
    return {"label": oidc.label} if oidc is not None else None


@bp.get("/auth")
@api_route("How this studio signs people in", responses={200: "AuthInfo"}, tags=TAGS)
def auth_info():
    on = studio().accounts.active
    own = is_own_machine(studio().settings.scaleout.trust_proxy)
    return jsonify({"accounts": on, "setup": not on and own, "oidc": _oidc_info()})


@bp.post("/setup")
@api_route(
    "Create the first admin (first run)",
    description="Only from the server's own machine (loopback) and only while no user exists; signs the new admin in.",
    body=SETUP,
    responses={201: "SessionStarted"},
    errors=(400, 403, 409, 413, 422),
    tags=TAGS,
)
def setup():
    body = _body(SETUP)
    if not is_own_machine(studio().settings.scaleout.trust_proxy):
        message = "the first admin can be created only from the server's own machine (not through a proxy)"
        raise ApiError(403, "forbidden", message)
    _check_sign_in_origin()
    accounts = studio().accounts
    user = accounts.create_first_admin(body.get("username"), body.get("password"))
    signed = accounts.start_session(user)
    response = jsonify({"user": user_brief(user), "csrf_token": signed.csrf_token})
    set_session_cookie(response, signed.session_id, SESSION_SECONDS)
    return response, 201


@bp.post("/session")
@api_route(
    "Sign in",
    description="Sets the HttpOnly session cookie; unknown user and wrong password get the same 401; repeated "
    "failures are throttled per client and per account (429 with Retry-After).",
    body=CREDENTIALS,
    responses={200: "SessionStarted"},
    errors=(400, 401, 403, 409, 413, 422, 429),
    tags=TAGS,
)
def sign_in():
    body = _body(CREDENTIALS)
    _check_sign_in_origin()
    accounts = studio().accounts
    if not accounts.active:
        raise ApiError(409, "accounts_off", "this studio has no users; create the first admin first")
    signed = accounts.sign_in(body.get("username"), body.get("password"), _client())
    response = jsonify({"user": user_brief(signed.user), "csrf_token": signed.csrf_token})
    set_session_cookie(response, signed.session_id, SESSION_SECONDS)
    return response


@bp.delete("/session")
@api_route("Sign out", responses={204: Reply(None, "Signed out (also when not signed in)")}, tags=TAGS)
def sign_out():
    no_body()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and g.get("session_hash"):
        studio().accounts.sign_out(cookie)
    response = jsonify({})
    response.status_code = 204
    response.data = b""
    clear_session_cookie(response)
    return response


@bp.get("/me")
@api_route("Who am I", responses={200: "Me"}, tags=TAGS)
def me():
    who = principal()
    if not accounts_on():
        return jsonify({"user": None, "csrf_token": None, "accounts": False})
    user = {"id": who.user_id, "name": who.name, "role": who.role} if who.user_id is not None else None
    return jsonify({"user": user, "csrf_token": g.get("csrf_token"), "accounts": True})


# --- API keys ------------------------------------------------------------------------------


@bp.get("/keys")
@api_route(
    "API keys",
    description="The caller's keys; admins with all=true everyone's.",
    query=(ALL,),
    responses={200: "Keys"},
    errors=(403, 422),
    tags=TAGS,
)
def list_keys():
    everyone = ALL.check(request.args.get("all") or "false") == "true"
    accounts = studio().accounts
    return jsonify({"keys": accounts.keys_json(accounts.keys(principal(), everyone))})


@bp.post("/keys")
@api_route(
    "Create an API key",
    description="The answer holds the secret (atl_...) this once; it is stored only as a digest.",
    body=NEW_KEY,
    responses={201: "KeyCreated"},
    errors=(400, 403, 409, 413, 422),
    tags=TAGS,
)
def create_key():
    body = _body(NEW_KEY)
    accounts = studio().accounts
    budget = body.get("monthly_budget_usd")
    record, secret = accounts.create_key(principal(), body.get("name"), body.get("scopes"), budget)
    return jsonify({"key": accounts.key_json(record), "secret": secret}), 201


@bp.delete("/keys/<key_id>")
@api_route(
    "Revoke an API key",
    description="At once, open sockets included.",
    path=(KEY_ID,),
    responses={204: Reply(None, "Revoked")},
    errors=(403, 404),
    tags=TAGS,
)
def revoke_key(key_id: str):
    no_body()
    studio().accounts.revoke_key(principal(), key_id)
    return "", 204


# --- users (admins) ------------------------------------------------------------------------


@bp.get("/users")
@api_route("Users (admins)", responses={200: "Users"}, errors=(403,), tags=TAGS)
def list_users():
    require_admin()
    return jsonify({"users": [user_json(u) for u in studio().accounts.users()]})


@bp.post("/users")
@api_route(
    "Add a user (admins)", body=NEW_USER, responses={201: "UserEnvelope"}, errors=(400, 403, 409, 413, 422), tags=TAGS
)
def create_user():
    require_admin()
    body = _body(NEW_USER)
    accounts = studio().accounts
    if not accounts.active:
        raise ApiError(409, "accounts_off", "create the first admin first (the first-run page or users add)")
    budget = body.get("monthly_budget_usd")
    user = accounts.create_user(body.get("name"), body.get("password"), body.get("role"), budget)
    return jsonify({"user": user_json(user)}), 201


@bp.patch("/users/<user_id>")
@api_route(
    "Change a user (admins)",
    description="Role, disabled, password, budget. Disabling ends the user's sessions, keys and sockets at once.",
    path=(USER_ID,),
    body=USER_CHANGE,
    responses={200: "UserEnvelope"},
    errors=(400, 403, 404, 409, 413, 422),
    tags=TAGS,
)
def update_user(user_id: str):
    require_admin()
    body = _body(USER_CHANGE)
    kwargs: dict[str, Any] = {k: body.get(k) for k in ("role", "disabled", "password")}
    if "monthly_budget_usd" in body:
        kwargs["monthly_budget_usd"] = body["monthly_budget_usd"]
    user = studio().accounts.update_user(user_id, **kwargs)
    return jsonify({"user": user_json(user)})


@bp.delete("/users/<user_id>")
@api_route(
    "Delete a user (admins)",
    description="Their sessions, keys and sockets end at once; their images stay.",
    path=(USER_ID,),
    responses={204: Reply(None, "Deleted")},
    errors=(403, 404, 409),
    tags=TAGS,
)
def delete_user(user_id: str):
    require_admin()
    no_body()
    studio().accounts.delete_user(user_id)
    return "", 204
