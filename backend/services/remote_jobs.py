"""Jobs run by workers on other machines, through RQ (ATELIER_REDIS_URL set).

The same service as :class:`JobService` at the web edge; what changes is the pool: a
queued job goes to its provider's RQ queue instead of a local slot. Workers report back
through the web server's internal endpoints (start, each image, finish), so the web
server stays the only writer of the gallery and the job store; progress and previews
they publish themselves through Redis. A job whose worker's heartbeat is gone for three
intervals is ``interrupted`` by whichever web instance notices first.

Studio tools (edit, upscale, social) run on workers too: the local ones from the ``local``
queue, the others from their provider's; workers have no gallery, so they read a tool
job's source images from the web server (``worker_source``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError

from backend.providers.base import GeneratedImage, GenerationRequest
from backend.services.event_types import GalleryAdded, JobImage, JobInterrupted, JobStarted
from backend.services.gallery import SaveContext, image_json, utc_now_iso
from backend.services.job_queue import JobQueue
from backend.services.jobs import JobConflict, JobNotFound, JobService
from backend.services.tools.common import read_source, tool_sources
from backend.services.validation import Warning_
from backend.storage.job_store import JobRecord

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


class RemoteJobService(JobService):
    def __init__(self, *args: Any, queue: JobQueue, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = queue
        self._missing_since: dict[str, float] = {}

    # --- lifecycle -----------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        """Running jobs may be running on workers: the reaper judges them by heartbeat.
        Queued jobs that Redis lost are queued again by the sweep."""
        return 0, len(self.store.with_status("queued"))

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
        now = time.monotonic()
        grace = self.queue.heartbeat_ttl_ms / 1000
        seen: set[str] = set()
        for job in self.store.with_status("running") + self.store.with_status("queued"):
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
                log.info("job %s was queued but not in Redis; queueing it again", job.id)
                self.queue.enqueue(job.id, job.provider)
            else:
                self._interrupt(job.id)
        for job_id in [j for j in self._missing_since if j not in seen]:
            del self._missing_since[job_id]

    def _interrupt(self, job_id: str) -> None:
        with self._lock:
            job = self.store.get(job_id)
            if job is None or job.finished or not self.queue.finalize(job_id, "interrupted"):
                return
            log.warning("job %s: its worker stopped responding; interrupted", job_id)
            job.status = "interrupted"
            job.finished_at = utc_now_iso()
            job.error = dict(INTERRUPTED_BY_WORKER)
            job.message = job.error["message"]
            self.store.save(job)
            self.bus.publish(job.id, JobInterrupted(error=job.error))
            self.bus.job_finished(job.id)
            self._pump()

    # --- public operations -----------------------------------------------------------------
    def require_queue(self) -> None:
        try:
            self.queue.ping()
        except RedisError as exc:
            raise QueueUnavailable(
                "the job queue (Redis) cannot be reached; new jobs are refused until it is back"
            ) from exc

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
        self.require_queue()
        warnings = [w for w in warnings if w != self._unserved(request.provider)]  # a retry's old one
        try:
            served = self.queue.served(request.provider)
        except RedisError:
            served = True  # cannot tell: no warning; the submit below copes with Redis away
        if not served:
            # valid and queued all the same: the person should know why it will not start
            warnings = [*warnings, self._unserved(request.provider)]
        try:
            return super().submit(request, warnings, session, retry_of, kind=kind, tool=tool, cost_usd=cost_usd)
        except RedisError:
            # saved as queued: the sweep puts it in Redis once Redis is back
            with self._lock:
                job = self._active[self._queue[-1]]
                for job_id in self._queue:
                    self._active.pop(job_id, None)
                    self._requests.pop(job_id, None)
                    self._positions.pop(job_id, None)
                self._queue.clear()
            return job

    @staticmethod
    def _unserved(provider: str) -> Warning_:
        return Warning_(
            "provider",
            f"no worker serves {provider!r} right now: the job waits in its queue until one starts"
            f" (python -m backend.worker --providers {provider})",
            provider,
            provider,
        )

    def cancel(self, job_id: str) -> JobRecord:
        with self._lock:
            job = self.get(job_id)
            if job.finished:
                raise JobConflict(f"job already {job.status}")
            self.require_queue()
            if job.status == "queued" and self.queue.claim(job_id, "cancelled"):
                self.queue.remove(job_id, job.provider)
                if self.queue.finalize(job_id, "cancelled"):
                    self._finish(job, "cancelled")
                    self._pump()
                return job
            if not job.cancel_requested:
                # the worker sees this at its next heartbeat and says "cancelling" itself
                self.queue.request_cancel(job_id)
                job.cancel_requested = True
                job.message = "cancelling"
                self.store.save(job)
            return job

    def get(self, job_id: str) -> JobRecord:
        job = self.store.get(job_id)  # the store is the truth shared by every instance
        if job is None:
            raise JobNotFound(job_id)
        return job

    def page(self, limit: int, before: tuple[str, str] | None, session: str | None) -> list[JobRecord]:
        return self.store.page(limit, before, session)

    def position(self, job_id: str) -> int | None:
        job = self.store.get(job_id)
        if job is None or job.status != "queued":
            return None
        try:
            return self.queue.position(job_id, job.provider)
        except RedisError:
            return None

    def queue_snapshot(self) -> dict[str, list[str]]:
        return {
            "queued": [j.id for j in self.store.with_status("queued")],
            "running": [j.id for j in self.store.with_status("running")],
        }

    # --- scheduling: the pool is RQ --------------------------------------------------------
    def _pump(self) -> None:
        """Hand every job queued here to its provider's RQ queue. Holds the lock."""
        for job_id in list(self._queue):
            job = self._active[job_id]
            self.queue.enqueue(job_id, job.provider)
            self._queue.remove(job_id)
            self._active.pop(job_id, None)
            self._requests.pop(job_id, None)
            self._positions.pop(job_id, None)
        self._announce_queue()

    # --- reports from workers (the internal endpoints) -------------------------------------
    def _claimed(self, job_id: str, worker: str, statuses: tuple[str, ...]) -> JobRecord:
        job = self.get(job_id)
        if job.status not in statuses:
            raise JobConflict(f"job is {job.status}")
        if self.queue.claimed_by(job_id) != worker:
            raise WrongWorker("another worker holds this job")
        return job

    def worker_started(self, job_id: str, worker: str) -> JobRecord:
        with self._lock:
            job = self._claimed(job_id, worker, ("queued",))
            job.status = "running"
            job.started_at = utc_now_iso()
            job.message = "starting"
            self.store.save(job)
            self.bus.publish(job.id, JobStarted(worker=worker))
            self._pump()
            return job

    def worker_source(self, job_id: str, worker: str, image_id: str) -> bytes:
        """The bytes of a source image of a tool job the worker holds: only an image its
        tool request names (SourceNotInJob otherwise); ProviderError if it is gone."""
        job = self._claimed(job_id, worker, ("running",))
        source = next((s for s in tool_sources(job.tool) if s.get("image_id") == image_id), None)
        if source is None:
            raise SourceNotInJob(f"job {job_id} reads no image {image_id!r}")
        return self.runtime.run_blocking(read_source, self.gallery, source)

    def worker_image(
        self,
        job_id: str,
        worker: str,
        served: GenerationRequest,
        generated: GeneratedImage,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Save an image a worker made. ``extra``: a tool's source and settings, which join
        its gallery metadata as they do in one process."""
        job = self._claimed(job_id, worker, ("running",))
        save_ctx = SaveContext(job.id, job.session, job.created_at, job.started_at)
        # ImageRejected and OSError go back to the worker, which fails the job with them
        row = self.runtime.run_blocking(self.gallery.write_image, served, generated, save_ctx, extra)
        self.gallery.add(row)
        image = image_json(row)
        with self._lock:
            job = self.get(job_id)
            job.images.append(image)
            if generated.metadata:
                job.provider_notes.append({"index": generated.index, **generated.metadata})
            job.served_by = served.provider
            self.store.save(job)
            self.bus.publish(job.id, JobImage(index=generated.index, image=image))
        self.bus.feed(GalleryAdded(image=image))
        return image

    def worker_finished(self, job_id: str, worker: str, status: str, error: dict[str, Any] | None) -> JobRecord:
        with self._lock:
            job = self._claimed(job_id, worker, ("queued", "running"))
            n = int(job.request.get("n", 1))
            if status == "succeeded" and len(job.images) < n:
                status, error = (
                    "failed",
                    {
                        "code": "bad_response",
                        "message": f"the provider returned {len(job.images)} of {n} images",
                        "retryable": True,
                    },
                )
            if not self.queue.finalize(job_id, status):
                raise JobConflict("job already ended")
            self._finish(job, status, error)
            self._pump()
            return job
