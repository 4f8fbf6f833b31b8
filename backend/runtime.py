"""The concurrency primitives the services use, the same under eventlet and threading.

Flask-SocketIO runs either on eventlet's green threads or on OS threads
(``ATELIER_ASYNC_MODE``). Services never import either: they spawn tasks, sleep, run
CPU-bound work off the event loop, and hand results back to it through this object.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    """Threading mode: every task is an OS thread, so everything may run anywhere."""

    mode = "threading"

    def __init__(self, spawn: Callable[..., Any], sleep: Callable[[float], None]) -> None:
        self._spawn = spawn
        self._sleep = sleep

    def spawn(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._spawn(fn, *args)

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound or disk-bound ``fn`` where it cannot stall the sockets."""
        return fn(*args)

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn`` on the event loop; callable from any thread."""
        fn(*args)

    def spawn_after_handler(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` once the Socket.IO handler running now has returned and its ack is
        queued, so what ``fn`` emits reaches the client after the ack. python-socketio
        runs each handler in its own thread and sends the ack from it before it ends."""
        handler = threading.current_thread()

        def after() -> None:
            handler.join()
            fn()

        self.spawn(after)


class EventletRuntime(Runtime):
    """Eventlet mode: one OS thread runs the hub; CPU work goes to real threads (tpool).

    Code in a real thread must not touch green objects (sockets, locks, the Socket.IO
    server), so ``call_soon_threadsafe`` queues the call and wakes the hub through a
    socket pair, the same way eventlet's own tpool reports results.
    """

    mode = "eventlet"

    def __init__(self, spawn: Callable[..., Any], sleep: Callable[[float], None]) -> None:
        super().__init__(spawn, sleep)
        import eventlet
        from eventlet import greenio, patcher, tpool

        real_socket = patcher.original("socket")
        real_threading = patcher.original("threading")
        self._tpool = tpool
        self._get_ident = real_threading.get_ident
        self._hub_ident = self._get_ident()
        self._pending: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = collections.deque()
        reader, self._waker = real_socket.socketpair()
        self._waker.setblocking(False)
        self._reader = greenio.GreenSocket(reader)
        eventlet.spawn(self._drain_forever)

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return self._tpool.execute(fn, *args)
        finally:
            # deliver what the thread reported before its result, in order
            self._drain_pending()

    def spawn_after_handler(self, fn: Callable[[], Any]) -> None:
        # A green thread spawned now runs only when the handler's green thread yields,
        # and it does not yield between returning and queueing its ack.
        self.spawn(fn)

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._get_ident() == self._hub_ident:
            fn(*args)
            return
        self._pending.append((fn, args))  # deque.append is atomic across threads
        try:
            self._waker.send(b"\0")
        except BlockingIOError:
            pass  # the hub is already awake with bytes to read

    def _drain_pending(self) -> None:
        while self._pending:
            fn, args = self._pending.popleft()
            try:
                fn(*args)
            except Exception:
                log.exception("callback from a worker thread failed")

    def _drain_forever(self) -> None:
        while True:
            self._reader.recv(4096)
            self._drain_pending()


def make_runtime(mode: str, spawn: Callable[..., Any], sleep: Callable[[float], None]) -> Runtime:
    return EventletRuntime(spawn, sleep) if mode == "eventlet" else Runtime(spawn, sleep)
