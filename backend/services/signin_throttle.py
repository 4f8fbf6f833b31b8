"""Failed sign-ins, counted per client address and per account name, in fixed windows.

After ``per_account`` failures for one name, or ``per_client`` from one address, within
``window`` seconds, further attempts are refused until the window ends (a right password
too: a guesser learns nothing). Memory is bounded: at most ``max_entries`` counters, the
oldest forgotten first. With Redis (several web instances) the counters live there, so
every instance sees the same count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

PER_ACCOUNT = 5
PER_CLIENT = 20
WINDOW_SECONDS = 300
MAX_ENTRIES = 10_000
_REDIS_PREFIX = "atelier:signin:"


class SignInThrottle:
    def __init__(
        self,
        per_account: int = PER_ACCOUNT,
        per_client: int = PER_CLIENT,
        window: int = WINDOW_SECONDS,
        redis: Any = None,
        clock: Callable[[], float] = time.time,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.per_account, self.per_client, self.window = per_account, per_client, window
        self.redis = redis
        self.clock = clock
        self.max_entries = max_entries
        # key -> (window start, failures)
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, client: str, name: str) -> list[tuple[str, int]]:
        return [(f"client:{client[:64]}", self.per_client), (f"account:{name[:64]}", self.per_account)]

    def blocked(self, client: str, name: str) -> int | None:
        """None if an attempt may go ahead, else the seconds to wait."""
        waits = []
        for key, limit in self._keys(client, name):
            failures, wait = self._read(key)
            if failures >= limit:
                waits.append(wait)
        return max(waits) if waits else None

    def begin(self, client: str, name: str) -> int | None:
        """Count an attempt before its password is checked (None: go ahead), or the seconds
        to wait. Counted first, in one step: guesses sent at once cannot all pass the check
        before the first of them is counted. An attempt that succeeds is taken back."""
        if self.redis is not None:
            return self._begin_redis(client, name)
        now = self.clock()
        with self._lock:
            keys = self._keys(client, name)
            waits = []
            for key, limit in keys:
                failures, wait = self._read_locked(key, now)
                if failures >= limit:
                    waits.append(wait)
            if waits:
                return max(waits)
            for key, _ in keys:
                self._add_locked(key, now, 1)
        return None

    def _begin_redis(self, client: str, name: str) -> int | None:
        keys = self._keys(client, name)
        pipe = self.redis.pipeline()
        for key, _ in keys:
            pipe.incr(_REDIS_PREFIX + key)
            pipe.expire(_REDIS_PREFIX + key, self.window, nx=True)
            pipe.ttl(_REDIS_PREFIX + key)
        replies = pipe.execute()
        over = [(keys[i][0], replies[3 * i + 2]) for i in range(len(keys)) if replies[3 * i] > keys[i][1]]
        if not over:
            return None
        undo = self.redis.pipeline()
        for key, _ in keys:
            undo.decr(_REDIS_PREFIX + key)  # a refused attempt is not counted
        undo.execute()
        return max(max(1, int(ttl) if ttl and ttl > 0 else self.window) for _, ttl in over)

    def failed(self, client: str, name: str) -> None:
        for key, _ in self._keys(client, name):
            self._add(key)

    def succeeded(self, name: str, client: str | None = None) -> None:
        """The right password: the account's failures are forgotten, and the attempt
        :meth:`begin` counted for ``client`` is taken back (a success is no failure)."""
        key = f"account:{name[:64]}"
        client_key = self._keys(client, name)[0][0] if client is not None else None
        if self.redis is not None:
            self.redis.delete(_REDIS_PREFIX + key)
            if client_key is not None and self.redis.decr(_REDIS_PREFIX + client_key) < 0:
                self.redis.delete(_REDIS_PREFIX + client_key)
            return
        with self._lock:
            self._counts.pop(key, None)
            if client_key is not None and client_key in self._counts:
                start, count = self._counts[client_key]
                self._counts[client_key] = (start, max(0, count - 1))

    def _read(self, key: str) -> tuple[int, int]:
        if self.redis is not None:
            pipe = self.redis.pipeline()
            pipe.get(_REDIS_PREFIX + key)
            pipe.ttl(_REDIS_PREFIX + key)
            raw, ttl = pipe.execute()
            return int(raw or 0), max(1, int(ttl) if ttl and ttl > 0 else self.window)
        now = self.clock()
        with self._lock:
            return self._read_locked(key, now)

    def _read_locked(self, key: str, now: float) -> tuple[int, int]:
        entry = self._counts.get(key)
        if entry is None or now - entry[0] >= self.window:
            return 0, 0
        return entry[1], max(1, math.ceil(entry[0] + self.window - now))

    def _add(self, key: str) -> None:
        if self.redis is not None:
            pipe = self.redis.pipeline()
            pipe.incr(_REDIS_PREFIX + key)
            pipe.expire(_REDIS_PREFIX + key, self.window, nx=True)
            pipe.execute()
            return
        now = self.clock()
        with self._lock:
            self._add_locked(key, now, 1)

    def _add_locked(self, key: str, now: float, n: int) -> None:
        entry = self._counts.pop(key, None)
        if entry is None or now - entry[0] >= self.window:
            entry = (now, 0)
        self._counts[key] = (entry[0], entry[1] + n)
        while len(self._counts) > self.max_entries:
            self._counts.popitem(last=False)
