"""The composition of a web instance that shares its studio through Redis.

Beside :mod:`backend.studio` so the single-process composition stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis import Redis
from redis.exceptions import RedisError

from backend.scaleout_config import redact_url
from backend.services.job_queue import JobQueue
from backend.services.provider_sync import ProviderSync
from backend.services.redis_events import RedisEventBus, RedisEventLog
from backend.services.rq_executor import RqExecutor
from backend.storage.job_store import JobStore

if TYPE_CHECKING:
    from backend.studio import Studio


class RedisUnreachable(Exception):
    """Redis did not answer at start; the message names the URL (without its password)."""


def connect_redis(url: str, timeout: float = 5.0) -> Redis:
    """A client that answered a PING, or RedisUnreachable in one line."""
    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=30, health_check_interval=10)
    try:
        client.ping()
    except RedisError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise RedisUnreachable(f"cannot reach Redis at {redact_url(url)} (ATELIER_REDIS_URL): {reason}") from None
    return client


def make_distributed(
    studio: Studio,
    store: JobStore,
    emit: Callable[[str, dict[str, Any], str], None],
    join: Callable[[str, str], None],
    leave: Callable[[str, str], None],
    deliver: Callable[[str, dict[str, Any], str], None],
) -> None:
    """Swap the studio's event bus and job executor for their Redis-backed forms."""
    from backend.studio import job_service

    settings = studio.settings
    scale = settings.scaleout
    assert scale.redis_url
    redis = connect_redis(scale.redis_url)

    def load_last_seq(job_id: str) -> int:
        job = store.get(job_id)
        return job.last_seq if job else 0

    log = RedisEventLog(redis, settings.event_retention_seconds)
    bus = RedisEventBus(log, emit, join, leave, deliver, load_last_seq, store.set_last_seq)
    queue = JobQueue(redis, scale.heartbeat_seconds, scale.job_timeout_seconds)
    studio.bus = bus
    remote = RqExecutor(queue, studio.gallery, studio.runtime)
    studio.jobs = job_service(
        settings, store, studio.registry, studio.gallery, bus, studio.runtime, remote, reload=True
    )
    studio.remote = remote
    studio.worker_secret = queue.worker_secret(scale.worker_secret)
    studio.provider_sync = ProviderSync(redis, studio.worker_secret)
