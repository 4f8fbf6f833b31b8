"""How fast and how much at once each user and API key may submit jobs.

Two kinds of limit, both answered with HTTP 429 and ``Retry-After``:

* **Rate** (:class:`RateLimits`): job submissions per window, per user
  (``ATELIER_USER_RATE_LIMIT``), per API key (``ATELIER_KEY_RATE_LIMIT``) and per client
  address (``ATELIER_RATE_LIMIT``, which a studio without accounts has had all along). A
  sliding window (the ``limits`` library's moving window) over a storage that the web edge
  chooses: in memory for one process, Redis when ``ATELIER_REDIS_URL`` is set, so every web
  instance counts against the same window. Code ``rate_limited``.
* **Concurrency** (:class:`JobLimits`): queued and running jobs one user
  (``ATELIER_USER_MAX_CONCURRENT_JOBS``) or one key (``ATELIER_KEY_MAX_CONCURRENT_JOBS``)
  may have at once, counted in the job store that every web instance shares. Code
  ``too_many_jobs``.

Only callers with an account are limited per user and per key: the studio itself (no
accounts, the shared token, loopback) has neither.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.strategies import RateLimiter

from backend.services.principal import Principal
from backend.storage.db import Database

#: what a ``too_many_jobs`` refusal advises to wait: a job's end cannot be foreseen, so a
#: short, fixed wait (a client may instead watch its jobs end over Socket.IO)
JOBS_RETRY_AFTER = 5


class LimitExceeded(Exception):
    """A refused submission: HTTP 429 with ``code`` and ``Retry-After: retry_after``."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after = code, message, retry_after


@dataclass(frozen=True)
class Rate:
    """``count`` submissions per ``seconds``."""

    count: int
    seconds: int

    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.count, self.seconds)

    def __str__(self) -> str:
        return f"{self.count} per {self.seconds} s"


class RateLimits:
    """Submissions per client address, per user and per key, on a shared sliding window."""

    def __init__(
        self,
        limiter: RateLimiter,
        per_client: Rate | None = None,
        per_user: Rate | None = None,
        per_key: Rate | None = None,
        namespace: str = "atelier",
    ) -> None:
        #: the ``limits`` library's moving-window strategy over the chosen storage
        self.limiter = limiter
        #: the first identifier of every window (keys in a Redis shared with the queue)
        self.namespace = namespace
        self.per_client, self.per_user, self.per_key = per_client, per_user, per_key

    def hit(self, principal: Principal, client: str) -> None:
        """Count one submission of ``principal`` from address ``client``, or raise
        LimitExceeded (nothing counted against the others) when one of its windows is full."""
        checks: list[tuple[Rate, str, str, str]] = []
        if self.per_client is not None:
            checks.append((self.per_client, "client", client, "from this address (ATELIER_RATE_LIMIT)"))
        if self.per_user is not None and principal.user_id is not None:
            checks.append((self.per_user, "user", principal.user_id, f"by user {principal.name!r}"))
        if self.per_key is not None and principal.key_id is not None:
            checks.append((self.per_key, "key", principal.key_id, "with this API key"))
        for rate, scope, who, what in checks:  # a full window refuses before any is counted
            if not self.limiter.test(rate.item(), self.namespace, scope, who):
                raise self._refusal(rate, scope, who, what)
        for rate, scope, who, what in checks:  # the hit decides: two requests may both pass test()
            if not self.limiter.hit(rate.item(), self.namespace, scope, who):
                raise self._refusal(rate, scope, who, what)

    def _refusal(self, rate: Rate, scope: str, who: str, what: str) -> LimitExceeded:
        reset = self.limiter.get_window_stats(rate.item(), self.namespace, scope, who).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        return LimitExceeded(
            "rate_limited", f"too many jobs submitted {what}: at most {rate}; try again in {wait} s", wait
        )


class JobLimits:
    """Queued and running jobs per user and per key, counted in the shared job store."""

    def __init__(self, db: Database, per_user: int | None = None, per_key: int | None = None) -> None:
        self.db = db
        self.per_user, self.per_key = per_user, per_key

    def pending(self, column: str, value: str) -> int:
        rows = self.db.query(
            "SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running')"
            f" AND json_extract(data, '$.{column}') = ?",
            (value,),
        )
        return int(rows[0]["n"])

    def check(self, principal: Principal, adding: int = 1) -> None:
        """Refuse ``adding`` more jobs when they would take ``principal``'s user or key over
        its limit (LimitExceeded ``too_many_jobs``)."""
        if self.per_user is not None and principal.user_id is not None and principal.owner is not None:
            pending = self.pending("owner", principal.owner)
            if pending + adding > self.per_user:
                raise self._refusal(f"user {principal.name!r}", pending, adding, self.per_user,
                                    "ATELIER_USER_MAX_CONCURRENT_JOBS")  # fmt: skip
        if self.per_key is not None and principal.key_id is not None:
            pending = self.pending("key_id", principal.key_id)
            if pending + adding > self.per_key:
                raise self._refusal("this API key", pending, adding, self.per_key, "ATELIER_KEY_MAX_CONCURRENT_JOBS")

    @staticmethod
    def _refusal(who: str, pending: int, adding: int, limit: int, setting: str) -> LimitExceeded:
        more = f"{adding} more jobs" if adding > 1 else "another job"
        return LimitExceeded(
            "too_many_jobs",
            f"{who} has {pending} jobs queued or running, the most at once is {limit} ({setting}); "
            f"{more} must wait until some end",
            JOBS_RETRY_AFTER,
        )
