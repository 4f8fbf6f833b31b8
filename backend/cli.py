"""The server's command line: load settings, build the app, serve, fail in one line."""

from __future__ import annotations

import logging
import sys

from backend.config import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"atelier: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("engineio.server", "socketio.server", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from backend.app import create_app
    from backend.server import serve
    from backend.services.gallery import GalleryUnavailable

    try:
        app, _ = create_app(settings)
    except (GalleryUnavailable, SettingsError) as exc:  # provider settings are read here
        print(f"atelier: {exc}", file=sys.stderr)
        return 1
    app.extensions["atelier"].start()

    def ready(port: int) -> None:
        print(
            f"Atelier is running at http://{settings.host}:{port} "
            f"(default provider: {settings.default_provider}, {settings.async_mode} mode)",
            flush=True,
        )

    try:
        serve(app, settings, on_ready=ready)
    except OSError as exc:
        print(f"atelier: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
