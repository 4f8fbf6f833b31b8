"""Jobs: the queue, the worker pool, and the life of each job.

A job is queued, runs when its provider has a free slot (a limit per provider and one
overall), streams its progress, previews and images as events, and ends succeeded,
failed or cancelled; one that was running when the server stopped is ``interrupted``.
Every state change is written to SQLite before its event goes out.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from typing import Any, cast

from backend import shapes
from backend.providers.base import Cancelled, GeneratedImage, GenerationRequest, ProviderError
from backend.providers.registry import ProviderRegistry
from backend.runtime import Runtime
from backend.services.event_types import (
    Bus,
    Fallback,
    GalleryAdded,
    JobCancelled,
    JobFailed,
    JobImage,
    JobPreview,
    JobProgress,
    JobQueued,
    JobStarted,
    JobSucceeded,
    QueueUpdated,
)
from backend.services.fallback import FallbackChain
from backend.services.gallery import Gallery, ImageRejected, SaveContext, image_json, utc_now_iso
from backend.services.job_context import JobContext, ShiftedContext
from backend.services.tools.common import LOCAL, ToolProducer
from backend.services.usage import settle_cost
from backend.services.validation import Warning_
from backend.storage.job_store import JobRecord, JobStore

log = logging.getLogger(__name__)
QUEUE_FEED_INTERVAL = 0.25  # seconds between queue.updated snapshots, at most
POSITION_UPDATES_WITHIN = 20  # job.queued is sent again when a job moves within this many places
_DONE = object()


class JobNotFound(Exception):
    pass


class JobConflict(Exception):
    """The job is in a state that does not allow the operation (e.g. cancel when finished)."""


class _SaveFailed(Exception):
    pass


class JobService:
    def __init__(
        self,
        store: JobStore,
        registry: ProviderRegistry,
        gallery: Gallery,
        bus: Bus,
        runtime: Runtime,
        *,
        max_concurrent: int = 4,
        provider_concurrency: dict[str, int] | None = None,
        preview_interval: float = 0.25,
        preview_side: int = 384,
        fallback: FallbackChain | None = None,
        tools: Mapping[str, ToolProducer] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.gallery = gallery
        self.bus = bus
        self.runtime = runtime
        self.max_concurrent = max_concurrent
        self.provider_concurrency = provider_concurrency or {}
        self.preview_interval = preview_interval
        self.preview_side = preview_side
        self.fallback = fallback if fallback is not None else FallbackChain(registry, ())
        self.tools = dict(tools or {})  # job kind -> the producer of its images
        self._lock = bus.lock  # one lock: a state change and its event are atomic
        self._active: dict[str, JobRecord] = {}
        self._requests: dict[str, GenerationRequest] = {}
        self._queue: list[str] = []
        self._running: dict[str, JobContext] = {}
        self._positions: dict[str, int] = {}
        self._queue_feed_at = float("-inf")
        self._queue_feed_pending = False

    # --- lifecycle -----------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        """After a restart: running jobs become interrupted, queued ones queue again."""
        interrupted = self.store.with_status("running")
        for job in interrupted:
            job.status = "interrupted"
            job.finished_at = utc_now_iso()
            job.error = {
                "code": "interrupted",
                "message": "the server stopped while this job was running; retry it to run it again",
                "retryable": True,
            }
            self.store.save(job)
        queued = self.store.with_status("queued")
        with self._lock:
            for job in queued:
                self._active[job.id] = job
                self._requests[job.id] = GenerationRequest.from_json(job.request)
                self._queue.append(job.id)
            self._pump()
        return len(interrupted), len(queued)

    # --- public operations -----------------------------------------------------------------
    def submit(
        self,
        request: GenerationRequest,
        warnings: list[Warning_],
        session: str | None,
        retry_of: str | None = None,
        *,
        kind: str = "generate",
        tool: dict[str, Any] | None = None,
        cost_usd: float | None = None,
    ) -> JobRecord:
        """Queue a job. A tool job (``kind`` other than generate) brings its ``tool`` request
        and its estimated cost; a generation is priced by its provider."""
        provider = self.registry.get(request.provider)
        if kind == "generate":
            cost_usd = provider.estimate_cost(request) if provider else None
        job = JobRecord(
            id=uuid.uuid4().hex,
            created_at=utc_now_iso(),
            request=request.to_json(),
            session=session,
            warnings=[w.to_json() for w in warnings],
            cost_usd=cost_usd,
            retry_of=retry_of,
            message="waiting in the queue",
            kind=kind,
            tool=tool,
        )
        with self._lock:
            self.store.save(job)
            self._active[job.id] = job
            self._requests[job.id] = request
            self._queue.append(job.id)
            self._positions[job.id] = len(self._queue)
            self.bus.publish(job.id, JobQueued(position=len(self._queue)))
            self._pump()
        return job

    def retry(self, job_id: str) -> JobRecord:
        job = self.get(job_id)
        if job.status not in ("failed", "cancelled", "interrupted"):
            raise JobConflict(f"job is {job.status}; only failed, cancelled or interrupted jobs can be retried")
        request = GenerationRequest.from_json(job.request)
        provider = self.registry.get(request.provider)
        if request.provider != LOCAL and (provider is None or not provider.availability()[0]):
            raise JobConflict(f"provider {request.provider!r} is not available now")
        warnings = [Warning_(**w) for w in job.warnings]
        return self.submit(
            request, warnings, job.session, retry_of=job.id, kind=job.kind, tool=job.tool, cost_usd=job.cost_usd
        )

    def cancel(self, job_id: str) -> JobRecord:
        with self._lock:
            job = self.get(job_id)
            if job.finished:
                raise JobConflict(f"job already {job.status}")
            if job.id in self._running:
                if not job.cancel_requested:
                    job.cancel_requested = True
                    job.message = "cancelling"
                    self._running[job.id].cancel()
                    self.store.save(job)
                    self.bus.publish(job.id, JobProgress(progress=job.progress, message="cancelling"))
                return job
            self._queue.remove(job.id)
            self._finish(job, "cancelled")
            self._pump()
            return job

    def get(self, job_id: str) -> JobRecord:
        job = self._active.get(job_id) or self.store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def page(self, limit: int, before: tuple[str, str] | None, session: str | None) -> list[JobRecord]:
        return [self._active.get(j.id, j) for j in self.store.page(limit, before, session)]

    def position(self, job_id: str) -> int | None:
        with self._lock:
            return self._queue.index(job_id) + 1 if job_id in self._queue else None

    def queue_snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            return {"queued": list(self._queue), "running": list(self._running)}

    def job_json(self, job: JobRecord) -> shapes.Job:
        data = asdict(job)
        data["provider"] = job.provider
        data["model"] = job.request.get("model")
        data["position"] = self.position(job.id) if job.status == "queued" else None
        data["last_seq"] = self.bus.last_seq(job.id)
        if job.tool and job.tool.get("mask"):
            data["tool"] = {**job.tool, "mask": "attached"}  # the mask's bytes stay on the server
        return cast(shapes.Job, data)  # the declared shape: tests/test_shapes.py checks it

    # --- scheduling ----------------------------------------------------------------------
    def _limit(self, provider_id: str) -> int:
        if provider_id in self.provider_concurrency:
            return self.provider_concurrency[provider_id]
        provider = self.registry.get(provider_id)
        return provider.default_concurrency if provider else 1

    def _pump(self) -> None:
        """Start every queued job that has a free slot, then tell who moved. Holds the lock."""
        per_provider: dict[str, int] = {}
        for job_id in self._running:
            p = self._active[job_id].provider
            per_provider[p] = per_provider.get(p, 0) + 1
        for job_id in list(self._queue):
            if len(self._running) >= self.max_concurrent:
                break
            job = self._active[job_id]
            if per_provider.get(job.provider, 0) >= self._limit(job.provider):
                continue
            per_provider[job.provider] = per_provider.get(job.provider, 0) + 1
            self._queue.remove(job_id)
            self._start(job)
        # a move is announced near the head of the queue only: far back, one event per job
        # per queue change would be O(queue^2) events; the queue feed has the whole order
        for position, job_id in enumerate(self._queue[:POSITION_UPDATES_WITHIN], start=1):
            if self._positions.get(job_id) != position:
                self._positions[job_id] = position
                self.bus.publish(job_id, JobQueued(position=position))
        self._announce_queue()

    def _announce_queue(self) -> None:
        """queue.updated, at most every QUEUE_FEED_INTERVAL: with hundreds of jobs and of
        feed subscribers, one snapshot per queue change would be O(jobs x clients) traffic.
        The first change after a quiet spell goes out at once, later ones are coalesced
        into one trailing snapshot."""
        if self._queue_feed_pending:
            return
        wait = self._queue_feed_at + QUEUE_FEED_INTERVAL - time.monotonic()
        if wait <= 0:
            self._queue_feed_at = time.monotonic()
            self.bus.feed(QueueUpdated(**self.queue_snapshot()))
            return
        self._queue_feed_pending = True
        self.runtime.spawn(self._trailing_queue_feed, wait)

    def _trailing_queue_feed(self, wait: float) -> None:
        self.runtime.sleep(wait)
        with self._lock:
            self._queue_feed_pending = False
            self._queue_feed_at = time.monotonic()
            try:
                self.bus.feed(QueueUpdated(**self.queue_snapshot()))
            except Exception:  # e.g. Redis gone: the next change announces again
                log.exception("queue.updated could not be sent")

    def _start(self, job: JobRecord) -> None:
        request = self._requests[job.id]
        ctx = JobContext(self, job.id, request.n, self.runtime, self.preview_interval, self.preview_side)
        self._running[job.id] = ctx
        self._positions.pop(job.id, None)
        job.status = "running"
        job.started_at = utc_now_iso()
        job.message = "starting"
        self.store.save(job)
        self.bus.publish(job.id, JobStarted())
        self.runtime.spawn(self._run, job, request, ctx)

    # --- running ----------------------------------------------------------------------------
    def _images(self, request: GenerationRequest, ctx: JobContext | ShiftedContext) -> Iterator[GeneratedImage]:
        """The provider's images, advanced in a worker thread when it is CPU-bound."""
        provider = self.registry.get(request.provider)
        if provider is None:
            raise ProviderError("invalid_request", f"provider {request.provider!r} is no longer installed")
        iterator = iter(provider.generate(request, ctx))
        while True:
            item = self.runtime.run_blocking(next, iterator, _DONE) if provider.cpu_bound else next(iterator, _DONE)
            if item is _DONE:
                return
            yield item

    def _tool_images(self, job: JobRecord, request: GenerationRequest, ctx: JobContext) -> Iterator[GeneratedImage]:
        """A tool job's images from its kind's producer (in a worker thread when CPU-bound)."""
        producer = self.tools.get(job.kind)
        if producer is None:
            raise ProviderError("invalid_request", f"this server has no {job.kind!r} tool")
        iterator = iter(producer.produce(job.tool or {}, request, ctx))
        cpu = producer.cpu_bound(job.tool or {})
        while True:
            item = self.runtime.run_blocking(next, iterator, _DONE) if cpu else next(iterator, _DONE)
            if item is _DONE:
                return
            yield item

    def _served_images(
        self, job: JobRecord, request: GenerationRequest, ctx: JobContext
    ) -> Iterator[tuple[GenerationRequest, GeneratedImage]]:
        """(request that served it, image): the images still missing move on to the next
        provider of ATELIER_FALLBACK when one fails with a code of FALLBACK_CODES.
        Tool jobs (kind other than generate) come from their producer, without fallback."""
        if job.kind != "generate":
            for generated in self._tool_images(job, request, ctx):
                job.served_by = request.provider
                yield request, generated
            return
        current, offset, tried = request, 0, {request.provider}
        while True:
            produced = 0
            try:
                for generated in self._images(current, ShiftedContext(ctx, offset) if offset else ctx):
                    produced += 1
                    if current is not request:
                        generated.index += offset
                        generated.metadata = {**generated.metadata, "fallback_from": request.provider}
                    job.served_by = current.provider
                    yield current, generated
                return
            except ProviderError as exc:
                offset += produced
                fallback = self._fallback(job, request, current, exc, offset, tried)
                if fallback is None:
                    raise
                current = fallback
                tried.add(current.provider)

    def _fallback(
        self,
        job: JobRecord,
        request: GenerationRequest,
        failed: GenerationRequest,
        error: ProviderError,
        done: int,
        tried: set[str],
    ) -> GenerationRequest | None:
        """The request for the next fallback provider, with the job told why; None if none."""
        switch = self.fallback.next(job, request, failed, error, done, tried)
        if switch is None:
            return None
        with self._lock:
            job.warnings += [w.to_json() for w in switch.warnings]
            job.cost_usd = switch.cost_usd
            job.message = switch.message
            self.store.save(job)
            fallback: Fallback = {"from": failed.provider, "to": switch.request.provider, "code": error.code}
            self.bus.publish(job.id, JobProgress(progress=None, message=switch.message, fallback=fallback))
        return switch.request

    def _run(self, job: JobRecord, request: GenerationRequest, ctx: JobContext) -> None:
        save_ctx = SaveContext(job.id, job.session, job.created_at, job.started_at)
        outcome, error = "succeeded", None
        try:
            for served, generated in self._served_images(job, request, ctx):
                try:
                    extra = getattr(generated, "extra", None)  # a tool's source and settings
                    row = self.runtime.run_blocking(self.gallery.write_image, served, generated, save_ctx, extra)
                except OSError as exc:
                    raise _SaveFailed(exc.strerror or str(exc)) from exc
                self.gallery.add(row)
                image = image_json(row)
                with self._lock:
                    job.images.append(image)
                    if generated.metadata:
                        job.provider_notes.append({"index": generated.index, **generated.metadata})
                    self.store.save(job)
                    self.bus.publish(job.id, JobImage(index=generated.index, image=image))
                self.bus.feed(GalleryAdded(image=image))
                if ctx.cancelled:
                    raise Cancelled()
        except Cancelled:
            outcome = "cancelled"
        except ProviderError as exc:
            outcome, error = "failed", {"code": exc.code, "message": exc.message, "retryable": exc.retryable}
        except ImageRejected as exc:
            outcome, error = "failed", {"code": "bad_response", "message": str(exc), "retryable": True}
        except _SaveFailed as exc:
            outcome, error = (
                "failed",
                {
                    "code": "save_failed",
                    "message": f"the image could not be saved to the gallery: {exc}",
                    "retryable": True,
                },
            )
        except Exception as exc:  # a bug in a provider must not take the server down
            log.exception("job %s: provider %s raised", job.id, request.provider)
            outcome, error = (
                "failed",
                {
                    "code": "provider_error",
                    "message": f"the {request.provider} provider failed unexpectedly ({exc.__class__.__name__}: {exc})",
                    "retryable": True,
                },
            )
        if outcome == "succeeded" and len(job.images) < request.n:
            outcome, error = (
                "failed",
                {
                    "code": "bad_response",
                    "message": f"the provider returned {len(job.images)} of {request.n} images",
                    "retryable": True,
                },
            )
        with self._lock:
            self._running.pop(job.id, None)
            self._finish(job, outcome, error)
            self._pump()

    def _finish(self, job: JobRecord, status: str, error: dict[str, Any] | None = None) -> None:
        job.status = status
        job.finished_at = utc_now_iso()
        job.error = error
        settle_cost(job, int(job.request.get("n") or 1))
        if status == "succeeded":
            job.progress, job.message = 1.0, "done"
        else:
            job.message = error["message"] if error else status
        self.store.save(job)
        self._active.pop(job.id, None)
        self._requests.pop(job.id, None)
        self._positions.pop(job.id, None)
        if status == "succeeded":
            self.bus.publish(job.id, JobSucceeded(images=job.images))
        elif status == "failed":
            self.bus.publish(job.id, JobFailed(error=error))
        else:
            self.bus.publish(job.id, JobCancelled())
        self.bus.job_finished(job.id)

    # --- callbacks from JobContext (on the event loop) -------------------------------
    def on_progress(self, job_id: str, payload: dict[str, Any]) -> None:
        with self._lock:
            job = self._active.get(job_id)
            if job is None or job.status != "running":
                return
            job.progress = payload["progress"]
            job.message = payload.get("message", "")
            self.bus.publish(job_id, JobProgress(**payload))

    def on_preview(self, job_id: str, payload: dict[str, Any]) -> None:
        with self._lock:
            job = self._active.get(job_id)
            if job is not None and job.status == "running":
                self.bus.publish(job_id, JobPreview(**payload))
