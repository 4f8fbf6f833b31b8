"""Handing memory back to the OS after a crowd of clients has left.

Every connected Socket.IO client costs buffers and queues; when hundreds leave, CPython
frees those objects but glibc keeps the pages for reuse, so the process stays at its peak
size. A few seconds after the last disconnect of a burst, a full collection and
``malloc_trim`` give the pages back (bench/load_sockets.py measures it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time

from backend.runtime import Runtime

log = logging.getLogger(__name__)


def _malloc_trim() -> None:
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


class HeapTrimmer:
    def __init__(self, runtime: Runtime, quiet_seconds: float = 5.0) -> None:
        self.runtime = runtime
        self.quiet_seconds = quiet_seconds
        self._last_disconnect = 0.0
        self._scheduled = False

    def client_left(self) -> None:
        """Called on every disconnect; trims once the disconnects have stopped for a while."""
        self._last_disconnect = time.monotonic()
        if not self._scheduled:
            self._scheduled = True
            self.runtime.spawn(self._trim_when_quiet)

    def _trim_when_quiet(self) -> None:
        while (wait := self._last_disconnect + self.quiet_seconds - time.monotonic()) > 0:
            self.runtime.sleep(wait)
        self._scheduled = False
        gc.collect()
        self.runtime.run_blocking(_malloc_trim)  # walks the heap: off the event loop
