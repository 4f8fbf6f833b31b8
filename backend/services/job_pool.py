"""The studio's own pool: jobs run in this process, a limit per provider and one overall."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.providers.base import GenerationRequest
from backend.providers.registry import ProviderRegistry
from backend.runtime import Runtime
from backend.services.event_types import POSITION_UPDATES_WITHIN
from backend.services.gallery import utc_now_iso
from backend.services.job_context import JobContext
from backend.services.validation import Warning_
from backend.storage.job_store import JobRecord

if TYPE_CHECKING:
    from backend.services.jobs import CancelResult, JobService

INTERRUPTED_BY_RESTART = {
    "code": "interrupted",
    "message": "the server stopped while this job was running; retry it to run it again",
    "retryable": True,
}


class LocalPool:
    def __init__(
        self,
        registry: ProviderRegistry,
        runtime: Runtime,
        *,
        max_concurrent: int = 4,
        provider_concurrency: dict[str, int] | None = None,
        preview_interval: float = 0.25,
        preview_side: int = 384,
    ) -> None:
        self.registry = registry
        self.runtime = runtime
        self.max_concurrent = max_concurrent
        self.provider_concurrency = dict(provider_concurrency or {})  # the Providers page changes it
        self.preview_interval = preview_interval
        self.preview_side = preview_side
        self._service: JobService | None = None
        self._active: dict[str, JobRecord] = {}
        self._requests: dict[str, GenerationRequest] = {}
        self._queue: list[str] = []
        self._running: dict[str, JobContext] = {}
        self._positions: dict[str, int] = {}

    @property
    def service(self) -> JobService:
        assert self._service is not None, "LocalPool.bind was not called"
        return self._service

    def bind(self, service: JobService) -> None:
        self._service = service

    def recover(self) -> tuple[int, int]:
        """After a restart: running jobs become interrupted, queued ones queue again."""
        store = self.service.store
        interrupted = store.with_status("running")
        for job in interrupted:
            job.status = "interrupted"
            job.finished_at = utc_now_iso()
            job.error = dict(INTERRUPTED_BY_RESTART)
            store.save(job)
        queued = store.queued_in_order()
        with self.service.lock:
            for job in queued:
                self._active[job.id] = job
                self._requests[job.id] = GenerationRequest.from_json(job.request)
                self._queue.append(job.id)
            self.dispatch()
            self.service.announce_queue()
        return len(interrupted), len(queued)

    def background(self) -> None:
        pass

    def check_open(self) -> None:
        pass

    def submit_warnings(self, provider: str, warnings: list[Warning_]) -> list[Warning_]:
        return warnings

    def queued(self) -> list[JobRecord]:
        return [self._active[job_id] for job_id in self._queue]

    def admit(self, job: JobRecord, request: GenerationRequest, index: int) -> int:
        self._active[job.id] = job
        self._requests[job.id] = request
        self._queue.insert(index, job.id)
        self._positions[job.id] = index + 1
        return index + 1

    def reordered(self, job: JobRecord, index: int) -> None:
        self._queue.remove(job.id)
        self._queue.insert(index, job.id)
        self._positions[job.id] = index + 1  # the service announces the moved job itself

    def paused_changed(self, paused: bool) -> None:
        pass  # dispatch asks the service

    def cancel(self, job: JobRecord) -> CancelResult:
        if job.id in self._running:
            self._running[job.id].cancel()
            return "running"
        self._queue.remove(job.id)
        return "queued"

    def live(self, job_id: str) -> JobRecord | None:
        return self._active.get(job_id)

    def position(self, job: JobRecord) -> int | None:
        with self.service.lock:
            return self._queue.index(job.id) + 1 if job.id in self._queue else None

    def snapshot(self) -> dict[str, list[str]]:
        with self.service.lock:
            return {"queued": list(self._queue), "running": list(self._running)}

    def forget(self, job_id: str) -> None:
        self._running.pop(job_id, None)
        self._active.pop(job_id, None)
        self._requests.pop(job_id, None)
        self._positions.pop(job_id, None)

    def _limit(self, provider_id: str) -> int:
        if provider_id in self.provider_concurrency:
            return self.provider_concurrency[provider_id]
        provider = self.registry.get(provider_id)
        return provider.default_concurrency if provider else 1

    def dispatch(self) -> None:
        """Start every queued job that has a free slot (none while the queue is paused),
        then tell who moved."""
        per_provider: dict[str, int] = {}
        for job_id in self._running:
            p = self._active[job_id].provider
            per_provider[p] = per_provider.get(p, 0) + 1
        paused = self.service.paused
        for job_id in list(self._queue):
            if paused or len(self._running) >= self.max_concurrent:
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
                self.service.moved_in_queue(job_id, position)

    def _start(self, job: JobRecord) -> None:
        request = self._requests[job.id]
        ctx = JobContext(self.service, job.id, request.n, self.runtime, self.preview_interval, self.preview_side)
        self._running[job.id] = ctx
        self._positions.pop(job.id, None)
        self.service.started(job)
        self.runtime.spawn(self.service.run, job, request, ctx)
