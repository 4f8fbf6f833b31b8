"""Jobs run by workers on other machines, through RQ (ATELIER_REDIS_URL set).

The executor of :class:`JobService` at the web edge when the studio runs on Redis: a
queued job goes to its provider's RQ queue instead of a local slot. Workers run it with
the same :class:`~backend.services.job_runner.JobRunner` as the local pool, and report
back through the web server's internal endpoints (start, each image, each provider move,
finish), which land here and go through the service's :class:`GallerySink`; so the web
server stays the only writer of the gallery and the job store. Progress and previews
workers publish themselves through Redis. A job whose worker's heartbeat is gone for three
intervals is ``interrupted`` by whichever web instance notices first.

Studio tools (edit, upscale, social) run on workers too: the local ones from the ``local``
queue, the others from their provider's; workers have no gallery, so they read a tool
job's source images from the web server (:meth:`RqExecutor.source`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from backend.providers.base import GeneratedImage, GenerationRequest
from backend.runtime import Runtime
from backend.services.fallback import Moved
from backend.services.gallery import Gallery
from backend.services.job_queue import JobQueue
from backend.services.job_runner import short_of_images
from backend.services.jobs import JobConflict, JobNotFound
from backend.services.tools.common import read_source, tool_sources
from backend.services.validation import Warning_
from backend.storage.job_store import JobRecord

if TYPE_CHECKING:
    from backend.services.jobs import CancelResult, JobService

log = logging.getLogger(__name__)


class QueueUnavailable(Exception):
    """Redis cannot be reached: new work cannot be queued now."""


class WrongWorker(JobConflict):
    pass


class SourceNotInJob(Exception):
    """A worker asked for an image that its job's tool request does not name."""


INTERRUPTED_BY_WORKER = {
    "code": "interrupted",
    "message": "the worker running this job stopped responding; retry it to run it again",
    "retryable": True,
}


class RqExecutor:
    def __init__(self, queue: JobQueue, gallery: Gallery, runtime: Runtime) -> None:
        self.queue = queue
        self.gallery = gallery  # where a tool job's worker reads its sources from
        self.runtime = runtime
        self._service: JobService | None = None
        self._admitted: list[JobRecord] = []  # saved and announced, not yet in RQ
        self._missing_since: dict[str, float] = {}

    @property
    def service(self) -> JobService:
        assert self._service is not None, "RqExecutor.bind was not called"
        return self._service

    def bind(self, service: JobService) -> None:
        self._service = service

    # --- lifecycle -----------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        """Running jobs may be running on workers: the reaper judges them by heartbeat.
        Queued jobs that Redis lost are queued again by the sweep."""
        return 0, len(self.service.store.with_status("queued"))

    def background(self) -> None:
        self.runtime.spawn(self.run_reaper)

    def run_reaper(self) -> None:
        """Forever: sweep every heartbeat interval (a background task of the web server)."""
        while True:
            try:
                self.sweep()
            except RedisError:
                self._missing_since.clear()  # judge no one while Redis is away
            except Exception:
                log.exception("job sweep failed")
            self.runtime.sleep(self.queue.heartbeat_seconds)

    def sweep(self) -> None:
        self.queue.ping()
        store = self.service.store
        now = time.monotonic()
        grace = self.queue.heartbeat_ttl_ms / 1000
        seen: set[str] = set()
        for job in store.with_status("running") + store.with_status("queued"):
            claimed = self.queue.claimed_by(job.id)
            if job.status == "queued" and claimed is None:
                if self.queue.is_enqueued(job.id, job.provider):
                    continue
            elif claimed == "cancelled" or self.queue.alive(job.id):
                continue
            seen.add(job.id)
            since = self._missing_since.setdefault(job.id, now)
            if now - since < grace:
                continue
            self._missing_since.pop(job.id, None)
            if job.status == "queued" and claimed is None:
                if self.service.paused:
                    continue  # held here while the queue is paused; resume hands it on
                log.info("job %s was queued but not in Redis; queueing it again", job.id)
                self.queue.enqueue(job.id, job.provider)
            else:
                self._interrupt(job.id)
        for job_id in [j for j in self._missing_since if j not in seen]:
            del self._missing_since[job_id]

    def _interrupt(self, job_id: str) -> None:
        with self.service.lock:
            job = self.service.store.get(job_id)
            if job is None or job.finished or not self.queue.finalize(job_id, "interrupted"):
                return
            log.warning("job %s: its worker stopped responding; interrupted", job_id)
            self.service.finish(job, "interrupted", dict(INTERRUPTED_BY_WORKER))

    # --- the executor seam ---------------------------------------------------------------
    def check_open(self) -> None:
        try:
            self.queue.ping()
        except RedisError as exc:
            raise QueueUnavailable(
                "the job queue (Redis) cannot be reached; new jobs are refused until it is back"
            ) from exc

    def submit_warnings(self, provider: str, warnings: list[Warning_]) -> list[Warning_]:
        warnings = [w for w in warnings if w != _unserved(provider)]  # a retry's old one
        try:
            served = self.queue.served(provider)
        except RedisError:
            served = True  # cannot tell: no warning; the dispatch copes with Redis away
        # valid and queued all the same: the person should know why it will not start
        return warnings if served else [*warnings, _unserved(provider)]

    def queued(self) -> list[JobRecord]:
        return self.service.store.queued_in_order()

    def admit(self, job: JobRecord, request: GenerationRequest, index: int) -> int:
        self._admitted.append(job)
        return index + 1

    def reordered(self, job: JobRecord, index: int) -> None:
        """The order is the order jobs are handed to RQ: it counts for jobs held while the
        queue is paused; one already in its provider's RQ queue keeps its place there."""

    def paused_changed(self, paused: bool) -> None:
        """Paused: take every queued job back out of the RQ queues, so no worker starts one
        (a worker that already took one runs it). Resumed: hand them all on, in queue order."""
        if paused:
            for job in self.queued():
                try:
                    self.queue.remove(job.id, job.provider)
                except RedisError as exc:
                    log.warning("job %s could not be taken out of Redis (%s)", job.id, exc)
        else:
            held = {j.id for j in self._admitted}
            self._admitted += [j for j in self.queued() if j.id not in held and not self._in_redis(j)]

    def _in_redis(self, job: JobRecord) -> bool:
        try:
            return self.queue.is_enqueued(job.id, job.provider) or self.queue.claimed_by(job.id) is not None
        except RedisError:
            return False  # dispatch logs it; the sweep hands it on once Redis is back

    def dispatch(self) -> None:
        """Hand every job admitted here to its provider's RQ queue (none while the queue is
        paused). With Redis away it stays saved as queued: the sweep puts it in Redis once
        Redis is back."""
        if self.service.paused:
            self._admitted.clear()  # held in the store; resume hands them on
            return
        admitted, self._admitted = self._admitted, []
        for job in admitted:
            try:
                self.queue.enqueue(job.id, job.provider)
            except RedisError as exc:
                log.warning("job %s not queued in Redis yet (%s); the sweep will", job.id, exc)

    def cancel(self, job: JobRecord) -> CancelResult:
        self.check_open()
        if job.status == "queued" and self.queue.claim(job.id, "cancelled"):
            self.queue.remove(job.id, job.provider)
            return "queued" if self.queue.finalize(job.id, "cancelled") else "lost"
        # the worker sees this at its next heartbeat and says "cancelling" itself
        self.queue.request_cancel(job.id)
        return "asked"

    def live(self, job_id: str) -> JobRecord | None:
        return None  # the store is the truth shared by every instance

    def position(self, job: JobRecord) -> int | None:
        """Its place in its provider's RQ queue; while the studio holds it (paused), its
        place in the studio's order."""
        try:
            if not self.service.paused:
                place = self.queue.position(job.id, job.provider)
                if place is not None:
                    return place
        except RedisError:
            return None
        ids = [j.id for j in self.queued()]
        return ids.index(job.id) + 1 if job.id in ids else None

    def snapshot(self) -> dict[str, list[str]]:
        store = self.service.store
        return {
            "queued": [j.id for j in store.with_status("queued")],
            "running": [j.id for j in store.with_status("running")],
        }

    def forget(self, job_id: str) -> None:
        pass

    # --- reports from workers (the internal endpoints) -------------------------------------
    def _claimed(self, job_id: str, worker: str, statuses: tuple[str, ...]) -> JobRecord:
        job = self.service.store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        if job.status not in statuses:
            raise JobConflict(f"job is {job.status}")
        if self.queue.claimed_by(job_id) != worker:
            raise WrongWorker("another worker holds this job")
        return job

    def started(self, job_id: str, worker: str) -> JobRecord:
        with self.service.lock:
            job = self._claimed(job_id, worker, ("queued",))
            self.service.started(job, worker)
            self.service.announce_queue()
            return job

    def source(self, job_id: str, worker: str, image_id: str) -> bytes:
        """The bytes of a source image of a tool job the worker holds: only an image its
        tool request names (SourceNotInJob otherwise); ProviderError if it is gone."""
        job = self._claimed(job_id, worker, ("running",))
        source = next((s for s in tool_sources(job.tool) if s.get("image_id") == image_id), None)
        if source is None:
            raise SourceNotInJob(f"job {job_id} reads no image {image_id!r}")
        return self.runtime.run_blocking(read_source, self.gallery, source)

    def image(
        self,
        job_id: str,
        worker: str,
        served: GenerationRequest,
        generated: GeneratedImage,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Save an image a worker made (ImageRefused goes back to the worker, which fails
        the job with it). ``extra``: a tool's source and settings, which join its gallery
        metadata as they do in one process."""
        job = self._claimed(job_id, worker, ("running",))
        return self.service.sink.save(job, served, generated, extra)

    def moved(self, job_id: str, worker: str, move: Moved) -> None:
        """The worker's job goes on with its next provider (ATELIER_FALLBACK)."""
        job = self._claimed(job_id, worker, ("running",))
        self.service.sink.moved(job, move)

    def finished(self, job_id: str, worker: str, status: str, error: dict[str, Any] | None) -> JobRecord:
        """The worker's runner decided the outcome; a "succeeded" short of images is a failure
        here too (a buggy or older worker is not taken at its word)."""
        with self.service.lock:
            job = self._claimed(job_id, worker, ("queued", "running"))
            if status == "succeeded" and (short := short_of_images(job, int(job.request.get("n") or 1))):
                status, error = short.status, short.error
            if not self.queue.finalize(job_id, status):
                raise JobConflict("job already ended")
            self.service.finish(job, status, error)
            return job


def _unserved(provider: str) -> Warning_:
    return Warning_(
        "provider",
        f"no worker serves {provider!r} right now: the job waits in its queue until one starts"
        f" (python -m backend.worker --providers {provider})",
        provider,
        provider,
    )
