"""The Socket.IO handshake: who a socket acts for, kept per sid.

Without accounts: the token (``auth: {token}``) when ATELIER_TOKEN is set, as before; every
socket let in is the studio itself. With accounts: an API key (``auth: {key: "atl_..."}``),
the token, or the ``atelier_session`` cookie; anything else is refused.

When a credential stops (sign-out, a revoked key, a disabled or deleted user, a role
change) the sockets opened with it are disconnected at once (services/accounts.py
announces it; :class:`SocketPrincipals` finds the sids). With several web instances
(Redis) each instance disconnects its own sockets; the announcement reaches the others
through the Socket.IO Redis manager (web/socket_queue.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from flask import current_app, request
from flask_socketio import ConnectionRefusedError, SocketIO

from backend.scaleout_config import is_loopback_host
from backend.services.accounts import Revocation
from backend.services.principal import STUDIO, Principal
from backend.web.auth import SESSION_COOKIE
from backend.web.security import COOKIE, TokenCheck, socket_allowed

if TYPE_CHECKING:
    from backend.studio import Studio

EXTENSION = "atelier_sockets"


@dataclass(frozen=True)
class SocketAuth:
    principal: Principal
    session_hash: str | None = None


class SocketPrincipals:
    """sid -> who the socket acts for, for this web instance's sockets."""

    def __init__(self) -> None:
        self._by_sid: dict[str, SocketAuth] = {}
        self._lock = threading.Lock()

    def set(self, sid: str, auth: SocketAuth) -> None:
        with self._lock:
            self._by_sid[sid] = auth

    def get(self, sid: str) -> Principal:
        with self._lock:
            auth = self._by_sid.get(sid)
        return auth.principal if auth is not None else STUDIO

    def forget(self, sid: str) -> None:
        with self._lock:
            self._by_sid.pop(sid, None)

    def matching(self, revocation: Revocation) -> list[str]:
        with self._lock:
            items = list(self._by_sid.items())
        return [
            sid
            for sid, auth in items
            if (revocation.user_id is not None and auth.principal.user_id == revocation.user_id)
            or (revocation.key_id is not None and auth.principal.key_id == revocation.key_id)
            or (revocation.session_hash is not None and auth.session_hash == revocation.session_hash)
        ]


def socket_principal(sid: str) -> Principal:
    """Who the socket ``sid`` acts for (the studio itself without accounts)."""
    return current_app.extensions[EXTENSION].get(sid)


def _resolve(studio: Studio, token: TokenCheck | None, auth: Any) -> SocketAuth | None:
    if not studio.accounts.active:
        if not socket_allowed(token, auth, request.cookies.get(COOKIE)):
            return None
        if token is not None:
            return SocketAuth(replace(STUDIO, via="token"))
        local = is_loopback_host(request.remote_addr or "")
        return SocketAuth(STUDIO if local else replace(STUDIO, via="open"))
    if isinstance(auth, dict) and isinstance(auth.get("key"), str):
        who = studio.accounts.key_principal(auth["key"])
        return SocketAuth(who) if who is not None else None
    if token is not None and isinstance(auth, dict) and token.valid_token(auth.get("token")):
        return SocketAuth(replace(STUDIO, via="token"))
    if token is not None and token.valid_cookie(request.cookies.get(COOKIE)):
        return SocketAuth(replace(STUDIO, via="token"))
    cookie = request.cookies.get(SESSION_COOKIE)
    session = studio.accounts.session(cookie) if cookie else None
    if session is not None:
        return SocketAuth(session.principal, session.session_hash)
    return None


def register_socket_auth(socketio: SocketIO, token: TokenCheck | None, studio: Studio) -> SocketPrincipals:
    principals = SocketPrincipals()

    @socketio.on("connect")
    def connect(auth: Any = None) -> None:
        resolved = _resolve(studio, token, auth)
        if resolved is None:
            raise ConnectionRefusedError("unauthorized")  # nothing more: no hint of the studio
        sid: str = request.sid  # type: ignore[attr-defined]  # Flask-SocketIO sets it
        principals.set(sid, resolved)

    @socketio.on("disconnect")
    def disconnect(*_: Any) -> None:
        studio.heap.client_left()
        sid: str = request.sid  # type: ignore[attr-defined]  # Flask-SocketIO sets it
        studio.bus.forget_sid(sid)
        principals.forget(sid)

    def revoke_local(revocation: Revocation) -> None:
        for sid in principals.matching(revocation):
            try:
                socketio.server.disconnect(sid, namespace="/")
            except (KeyError, ValueError):
                pass  # it left meanwhile
            principals.forget(sid)

    studio.accounts.on_revoke.append(revoke_local)
    return principals
