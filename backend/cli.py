"""The server's command line: load settings, build the app, serve, fail in one line."""

from __future__ import annotations

import logging
import sys

from backend.config import Settings, SettingsError, load_settings
from backend.scaleout_config import is_loopback_host


def open_bind_refusal(settings: Settings) -> str | None:
    """Why the server must not start: reachable from other machines with no token and no accounts."""
    scale = settings.scaleout
    if is_loopback_host(settings.host) or scale.token or scale.allow_open or _has_accounts(settings):
        return None
    return (
        f"refusing to listen on {settings.host} without ATELIER_TOKEN: anyone who can reach this address "
        "could use the studio; set ATELIER_TOKEN, add an admin (python -m backend users add NAME --admin "
        "--password-stdin), or ATELIER_ALLOW_OPEN=1 if that is what you mean"
    )


def _has_accounts(settings: Settings) -> bool:
    """Accounts on (a user exists): every request then needs a session or a key anyway."""
    from backend.storage.account_store import ACCOUNTS_FILE, AccountStore

    path = settings.data_dir / ACCOUNTS_FILE
    if not path.is_file():
        return False
    store = AccountStore(path)
    try:
        return store.has_users()
    finally:
        store.close()


def main() -> int:
    if sys.argv[1:2] == ["users"]:
        from backend.users_cli import run

        return run(sys.argv[2:])
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"atelier: {exc}", file=sys.stderr)
        return 2
    from backend.storage.account_store import AccountsUnreadable

    try:
        refusal = open_bind_refusal(settings)
    except AccountsUnreadable as exc:
        print(f"atelier: {exc}", file=sys.stderr)
        return 1
    if refusal:
        print(f"atelier: {refusal}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("engineio.server", "socketio.server", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from backend.app import create_app
    from backend.distributed import RedisUnreachable
    from backend.server import serve
    from backend.services.gallery import GalleryUnavailable

    try:
        app, _ = create_app(settings)
    except (GalleryUnavailable, SettingsError, RedisUnreachable, AccountsUnreadable) as exc:  # provider settings too
        print(f"atelier: {exc}", file=sys.stderr)
        return 1
    app.extensions["atelier"].start()

    def ready(port: int) -> None:
        host = f"[{settings.host}]" if ":" in settings.host else settings.host  # an IPv6 address in a URL
        print(
            f"Atelier is running at http://{host}:{port}{settings.scaleout.base_path}/ "
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
