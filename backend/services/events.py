"""Job events with per-job sequence numbers, kept for replay, and the feeds.

Every job event carries ``job_id``, ``seq`` (per job, from 1, rising by one) and ``ts``.
The bus keeps each job's events in memory while it runs and for a retention time after,
so a client that reconnects with the last seq it saw receives everything it missed.
Publishing and subscribing share one lock: an event is either in a subscriber's replay
or delivered to it live, never both and never neither.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backend.services.event_types import FeedEvent, JobEvent

Emit = Callable[[str, dict[str, Any], Any], None]  # (event, payload, room or rooms)
Join = Callable[[str, str], None]  # (sid, room)


def job_room(job_id: str) -> str:
    return f"job:{job_id}"


def feed_room(topic: str) -> str:
    return f"feed:{topic}"


@dataclass
class _JobLog:
    last_seq: int
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (event, payload)


class EventBus:
    """The ``Bus`` of one process (see backend.services.event_types)."""

    def __init__(
        self,
        emit: Emit,
        join: Join,
        leave: Join,
        load_last_seq: Callable[[str], int],
        persist_seq: Callable[[str, int], None],
        retention_seconds: float = 600.0,
    ) -> None:
        self._emit = emit
        self._join = join
        self._leave = leave
        self._load_last_seq = load_last_seq
        self._persist_seq = persist_seq
        self._retention = retention_seconds
        self.lock = threading.RLock()
        self._logs: dict[str, _JobLog] = {}
        self._expiry: deque[tuple[float, str]] = deque()

    def _log(self, job_id: str) -> _JobLog:
        log = self._logs.get(job_id)
        if log is None:
            log = self._logs[job_id] = _JobLog(self._load_last_seq(job_id))
        return log

    def last_seq(self, job_id: str) -> int:
        with self.lock:
            log = self._logs.get(job_id)
            return log.last_seq if log else self._load_last_seq(job_id)

    def held(self, job_id: str) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            log = self._logs.get(job_id)
            return list(log.events) if log else []

    def publish(self, job_id: str, event: JobEvent) -> dict[str, Any]:
        with self.lock:
            log = self._log(job_id)
            log.last_seq += 1
            message = {**event.payload(), "job_id": job_id, "seq": log.last_seq, "ts": round(time.time(), 3)}
            log.events.append((event.name, message))
            self._persist_seq(job_id, log.last_seq)
            self._emit(event.name, message, job_room(job_id))
            return message

    def job_finished(self, job_id: str) -> None:
        """Start the retention clock of a finished job's events."""
        with self.lock:
            self._expiry.append((time.monotonic() + self._retention, job_id))
            self._prune()

    def _prune(self) -> None:
        now = time.monotonic()
        while self._expiry and self._expiry[0][0] <= now:
            _, job_id = self._expiry.popleft()
            self._logs.pop(job_id, None)

    def attach(self, sid: str, job_id: str, after_seq: int) -> int:
        """Send ``sid`` the held events after ``after_seq``, then make it a live subscriber.
        Returns how many were replayed."""
        with self.lock:
            self._prune()
            log = self._logs.get(job_id)
            replay = [(e, m) for e, m in log.events if m["seq"] > after_seq] if log else []
            for event, message in replay:
                self._emit(event, message, sid)
            self._join(sid, job_room(job_id))
            return len(replay)

    def detach(self, sid: str, job_id: str) -> None:
        self._leave(sid, job_room(job_id))

    def forget_sid(self, sid: str) -> None:
        """Nothing to forget: one process keeps no per-client state (Socket.IO drops its rooms)."""

    def feed(self, event: FeedEvent, rooms: list[str] | None = None) -> None:
        to: str | list[str] = [feed_room(r) for r in rooms] if rooms else feed_room(event.room())
        self._emit(event.name, {**event.payload(), "ts": round(time.time(), 3)}, to)

    def join_feed(self, sid: str, topic: str) -> None:
        self._join(sid, feed_room(topic))

    def leave_feed(self, sid: str, topic: str) -> None:
        self._leave(sid, feed_room(topic))
