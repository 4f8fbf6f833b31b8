"""Job events when several processes share one studio through Redis.

Seq numbers and the replay log live in Redis (a counter and a capped list per job,
appended atomically by one script), so the web instances and the workers number one
job's events as one sequence. Events travel to the clients of every web instance through
Flask-SocketIO's Redis message queue.

``RedisEventBus`` implements :class:`backend.services.event_types.Bus`, as the in-process
:class:`backend.services.events.EventBus` does.
Across processes a lock cannot make "replayed or live, never both and never neither"
true, so a subscriber joins the room first, then reads the log, and the events that
arrive meanwhile are held back; each subscriber gets each seq at most once, in order.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from backend.services.event_types import FeedEvent, JobEvent
from backend.services.events import Emit, Join, feed_room, job_room

logger = logging.getLogger(__name__)
Deliver = Callable[[str, dict[str, Any], str], None]  # (event, payload, sid), on this instance only

KEY_PREFIX = "atelier:"
SEQ_TTL_SECONDS = 30 * 24 * 3600  # the counter outlives the log: SQLite holds it too
MAX_LOG_EVENTS = 5000

# KEYS: seq, log; ARGV: floor (the last seq known elsewhere), event, payload json, cap, ttl
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('RPUSH', KEYS[2], seq .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
redis.call('PERSIST', KEYS[2])
return seq
"""


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode()}
    raise TypeError(f"cannot encode {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$bytes" in obj:
        return base64.b64decode(obj["$bytes"])
    return obj


def seq_key(job_id: str) -> str:
    return f"{KEY_PREFIX}seq:{job_id}"


def log_key(job_id: str) -> str:
    return f"{KEY_PREFIX}events:{job_id}"


class RedisEventLog:
    """Per-job seq counters and replay logs in Redis; usable from any process."""

    def __init__(self, redis: Any, retention_seconds: float = 600.0) -> None:
        self.redis = redis  # a redis.Redis client (bytes responses)
        self.retention = max(1, int(retention_seconds))
        self._append = redis.register_script(_APPEND)

    def append(self, job_id: str, event: JobEvent, floor: int = 0) -> dict[str, Any]:
        """Number and store one event; returns the message to emit. Its ``ts`` is stored with
        it, so a replay carries the same ``ts`` as the live event."""
        payload = {**event.payload(), "ts": round(time.time(), 3)}
        body = json.dumps(payload, default=_encode, separators=(",", ":"))
        seq = int(
            self._append(
                keys=[seq_key(job_id), log_key(job_id)],
                args=[floor, event.name, body, MAX_LOG_EVENTS, SEQ_TTL_SECONDS],
            )
        )
        return {**payload, "job_id": job_id, "seq": seq}

    def read(self, job_id: str, after_seq: int = 0) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for raw in self.redis.lrange(log_key(job_id), 0, -1):
            seq_text, event, body = raw.decode().split("\n", 2)
            seq = int(seq_text)
            if seq > after_seq:
                payload = json.loads(body, object_hook=_decode)
                out.append((event, {**payload, "job_id": job_id, "seq": seq}))
        return out

    def last_seq(self, job_id: str) -> int | None:
        value = self.redis.get(seq_key(job_id))
        return int(value) if value is not None else None

    def finished(self, job_id: str) -> None:
        """The log of a finished job is kept for the retention time, then dropped."""
        self.redis.expire(log_key(job_id), self.retention)


class RedisEventBus:
    """The ``Bus`` of a web instance when the studio runs on Redis."""

    def __init__(
        self,
        log: RedisEventLog,
        emit: Emit,
        join: Join,
        leave: Join,
        deliver: Deliver,
        load_last_seq: Callable[[str], int],
        persist_seq: Callable[[str, int], None],
    ) -> None:
        self.log = log
        self._emit = emit
        self._join = join
        self._leave = leave
        self._deliver = deliver
        self._load_last_seq = load_last_seq
        self._persist_seq = persist_seq
        self.lock = threading.RLock()
        self._delivered: dict[tuple[str, str], int] = {}  # (sid, job) -> last seq sent
        self._pending: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}

    def last_seq(self, job_id: str) -> int:
        stored = self._load_last_seq(job_id)
        try:
            live = self.log.last_seq(job_id)
        except Exception:  # Redis away: what SQLite knows
            live = None
        return max(stored, live or 0)

    def held(self, job_id: str) -> list[tuple[str, dict[str, Any]]]:
        try:
            return self.log.read(job_id)
        except Exception:  # Redis away: nothing held that can be read
            return []

    def publish(self, job_id: str, event: JobEvent) -> dict[str, Any]:
        """With Redis away the event cannot reach anyone (the message queue is Redis too):
        the state change is in SQLite already, so it is logged and the caller goes on."""
        try:
            message = self.log.append(job_id, event, floor=self._load_last_seq(job_id))
        except RedisError as exc:
            logger.warning("job %s: %s not published, Redis is unreachable (%s)", job_id, event.name, exc)
            return {**event.payload(), "job_id": job_id, "seq": None, "ts": round(time.time(), 3)}
        self._persist_seq(job_id, message["seq"])
        self._emit(event.name, message, job_room(job_id))
        return message

    def job_finished(self, job_id: str) -> None:
        try:
            self.log.finished(job_id)
        except Exception:
            pass  # the log keeps no TTL then; the cap still bounds it

    def attach(self, sid: str, job_id: str, after_seq: int) -> int:
        key = (sid, job_id)
        with self.lock:
            self._pending[key] = []
            self._join(sid, job_room(job_id))
        try:
            held = self.log.read(job_id, after_seq)
        except Exception:
            held = []
        with self.lock:
            arrived = self._pending.pop(key, [])
            last = after_seq
            replayed = 0
            for event, message in sorted(held + arrived, key=lambda em: em[1]["seq"]):
                if message["seq"] > last:
                    self._deliver(event, message, sid)
                    last = message["seq"]
                    replayed += 1
            self._delivered[key] = last
            return replayed

    def on_live(self, event: str, message: dict[str, Any], sids: list[str]) -> None:
        """A job event from the message queue, for this instance's subscribers ``sids``."""
        job_id, seq = message.get("job_id"), message.get("seq", 0)
        with self.lock:
            for sid in sids:
                key = (sid, job_id)
                if key in self._pending:
                    self._pending[key].append((event, message))
                elif seq > self._delivered.get(key, 0):
                    self._delivered[key] = seq
                    self._deliver(event, message, sid)

    def detach(self, sid: str, job_id: str) -> None:
        with self.lock:
            self._delivered.pop((sid, job_id), None)
        self._leave(sid, job_room(job_id))

    def forget_sid(self, sid: str) -> None:
        with self.lock:
            for key in [k for k in self._delivered if k[0] == sid]:
                del self._delivered[key]

    def feed(self, event: FeedEvent, rooms: list[str] | None = None) -> None:
        to: str | list[str] = [feed_room(r) for r in rooms] if rooms else feed_room(event.room())
        self._emit(event.name, {**event.payload(), "ts": round(time.time(), 3)}, to)

    def join_feed(self, sid: str, topic: str) -> None:
        self._join(sid, feed_room(topic))

    def leave_feed(self, sid: str, topic: str) -> None:
        self._leave(sid, feed_room(topic))
