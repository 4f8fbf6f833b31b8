"""Serving: events must leave at once, so TCP_NODELAY is set on the listening socket.

``socketio.run`` leaves Nagle's algorithm on; two small emits in a row then wait ~40 ms
for the client's delayed ACK. Accepted sockets inherit the option from the listener.

Running out of file descriptors (or kernel memory) must not end the server: eventlet's
``wsgi.server`` returns for good on an ``accept()`` error, and the standard library's
server retries in a busy loop without a word. Both modes log once per burst of failures
and retry after a short back-off.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from flask import Flask

from backend.config import Settings

log = logging.getLogger(__name__)

#: the machine or the process is out of something; it comes back when connections close
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: one connection failed before it was accepted; the next accept is unaffected
CONNECTION_ERRNOS = frozenset(
    {errno.ECONNABORTED, errno.ECONNRESET, errno.EPROTO, errno.EPERM, errno.EPIPE, errno.ENOTCONN}
)
FIRST_PAUSE_SECONDS = 0.05
MAX_PAUSE_SECONDS = 1.0
QUIET_SECONDS = 60.0


class AcceptFailures:
    """Failed ``accept()`` calls: the pause before the next try (doubling up to a second),
    and few log lines. A burst of failures is announced when it starts and when it ends;
    a burst starting within a minute of the last announcement is not (while descriptors
    are being freed, accepts succeed and fail by turns)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.failing = False
        self._in_a_row = 0
        self._announced_at = -float("inf")
        self._announced = False
        self._attempts = 0

    def failed(self, exc: OSError) -> float:
        now = self._clock()
        if not self.failing:
            self.failing, self._in_a_row = True, 0
            if now - self._announced_at >= QUIET_SECONDS:
                self._announced_at, self._announced, self._attempts = now, True, 0
                log.warning(
                    "cannot accept new connections: %s; retrying until it works (too many open connections? "
                    "raise the open-file limit, ulimit -n)",
                    exc.strerror or exc,
                )
        self._in_a_row += 1
        self._attempts += 1
        return min(MAX_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2 ** min(self._in_a_row - 1, 10))

    def succeeded(self) -> None:
        if not self.failing:
            return
        self.failing = False
        if self._announced:
            self._announced = False
            log.warning(
                "accepting connections again after %d failed attempts in %.1f s",
                self._attempts,
                self._clock() - self._announced_at,
            )


class RetryingListener:
    """Wraps eventlet's listening socket so ``accept()`` waits out resource errors
    instead of ending ``eventlet.wsgi.server``; everything else passes through."""

    def __init__(self, sock: Any, sleep: Callable[[float], None]) -> None:
        self._sock = sock
        self._sleep = sleep
        self.failures = AcceptFailures()

    def accept(self) -> tuple[Any, Any]:
        while True:
            try:
                conn = self._sock.accept()
            except OSError as exc:
                if exc.errno in CONNECTION_ERRNOS:
                    continue
                if exc.errno not in RESOURCE_ERRNOS:
                    raise
                self._sleep(self.failures.failed(exc))
                continue
            self.failures.succeeded()
            return conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def serve(app: Flask, settings: Settings, on_ready: Callable[[int], None] | None = None) -> None:
    if settings.async_mode == "eventlet":
        import eventlet
        import eventlet.wsgi

        listener = eventlet.listen((settings.host, settings.port))
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if on_ready:
            on_ready(listener.getsockname()[1])
        # debug=False: on an unexpected error eventlet would otherwise send the traceback as the body
        eventlet.wsgi.server(
            RetryingListener(listener, eventlet.sleep), app, log_output=False, max_size=10_000, debug=False
        )
    else:
        from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

        class NoDelayHandler(WSGIRequestHandler):
            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_request(self, *args: Any, **kwargs: Any) -> None:  # access logs stay quiet
                pass

        class RetryingServer(ThreadedWSGIServer):
            failures = AcceptFailures()

            def get_request(self) -> tuple[socket.socket, Any]:
                try:
                    conn = super().get_request()
                except OSError as exc:
                    # socketserver drops the error and selects again at once: a busy loop
                    if exc.errno in RESOURCE_ERRNOS:
                        time.sleep(self.failures.failed(exc))
                    raise
                self.failures.succeeded()
                return conn

        server = RetryingServer(settings.host, settings.port, app, handler=NoDelayHandler)
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if on_ready:
            on_ready(server.server_port)
        server.serve_forever()
