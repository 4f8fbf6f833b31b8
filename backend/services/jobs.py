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
from backend.services.ownership import UserNames, no_users, owner_filter
from backend.services.principal import STUDIO, Principal
from backend.services.queue_order import DEFAULT_PRIORITY, insert_index, move_index, rank_between
from backend.services.schema import ValidationError
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

    def queued(self) -> list[JobRecord]:
        """The queued jobs, in queue order."""
        ...

    def admit(self, job: JobRecord, request: GenerationRequest, index: int) -> int:
        """Take a saved, queued job at ``index`` of the queue order; its position in the queue."""
        ...

    def reordered(self, job: JobRecord, index: int) -> None:
        """A queued job moved to ``index`` of the queue order (its rank is saved)."""
        ...

    def paused_changed(self, paused: bool) -> None:
        """The queue was paused or resumed (saved); dispatch follows."""
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
        #: the accounts that exist (set by the studio): with any, the queue feed goes to the
        #: admins whole and to each user with the others' jobs anonymous (``queue_feed_for``)
        self.user_names: UserNames = no_users
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
        priority: str = DEFAULT_PRIORITY,
        owner: str | None = None,
        key_id: str | None = None,
    ) -> JobRecord:
        """Queue a job for ``owner`` (the account name; None for the studio's own).
        A tool job (``kind`` other than generate) brings its ``tool`` request
        and its estimated cost; a generation is priced by its provider. ``client``: the client
        API that sent it (kept with the job and its images). ``priority``: where it goes in
        the queue (services/queue_order.py). ``owner``: whose job it is (the account name; None
        for the studio's own); ``key_id``: the API key it came with (its budget and limits)."""
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
            priority=priority,
            owner=owner,
            key_id=key_id,
        )
        with self.lock:
            queued = self.executor.queued()
            index = insert_index([j.priority for j in queued], priority)
            self._rank(job, [j for j in queued], index)
            self.store.save(job)
            position = self.executor.admit(job, request, index)
            self.bus.publish(job.id, JobQueued(position=position))
            self._tell(job)
            self.executor.dispatch()
            self.announce_queue()
        return job

    def retry(self, job_id: str, key_id: str | None = None) -> JobRecord:
        """Queue a failed, cancelled or interrupted job again: its owner's, sent with ``key_id``."""
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
            priority=job.priority,
            owner=job.owner,
            key_id=key_id,
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

    # --- queue control ---------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """Paused: running jobs finish, nothing new starts. Kept in the job store, so it
        survives a restart and every web instance sees the same."""
        return self.store.queue_paused()

    def set_paused(self, paused: bool) -> bool:
        """Pause or resume; the same again is a no-op. Whether it changed anything."""
        with self.lock:
            if self.paused == paused:
                return False
            self.store.set_queue_paused(paused)
            self.executor.paused_changed(paused)
            self.executor.dispatch()
            self._queue_feed_now()
            return True

    def queued_jobs(self) -> list[JobRecord]:
        """The queued jobs in the order they will run."""
        with self.lock:
            return self.executor.queued()

    def move(self, job_id: str, to: int | str) -> JobRecord:
        """Move a queued job to the front, the back or a 1-based position; it keeps that
        place (a later job goes behind it unless its priority is higher). JobConflict when
        the job is not queued; ValidationError naming ``to`` when the position is out of range."""
        with self.lock:
            job = self.get(job_id)
            queued = self.executor.queued()
            if job.status != "queued" or job.id not in {j.id for j in queued}:
                status = "being started" if job.status == "queued" else job.status
                raise JobConflict(f"job is {status}; only queued jobs can be moved")
            if isinstance(to, int) and not 1 <= to <= len(queued):
                raise ValidationError("to", f"to must be a position between 1 and {len(queued)} (the queued jobs)")
            index = move_index(to, len(queued))
            rest = [j for j in queued if j.id != job.id]
            self._rank(job, rest, index)
            self.store.save(job)
            self.executor.reordered(job, index)
            self.bus.publish(job.id, JobQueued(position=index + 1))
            self.executor.dispatch()
            self._queue_feed_now()
            return job

    def cancel_queued(self, viewer: Principal = STUDIO) -> list[str]:
        """Cancel every queued job ``viewer`` may see (a member: their own); the ids of
        those cancelled (a job that started meanwhile runs on)."""
        cancelled = []
        for job in self.queued_jobs():
            if not viewer.sees(job.owner):
                continue
            try:
                if self.cancel(job.id).status == "cancelled":
                    cancelled.append(job.id)
            except (JobConflict, JobNotFound):
                pass
        return cancelled

    def _rank(self, job: JobRecord, others: list[JobRecord], index: int) -> None:
        """Give ``job`` the rank that puts it at ``index`` among ``others`` (queue order,
        without it); ranks them all again when the neighbours are too close to split."""
        before = others[index - 1].queue_rank if index > 0 else None
        after = others[index].queue_rank if index < len(others) else None
        rank = rank_between(before, after)
        if rank is None or any(o.queue_rank is None for o in others[max(0, index - 1) : index + 1]):
            ordered = [*others[:index], job, *others[index:]]
            for number, other in enumerate(ordered, start=1):
                other.queue_rank = float(number)
                if other is not job:
                    self.store.save(other)
            return
        job.queue_rank = rank

    def _queue_feed_now(self) -> None:
        """A change someone asked for: the feed says so at once (not coalesced away)."""
        self._queue_feed_at = time.monotonic()
        self._send_queue_feed()

    def get(self, job_id: str) -> JobRecord:
        job = self.executor.live(job_id) or self.store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def get_for(self, job_id: str, viewer: Principal) -> JobRecord:
        """The job, when ``viewer`` may see it; JobNotFound otherwise, as for no such job
        (a member learns nothing of another's jobs, not even that they exist)."""
        job = self.get(job_id)
        if not viewer.sees(job.owner):
            raise JobNotFound(job_id)
        return job

    def page(
        self, limit: int, before: tuple[str, str] | None, session: str | None, viewer: Principal = STUDIO
    ) -> list[JobRecord]:
        """A page of the jobs ``viewer`` may see (an admin: all; a member: their own)."""
        owner = None if viewer.is_admin else (viewer.owner or "")  # "": no account, no jobs
        return [self.executor.live(j.id) or j for j in self.store.page(limit, before, session, owner)]

    def position(self, job: JobRecord) -> int | None:
        return self.executor.position(job) if job.status == "queued" else None

    def queue_snapshot(self, viewer: Principal = STUDIO) -> dict[str, list[str | None]]:
        """The queued and running job ids; for a member, everyone else's are None (a place)."""
        snapshot = self.executor.snapshot()
        own = owner_filter(viewer)
        if own is None:
            return dict(snapshot)  # type: ignore[arg-type]
        return _anonymous(snapshot, own, {i: self._owner(i) for ids in snapshot.values() for i in ids})

    def job_json(self, job: JobRecord) -> shapes.Job:
        data = job.to_json()
        data["provider"] = job.provider
        data["model"] = job.request.get("model")
        data.pop("queue_rank")  # the store's; the position is what a client reads
        data.pop("key_id")  # whose budget it counts against: GET /api/usage tells by key
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
            snapshot = self.executor.snapshot()
            users = self.user_names()
            if not users:
                self.bus.feed(QueueUpdated(**snapshot, paused=self.paused))
                return
            paused = self.paused
            owners = {job_id: self._owner(job_id) for ids in snapshot.values() for job_id in ids}
            self.bus.feed(QueueUpdated(**snapshot, paused=paused), [QUEUE_ALL])
            for name in sorted(users):
                self.bus.feed(QueueUpdated(**_anonymous(snapshot, name, owners), paused=paused), [queue_room(name)])
        except Exception:  # e.g. Redis gone: the next change announces again
            log.exception("queue.updated could not be sent")

    def _owner(self, job_id: str) -> str | None:
        job = self.executor.live(job_id) or self.store.get(job_id)
        return job.owner if job else None

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


#: the queue feed's rooms with accounts on: ``queue`` (admins: every job id) and each user's
#: own (``queue@<name>``: their job ids, the others' as null)
QUEUE_ALL = "queue"


def queue_room(owner: str) -> str:
    return f"queue@{owner}"


def _anonymous(
    snapshot: dict[str, list[str]], owner: str, owners: dict[str, str | None]
) -> dict[str, list[str | None]]:
    """The queue as ``owner`` sees it: their job ids, every other job a None in its place."""
    return {key: [i if owners.get(i) == owner else None for i in ids] for key, ids in snapshot.items()}


def _end_event(status: str, images: list[dict[str, Any]], error: dict[str, Any] | None) -> JobEvent:
    if status == "succeeded":
        return JobSucceeded(images=images)
    if status == "cancelled":
        return JobCancelled()
    assert error is not None, f"a job ends {status} with an error"
    job_error = cast(JobError, error)
    return JobFailed(error=job_error) if status == "failed" else JobInterrupted(error=job_error)
