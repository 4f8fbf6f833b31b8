"""Flask-SocketIO's Redis message queue, with job events handed to the event bus.

Every web instance receives every emitted event from Redis. Events for a job room go to
:meth:`RedisEventBus.on_live` instead of straight to the room, so a subscriber that is
still being replayed to is not sent a live event early, and none is sent one twice.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import socketio
from socketio.packet import Packet

LiveHook = Callable[[str, dict[str, Any], list[str]], None]  # (event, payload, sids here)
#: a credential stopped (web/socket_auth.py): sent to a room no client is in, so that every
#: instance hears it through Redis and closes its own sockets opened with that credential
REVOKE_ROOM = "atelier:revoked"
REVOKE_EVENT = "atelier.revoked"


class JobAwareRedisManager(socketio.RedisManager):
    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, channel="flask-socketio", **kwargs)
        self.on_job_event: LiveHook | None = None
        self.on_revoke: Callable[[dict[str, Any]], None] | None = None

    def _handle_emit(self, message: dict[str, Any]) -> None:
        room, event = message.get("room"), message.get("event")
        if room == REVOKE_ROOM and event == REVOKE_EVENT:
            data = message.get("data")
            if isinstance(data, list) and len(data) == 1:
                data = data[0]
            if self.on_revoke is not None and isinstance(data, dict):
                self.on_revoke(data)
            return None
        hook = self.on_job_event
        if hook is None or not (isinstance(room, str) and room.startswith("job:") and str(event).startswith("job.")):
            return super()._handle_emit(message)
        data = message["data"]
        if message.get("binary"):
            attachments = [base64.b64decode(a) for a in data[1:]]
            data = Packet.reconstruct_binary(data[0], attachments)
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            return super()._handle_emit(message)
        namespace = message.get("namespace") or "/"
        sids = [sid for sid, _ in self.get_participants(namespace, room)]
        if sids:
            hook(str(event), data, sids)

    def deliver(self, event: str, data: dict[str, Any], sid: str) -> None:
        """Send to one client of this instance, not through the queue."""
        socketio.Manager.emit(self, event, data, namespace="/", room=sid)
