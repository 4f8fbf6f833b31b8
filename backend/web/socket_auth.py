"""The Socket.IO handshake: who a socket acts for, kept per sid.

Without accounts: the token (``auth: {token}``) when ATELIER_TOKEN is set, as before; every
socket let in is the studio itself. With accounts: an API key (``auth: {key: "atl_..."}``),
the token, or the ``atelier_session`` cookie; anything else is refused.

When a credential stops (sign-out, a revoked key, a disabled or deleted user, a role
change) the sockets opened with it are disconnected at once (services/accounts.py
announces it; :class:`SocketPrincipals` finds the sids). With several web instances
(Redis) the announcement goes through the Socket.IO Redis manager (web/socket_queue.py)
and each instance disconnects its own sockets. Changes made by another process (the
users CLI) are noticed within seconds: the accounts database's ``data_version`` changes and
every socket's credential is checked again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from flask import current_app, request
from flask_socketio import ConnectionRefusedError, SocketIO

from backend.scaleout_config import is_loopback_host
from backend.services.accounts import Revocation
from backend.services.principal import STUDIO, Principal
from backend.web.auth import SESSION_COOKIE, same_origin
from backend.web.security import COOKIE, TokenCheck, socket_allowed
from backend.web.socket_queue import REVOKE_EVENT, REVOKE_ROOM, JobAwareRedisManager

if TYPE_CHECKING:
    from backend.studio import Studio

EXTENSION = "atelier_sockets"
#: how often a socket's credential is checked again after another process changed accounts
SWEEP_SECONDS = 2.0
log = logging.getLogger(__name__)
_REVOCATION_FIELDS = frozenset(f.name for f in fields(Revocation))


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

    def all(self) -> list[tuple[str, SocketAuth]]:
        with self._lock:
            return list(self._by_sid.items())

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
    origin = request.headers.get("Origin")
    allowed = tuple(o for o in studio.settings.scaleout.allowed_origins if o != "*")
    if origin and not same_origin(origin, allowed):
        return None  # cookies from another site's page (another local port too: the same site)
    if token is not None and token.valid_cookie(request.cookies.get(COOKIE)):
        return SocketAuth(replace(STUDIO, via="token"))
    cookie = request.cookies.get(SESSION_COOKIE)
    session = studio.accounts.session(cookie) if cookie else None
    if session is not None:
        return SocketAuth(session.principal, session.session_hash)
    return None


def register_socket_auth(socketio: SocketIO, token: TokenCheck | None, studio: Studio) -> SocketPrincipals:
    principals = SocketPrincipals()
    sweeping = threading.Event()

    def sweep() -> None:
        """Changes made by another process (the users CLI; another web instance without
        Redis) are not announced here: when the accounts database changed under us, check
        every socket's credential again."""
        store = studio.accounts.store
        seen = store.data_version()
        while True:
            socketio.sleep(SWEEP_SECONDS)
            try:
                version = store.data_version()
                if version == seen:
                    continue
                seen = version
                for sid, auth in principals.all():
                    if not studio.accounts.still_valid(auth.principal, auth.session_hash):
                        close(sid)
            except Exception:  # a database hiccup must not end the sweep for good
                log.exception("checking the sockets' credentials failed")

    def close(sid: str) -> None:
        try:
            socketio.server.disconnect(sid, namespace="/")
        except (KeyError, ValueError):
            pass  # it left meanwhile
        principals.forget(sid)

    @socketio.on("connect")
    def connect(auth: Any = None) -> None:
        resolved = _resolve(studio, token, auth)
        if resolved is None:
            raise ConnectionRefusedError("unauthorized")  # nothing more: no hint of the studio
        sid: str = request.sid  # type: ignore[attr-defined]  # Flask-SocketIO sets it
        principals.set(sid, resolved)
        if resolved.principal.user_id is not None and not sweeping.is_set():
            sweeping.set()
            socketio.start_background_task(sweep)

    @socketio.on("disconnect")
    def disconnect(*_: Any) -> None:
        studio.heap.client_left()
        sid: str = request.sid  # type: ignore[attr-defined]  # Flask-SocketIO sets it
        studio.bus.forget_sid(sid)
        principals.forget(sid)

    def revoke_local(revocation: Revocation) -> None:
        for sid in principals.matching(revocation):
            close(sid)

    manager = socketio.server.manager
    if isinstance(manager, JobAwareRedisManager):
        # several web instances: every one of them (this one too) hears it through Redis
        def from_redis(data: dict[str, Any]) -> None:
            fields = {k: v if isinstance(v, str) else None for k, v in data.items() if k in _REVOCATION_FIELDS}
            revoke_local(Revocation(**fields))

        def publish(revocation: Revocation) -> None:
            socketio.emit(REVOKE_EVENT, asdict(revocation), to=REVOKE_ROOM, namespace="/")

        manager.on_revoke = from_redis
        studio.accounts.on_revoke.append(publish)
    else:
        studio.accounts.on_revoke.append(revoke_local)
    return principals
