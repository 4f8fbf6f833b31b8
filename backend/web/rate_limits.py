"""The rate limits at the web edge: job submissions per client address (``ATELIER_RATE_LIMIT``),
per user (``ATELIER_USER_RATE_LIMIT``) and per API key (``ATELIER_KEY_RATE_LIMIT``).

Flask-Limiter keeps the counts: in this process's memory, or in Redis when
``ATELIER_REDIS_URL`` is set, so every web instance enforces the same window. The check
runs before the route (a request refused later, e.g. too large, still counts, as it always
has), after the request's caller is known (web/auth resolves the Principal first).

A refusal (rate or concurrent jobs, services/limits.py) is a 429 with ``Retry-After`` in the
error shape of the API the path belongs to (a ``/v1`` client gets OpenAI's).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from redis.exceptions import RedisError

from backend.config import Settings
from backend.services.limits import LimitExceeded, Rate, RateLimits
from backend.web.context import principal
from backend.web.errors import one_line
from backend.web.security import is_submission, refusal

log = logging.getLogger(__name__)

#: the first identifier of every window kept in Redis, beside the queue's keys
NAMESPACE = "atelier-submissions"


def storage_uri(redis_url: str | None) -> str:
    """Where Flask-Limiter keeps the windows: Redis (shared) when the studio uses it."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")  # the limits library's spelling
    return redis_url


def rate_limits(settings: Settings) -> tuple[Rate | None, Rate | None, Rate | None]:
    per_client, per_user, per_key = settings.scaleout.rate_limit, settings.user_rate_limit, settings.key_rate_limit
    return tuple(Rate(*r) if r else None for r in (per_client, per_user, per_key))  # type: ignore[return-value]


def install_limits(app: Flask, settings: Settings) -> RateLimits | None:
    """The submission rate limits (none set: nothing is installed) and the 429 refusals."""

    @app.errorhandler(LimitExceeded)
    def _refused(e: LimitExceeded) -> Response:
        return refused(e)

    per_client, per_user, per_key = rate_limits(settings)
    if not (per_client or per_user or per_key):
        return None
    limiter = Limiter(
        get_remote_address,
        storage_uri=storage_uri(settings.scaleout.redis_url),
        strategy="moving-window",  # a sliding window, as ATELIER_RATE_LIMIT has always counted
    )
    limiter.init_app(app)
    limits = RateLimits(limiter.limiter, per_client, per_user, per_key, namespace=NAMESPACE)
    app.extensions["atelier_rate_limits"] = limits

    @app.before_request
    def _rate_limit() -> Response | None:
        if request.method != "POST" or not is_submission(request.path):
            return None
        try:
            limits.hit(principal(), request.remote_addr or "?")
        except LimitExceeded as e:
            return refused(e)
        except (RedisError, OSError) as exc:  # the windows' Redis is away: so is the queue on it
            log.warning("rate limit not checked, Redis cannot be reached: %s", one_line(exc))
            response = refusal(
                request.path, 503, "queue_unavailable",
                "the job queue (Redis) cannot be reached; new jobs are refused until it is back",
            )  # fmt: skip
            response.headers["Retry-After"] = "5"
            return response
        return None

    return limits


def refused(e: LimitExceeded) -> Response:
    response = refusal(request.path, 429, e.code, e.message)
    response.headers["Retry-After"] = str(e.retry_after)
    return response
