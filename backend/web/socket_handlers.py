"""Socket.IO: subscribe and unsubscribe to jobs and feeds. See docs/events.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import request
from flask_socketio import SocketIO

from backend.services.event_types import FEEDS
from backend.services.jobs import JobNotFound

if TYPE_CHECKING:
    from backend.studio import Studio


def _parse(data: Any) -> tuple[str | None, str | None, int, str | None]:
    """(topic, job_id, after_seq, error)."""
    if not isinstance(data, dict):
        return None, None, 0, "payload must be an object with job_id or topic"
    topic = data.get("topic")
    if topic is not None:
        if topic not in FEEDS:
            return None, None, 0, f"unknown topic {topic!r}; known: {', '.join(FEEDS)}"
        return topic, None, 0, None
    job_id = data.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        return None, None, 0, "job_id must be a string"
    after_seq = data.get("after_seq", 0)
    if after_seq is None:
        after_seq = 0
    if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
        return None, None, 0, "after_seq must be a whole number, 0 or more"
    return None, job_id, after_seq, None


def register_socket_handlers(socketio: SocketIO, studio: Studio) -> None:
    @socketio.on("subscribe")
    def subscribe(data: Any = None) -> dict[str, Any]:
        topic, job_id, after_seq, error = _parse(data)
        if error:
            return {"ok": False, "error": error}
        sid = request.sid  # type: ignore[attr-defined]
        if topic:
            studio.bus.join_feed(sid, topic)
            return {"ok": True, "topic": topic}
        assert job_id is not None
        with studio.bus.lock:
            try:
                job = studio.jobs.get(job_id)
            except JobNotFound:
                return {"ok": False, "error": "unknown job"}
            snapshot = studio.jobs.job_json(job)
            last_seq = studio.bus.last_seq(job_id)
        # The replay and the live events follow the ack, in seq order.
        studio.runtime.spawn_after_handler(lambda: studio.bus.attach(sid, job_id, after_seq))
        return {"ok": True, "job": snapshot, "last_seq": last_seq}

    @socketio.on("unsubscribe")
    def unsubscribe(data: Any = None) -> dict[str, Any]:
        topic, job_id, _, error = _parse(data)
        if error:
            return {"ok": False, "error": error}
        sid = request.sid  # type: ignore[attr-defined]
        if topic:
            studio.bus.leave_feed(sid, topic)
        else:
            assert job_id is not None
            studio.bus.detach(sid, job_id)
        return {"ok": True}
