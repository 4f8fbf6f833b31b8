"""The typed events (backend/services/event_types.py), in process: the wire format both
buses send, the Bus protocol both implement, and the docs and SPA types generated from
the classes."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.services import event_types
from backend.services.event_types import (
    FEED_EVENTS,
    JOB_EVENTS,
    Bus,
    FeedEvent,
    GalleryAdded,
    GalleryRemoved,
    GalleryUpdated,
    JobEvent,
    JobPreview,
    JobProgress,
    JobQueued,
    JobStarted,
    QueueUpdated,
)
from backend.services.events import EventBus
from backend.services.redis_events import RedisEventBus, RedisEventLog

ROOT = Path(__file__).resolve().parents[1]
EVENT_NAME = re.compile(r"""["'](?:job|gallery|queue)\.[a-z_]+["']""")


class Wire:
    """What a bus hands to Socket.IO: (event, payload, room) per emit, and the rooms joined."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []
        self.rooms: set[tuple[str, str]] = set()

    def emit(self, event: str, payload: dict[str, Any], room: str) -> None:
        self.sent.append((event, payload, room))

    def join(self, sid: str, room: str) -> None:
        self.rooms.add((sid, room))

    def leave(self, sid: str, room: str) -> None:
        self.rooms.discard((sid, room))


def memory_bus(wire: Wire) -> EventBus:
    seqs: dict[str, int] = {}
    return EventBus(wire.emit, wire.join, wire.leave, lambda j: seqs.get(j, 0), seqs.__setitem__)


@pytest.fixture
def redis_bus(tmp_path: Path) -> Iterator[tuple[RedisEventBus, Wire]]:
    from tests.support.redis_server import RedisServer, require_redis_server

    require_redis_server()
    import redis

    server = RedisServer(tmp_path).start()
    try:
        wire = Wire()
        seqs: dict[str, int] = {}
        log = RedisEventLog(redis.Redis.from_url(server.url))
        yield (
            RedisEventBus(log, wire.emit, wire.join, wire.leave, wire.emit, lambda j: seqs.get(j, 0), seqs.__setitem__),
            wire,
        )
    finally:
        server.stop()


IMAGE = {"id": "i1", "url": "/images/2026-12-01/a.png", "favorite": True}

# (event, the payload on the wire without its envelope), as docs/events.md describes it
WIRE_CASES: list[tuple[JobEvent, dict[str, Any]]] = [
    (JobQueued(position=3), {"position": 3}),
    (JobStarted(), {}),
    (JobStarted(worker="w1"), {"worker": "w1"}),
    (JobProgress(progress=None, message="cancelling"), {"progress": None, "message": "cancelling"}),
    (
        JobProgress(**{"progress": 0.5, "index": 0, "step": 4, "total_steps": 8, "message": ""}),
        {"progress": 0.5, "index": 0, "step": 4, "total_steps": 8, "message": ""},
    ),
    (
        JobProgress(progress=None, message="m", fallback={"from": "a", "to": "b", "code": "quota"}),
        {"progress": None, "message": "m", "fallback": {"from": "a", "to": "b", "code": "quota"}},
    ),
]


@pytest.mark.parametrize(("event", "payload"), WIRE_CASES)
def test_job_events_keep_their_wire_format(event: JobEvent, payload: dict[str, Any]) -> None:
    wire = Wire()
    bus = memory_bus(wire)
    bus.publish("j1", JobQueued(position=1))
    message = bus.publish("j1", event)
    name, sent, room = wire.sent[-1]
    assert (name, room) == (event.name, "job:j1")
    assert sent == message
    assert {k: v for k, v in sent.items() if k != "ts"} == {**payload, "job_id": "j1", "seq": 2}
    assert isinstance(sent["ts"], float)


@pytest.mark.parametrize(
    ("event", "payload", "room"),
    [
        (GalleryAdded(image=IMAGE), {"image": IMAGE}, "feed:gallery"),
        (GalleryAdded(image=IMAGE, imported=True), {"image": IMAGE, "imported": True}, "feed:gallery"),
        (GalleryAdded(image=IMAGE, replaced=False), {"image": IMAGE, "replaced": False}, "feed:gallery"),
        (GalleryUpdated(image=IMAGE), {"image": IMAGE}, "feed:gallery"),
        (
            GalleryRemoved(id="i1", path="a.png", reason="trashed"),
            {"id": "i1", "path": "a.png", "reason": "trashed"},
            "feed:gallery",
        ),
        (
            QueueUpdated(queued=["a"], running=["b"], paused=True),
            {"queued": ["a"], "running": ["b"], "paused": True},
            "feed:queue",
        ),
    ],
)
def test_feed_events_keep_their_wire_format(event: FeedEvent, payload: dict[str, Any], room: str) -> None:
    wire = Wire()
    memory_bus(wire).feed(event)
    [(name, sent, sent_room)] = wire.sent
    assert (name, sent_room) == (event.name, room)
    assert {k: v for k, v in sent.items() if k != "ts"} == payload


def test_the_redis_bus_sends_and_replays_the_same_wire_format(redis_bus: tuple[RedisEventBus, Wire]) -> None:
    bus, wire = redis_bus
    preview = JobPreview(index=0, width=2, height=1, mime="image/jpeg", data=b"\xff\xd8")
    for event, _ in WIRE_CASES:
        bus.publish("j1", event)
    bus.publish("j1", preview)
    bus.feed(GalleryAdded(image=IMAGE, restored=True))
    live = [(name, {k: v for k, v in p.items() if k != "ts"}) for name, p, room in wire.sent if room == "job:j1"]
    expected = [
        (e.name, {**payload, "job_id": "j1", "seq": seq}) for seq, (e, payload) in enumerate(WIRE_CASES, start=1)
    ]
    expected.append(
        ("job.preview", {**preview.payload(), "job_id": "j1", "seq": len(WIRE_CASES) + 1, "data": b"\xff\xd8"})
    )
    assert live == expected
    assert wire.sent[-1][0] == "gallery.added" and wire.sent[-1][2] == "feed:gallery"
    assert wire.sent[-1][1]["restored"] is True
    sent_live = [(name, payload) for name, payload, room in wire.sent if room == "job:j1"]
    wire.sent.clear()
    assert bus.attach("sid1", "j1", after_seq=0) == len(expected)
    # the replay is what was sent live, bytes and ts included (docs/events.md: every job event has ts)
    assert [(name, payload) for name, payload, _ in wire.sent] == sent_live


def _members(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(cls, name))
        for name in dir(Bus)
        if not name.startswith("_") and callable(getattr(Bus, name, None))
    }


@pytest.mark.parametrize("implementation", [EventBus, RedisEventBus])
def test_both_buses_implement_the_bus_protocol(implementation: type) -> None:
    declared = _members(Bus)
    assert {"publish", "feed", "last_seq", "job_finished", "attach", "detach", "forget_sid"} <= set(declared)
    for name, signature in declared.items():
        assert hasattr(implementation, name), f"{implementation.__name__} has no {name}"
        mine = inspect.signature(getattr(implementation, name))
        assert list(mine.parameters) == list(signature.parameters), f"{implementation.__name__}.{name}"
    assert "lock" in Bus.__annotations__
    wire = Wire()
    assert memory_bus(wire).lock is not None


def test_forget_sid_is_part_of_the_bus_no_probe_needed() -> None:
    wire = Wire()
    memory_bus(wire).forget_sid("sid1")  # a plain call on either bus
    source = (ROOT / "backend" / "web" / "socket_auth.py").read_text()
    assert 'getattr(studio.bus, "forget_sid"' not in source


def test_no_backend_module_names_an_event_in_a_string_or_ignores_the_bus_type() -> None:
    offenders = []
    for path in sorted((ROOT / "backend").rglob("*.py")):
        if path.name == "event_types.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if EVENT_NAME.search(line) or ("type: ignore" in line and "bus" in line.split("#")[0]):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_every_event_class_is_registered_once() -> None:
    classes = {
        obj
        for obj in vars(event_types).values()
        if isinstance(obj, type) and obj not in (JobEvent, FeedEvent) and issubclass(obj, JobEvent | FeedEvent)
    }
    assert classes == set(JOB_EVENTS) | set(FEED_EVENTS)
    names = [c.name for c in (*JOB_EVENTS, *FEED_EVENTS)]
    assert len(names) == len(set(names))
    assert {c.topic for c in FEED_EVENTS} <= set(event_types.FEEDS) | set(event_types.ROOMED)


def test_docs_events_md_tables_are_generated_from_the_classes() -> None:
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert event_types.BEGIN in text and event_types.END in text, "docs/events.md lost its markers"
    assert text == event_types.docs_with_tables(text), "run: python -m backend.services.event_types --write"
    for cls in (*JOB_EVENTS, *FEED_EVENTS):
        assert f"| `{cls.name}` |" in text


def test_the_spa_event_types_are_generated_from_the_classes() -> None:
    checked_in = event_types.TS_FILE.read_text(encoding="utf-8")
    assert checked_in == event_types.typescript(), "run: python -m backend.services.event_types --write"
