"""Who each request acts for: the edge resolves it to a ``Principal`` in ``g.principal``.

No user (accounts off): today's studio exactly. The token guard of web/security.py
decides who gets in; whoever does is the studio itself, via ``token`` (ATELIER_TOKEN is
set), ``local`` (a loopback client) or ``open`` (a remote client of an open studio).

Accounts on (a user exists), in this order:
1. ``Authorization: Bearer atl_...`` (or HTTP Basic with the key as password, what
   AUTOMATIC1111 clients send): an API key, with its scopes.
2. ``Authorization: Bearer <ATELIER_TOKEN>`` or the token's cookie: the studio itself, an
   admin (for scripts and operators; the token is the keys to the studio either way).
3. The ``atelier_session`` cookie: a signed-in user. A state-changing request (POST, PUT,
   PATCH, DELETE) must carry the session's ``X-CSRF-Token``; any request with the cookie
   that has an ``Origin`` needs a same-origin one (or one listed in ATELIER_ALLOWED_ORIGINS),
   reads included (another local port is the same site to the cookie): else 403
   ``csrf_failed``.
Anything else is 401, except the public paths (the app shell, sign-in, first-run, OIDC).

Then the scope the route needs (``required_scope``): a key without it is refused 403
``insufficient_scope`` naming it; a member on an admin route 403 ``forbidden``. Routes
that need more call :func:`require_scope` / :func:`require_admin` themselves.
"""

from __future__ import annotations

import hmac
import ipaddress
import urllib.parse
from dataclasses import replace

from flask import Flask, Response, g, jsonify, request

from backend.scaleout_config import ScaleoutSettings, is_loopback_host
from backend.services.principal import STUDIO, Principal
from backend.web.context import principal, studio
from backend.web.errors import ApiError
from backend.web.security import (
    COOKIE,
    INTERNAL_PREFIX,
    PUBLIC_PATHS,
    PUBLIC_PREFIXES,
    SUBMISSION_PATHS,
    TokenCheck,
    refusal,
)

SESSION_COOKIE = "atelier_session"
CSRF_HEADER = "X-CSRF-Token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: reachable without credentials when accounts are on (besides the app shell)
ACCOUNT_PUBLIC = ("/api/auth", "/api/setup", "/api/session", "/api/oidc/login", "/api/oidc/callback")
#: a caller that has not proved who it is: no user, no scope, sees nothing
ANONYMOUS = Principal(user_id=None, name="anonymous", role="member", via="open", scopes=frozenset())
#: GET routes that describe the studio rather than anyone's work: no scope needed
_META_GETS = (
    "/api/health",
    "/api/providers",
    "/api/styles",
    "/api/aspect-ratios",
    "/api/templates",
    "/api/tools",
    "/api/openapi.json",
    "/api/me",
    "/api/keys",
    "/api/usage",
    "/api/budget",
)
_GENERATE_PREFIXES = ("/api/matrix", "/api/prompts/enhance", "/api/estimate", "/v1/", "/sdapi/")
_SELF_SERVICE = ("/api/keys", "/api/session", "/api/me", "/api/auth", "/api/setup")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs from a key (and a member's role): a coarse default by path;
    a route may ask for more with :func:`require_scope`."""
    if _under(path, "/api/users"):
        return "admin"
    if any(_under(path, p) for p in _SELF_SERVICE):
        return None
    if any(_under(path, p) for p in _GENERATE_PREFIXES) or path.startswith(("/v1/", "/sdapi/")):
        return "generate"
    if method in ("GET", "HEAD"):
        return None if any(_under(path, p) for p in _META_GETS) else "gallery:read"
    if path in SUBMISSION_PATHS or _under(path, "/api/jobs") or _under(path, "/api/queue"):
        return "generate"
    return "gallery:write"


def require_scope(scope: str) -> Principal:
    """The caller, if it may use ``scope``; else 403 (``insufficient_scope`` for a key)."""
    who = principal()
    if who.can(scope):
        return who
    if who.via == "key":
        raise ApiError(403, "insufficient_scope", f"this API key lacks the scope {scope!r}")
    raise ApiError(403, "forbidden", "your role does not allow this")


def require_admin() -> Principal:
    """The caller, if an admin (a key with the ``admin`` scope of an admin user); else 403."""
    who = require_scope("admin")
    if not who.is_admin:
        raise ApiError(403, "forbidden", "only admins may do this")
    return who


def is_loopback_client() -> bool:
    return is_loopback_host(request.remote_addr or "")


def _forwarded_clients() -> list[str]:
    """The client addresses a reverse proxy named (X-Forwarded-For, X-Real-IP, Forwarded)."""
    found: list[str] = []
    for name in ("X-Forwarded-For", "X-Real-IP"):
        for value in request.headers.getlist(name):
            found += [part.strip() for part in value.split(",")]
    for value in request.headers.getlist("Forwarded"):
        for pair in value.replace(",", ";").split(";"):
            key, _, raw = pair.strip().partition("=")
            if key.lower() == "for":
                raw = raw.strip('"')
                found.append(raw[1 : raw.find("]")] if raw.startswith("[") else raw.rsplit(":", 1)[0])
    return found


def is_own_machine(trust_proxy: int) -> bool:
    """Is the client on the server's own machine (the first-run page)? A loopback peer that
    relays a request for someone elsewhere is not: a reverse proxy on this machine that we do
    not trust (ATELIER_TRUST_PROXY unset) would make every visitor from anywhere look local.
    Nor is a page that reached us by a name other than an address or localhost (rebinding)."""
    if not is_loopback_client() or not _own_name(request.host):
        return False
    return bool(trust_proxy) or all(is_loopback_host(c) for c in _forwarded_clients())


def _own_name(host: str) -> bool:
    """Is the Host an address or ``localhost``? Any other name may be DNS rebinding: a page
    of another site whose name now points at 127.0.0.1 is same-origin to itself."""
    try:
        name = urllib.parse.urlsplit("//" + host).hostname or ""
    except ValueError:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def same_origin(origin: str, allowed: tuple[str, ...]) -> bool:
    """Is ``origin`` this server's own (as the browser reached it) or one explicitly allowed?"""
    if origin.rstrip("/") in allowed:
        return True
    try:
        parts = urllib.parse.urlsplit(origin)
        here = urllib.parse.urlsplit(request.host_url)
        return (parts.scheme, parts.netloc.lower()) == (here.scheme, here.netloc.lower())
    except ValueError:
        return False


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or path in ACCOUNT_PUBLIC


def _refuse(status: int, code: str, message: str) -> Response:
    response = refusal(request.path, status, code, message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="atelier"'
    return response


def install_auth(app: Flask, settings: ScaleoutSettings) -> None:
    """Register the resolver; it runs before web/security.py's token guard (register first)."""
    token = TokenCheck(settings.token) if settings.token else None
    allowed = tuple(o for o in settings.allowed_origins if o != "*")

    @app.before_request
    def _resolve_principal() -> Response | None:
        path = request.path
        if path.startswith(INTERNAL_PREFIX) or request.method == "OPTIONS":
            return None
        accounts = studio().accounts
        if not accounts.active:
            g.accounts_on = False
            if token is not None:
                g.principal = replace(STUDIO, via="token")
            elif is_loopback_client():
                g.principal = STUDIO
            else:
                g.principal = replace(STUDIO, via="open")
            return None
        g.accounts_on = True
        g.principal = ANONYMOUS
        who: Principal | None = None
        header = request.headers.get("Authorization")
        if header:
            secret = TokenCheck.bearer(header)
            if secret and secret.startswith("atl_"):
                who = accounts.key_principal(secret)
                if who is None:
                    return _refuse(401, "unauthorized", "this API key is not valid (revoked, or its user disabled)")
            elif secret is not None and token is not None and token.valid_token(secret):
                who = replace(STUDIO, via="token")
            elif not _public(path):
                return _refuse(401, "unauthorized", "sign in, or use a valid API key")
        if who is None and token is not None and token.valid_cookie(request.cookies.get(COOKIE)):
            origin = request.headers.get("Origin")
            if origin and not same_origin(origin, allowed):
                # SameSite=Strict still sends it from another local port (the same site)
                return _refuse(403, "csrf_failed", "the studio's cookie is refused from another site")
            who = replace(STUDIO, via="token")
        if who is None:
            cookie = request.cookies.get(SESSION_COOKIE)
            session = accounts.session(cookie) if cookie else None
            if session is not None:
                origin = request.headers.get("Origin")
                if origin and not same_origin(origin, allowed):
                    # reads too: SameSite ignores ports, so a page on any other local port
                    # sends this cookie, and CORS (loopback origins) would let it read the answer
                    return _refuse(403, "csrf_failed", "a signed-in browser's request from another site is refused")
                if request.method in STATE_CHANGING and not (path == "/api/session" and request.method == "POST"):
                    sent = request.headers.get(CSRF_HEADER, "")
                    expected = session.csrf_token.encode()
                    if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"), expected):
                        return _refuse(403, "csrf_failed", f"a signed-in browser's change needs {CSRF_HEADER}")
                who = session.principal
                g.session_hash = session.session_hash
                g.csrf_token = session.csrf_token
        if who is None:
            if _public(path):
                return None
            return _refuse(401, "unauthorized", "sign in, or use a valid API key")
        g.principal = who
        scope = required_scope(request.method, path)
        if scope is not None and not who.can(scope):
            if who.via == "key":
                return _refuse(403, "insufficient_scope", f"this API key lacks the scope {scope!r}")
            return _refuse(403, "forbidden", "your role does not allow this")
        return None


def accounts_on() -> bool:
    return bool(g.get("accounts_on", False))


def set_session_cookie(response: Response, session_id: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=max_age,
        httponly=True,
        samesite="Lax",
        secure=request.scheme == "https",
        path=(request.script_root or "") + "/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=(request.script_root or "") + "/", httponly=True, samesite="Lax")


def unauthorized() -> Response:
    response = jsonify({"error": {"code": "unauthorized", "message": "sign in, or use a valid API key"}})
    response.status_code = 401
    return response
