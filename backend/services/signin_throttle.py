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

    def failed(self, client: str, name: str) -> None:
        for key, _ in self._keys(client, name):
            self._add(key)

    def succeeded(self, name: str) -> None:
        key = f"account:{name[:64]}"
        if self.redis is not None:
            self.redis.delete(_REDIS_PREFIX + key)
            return
        with self._lock:
            self._counts.pop(key, None)

    def _read(self, key: str) -> tuple[int, int]:
        if self.redis is not None:
            pipe = self.redis.pipeline()
            pipe.get(_REDIS_PREFIX + key)
            pipe.ttl(_REDIS_PREFIX + key)
            raw, ttl = pipe.execute()
            return int(raw or 0), max(1, int(ttl) if ttl and ttl > 0 else self.window)
        now = self.clock()
        with self._lock:
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
            entry = self._counts.pop(key, None)
            if entry is None or now - entry[0] >= self.window:
                entry = (now, 0)
            self._counts[key] = (entry[0], entry[1] + 1)
            while len(self._counts) > self.max_entries:
                self._counts.popitem(last=False)
