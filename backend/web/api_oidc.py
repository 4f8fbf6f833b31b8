"""Sign-in through OpenID Connect: ``/api/oidc/login`` sends the browser to the provider,
``/api/oidc/callback`` brings it back signed in.

The state, nonce and PKCE verifier wait in a short-lived HttpOnly cookie of this path
(the provider's redirect must bring back the same state: another site cannot set it).
A failed sign-in goes back to the app as ``/?signin_error=<code>`` (the sign-in page says
why): ``denied``, ``state_mismatch``, ``provider_error``, ``provider_unreachable``,
``invalid_token``, ``disabled``, ``accounts_off``.
"""

from __future__ import annotations

import hmac
import logging
import urllib.parse

from flask import Blueprint, Response, redirect, request

from backend.services.accounts import SESSION_SECONDS, AccountError
from backend.services.schema import Field
from backend.web.auth import set_session_cookie
from backend.web.context import studio
from backend.web.errors import ApiError
from backend.web.openapi import Reply, api_route

log = logging.getLogger(__name__)

bp = Blueprint("oidc", __name__, url_prefix="/api/oidc")
TAGS = ("accounts",)
FLOW_COOKIE = "atelier_oidc"
FLOW_SECONDS = 600
CODE = Field("code", "string", "the provider's authorization code", max_length=4096)
STATE = Field("state", "string", "the state this studio sent", max_length=200)
ERROR = Field("error", "string", "the provider's refusal (e.g. access_denied)", max_length=200)


def _app_url(error: str | None = None) -> str:
    base = (request.script_root or "") + "/"
    return base + ("?" + urllib.parse.urlencode({"signin_error": error}) if error else "")


def _redirect_uri() -> str:
    return request.url_root + "api/oidc/callback"


def _cookie_path() -> str:
    return (request.script_root or "") + "/api/oidc"


def _back(error: str | None = None) -> Response:
    response = redirect(_app_url(error), code=302)
    response.delete_cookie(FLOW_COOKIE, path=_cookie_path(), httponly=True, samesite="Lax")
    return response


@bp.get("/login")
@api_route(
    "Sign in through OpenID Connect",
    description="302 to the provider (ATELIER_OIDC_ISSUER); 404 when OpenID Connect is off.",
    responses={302: Reply(None, "To the provider's sign-in page")},
    errors=(404, 409, 503),
    tags=TAGS,
)
def login():
    client = studio().oidc
    if client is None:
        raise ApiError(404, "not_found", "OpenID Connect sign-in is not set up (ATELIER_OIDC_ISSUER)")
    if not studio().accounts.active:
        raise ApiError(409, "accounts_off", "create the studio's first admin before signing in this way")
    from backend.services.oidc import OidcError

    try:
        start = client.start(_redirect_uri())
    except OidcError as exc:
        log.warning("OpenID Connect sign-in cannot start: %s", exc)
        raise ApiError(503, exc.code, str(exc)) from None
    response = redirect(start.url, code=302)
    response.set_cookie(
        FLOW_COOKIE,
        f"{start.state}.{start.nonce}.{start.verifier}",
        max_age=FLOW_SECONDS,
        httponly=True,
        samesite="Lax",  # the provider's redirect back is a top-level navigation: Lax sends it
        secure=request.scheme == "https",
        path=_cookie_path(),
    )
    return response


@bp.get("/callback")
@api_route(
    "Where the OpenID Connect provider sends the browser back",
    description="Signs the browser in and 302s to the app; a failure 302s to /?signin_error=<code>.",
    query=(CODE, STATE, ERROR),
    responses={302: Reply(None, "To the app, signed in or with signin_error")},
    errors=(404,),
    tags=TAGS,
)
def callback():
    client = studio().oidc
    if client is None:
        raise ApiError(404, "not_found", "OpenID Connect sign-in is not set up (ATELIER_OIDC_ISSUER)")
    from backend.services.oidc import OidcError

    if request.args.get("error"):
        return _back("denied")
    flow = (request.cookies.get(FLOW_COOKIE) or "").split(".")
    state, code = request.args.get("state") or "", request.args.get("code") or ""
    if (
        len(flow) != 3
        or not state
        or not code
        or len(code) > 4096
        or not hmac.compare_digest(state.encode("utf-8", "replace"), flow[0].encode())
    ):
        return _back("state_mismatch")
    try:
        identity = client.identity(_redirect_uri(), code, flow[1], flow[2])
        admin = bool(client.settings.admin_group) and client.settings.admin_group in identity.groups
        accounts = studio().accounts
        user = accounts.oidc_user(f"{identity.issuer}|{identity.subject}", identity.preferred_username, admin)
    except OidcError as exc:
        log.warning("OpenID Connect sign-in failed: %s", exc)
        return _back(exc.code)
    except AccountError as exc:
        return _back(exc.code)
    signed = accounts.start_session(user)
    response = _back()
    set_session_cookie(response, signed.session_id, SESSION_SECONDS)
    return response
