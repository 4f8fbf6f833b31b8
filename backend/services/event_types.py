"""Every Socket.IO event the server sends, one frozen dataclass each, and the ``Bus``
protocol that publishes them.

An event class knows its wire name (``job.queued``), where it goes (a job's subscribers,
or a feed topic) and its fields; ``payload()`` is the wire dict without the envelope the
bus adds (``job_id``, ``seq``, ``ts`` for job events; ``ts`` for feed events).
docs/events.md (the reference tables) and frontend/src/api/events.generated.ts are
written from these classes:

    python -m backend.services.event_types --write

and tests/test_event_types.py fails when either differs from what this module generates.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol, TypedDict, Union

#: job.queued is sent again when a job moves within this many places of the head
POSITION_UPDATES_WITHIN = 20
#: seconds between queue.updated snapshots, at most
QUEUE_FEED_INTERVAL = 0.25

# --- value shapes carried by events ----------------------------------------------------
#: An image as the REST API answers it (``image_json``; docs/api.md); the SPA's GalleryImage.
Image = Annotated[dict[str, Any], "GalleryImage"]


class JobError(TypedDict):
    code: str
    message: str
    retryable: bool


# ``from`` is a keyword: the functional form keeps the wire name
Fallback = TypedDict("Fallback", {"from": str, "to": str, "code": str})

Topic = Literal["gallery", "queue", "matrix", "providers"]
#: the topics a client subscribes to by name; a matrix's events go to those who subscribe
#: with its ``matrix_id`` (one room per matrix)
FEEDS: tuple[Topic, ...] = ("gallery", "queue", "providers")
#: the topics whose events go to one room per subject (``FeedEvent.room``), joined by its id
ROOMED: tuple[Topic, ...] = ("matrix",)


class MatrixCellState(TypedDict):
    coords: list[int]
    job_id: str | None
    status: str
    image_ids: list[str]
    reason: str | None


def _doc(text: str, *, optional: bool = False) -> dict[str, Any]:
    """Field metadata: its description, and whether it is left out of the wire when None."""
    return {"doc": text, "optional": optional}


def _wire(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if value is None and f.metadata.get("optional"):
            continue
        out[f.name] = value
    return out


@dataclass(frozen=True)
class JobEvent:
    """An event of one job, sent to the job's subscribers with ``job_id``, ``seq`` and ``ts``."""

    name: ClassVar[str]
    when: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        return _wire(self)


@dataclass(frozen=True)
class FeedEvent:
    """An event of a feed topic, sent to its subscribers with ``ts``."""

    name: ClassVar[str]
    topic: ClassVar[Topic]
    when: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        return _wire(self)

    def room(self) -> str:
        """The room of this event's subscribers, below ``feed:``: the topic, or one of its rooms."""
        return self.topic


# --- job events -------------------------------------------------------------------------
@dataclass(frozen=True)
class JobQueued(JobEvent):
    name = "job.queued"
    when = (
        f"on submit, and whenever the job moves up within the first {POSITION_UPDATES_WITHIN} places"
        " (the `queue` feed carries the whole order)"
    )
    position: int = field(metadata=_doc("1 = next to run"))


@dataclass(frozen=True)
class JobStarted(JobEvent):
    name = "job.started"
    when = "a worker took it"
    worker: str | None = field(default=None, metadata=_doc("the worker's name (Redis mode only)", optional=True))


@dataclass(frozen=True)
class JobProgress(JobEvent):
    name = "job.progress"
    when = (
        'as the provider reports; `message: "cancelling"` after a cancel request; '
        '`progress: null` with a message such as `"OpenAI rate limited; retry 1 of 4 in 2.0 s"` '
        "while a cloud provider waits before a retry; `progress: null` with `fallback` when "
        "`ATELIER_FALLBACK` moves the job to the next provider"
    )
    progress: float | None = field(metadata=_doc("0..1 for the whole job, or null when the provider cannot tell"))
    message: str = field(default="", metadata=_doc("what is happening, in words"))
    index: int | None = field(default=None, metadata=_doc("the image the steps count", optional=True))
    step: int | None = field(default=None, metadata=_doc("the provider's step", optional=True))
    total_steps: int | None = field(default=None, metadata=_doc("of how many steps", optional=True))
    fallback: Fallback | None = field(
        default=None, metadata=_doc("`{from, to, code}`: the provider that failed, the next one, why", optional=True)
    )


@dataclass(frozen=True)
class JobPreview(JobEvent):
    name = "job.preview"
    when = "at most `ATELIER_PREVIEWS_PER_SECOND` per job"
    index: int = field(metadata=_doc("the image"))
    width: int = field(metadata=_doc("pixels, at most 512"))
    height: int = field(metadata=_doc("pixels, at most 512"))
    mime: str = field(metadata=_doc("`image/jpeg`"))
    data: bytes = field(metadata=_doc("the JPEG, **binary** (not base64)"))


@dataclass(frozen=True)
class JobImage(JobEvent):
    name = "job.image"
    when = "each image as soon as it is in the gallery"
    index: int = field(metadata=_doc("its place in the job"))
    image: Image = field(metadata=_doc("an image object (docs/api.md)"))


@dataclass(frozen=True)
class JobSucceeded(JobEvent):
    name = "job.succeeded"
    when = "the end"
    images: list[Image] = field(metadata=_doc("all of them"))


@dataclass(frozen=True)
class JobFailed(JobEvent):
    name = "job.failed"
    when = "the end; images already made stay in the gallery"
    error: JobError = field(metadata=_doc("`{code, message, retryable}`"))


@dataclass(frozen=True)
class JobCancelled(JobEvent):
    name = "job.cancelled"
    when = "the end"


@dataclass(frozen=True)
class JobInterrupted(JobEvent):
    name = "job.interrupted"
    when = "the end, with Redis: the worker running it stopped answering"
    error: JobError = field(metadata=_doc('`{code: "interrupted", message, retryable: true}`'))


# --- feed events ------------------------------------------------------------------------
@dataclass(frozen=True)
class GalleryAdded(FeedEvent):
    name = "gallery.added"
    topic = "gallery"
    when = (
        "a job saved an image; a file appeared or was replaced by hand; restore; import"
        " (also a tool request's uploaded image, once accepted)"
    )
    image: Image = field(metadata=_doc("the image"))
    replaced: bool | None = field(
        default=None, metadata=_doc("the watcher found it: true when it replaced a file", optional=True)
    )
    restored: bool | None = field(default=None, metadata=_doc("true: restored from the trash", optional=True))
    imported: bool | None = field(default=None, metadata=_doc("true: imported by upload", optional=True))


@dataclass(frozen=True)
class GalleryRemoved(FeedEvent):
    name = "gallery.removed"
    topic = "gallery"
    when = "file deleted by hand (watcher) or via the API"
    id: str = field(metadata=_doc("the image id"))
    path: str = field(metadata=_doc("its path in the gallery"))
    reason: Literal["deleted", "trashed"] = field(metadata=_doc("deleted by hand, or trashed via the API"))


@dataclass(frozen=True)
class GalleryUpdated(FeedEvent):
    name = "gallery.updated"
    topic = "gallery"
    when = "favourite changed"
    image: Image = field(metadata=_doc("the image as it is now"))


@dataclass(frozen=True)
class GalleryIndexing(FeedEvent):
    name = "gallery.indexing"
    topic = "gallery"
    when = (
        "the index of a big folder is being built in the background after a start: at most one a second,"
        " and once when it is done (`GET /api/gallery/status` says the same)"
    )
    indexing: bool = field(metadata=_doc("false: this was the last one, the index is complete"))
    indexed: int = field(metadata=_doc("image files indexed so far"))
    total: int | None = field(metadata=_doc("image files in the folder; null until the folder has been walked"))


@dataclass(frozen=True)
class QueueUpdated(FeedEvent):
    name = "queue.updated"
    topic = "queue"
    when = (
        "a job was queued, started, moved or ended, or the queue was paused or resumed;"
        " a snapshot, coalesced to at most one every"
        f" {QUEUE_FEED_INTERVAL * 1000:g} ms "
        "(the first change after a quiet spell goes out at once, and the latest state always follows)"
    )
    queued: list[str | None] = field(
        metadata=_doc("job ids in queue order; with accounts, a member's feed has null for each job of someone else")
    )
    running: list[str | None] = field(metadata=_doc("job ids (null: someone else's, as in `queued`)"))
    paused: bool = field(default=False, metadata=_doc("running jobs finish, nothing new starts"))


@dataclass(frozen=True)
class MatrixUpdated(FeedEvent):
    name = "matrix.updated"
    topic = "matrix"
    when = (
        "a cell of the matrix was queued, started or ended, and when its grid image is saved;"
        " sent to those who subscribed with `{matrix_id}`"
    )
    matrix_id: str = field(metadata=_doc("the matrix"))
    status: Literal["running", "rendering", "done"] = field(
        metadata=_doc("`running` while a cell has not ended; `rendering` the grid; `done` with its grid image")
    )
    done: int = field(metadata=_doc("cells ended (skipped ones included)"))
    total: int = field(metadata=_doc("cells in the matrix"))
    cell: MatrixCellState | None = field(
        default=None,
        metadata=_doc("`{coords, job_id, status, image_ids, reason}`: the cell", optional=True),
    )
    grid_image: Image | None = field(default=None, metadata=_doc("the grid image, once saved", optional=True))

    def room(self) -> str:
        return f"matrix:{self.matrix_id}"


@dataclass(frozen=True)
class ProvidersChanged(FeedEvent):
    name = "providers.changed"
    topic = "providers"
    when = (
        "a provider's settings were saved on the Providers page (PUT /api/providers/<id>/settings);"
        " the last save wins, and this tells every open page, the one that saved before included"
    )
    provider: str = field(metadata=_doc("the provider's id"))
    version: int = field(metadata=_doc("the settings' version after this save (every save adds one)"))


JOB_EVENTS: tuple[type[JobEvent], ...] = (
    JobQueued,
    JobStarted,
    JobProgress,
    JobPreview,
    JobImage,
    JobSucceeded,
    JobFailed,
    JobCancelled,
    JobInterrupted,
)
FEED_EVENTS: tuple[type[FeedEvent], ...] = (
    GalleryAdded,
    GalleryRemoved,
    GalleryUpdated,
    GalleryIndexing,
    QueueUpdated,
    MatrixUpdated,
    ProvidersChanged,
)


# --- the bus ----------------------------------------------------------------------------
class Bus(Protocol):
    """What the studio needs of an event bus: the in-process ``EventBus`` and, with Redis,
    ``RedisEventBus``. Job events are numbered per job and held for replay; feed events
    are sent to whoever follows the topic now."""

    #: held while a job's state changes and its event is published, and while a
    #: subscriber's snapshot is taken, so that the two agree
    lock: threading.RLock

    def publish(self, job_id: str, event: JobEvent) -> dict[str, Any]:
        """Number, hold and send one job event; returns the message sent."""
        ...

    def feed(self, event: FeedEvent, rooms: list[str] | None = None) -> None:
        """Send to the event's room, or to ``rooms`` (below ``feed:``; a client in several gets it once)."""
        ...

    def last_seq(self, job_id: str) -> int: ...

    def held(self, job_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The events held for a job, oldest first (e.g. its latest preview); [] when none."""
        ...

    def job_finished(self, job_id: str) -> None:
        """Start the retention clock of a finished job's events."""
        ...

    def attach(self, sid: str, job_id: str, after_seq: int) -> int:
        """Replay the held events after ``after_seq`` to ``sid``, then send it the live ones."""
        ...

    def detach(self, sid: str, job_id: str) -> None: ...

    def join_feed(self, sid: str, topic: str) -> None:
        """``topic``: a topic, or a room of one (``matrix:<id>``, as ``FeedEvent.room`` names it)."""
        ...

    def leave_feed(self, sid: str, topic: str) -> None: ...

    def forget_sid(self, sid: str) -> None:
        """A client disconnected: drop what the bus keeps about it."""
        ...


class Feed(Protocol):
    """The bus's feed method, as the gallery and its watcher take it: ``rooms``, rooms of
    the event's topic to send it to instead of the topic's own (each client once)."""

    def __call__(self, event: FeedEvent, rooms: list[str] | None = None) -> None: ...


# --- generated reference: docs/events.md and the SPA's event types ----------------------
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "events.md"
TS_FILE = ROOT / "frontend" / "src" / "api" / "events.generated.ts"
BEGIN = "<!-- BEGIN generated by `python -m backend.services.event_types --write` -->"
END = "<!-- END generated -->"


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _ts_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return typing.get_args(tp)[1]
    if origin in (Union, types.UnionType):
        return " | ".join(_ts_type(a) for a in typing.get_args(tp))
    if origin is Literal:
        return " | ".join(f'"{a}"' for a in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        inner = _ts_type(item)
        return f"({inner})[]" if "|" in inner else f"{inner}[]"
    if typing.is_typeddict(tp):
        return tp.__name__
    simple = {type(None): "null", str: "string", int: "number", float: "number", bool: "boolean", bytes: "ArrayBuffer"}
    if tp in simple:
        return simple[tp]
    raise TypeError(f"no TypeScript type for {tp!r}")


def _md_type(tp: Any) -> str:
    return _ts_type(tp).replace("|", "\\|")


def _fields(cls: type) -> Iterator[tuple[dataclasses.Field[Any], Any]]:
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        yield f, hints[f.name]


def _non_null(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _md_fields(cls: type) -> str:
    parts = []
    for f, tp in _fields(cls):
        optional = f.metadata.get("optional")
        shown = _non_null(tp) if optional else tp
        mark = " (optional)" if optional else ""
        parts.append(f"`{f.name}` `{_md_type(shown)}`{mark}: {f.metadata['doc']}")
    return "<br>".join(parts) or "—"


def markdown() -> str:
    """The reference tables of docs/events.md."""
    lines = [
        BEGIN,
        "",
        "Job events (each also carries `job_id`, `seq`, `ts`; subscribe with `{job_id, after_seq}`):",
        "",
        "| event | fields | when |",
        "|---|---|---|",
    ]
    lines += [f"| `{c.name}` | {_md_fields(c)} | {c.when} |" for c in JOB_EVENTS]
    lines += [
        "",
        "Feed events (each also carries `ts`; subscribe with `{topic}`):",
        "",
        "| event | topic | fields | when |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{c.name}` | `{c.topic}` | {_md_fields(c)} | {c.when} |" for c in FEED_EVENTS]
    lines += ["", END]
    return "\n".join(lines)


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", ".").split("."))


def _ts_interface(name: str, base: str, cls: type) -> list[str]:
    body = []
    for f, tp in _fields(cls):
        if f.metadata.get("optional"):
            body.append(f"  {f.name}?: {_ts_type(_non_null(tp))};")
        else:
            body.append(f"  {f.name}: {_ts_type(tp)};")
    if not body:
        return [f"export type {name} = {base};"]
    return [f"export interface {name} extends {base} {{", *body, "}"]


def typescript() -> str:
    """frontend/src/api/events.generated.ts."""
    out = [
        "// Generated by `python -m backend.services.event_types --write` from",
        "// backend/services/event_types.py: do not edit (tests/test_event_types.py checks it).",
        'import type { GalleryImage, JobError } from "./types";',
        "",
    ]
    for td in (Fallback, MatrixCellState):  # JobError is the REST API's too: types.ts declares it
        out.append(f"export interface {td.__name__} {{")
        out += [f"  {k}: {_ts_type(v)};" for k, v in typing.get_type_hints(td).items()]
        out += ["}", ""]
    out += [
        "export interface JobEventBase {",
        "  job_id: string;",
        "  seq: number;",
        "  ts: number;",
        "}",
        "",
        "export interface FeedEventBase {",
        "  ts: number;",
        "}",
        "",
    ]
    for cls in JOB_EVENTS:
        out += _ts_interface(f"{_pascal(cls.name)}Payload", "JobEventBase", cls) + [""]
    for cls in FEED_EVENTS:
        out += _ts_interface(f"{_pascal(cls.name)}Payload", "FeedEventBase", cls) + [""]
    out.append("export interface JobEventPayloads {")
    out += [f'  "{c.name}": {_pascal(c.name)}Payload;' for c in JOB_EVENTS]
    out += ["}", "", "export interface FeedEventPayloads {"]
    out += [f'  "{c.name}": {_pascal(c.name)}Payload;' for c in FEED_EVENTS]
    out += ["}", "", "export const JOB_EVENT_NAMES = ["]
    out += [f'  "{c.name}",' for c in JOB_EVENTS]
    out += ["] as const;", "", "/** Each feed event's topic. */", "export const FEED_EVENT_TOPICS = {"]
    out += [f'  "{c.name}": "{c.topic}",' for c in FEED_EVENTS]
    out += [
        "} as const;",
        "",
        "export type JobEventName = (typeof JOB_EVENT_NAMES)[number];",
        "export type FeedEventName = keyof typeof FEED_EVENT_TOPICS;",
        "export type FeedTopic = (typeof FEED_EVENT_TOPICS)[FeedEventName];",
        "",
    ]
    return "\n".join(out)


def docs_with_tables(text: str) -> str:
    """``text`` (docs/events.md) with the generated tables between the markers."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + markdown() + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.services.event_types", description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="print the docs/events.md tables")
    parser.add_argument("--typescript", action="store_true", help="print the SPA's event types")
    parser.add_argument("--write", action="store_true", help="write both into docs/events.md and " + TS_FILE.name)
    args = parser.parse_args(argv)
    if args.write:
        DOCS.write_text(docs_with_tables(DOCS.read_text(encoding="utf-8")), encoding="utf-8")
        TS_FILE.write_text(typescript(), encoding="utf-8")
        print(f"wrote {DOCS.relative_to(ROOT)} and {TS_FILE.relative_to(ROOT)}")
    elif args.typescript:
        sys.stdout.write(typescript())
    else:
        print(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
