"""Socket.IO: subscribe and unsubscribe to jobs and feeds. See docs/events.md.

Every call is acknowledged: its arguments are parsed into typed, bounded values first,
and a bad one is answered ``{"ok": false, "error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import request
from flask_socketio import SocketIO

from backend.services.event_types import FEEDS
from backend.services.gallery import GALLERY_SHARED, gallery_room
from backend.services.jobs import JobNotFound, queue_room
from backend.services.matrix import MatrixNotFound
from backend.services.ownership import owner_filter
from backend.services.principal import Principal
from backend.shapes import error_body
from backend.web.errors import LogBudget, one_line
from backend.web.socket_auth import socket_principal

if TYPE_CHECKING:
    from backend.studio import Studio

log = logging.getLogger(__name__)

EVENTS = ("subscribe", "unsubscribe")
MAX_JOB_ID_CHARS = 128
MAX_SEQ = 2**63 - 1  # what the event log's integers hold
FIELDS = ("job_id", "after_seq", "topic", "matrix_id")
PAYLOADS = (
    '{"job_id": <string>, "after_seq"?: <whole number>} or {"topic": "'
    + '" | "'.join(FEEDS)
    + '"} or {"matrix_id": <string>}'
)


@dataclass(frozen=True)
class JobTarget:
    job_id: str
    after_seq: int


@dataclass(frozen=True)
class FeedTarget:
    topic: str


@dataclass(frozen=True)
class MatrixTarget:
    matrix_id: str


class BadArgument(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def failure(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """A refused Socket.IO call's ack: the REST error body with ``ok: false``."""
    return {"ok": False, **error_body(code, message, field)}


def parse_target(event: str, args: tuple[Any, ...]) -> JobTarget | FeedTarget | MatrixTarget:
    """The one object ``subscribe``/``unsubscribe`` take, or :class:`BadArgument`."""
    if len(args) != 1 or not isinstance(args[0], dict):
        got = "nothing" if not args else f"{len(args)} arguments" if len(args) > 1 else type(args[0]).__name__
        raise BadArgument("payload", f"{event} takes one object, {PAYLOADS}; got {got}")
    data: dict[str, Any] = args[0]
    unknown = [key for key in data if key not in FIELDS]
    if unknown:
        name = one_line(unknown[0], 64)
        raise BadArgument(name, f"unknown field {name!r}; {event} takes {PAYLOADS}")
    if "matrix_id" in data:
        if len(data) > 1:
            raise BadArgument("payload", "give a matrix_id alone")
        matrix_id = data["matrix_id"]
        if not isinstance(matrix_id, str) or not 1 <= len(matrix_id) <= MAX_JOB_ID_CHARS:
            raise BadArgument("matrix_id", f"matrix_id must be a string of 1 to {MAX_JOB_ID_CHARS} characters")
        return MatrixTarget(matrix_id)
    if "topic" in data:
        if "job_id" in data or "after_seq" in data:
            raise BadArgument("payload", "give either a topic or a job_id, not both")
        topic = data["topic"]
        if not isinstance(topic, str) or topic not in FEEDS:
            raise BadArgument("topic", f"topic must be one of: {', '.join(FEEDS)}")
        return FeedTarget(topic)
    if "job_id" not in data:
        raise BadArgument("payload", f"{event} takes {PAYLOADS}")
    job_id = data["job_id"]
    if not isinstance(job_id, str) or not 1 <= len(job_id) <= MAX_JOB_ID_CHARS:
        raise BadArgument("job_id", f"job_id must be a string of 1 to {MAX_JOB_ID_CHARS} characters")
    after_seq = data.get("after_seq")
    if after_seq is None:
        after_seq = 0
    elif isinstance(after_seq, bool) or not isinstance(after_seq, int) or not 0 <= after_seq <= MAX_SEQ:
        raise BadArgument("after_seq", f"after_seq must be a whole number from 0 to {MAX_SEQ}")
    return JobTarget(job_id, after_seq)


def _socket_principal(sid: str) -> Principal:
    """Who the socket acts for, as its handshake resolved it (web/socket_auth.py)."""
    return socket_principal(sid)


def feed_rooms(topic: str, viewer: Principal) -> list[str]:
    """The rooms a subscriber to ``topic`` joins: the topic itself for an admin (and every
    client of a studio without accounts); for a member, their own room of it (and the
    shared boards' room of the gallery feed)."""
    own = owner_filter(viewer)
    if own is None:
        return [topic]
    if not own:
        return []
    if topic == "gallery":
        return [gallery_room(own), GALLERY_SHARED]
    return [queue_room(own)]


#: what a subscription shows, as the REST routes that show the same need it: the gallery
#: feed is the gallery; a job's or a matrix's events, and the queue, are jobs and their images
FEED_SCOPES: dict[str, tuple[str, ...]] = {
    "gallery": ("gallery:read",),
    "queue": ("generate", "gallery:read"),
    "providers": (),
}
JOB_SCOPES = ("generate", "gallery:read")


def missing_scope(viewer: Principal, needed: tuple[str, ...]) -> dict[str, Any] | None:
    """The refusal for a caller (an API key) with none of ``needed``, else None."""
    if not needed or any(viewer.can(scope) for scope in needed):
        return None
    return failure("insufficient_scope", f"this key needs the {' or '.join(needed)} scope")


def register_socket_handlers(socketio: SocketIO, studio: Studio) -> None:
    errors_logged = LogBudget(lines=10, per_seconds=60)

    @socketio.on("subscribe")
    def subscribe(*args: Any) -> dict[str, Any]:
        try:
            target = parse_target("subscribe", args)
        except BadArgument as e:
            return failure("validation_error", e.message, e.field)
        sid = request.sid  # type: ignore[attr-defined]
        viewer = _socket_principal(sid)
        refused = missing_scope(viewer, FEED_SCOPES[target.topic] if isinstance(target, FeedTarget) else JOB_SCOPES)
        if refused is not None:
            return refused
        if isinstance(target, FeedTarget):
            for room in feed_rooms(target.topic, viewer):
                studio.bus.join_feed(sid, room)
            return {"ok": True, "topic": target.topic}
        if isinstance(target, MatrixTarget):
            try:
                matrix = studio.matrices.get(target.matrix_id, viewer)
            except MatrixNotFound:
                return failure("not_found", "no matrix with this id", "matrix_id")
            # joined before the snapshot is read: a change after it is sent, none is lost
            studio.bus.join_feed(sid, f"matrix:{matrix.id}")
            return {"ok": True, "matrix": studio.matrices.matrix_json(matrix)}
        with studio.bus.lock:
            try:
                job = studio.jobs.get_for(target.job_id, viewer)  # another's: as unknown
            except JobNotFound:
                return failure("not_found", "no job with this id", "job_id")
            snapshot = studio.jobs.job_json(job)
            last_seq = studio.bus.last_seq(target.job_id)
        # The replay and the live events follow the ack, in seq order.
        studio.runtime.spawn_after_handler(lambda: studio.bus.attach(sid, target.job_id, target.after_seq))
        return {"ok": True, "job": snapshot, "last_seq": last_seq}

    @socketio.on("unsubscribe")
    def unsubscribe(*args: Any) -> dict[str, Any]:
        try:
            target = parse_target("unsubscribe", args)
        except BadArgument as e:
            return failure("validation_error", e.message, e.field)
        sid = request.sid  # type: ignore[attr-defined]
        if isinstance(target, FeedTarget):
            for room in feed_rooms(target.topic, _socket_principal(sid)):
                studio.bus.leave_feed(sid, room)
        elif isinstance(target, MatrixTarget):
            studio.bus.leave_feed(sid, f"matrix:{target.matrix_id}")
        else:
            studio.bus.detach(sid, target.job_id)
        return {"ok": True}

    @socketio.on("*")
    def unknown_event(event: str, *_: Any) -> dict[str, Any]:
        name = one_line(event, 64)
        return failure("unknown_event", f"no event named {name!r}; known: {', '.join(EVENTS)}", "event")

    @socketio.on_error_default
    def handler_failed(exc: Exception) -> dict[str, Any] | bool:
        event = (getattr(request, "event", None) or {}).get("message")
        suppressed = errors_logged.take()
        if suppressed is not None:
            log.error(
                "Socket.IO handler for %s failed%s",
                one_line(event, 64),
                f" ({suppressed} more not logged)" if suppressed else "",
                exc_info=exc,
            )
        if event == "connect":
            return False  # what this returns is the connect handler's answer: anything but False lets the client in
        return failure("internal_error", "the server failed to handle this call")
