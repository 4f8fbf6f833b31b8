"""Safe remote access: token, origins, security headers, proxies, sub-path.

Most of it is WSGI middleware around the whole app, so Socket.IO's own HTTP requests
(which never reach Flask's request hooks) get the same origin check and headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

from backend.scaleout_config import ScaleoutSettings, is_loopback_host
from backend.services.tools.registry import SubmissionPaths
from backend.web.errors import LogBudget, one_line

log = logging.getLogger(__name__)

COOKIE = "atelier_auth"
#: reachable without the token: the app shell (it asks for the token) and a bare health check
PUBLIC_PATHS = ("/", "/healthz", "/favicon.ico")
PUBLIC_PREFIXES = ("/assets/",)
#: workers authenticate with the worker secret instead
INTERNAL_PREFIX = "/internal/"
#: paths whose requests from a browser must come from an allowed origin; a client API adds its prefix
GUARDED_PREFIXES = ["/api/", "/socket.io/", "/images/"]
#: paths that answer an allowed origin's cross-origin requests (CORS); a client API adds its prefix
CORS_PREFIXES = ["/api/", "/images/"]

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = [
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]


def _json_error(status: str, code: str, message: str, headers: list[tuple[str, str]] | None = None):
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *(headers or [])], body


def malformed_origin(origin: str) -> bool:
    """An Origin header that is not a URL at all (``http://[::1``); ``null`` is a real origin."""
    try:
        parsed = urllib.parse.urlsplit(origin)
        parsed.port  # noqa: B018 (raises for a port out of range or not a number)
    except ValueError:
        return True
    return False


def websocket_handshake_problem(environ: dict[str, Any]) -> str | None:
    """Why a ``transport=websocket`` request is not an RFC 6455 handshake, or None.

    Checked before Engine.IO sees it: eventlet and simple-websocket both raise (a 500, and
    in eventlet a traceback in the body) on a handshake without a key or version.
    """
    if environ.get("REQUEST_METHOD") != "GET":
        return "a WebSocket handshake is a GET request"
    if not all(v.isascii() for k, v in environ.items() if k.startswith("HTTP_SEC_WEBSOCKET_") and isinstance(v, str)):
        return "a WebSocket handshake's Sec-WebSocket-* headers must be ASCII"  # wsproto raises on anything else
    if "websocket" not in environ.get("HTTP_UPGRADE", "").lower():
        return "a WebSocket handshake needs 'Upgrade: websocket'"
    if "upgrade" not in [t.strip() for t in environ.get("HTTP_CONNECTION", "").lower().split(",")]:
        return "a WebSocket handshake needs 'Connection: Upgrade'"
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip() != "13":
        return "a WebSocket handshake needs 'Sec-WebSocket-Version: 13'"
    try:
        key = base64.b64decode(environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 16:
        return "a WebSocket handshake needs a Sec-WebSocket-Key of 16 bytes in base64"
    return None


def _utf8(wsgi_text: str) -> bool:
    """A WSGI string holds the raw bytes as latin-1: are those bytes UTF-8?"""
    if wsgi_text.isascii():
        return True
    try:
        wsgi_text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return False
    return True


def _wants_websocket(environ: dict[str, Any]) -> bool:
    try:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=100)
    except ValueError:
        return False  # Engine.IO answers 400 for a query it cannot read
    return query.get("transport", [""])[0] == "websocket"


class OriginPolicy:
    """Which pages may call the API and open the socket from another origin."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed

    def allows(self, origin: str | None, environ: dict[str, Any]) -> bool:
        if not origin:
            return True  # not a browser's cross-origin request (curl, workers, same-origin GET)
        if "*" in self.allowed or origin.rstrip("/") in self.allowed:
            return True
        host = environ.get("HTTP_HOST", "")
        if origin == f"{environ.get('wsgi.url_scheme', 'http')}://{host}":
            return True  # same origin
        if self.allowed:
            return False
        if malformed_origin(origin):
            return False  # Engine.IO calls this too, with whatever the header holds
        parsed = urllib.parse.urlsplit(origin)
        return parsed.scheme in ("http", "https") and is_loopback_host(parsed.hostname or "")

    def cross_origin(self, origin: str | None, environ: dict[str, Any]) -> bool:
        return bool(origin) and origin != f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"


class EdgeMiddleware:
    """Proxy headers, the sub-path, the origin check, CORS and security headers."""

    def __init__(self, app: Callable, settings: ScaleoutSettings, origins: OriginPolicy) -> None:
        self.app = app
        self.base = settings.base_path
        self.origins = origins

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if self.base:
            path = environ.get("PATH_INFO", "")
            if path != self.base and not path.startswith(self.base + "/"):
                return self._plain(start_response, *_json_error("404 NOT FOUND", "not_found", "not found"))
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + self.base
            environ["PATH_INFO"] = path[len(self.base) :] or "/"
        if not _utf8(environ.get("QUERY_STRING", "")):
            # Flask decodes it when a route first reads an argument, and raises (a 500)
            error = _json_error("400 BAD REQUEST", "invalid_query", "the query string is not UTF-8")
            return self._plain(start_response, *error)
        origin = environ.get("HTTP_ORIGIN")
        path = environ.get("PATH_INFO", "")
        guarded = path.startswith(tuple(GUARDED_PREFIXES))
        if guarded and origin and malformed_origin(origin):
            return self._plain(
                start_response, *_json_error("400 BAD REQUEST", "invalid_origin", "the Origin header is not a URL")
            )
        if guarded and not self.origins.allows(origin, environ):
            return self._plain(
                start_response, *_json_error("403 FORBIDDEN", "forbidden_origin", "this origin is not allowed")
            )
        if path.startswith("/socket.io/") and _wants_websocket(environ):
            problem = websocket_handshake_problem(environ)
            if problem:
                version = [("Sec-WebSocket-Version", "13")]
                error = _json_error("400 BAD REQUEST", "bad_websocket_handshake", problem, version)
                return self._plain(start_response, *error)
        cors: list[tuple[str, str]] = []
        if path.startswith(tuple(CORS_PREFIXES)) and self.origins.cross_origin(origin, environ):
            cors = [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Allow-Headers", "Authorization, Content-Type, X-CSRF-Token"),
                ("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS"),
                ("Vary", "Origin"),
            ]
            if environ.get("REQUEST_METHOD") == "OPTIONS":
                return self._plain(start_response, "204 NO CONTENT", cors, b"")

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            present = {name.lower() for name, _ in headers}
            headers = list(headers) + [(n, v) for n, v in SECURITY_HEADERS + cors if n.lower() not in present]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.app(environ, start)

    def _plain(self, start_response: Callable, status: str, headers: list[tuple[str, str]], body: bytes):
        start_response(status, headers + SECURITY_HEADERS)
        return [body]


class CrashGuard:
    """The outermost WSGI layer: an exception that escapes everything else becomes a JSON
    500 with no detail (eventlet's server would put the traceback in the body), logged
    with its traceback at most ten times a minute.

    A WebSocket's request lasts the whole session, and once upgraded its socket belongs to
    the WebSocket library: an error there (python-engineio raises on an empty or non-numeric
    frame) is a client's bad frame, so it costs one line and the connection is dropped the
    way the library ends a session, with no HTTP response written into the stream.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.budget = LogBudget(lines=10, per_seconds=60)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = False

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            nonlocal started
            started = True
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            return self.app(environ, start)
        except (ConnectionError, TimeoutError, StopIteration):
            raise  # the client went away, or (Werkzeug, gunicorn) a WebSocket session ended
        except Exception as exc:
            websocket = "websocket" in environ.get("HTTP_UPGRADE", "").lower()
            suppressed = self.budget.take()
            if suppressed is not None:
                where = f"{one_line(environ.get('REQUEST_METHOD', '?'), 16)} {one_line(environ.get('PATH_INFO', ''))}"
                more = f" ({suppressed} more not logged)" if suppressed else ""
                if websocket:
                    log.warning("closed a WebSocket on %s: %s: %s%s", where, type(exc).__name__, one_line(exc), more)
                else:
                    log.exception("unhandled error on %s%s", where, more)
            if websocket:
                return _drop_websocket(environ)
            if started:
                raise  # the status line is out; the server can only drop the connection
            status, headers, body = _json_error(
                "500 INTERNAL SERVER ERROR", "internal_error", "the server failed to handle this request"
            )
            start_response(status, headers + SECURITY_HEADERS)
            return [body]


def _drop_websocket(environ: dict[str, Any]) -> Iterable[bytes]:
    """End a WebSocket request as simple-websocket and eventlet end a session: no response."""
    if "eventlet.input" in environ:
        from eventlet.wsgi import ALREADY_HANDLED

        return ALREADY_HANDLED
    if "gunicorn.socket" in environ:
        raise StopIteration
    raise ConnectionError("WebSocket closed")


class TokenCheck:
    def __init__(self, token: str) -> None:
        self._token = token.encode()
        # the cookie holds a digest, never the token itself
        self.cookie_value = hmac.new(self._token, b"atelier-browser-session", hashlib.sha256).hexdigest()

    def valid_token(self, candidate: Any) -> bool:
        # surrogatepass: a JSON string may hold a lone surrogate ("\ud800"), which plain
        # encode() refuses with an exception; such a candidate simply does not match
        return isinstance(candidate, str) and hmac.compare_digest(
            candidate.encode("utf-8", "surrogatepass"), self._token
        )

    def valid_cookie(self, candidate: str | None) -> bool:
        return (
            isinstance(candidate, str)
            and bool(candidate)
            and hmac.compare_digest(candidate.encode("utf-8", "surrogatepass"), self.cookie_value.encode())
        )

    @staticmethod
    def bearer(header: str | None) -> str | None:
        """The secret of ``Authorization: Bearer <secret>``, or the password of ``Basic``
        (what AUTOMATIC1111 clients send: the user name is ignored); None for anything else."""
        if header and header[:7].lower() == "bearer ":
            return header[7:].strip()
        if header and header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return None
            return decoded.partition(":")[2] if ":" in decoded else None
        return None


#: path prefix -> (status, code, message) -> the refusal in that API's own error shape (a
#: client API registers its dialect here: an OpenAI client expects OpenAI's errors)
ErrorShape = Callable[[int, str, str], Response]
ERROR_SHAPES: dict[str, ErrorShape] = {}


def refusal(path: str, status: int, code: str, message: str) -> Response:
    """A refusal of the edge (token, rate limit) in the shape of the API ``path`` belongs to."""
    for prefix, shape in ERROR_SHAPES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return shape(status, code, message)
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def origin_policy(settings: ScaleoutSettings) -> OriginPolicy:
    return OriginPolicy(settings.allowed_origins)


def install_security(app: Flask, settings: ScaleoutSettings, origins: OriginPolicy) -> None:
    """Request hooks for the token; the middleware goes around last. The rate limits are
    web/rate_limits.py's."""
    token = TokenCheck(settings.token) if settings.token else None
    app.extensions["atelier_token"] = token

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.before_request
    def _guard():
        path = request.path
        # with accounts on, web/auth.py (which runs first) has checked the credentials
        if token is not None and not path.startswith(INTERNAL_PREFIX) and not g.get("accounts_on"):
            public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
            if not public and request.method != "OPTIONS":
                via_header = token.bearer(request.headers.get("Authorization"))
                ok = token.valid_token(via_header) if via_header is not None else False
                if not ok and not token.valid_cookie(request.cookies.get(COOKIE)):
                    response = refusal(path, 401, "unauthorized", "a valid token is required")
                    response.headers["WWW-Authenticate"] = 'Bearer realm="atelier"'
                    return response
                request.environ["atelier.bearer_ok"] = ok
        return None

    @app.after_request
    def _session_cookie(response: Response) -> Response:
        # a browser that showed the token once gets a cookie, so <img> requests work too
        if (
            token is not None
            and request.environ.get("atelier.bearer_ok")
            and not token.valid_cookie(request.cookies.get(COOKIE))
        ):
            response.set_cookie(
                COOKIE,
                token.cookie_value,
                httponly=True,
                samesite="Strict",
                secure=request.scheme == "https",
                path=(request.script_root or "") + "/",
            )
        return response


#: routes that queue a job (generation or studio tool): what the rate limit counts
SUBMISSION_PATHS = SubmissionPaths("/api/jobs")  # and each registered tool's route


def is_submission(path: str) -> bool:
    return path in SUBMISSION_PATHS or (path.startswith("/api/jobs/") and path.endswith("/retry"))


def wrap_wsgi(app: Flask, settings: ScaleoutSettings, origins: OriginPolicy) -> None:
    """Outermost first: the crash guard, proxy headers, then the sub-path, origins and headers."""
    app.wsgi_app = EdgeMiddleware(app.wsgi_app, settings, origins)  # type: ignore[method-assign]
    if settings.trust_proxy:
        n = settings.trust_proxy
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)  # type: ignore[method-assign]
    app.wsgi_app = CrashGuard(app.wsgi_app)  # type: ignore[method-assign]


def socket_allowed(token: TokenCheck | None, auth: Any, cookie: str | None) -> bool:
    if token is None:
        return True
    if isinstance(auth, dict) and token.valid_token(auth.get("token")):
        return True
    return token.valid_cookie(cookie)
