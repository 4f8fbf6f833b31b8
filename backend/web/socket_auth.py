"""The Socket.IO handshake: the token (``auth: {token}``) when ATELIER_TOKEN is set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import request
from flask_socketio import ConnectionRefusedError, SocketIO

from backend.web.security import COOKIE, TokenCheck, socket_allowed

if TYPE_CHECKING:
    from backend.studio import Studio


def register_socket_auth(socketio: SocketIO, token: TokenCheck | None, studio: Studio) -> None:
    @socketio.on("connect")
    def connect(auth: Any = None) -> None:
        if not socket_allowed(token, auth, request.cookies.get(COOKIE)):
            raise ConnectionRefusedError("unauthorized")  # nothing more: no hint of the studio

    @socketio.on("disconnect")
    def disconnect(*_: Any) -> None:
        studio.heap.client_left()
        sid: str = request.sid  # type: ignore[attr-defined]  # Flask-SocketIO sets it
        studio.bus.forget_sid(sid)
