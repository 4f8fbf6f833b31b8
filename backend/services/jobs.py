"""Jobs: the state machine of every job, whichever executor runs it.

A job is queued, runs when its executor gives it a slot, streams its progress, previews
and images as events, and ends succeeded, failed or cancelled; one that was running when
its server or worker stopped is ``interrupted``. Every state change is written to SQLite
before its event goes out.

:class:`JobService` owns the states and their events. Where a job runs is its
:class:`Executor`: the studio's own pool (:class:`backend.services.job_pool.LocalPool`)
or RQ workers (:class:`backend.services.rq_executor.RqExecutor`, ATELIER_REDIS_URL).
How it runs is :class:`backend.services.job_runner.JobRunner`, the same in both.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal, Protocol, cast

from backend import shapes
from backend.providers.base import GenerationRequest
from backend.providers.registry import ProviderRegistry
from backend.runtime import Runtime
from backend.services.event_types import (
    QUEUE_FEED_INTERVAL,
    Bus,
    JobCancelled,
    JobError,
    JobEvent,
    JobFailed,
    JobInterrupted,
    JobPreview,
    JobProgress,
    JobQueued,
    JobStarted,
    JobSucceeded,
    QueueUpdated,
)
from backend.services.fallback import before_moves
from backend.services.gallery import utc_now_iso
from backend.services.job_context import JobContext
from backend.services.job_runner import JobRunner
from backend.services.job_sinks import GallerySink
from backend.services.tools.common import LOCAL
from backend.services.usage import settle_cost
from backend.services.validation import Warning_
from backend.storage.job_store import JobRecord, JobStore

log = logging.getLogger(__name__)

#: what an executor did with a cancel: ``queued`` ended it in the queue (cancelled now);
#: ``running`` told the running job to stop, the service says "cancelling";
#: ``asked`` asked a worker to stop, which says "cancelling" itself; ``lost``: another
#: instance or worker ended it first, nothing to do
CancelResult = Literal["queued", "running", "asked", "lost"]


class JobNotFound(Exception):
    pass


class JobConflict(Exception):
    """The job is in a state that does not allow the operation (e.g. cancel when finished)."""


class Executor(Protocol):
    """Where queued jobs run. ``admit``, ``dispatch``, ``cancel`` and ``forget`` are
    called with the service's lock held; ``position`` and ``snapshot`` take it themselves
    where they need it (the RQ executor asks Redis, which must not hold up events)."""

    def bind(self, service: JobService) -> None: ...

    def recover(self) -> tuple[int, int]:
        """After a start: (jobs interrupted, jobs queued again)."""
        ...

    def background(self) -> None:
        """Start what the executor runs beside the jobs (e.g. a reaper)."""
        ...

    def check_open(self) -> None:
        """Raise when no new job can be queued now."""
        ...

    def submit_warnings(self, provider: str, warnings: list[Warning_]) -> list[Warning_]: ...

    def admit(self, job: JobRecord, request: GenerationRequest) -> int:
        """Take a saved, queued job; its position in the queue."""
        ...

    def dispatch(self) -> None:
        """Hand on what was admitted and start what has a free slot."""
        ...

    def cancel(self, job: JobRecord) -> CancelResult: ...

    def live(self, job_id: str) -> JobRecord | None:
        """The record this process holds in memory for a job, if it holds one."""
        ...

    def position(self, job: JobRecord) -> int | None: ...

    def snapshot(self) -> dict[str, list[str]]: ...

    def forget(self, job_id: str) -> None:
        """The job has ended: drop what is held for it."""
        ...


class JobService:
    def __init__(
        self,
        store: JobStore,
        registry: ProviderRegistry,
        bus: Bus,
        runtime: Runtime,
        runner: JobRunner,
        sink: GallerySink,
        executor: Executor,
    ) -> None:
        self.store = store
        self.registry = registry
        self.bus = bus
        self.runtime = runtime
        self.runner = runner
        self.sink = sink
        self.executor = executor
        self.lock = bus.lock  # one lock: a state change and its event are atomic
        self._queue_feed_at = float("-inf")
        self._queue_feed_pending = False
        #: told of each job that was queued, started or ended (with the lock held: be quick,
        #: and spawn anything slow), e.g. the matrices that follow their cells
        self.listeners: list[Callable[[JobRecord], None]] = []
        executor.bind(self)

    # --- lifecycle -----------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        return self.executor.recover()

    # --- public operations -----------------------------------------------------------------
    def check_open(self) -> None:
        """Raise (QueueUnavailable) when no new job can be queued now: lets a caller refuse a
        request before it writes anything for it."""
        self.executor.check_open()

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
        client: str | None = None,
    ) -> JobRecord:
        """Queue a job. A tool job (``kind`` other than generate) brings its ``tool`` request
        and its estimated cost; a generation is priced by its provider. ``client``: the client
        API that sent it (kept with the job and its images)."""
        self.executor.check_open()
        warnings = self.executor.submit_warnings(request.provider, warnings)
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
            client=client,
        )
        with self.lock:
            self.store.save(job)
            position = self.executor.admit(job, request)
            self.bus.publish(job.id, JobQueued(position=position))
            self._tell(job)
            self.executor.dispatch()
            self.announce_queue()
        return job

    def retry(self, job_id: str) -> JobRecord:
        job = self.get(job_id)
        if job.status not in ("failed", "cancelled", "interrupted"):
            raise JobConflict(f"job is {job.status}; only failed, cancelled or interrupted jobs can be retried")
        request = GenerationRequest.from_json(job.request)
        provider = self.registry.get(request.provider)
        if request.provider != LOCAL and (provider is None or not provider.availability()[0]):
            raise JobConflict(f"provider {request.provider!r} is not available now")
        warnings = [Warning_(**w) for w in before_moves(job.warnings)]
        return self.submit(
            request,
            warnings,
            job.session,
            retry_of=job.id,
            kind=job.kind,
            tool=job.tool,
            cost_usd=job.cost_usd,
            client=job.client,
        )

    def cancel(self, job_id: str) -> JobRecord:
        with self.lock:
            job = self.get(job_id)
            if job.finished:
                raise JobConflict(f"job already {job.status}")
            result = self.executor.cancel(job)
            if result == "queued":
                self.finish(job, "cancelled")
            elif result in ("running", "asked") and not job.cancel_requested:
                job.cancel_requested = True
                job.message = "cancelling"
                self.store.save(job)
                if result == "running":
                    self.bus.publish(job.id, JobProgress(progress=job.progress, message="cancelling"))
            return job

    def get(self, job_id: str) -> JobRecord:
        job = self.executor.live(job_id) or self.store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def page(self, limit: int, before: tuple[str, str] | None, session: str | None) -> list[JobRecord]:
        return [self.executor.live(j.id) or j for j in self.store.page(limit, before, session)]

    def position(self, job: JobRecord) -> int | None:
        return self.executor.position(job) if job.status == "queued" else None

    def queue_snapshot(self) -> dict[str, list[str]]:
        return self.executor.snapshot()

    def job_json(self, job: JobRecord) -> shapes.Job:
        data = asdict(job)
        data["provider"] = job.provider
        data["model"] = job.request.get("model")
        data["position"] = self.position(job)
        data["last_seq"] = self.bus.last_seq(job.id)
        if job.tool and job.tool.get("mask"):
            data["tool"] = {**job.tool, "mask": "attached"}  # the mask's bytes stay on the server
        return cast(shapes.Job, data)  # the declared shape: tests/test_shapes.py checks it

    # --- state changes (called by the executors, holding the lock) -------------------------
    def moved_in_queue(self, job_id: str, position: int) -> None:
        self.bus.publish(job_id, JobQueued(position=position))

    def started(self, job: JobRecord, worker: str | None = None) -> None:
        job.status = "running"
        job.started_at = utc_now_iso()
        job.message = "starting"
        self.store.save(job)
        self.bus.publish(job.id, JobStarted(worker=worker))
        self._tell(job)

    def run(self, job: JobRecord, request: GenerationRequest, ctx: JobContext) -> None:
        """Run a started job here to its end (a task of the local pool)."""
        outcome = self.runner.run(job, request, ctx, self.sink)
        with self.lock:
            self.finish(job, outcome.status, outcome.error)

    def finish(self, job: JobRecord, status: str, error: dict[str, Any] | None = None) -> None:
        """The one way a job ends: its cost settled, stored, then announced."""
        job.status = status
        job.finished_at = utc_now_iso()
        job.error = error
        settle_cost(job, int(job.request.get("n") or 1))
        if status == "succeeded":
            job.progress, job.message = 1.0, "done"
        else:
            job.message = error["message"] if error else status
        self.store.save(job)
        self.executor.forget(job.id)
        self.bus.publish(job.id, _end_event(status, job.images, error))
        self.bus.job_finished(job.id)
        self._tell(job)
        self.executor.dispatch()
        self.announce_queue()

    def _tell(self, job: JobRecord) -> None:
        for listener in self.listeners:
            try:
                listener(job)
            except Exception:  # a listener's failure must not stop the job's state change
                log.exception("a job listener failed on job %s", job.id)

    # --- the queue feed ---------------------------------------------------------------------
    def announce_queue(self) -> None:
        """queue.updated, at most every QUEUE_FEED_INTERVAL: with hundreds of jobs and of
        feed subscribers, one snapshot per queue change would be O(jobs x clients) traffic.
        The first change after a quiet spell goes out at once, later ones are coalesced
        into one trailing snapshot. Holds the lock."""
        if self._queue_feed_pending:
            return
        wait = self._queue_feed_at + QUEUE_FEED_INTERVAL - time.monotonic()
        if wait <= 0:
            self._queue_feed_at = time.monotonic()
            self._send_queue_feed()
            return
        self._queue_feed_pending = True
        self.runtime.spawn(self._trailing_queue_feed, wait)

    def _trailing_queue_feed(self, wait: float) -> None:
        self.runtime.sleep(wait)
        with self.lock:
            self._queue_feed_pending = False
            self._queue_feed_at = time.monotonic()
            self._send_queue_feed()

    def _send_queue_feed(self) -> None:
        try:
            self.bus.feed(QueueUpdated(**self.executor.snapshot()))
        except Exception:  # e.g. Redis gone: the next change announces again
            log.exception("queue.updated could not be sent")

    # --- callbacks from JobContext (on the event loop) -------------------------------
    def on_progress(self, job_id: str, event: JobProgress) -> None:
        with self.lock:
            job = self.executor.live(job_id)
            if job is None or job.status != "running":
                return
            job.progress = event.progress
            job.message = event.message
            self.bus.publish(job_id, event)

    def on_preview(self, job_id: str, event: JobPreview) -> None:
        with self.lock:
            job = self.executor.live(job_id)
            if job is not None and job.status == "running":
                self.bus.publish(job_id, event)


def _end_event(status: str, images: list[dict[str, Any]], error: dict[str, Any] | None) -> JobEvent:
    if status == "succeeded":
        return JobSucceeded(images=images)
    if status == "cancelled":
        return JobCancelled()
    assert error is not None, f"a job ends {status} with an error"
    job_error = cast(JobError, error)
    return JobFailed(error=job_error) if status == "failed" else JobInterrupted(error=job_error)
