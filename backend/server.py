"""Serving: events must leave at once, so TCP_NODELAY is set on the listening socket.

``socketio.run`` leaves Nagle's algorithm on; two small emits in a row then wait ~40 ms
for the client's delayed ACK. Accepted sockets inherit the option from the listener.
"""

from __future__ import annotations

import logging
import socket

from flask import Flask

from backend.config import Settings

log = logging.getLogger(__name__)


def serve(app: Flask, settings: Settings, on_ready=None) -> None:
    if settings.async_mode == "eventlet":
        import eventlet
        import eventlet.wsgi

        listener = eventlet.listen((settings.host, settings.port))
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if on_ready:
            on_ready(listener.getsockname()[1])
        eventlet.wsgi.server(listener, app, log_output=False, max_size=10_000)
    else:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class NoDelayHandler(WSGIRequestHandler):
            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_request(self, *args, **kwargs) -> None:  # access logs stay quiet
                pass

        server = make_server(settings.host, settings.port, app, threaded=True, request_handler=NoDelayHandler)
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if on_ready:
            on_ready(server.server_port)
        server.serve_forever()
