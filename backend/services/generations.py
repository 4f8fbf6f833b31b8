"""A generation from any route: the studio's own ``POST /api/jobs`` and the client APIs
(``/v1`` OpenAI Images, ``/sdapi/v1`` AUTOMATIC1111) submit through :func:`submit_generation`
and, where the dialect is synchronous, wait through :func:`wait_for_job`. So every call is
a normal job: queued, budgeted, streamed over Socket.IO, saved with its metadata, retried
and falling back like any other; a client route only translates its request and answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from backend.providers.base import GenerationRequest
from backend.services.jobs import JobConflict, JobNotFound, JobService
from backend.services.principal import STUDIO, Principal
from backend.services.queue_order import DEFAULT_PRIORITY
from backend.services.usage import UsageLedger
from backend.services.validation import Warning_
from backend.storage.job_store import JobRecord

#: how often a waiting call looks at its job (seconds): first soon, then less often
POLL_FIRST, POLL_MAX = 0.02, 0.25


def submit_generation(
    jobs: JobService,
    usage: UsageLedger,
    request: GenerationRequest,
    warnings: list[Warning_],
    session: str | None,
    client: str | None = None,
    priority: str = DEFAULT_PRIORITY,
    principal: Principal = STUDIO,
) -> JobRecord:
    """Queue ``principal``'s generation after its cost passes the budgets (``BudgetExceeded``
    otherwise) and its user and key are under their concurrent-job limits (``LimitExceeded``),
    holding the budget lock from the check to the queue so two calls cannot both pass it
    on the last dollar. ``priority``: its place in the queue (services/queue_order.py)."""
    provider = jobs.registry.get(request.provider)
    with usage.admitting:
        usage.admit(provider.estimate_cost(request) if provider else None, principal)
        return jobs.submit(
            request, warnings, session, client=client, priority=priority, owner=principal.owner, key_id=principal.key_id
        )


def submit_generations(
    jobs: JobService,
    usage: UsageLedger,
    batch: list[tuple[GenerationRequest, list[Warning_]]],
    session: str | None,
    cost_usd: float | None,
    principal: Principal = STUDIO,
) -> list[JobRecord]:
    """Queue several generations as one decision (a matrix): ``cost_usd``, their whole price,
    passes the budget or none is queued (``BudgetExceeded``); the budget lock is held from
    the check until the last is queued. Each is then an ordinary job."""
    with usage.admitting:
        usage.admit(cost_usd, principal, jobs=len(batch))
        jobs.check_open()
        return [
            jobs.submit(request, warnings, session, owner=principal.owner, key_id=principal.key_id)
            for request, warnings in batch
        ]


@dataclass
class Waiting:
    """Yielded by :func:`wait_for_job` every ``keepalive`` seconds while the job runs, so a
    synchronous route can write a byte that keeps proxies from closing a silent connection
    (and learns that its client has gone when the write fails)."""

    job: JobRecord


def wait_for_job(jobs: JobService, job_id: str, keepalive: float, sleep) -> Iterator[Waiting | JobRecord]:
    """Yield :class:`Waiting` every ``keepalive`` seconds until the job ends, then the
    finished job. Reads the job store, which every web instance and worker writes, so it
    works whichever process runs the job. ``sleep`` is the runtime's (cooperative)."""
    delay, waited = POLL_FIRST, 0.0
    while True:
        job = jobs.get(job_id)
        if job.finished:
            yield job
            return
        if waited >= keepalive:
            waited = 0.0
            yield Waiting(job)
        sleep(delay)
        waited += delay
        delay = min(delay * 2, POLL_MAX)


def abandon(jobs: JobService, job_id: str) -> None:
    """The client of a synchronous call went away: its job is cancelled (it is still in
    the gallery and the studio if it had finished)."""
    try:
        jobs.cancel(job_id)
    except (JobConflict, JobNotFound):
        pass  # finished meanwhile, or gone
