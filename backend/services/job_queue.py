"""The RQ queues and the few Redis keys that web instances and workers coordinate with.

One RQ queue per provider (``atelier:<provider>``), so a GPU host serves only the
providers it has. Beside RQ, per job:

- ``claim``: set once, by the first of a worker starting the job or a web instance
  cancelling it while queued; whoever loses leaves the job alone;
- ``cancel``: a web instance asks the worker running the job to stop;
- ``beat``: the running worker's heartbeat, with a TTL of three intervals;
- ``final``: set once, by whoever ends the job (one terminal event, never two).
"""

from __future__ import annotations

import secrets
from typing import Any

from redis import Redis
from rq import Queue, Worker

from backend.services.redis_events import KEY_PREFIX

TASK = "backend.worker.tasks.run_job"
DAY = 24 * 3600


def queue_name(provider_id: str) -> str:
    return f"{KEY_PREFIX}{provider_id}"


def _key(kind: str, job_id: str) -> str:
    return f"{KEY_PREFIX}{kind}:{job_id}"


class JobQueue:
    def __init__(self, redis: Redis, heartbeat_seconds: float = 5.0, job_timeout_seconds: int = 3600) -> None:
        self.redis = redis
        self.heartbeat_seconds = heartbeat_seconds
        self.job_timeout_seconds = job_timeout_seconds

    @property
    def heartbeat_ttl_ms(self) -> int:
        return max(1000, int(self.heartbeat_seconds * 3 * 1000))

    def ping(self) -> None:
        self.redis.ping()

    # --- RQ ------------------------------------------------------------------------------
    def queue(self, provider_id: str) -> Queue:
        return Queue(queue_name(provider_id), connection=self.redis)

    def served(self, provider_id: str) -> bool:
        """True when a live RQ worker listens on the provider's queue (workers register in
        Redis with a TTL, so one that died unannounced drops out within minutes)."""
        return bool(Worker.all(connection=self.redis, queue=self.queue(provider_id)))

    def enqueue(self, job_id: str, provider_id: str) -> None:
        self.queue(provider_id).enqueue(
            TASK,
            job_id,
            job_id=job_id,
            job_timeout=self.job_timeout_seconds,
            result_ttl=0,
            failure_ttl=DAY,
            description=f"atelier job {job_id} ({provider_id})",
        )

    def is_enqueued(self, job_id: str, provider_id: str) -> bool:
        return self.queue(provider_id).get_job_position(job_id) is not None

    def position(self, job_id: str, provider_id: str) -> int | None:
        pos = self.queue(provider_id).get_job_position(job_id)
        return pos + 1 if pos is not None else None

    def remove(self, job_id: str, provider_id: str) -> None:
        self.queue(provider_id).remove(job_id)

    # --- coordination keys -------------------------------------------------------------
    def claim(self, job_id: str, owner: str) -> bool:
        return bool(self.redis.set(_key("claim", job_id), owner, nx=True, ex=30 * DAY))

    def claimed_by(self, job_id: str) -> str | None:
        value = self.redis.get(_key("claim", job_id))
        return value.decode() if value is not None else None

    def request_cancel(self, job_id: str) -> None:
        self.redis.set(_key("cancel", job_id), 1, ex=DAY)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.exists(_key("cancel", job_id)))

    def beat(self, job_id: str, worker: str) -> None:
        self.redis.set(_key("beat", job_id), worker, px=self.heartbeat_ttl_ms)

    def alive(self, job_id: str) -> bool:
        return bool(self.redis.exists(_key("beat", job_id)))

    def stop_beating(self, job_id: str) -> None:
        self.redis.delete(_key("beat", job_id))

    def finalize(self, job_id: str, status: str) -> bool:
        """True for the one caller that may end the job."""
        return bool(self.redis.set(_key("final", job_id), status, nx=True, ex=30 * DAY))

    def worker_secret(self, configured: str | None) -> str:
        """ATELIER_WORKER_SECRET, or one generated once and shared through Redis."""
        if configured:
            return configured
        key = f"{KEY_PREFIX}worker-secret"
        self.redis.set(key, secrets.token_urlsafe(32), nx=True)
        return self.redis.get(key).decode()

    def info(self) -> dict[str, Any]:
        return {"redis": "ok"}
