"""What a worker does with one job: the function RQ calls, ``run_job(job_id)``.

The worker claims the job, tells the web server it started, runs it here with the same
JobRunner as the studio's own pool (the provider, the fallback providers this worker
serves, or for a studio tool job the tool's producer, which reads its source images from
the web server), sends each finished image and each provider move to the web server
through :class:`StudioSink` (the web server writes the gallery), and reports the end.
Progress and previews it publishes itself through Redis, numbered in the job's one sequence.
A heartbeat thread keeps the job's ``beat`` key alive and watches for cancel.

Works under ``python -m backend.worker`` and under a plain ``rq worker`` (the state is
then built from the environment on the first job).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import requests
from redis import Redis
from redis.exceptions import RedisError

from backend.config import Settings, load_settings
from backend.providers.base import GeneratedImage, GenerationRequest, Provider, ProviderError
from backend.providers.registry import ProviderRegistry
from backend.runtime import Runtime
from backend.services.event_types import JobEvent, JobPreview, JobProgress
from backend.services.events import job_room
from backend.services.fallback import FallbackChain, Moved
from backend.services.job_context import JobContext
from backend.services.job_queue import JobQueue
from backend.services.job_runner import Abandoned, ImageRefused, JobRunner, Producers
from backend.services.provider_setup import apply_synced
from backend.services.provider_sync import ProviderSync
from backend.services.redis_events import RedisEventLog
from backend.services.tools.common import LOCAL, SourceReader, source_gone
from backend.services.tools.producers import tool_producers
from backend.storage.job_store import JobRecord

log = logging.getLogger("atelier.worker")
HEADER = "X-Atelier-Worker"


class Rejected(Exception):
    """The web server refused a report (the job was cancelled, reaped or taken)."""


class ServerRefusedImage(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class SourceMissing(Exception):
    """The web server has no such source image for this job (``source_gone``: deleted
    since the job was submitted; ``unknown_source``: the job's tool does not name it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _error_of(r: requests.Response) -> dict[str, Any]:
    try:
        error = r.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


class WebServer:
    """The web server's internal endpoints, retried while it is briefly away."""

    def __init__(self, base_url: str, secret: str, name: str, patience_seconds: float = 120.0) -> None:
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({HEADER: secret, "X-Atelier-Worker-Name": name})
        self.patience = patience_seconds

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The web server's answer; one that cannot be reached, or answers 5xx (but 507),
        is tried again until the patience runs out."""
        deadline = time.monotonic() + self.patience
        delay = 0.25
        while True:
            try:
                r = self.session.request(method, self.base + path, timeout=60, **kwargs)
            except requests.RequestException as exc:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"the web server at {self.base} cannot be reached: {exc}") from exc
            else:
                if r.status_code < 500 or r.status_code == 507:
                    return r
                if time.monotonic() > deadline:
                    raise ConnectionError(f"the web server answered {r.status_code}: {r.text[:200]}")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        r = self._send("POST", path, **kwargs)
        if r.status_code in (404, 409):
            raise Rejected(r.text)
        if r.status_code in (413, 422, 507):
            error = _error_of(r)
            raise ServerRefusedImage(error.get("code", "bad_response"), error.get("message", r.text))
        if r.ok:
            return r.json()
        raise ConnectionError(f"the web server answered {r.status_code}: {r.text[:200]}")

    def get_bytes(self, path: str) -> bytes:
        r = self._send("GET", path)
        if r.ok:
            return r.content
        error = _error_of(r)
        if r.status_code == 404 and error.get("code") in ("source_gone", "unknown_source"):
            raise SourceMissing(error["code"], error.get("message", ""))
        if r.status_code in (404, 409):
            raise Rejected(r.text)
        raise ConnectionError(f"the web server answered {r.status_code}: {r.text[:200]}")


class Publisher:
    """Progress and previews of one job, published in order (the JobEvents of JobContext)."""

    def __init__(self, log_: RedisEventLog, emit: Callable[[str, dict, str], None], floor: int) -> None:
        self._log = log_
        self._emit = emit
        self._floor = floor
        self._lock = threading.Lock()  # the heartbeat thread publishes "cancelling"
        self.progress: float | None = 0.0

    def publish(self, job_id: str, event: JobEvent) -> None:
        with self._lock:
            try:
                message = self._log.append(job_id, event, floor=self._floor)
                self._emit(event.name, message, job_room(job_id))
            except RedisError as exc:  # progress is not worth failing a job over
                log.warning("job %s: %s not published (%s)", job_id, event.name, exc)

    def on_progress(self, job_id: str, event: JobProgress) -> None:
        if event.progress is not None:
            self.progress = event.progress
        self.publish(job_id, event)

    def on_preview(self, job_id: str, event: JobPreview) -> None:
        self.publish(job_id, event)


class Heartbeat(threading.Thread):
    """Keeps the job's heartbeat alive and notices a cancel request."""

    def __init__(self, queue: JobQueue, job_id: str, worker: str) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id[:8]}")
        self.queue, self.job_id, self.worker = queue, job_id, worker
        self.on_cancel: Callable[[], None] | None = None
        self.cancelled = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        next_beat = 0.0
        while not self._stop_event.is_set():
            try:
                now = time.monotonic()
                if now >= next_beat:
                    self.queue.beat(self.job_id, self.worker)
                    next_beat = now + self.queue.heartbeat_seconds
                if not self.cancelled and self.queue.cancel_requested(self.job_id):
                    self.cancelled = True
                    if self.on_cancel:
                        self.on_cancel()
            except RedisError:
                pass  # Redis away: beat again when it is back
            self._stop_event.wait(min(0.25, self.queue.heartbeat_seconds))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


class StudioSink:
    """The ImageSink of a worker: images and provider moves go to the studio's internal
    endpoints, which write the gallery and the job store and announce them; the worker's
    copy of the job learns them too, for the runner's checks."""

    def __init__(self, server: WebServer) -> None:
        self.server = server

    def save(self, job: JobRecord, served: GenerationRequest, generated: GeneratedImage) -> dict[str, Any]:
        meta = {
            "index": generated.index,
            "seed": generated.seed,
            "metadata": generated.metadata,
            "request": served.to_json(),
            # a tool's source and settings, for the image's gallery metadata
            "extra": getattr(generated, "extra", None),
        }
        try:
            answer = self.server.post(
                f"/internal/jobs/{job.id}/images",
                data={"meta": json.dumps(meta)},
                files={"image": ("image", generated.data, "application/octet-stream")},
            )
        except Rejected:
            raise Abandoned() from None
        except ServerRefusedImage as exc:
            raise ImageRefused(exc.code, exc.message) from None
        image = answer["image"]
        job.images.append(image)
        if generated.metadata:
            job.provider_notes.append({"index": generated.index, **generated.metadata})
        job.served_by = served.provider
        return image

    def moved(self, job: JobRecord, move: Moved) -> None:
        try:
            self.server.post(f"/internal/jobs/{job.id}/fallback", json=move.to_json())
        except Rejected:
            raise Abandoned() from None
        job.warnings += [w.to_json() for w in move.warnings]
        job.cost_usd = move.cost_usd


@dataclass
class WorkerState:
    settings: Settings
    registry: ProviderRegistry
    queue: JobQueue
    events: RedisEventLog
    emit: Callable[[str, dict, str], None]
    server: WebServer
    name: str
    providers: tuple[str, ...]
    #: provider settings entered in the studio, read from Redis before each job
    sync: ProviderSync | None = None
    classes: dict[str, type[Provider]] = field(default_factory=dict)
    settings_version: int | None = None

    def refresh_providers(self) -> None:
        """Build the providers again when the studio's provider settings changed since the last job."""
        if self.sync is None:
            return
        found = self.sync.fetch(self.settings_version)
        if found is None:
            return
        self.settings_version, providers = found
        apply_synced(self.registry, self.classes, self.settings.env, providers)
        log.info("provider settings from the studio applied (version %d)", self.settings_version)

    def run(self, job_id: str) -> str:
        if not self.queue.claim(job_id, self.name):
            return "skipped: another worker or a cancel took it"
        self.refresh_providers()
        beat = Heartbeat(self.queue, job_id, self.name)
        self.queue.beat(job_id, self.name)
        beat.start()
        try:
            try:
                started = self.server.post(f"/internal/jobs/{job_id}/start")
            except Rejected:
                return "skipped: the job is no longer queued"
            return self._run(job_id, started, beat)
        finally:
            beat.stop()
            try:
                self.queue.stop_beating(job_id)
            except RedisError:
                pass

    def runner(self, job_id: str, runtime: Runtime) -> JobRunner:
        """The job runner of one job here: this worker's providers, its tools reading
        their sources from the studio, the fallback providers this worker serves."""
        producers = Producers(
            self.registry,
            tool_producers(self.registry, self._source_reader(job_id)),
            serves=frozenset(self.providers),
            where=f"this worker ({self.name})",
        )
        fallback = FallbackChain(self.registry, self.settings.fallback).only(self.providers)
        return JobRunner(producers, fallback, runtime)

    def _run(self, job_id: str, started: dict[str, Any], beat: Heartbeat) -> str:
        job = job_record(started["job"])
        request = GenerationRequest.from_json(job.request)
        events = Publisher(self.events, self.emit, int(started.get("last_seq") or 0))
        runtime = Runtime(_spawn_thread, time.sleep)
        ctx = JobContext(
            events, job_id, request.n, runtime, 1.0 / self.settings.previews_per_second, self.settings.preview_size
        )

        def cancel() -> None:
            ctx.cancel()
            events.publish(job_id, JobProgress(progress=events.progress, message="cancelling"))

        beat.on_cancel = cancel
        if self.queue.cancel_requested(job_id):
            beat.cancelled = True
            cancel()
        try:
            outcome = self.runner(job_id, runtime).run(job, request, ctx, StudioSink(self.server))
        except Abandoned:
            return "stopped: the web server no longer accepts this job"
        try:
            self.server.post(f"/internal/jobs/{job_id}/finish", json={"status": outcome.status, "error": outcome.error})
        except Rejected:
            return "stopped: the job had already ended"
        return outcome.status

    def _source_reader(self, job_id: str) -> SourceReader:
        """A tool's SourceReader here: the bytes come from the web server, which has the gallery."""

        def read(source: dict[str, Any]) -> bytes:
            image_id = urllib.parse.quote(str(source["image_id"]), safe="")
            try:
                return self.server.get_bytes(f"/internal/jobs/{job_id}/sources/{image_id}")
            except SourceMissing as exc:
                if exc.code == "source_gone":
                    raise source_gone(source) from None
                raise ProviderError("invalid_request", exc.message, retryable=False) from None

        return read


def job_record(data: dict[str, Any]) -> JobRecord:
    """The worker's copy of a job, from the web server's answer to start."""
    known = {f.name for f in fields(JobRecord)}
    return JobRecord(**{k: v for k, v in data.items() if k in known})


def _spawn_thread(fn: Callable[..., Any], *args: Any) -> threading.Thread:
    thread = threading.Thread(target=fn, args=args, daemon=True)
    thread.start()
    return thread


_state: WorkerState | None = None


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def build_state(
    settings: Settings, redis: Redis, providers: tuple[str, ...] | None = None, name: str | None = None
) -> WorkerState:
    from flask_socketio import SocketIO

    scale = settings.scaleout
    assert scale.redis_url
    registry = ProviderRegistry.discover(settings.env, settings.provider_modules)
    queue = JobQueue(redis, scale.heartbeat_seconds, scale.job_timeout_seconds)
    # Flask-SocketIO as an external emitter: the web instances deliver to their clients
    emitter = SocketIO(message_queue=scale.redis_url, async_mode="threading")

    def emit(event: str, payload: dict, room: str) -> None:
        emitter.emit(event, payload, to=room, namespace="/")

    name = name or default_name()
    server_url = scale.server_url or f"http://127.0.0.1:5000{scale.base_path}"
    worker_secret = queue.worker_secret(scale.worker_secret)
    return WorkerState(
        settings=settings,
        registry=registry,
        queue=queue,
        events=RedisEventLog(redis, settings.event_retention_seconds),
        emit=emit,
        server=WebServer(server_url, worker_secret, name),
        name=name,
        # a plain ``rq worker`` serves the queues it was given: every provider here, and local tools
        providers=providers or (*(p.id for p in registry), LOCAL),
        sync=ProviderSync(redis, worker_secret),
        classes={p.id: type(p) for p in registry},
    )


def install_state(state: WorkerState) -> None:
    global _state
    _state = state


def run_job(job_id: str) -> str:
    """The task RQ runs (``backend.worker.tasks.run_job``)."""
    global _state
    if _state is None:  # a plain ``rq worker``: build from the environment once
        from backend.distributed import connect_redis

        settings = load_settings()
        assert settings.scaleout.redis_url, "set ATELIER_REDIS_URL"
        _state = build_state(settings, connect_redis(settings.scaleout.redis_url))
    return _state.run(job_id)
