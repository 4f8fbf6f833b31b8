"""The app factory: a Flask app with Socket.IO, its blueprints and its services."""

from __future__ import annotations

from flask import Flask
from flask_socketio import SocketIO

from backend.config import Settings, load_settings
from backend.runtime import make_runtime
from backend.services.redis_events import RedisEventBus
from backend.studio import Studio
from backend.web import (
    api_a1111,
    api_accounts,
    api_boards,
    api_gallery_io,
    api_gallery_status,
    api_images,
    api_internal,
    api_jobs,
    api_matrix,
    api_meta,
    api_oidc,
    api_openai,
    api_prompts,
    api_provider_settings,
    api_queue,
    api_tools,
    openapi,
    pages,
)
from backend.web.auth import install_auth
from backend.web.errors import register_error_handlers
from backend.web.rate_limits import install_limits
from backend.web.security import install_security, origin_policy, wrap_wsgi
from backend.web.socket_auth import EXTENSION as SOCKETS
from backend.web.socket_auth import register_socket_auth
from backend.web.socket_handlers import register_socket_handlers
from backend.web.socket_packets import BoundedJSON, install_packet_guard
from backend.web.socket_queue import JobAwareRedisManager

MAX_REQUEST_BYTES = 1 * 1024 * 1024  # JSON bodies; uploads get their own limit


def create_app(settings: Settings | None = None) -> tuple[Flask, SocketIO]:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.merge_slashes = False  # "/images//etc/passwd" is a 404, not a redirect
    scale = settings.scaleout
    origins = origin_policy(scale)
    queue_manager = JobAwareRedisManager(scale.redis_url) if scale.redis_url else None
    # async_mode always explicit: with eventlet installed SocketIO would pick it even unpatched
    socketio = SocketIO(
        app,
        async_mode=settings.async_mode,
        max_http_buffer_size=MAX_REQUEST_BYTES,
        # python-socketio's 20 s drops healthy clients of a busy 2-core server whose pings
        # wait behind a backlog of events (bench/load_sockets.py: 550 of 1000 dropped at 20 s,
        # none at 60 s); a dead client is still noticed within a minute and a half
        ping_timeout=settings.socket_ping_timeout,
        cors_allowed_origins=origins.allows,
        json=BoundedJSON,  # a 101-digit number fails the whole packet in python-socketio's decoder
        **({"client_manager": queue_manager} if queue_manager else {}),
    )
    runtime = make_runtime(settings.async_mode, socketio.start_background_task, socketio.sleep)

    rooms = socketio.server.manager.rooms  # namespace -> room -> members (python-socketio's Manager)

    def emit(event: str, payload: dict, room: str | list[str]) -> None:
        # python-socketio encodes a packet before it looks for the room's members; most job
        # events are published before anyone subscribes (queued, started) and the feeds may
        # have no one: nothing to encode then. Through Redis, other instances may have members.
        if queue_manager is None:
            present = rooms.get("/", {})
            if not any(present.get(r) for r in ([room] if isinstance(room, str) else room)):
                return
        socketio.emit(event, payload, to=room, namespace="/")

    def join(sid: str, room: str) -> None:
        try:
            socketio.server.enter_room(sid, room, namespace="/")
        except (KeyError, ValueError):  # the client left before its deferred subscribe ran: no one to join
            pass

    def leave(sid: str, room: str) -> None:
        socketio.server.leave_room(sid, room, namespace="/")

    deliver = queue_manager.deliver if queue_manager else None
    studio = Studio.build(settings, runtime, emit, join, leave, deliver)
    if queue_manager is not None:
        assert isinstance(studio.bus, RedisEventBus)  # make_distributed set it, as the queue manager says
        queue_manager.on_job_event = studio.bus.on_live
    app.extensions["atelier"] = studio
    install_auth(app, scale)  # first: who the request acts for, before the token guard
    install_security(app, scale, origins)
    install_limits(app, settings)  # after the caller is known: the limits are per user and key
    blueprints = (
        api_meta.bp,
        api_jobs.bp,
        api_prompts.bp,
        api_queue.bp,
        api_matrix.bp,
        api_images.bp,
        api_gallery_io.bp,
        api_boards.bp,
        api_gallery_status.bp,
        api_tools.bp,
        api_provider_settings.bp,
        openapi.bp,
        pages.bp,
        api_internal.bp,
        api_a1111.bp,
        api_openai.bp,
        api_accounts.bp,
        api_oidc.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    api_accounts.register_account_errors(app)
    api_tools.register(app)
    install_packet_guard(socketio.server)
    register_socket_handlers(socketio, studio)
    app.extensions[SOCKETS] = register_socket_auth(socketio, app.extensions["atelier_token"], studio)
    wrap_wsgi(app, scale, origins)
    return app, socketio
