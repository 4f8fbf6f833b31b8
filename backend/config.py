"""Settings from the environment and a ``.env`` file (the environment wins).

Every setting is listed with its default in ``.env.example``. Provider keys are read by
the providers themselves from the same merged mapping; they never leave the server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from backend.env_values import SettingsError, env_int, env_number
from backend.scaleout_config import ScaleoutSettings, load_scaleout_settings

ASYNC_MODES = ("eventlet", "threading")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 5000
    gallery_dir: Path = Path("generated_images")
    data_dir: Path = Path("data")
    async_mode: str = "eventlet"
    default_provider: str = "offline"
    max_concurrent_jobs: int = 4
    provider_concurrency: dict[str, int] = field(default_factory=dict)
    provider_modules: tuple[str, ...] = ()
    event_retention_seconds: float = 600.0
    previews_per_second: float = 4.0
    preview_size: int = 384
    log_level: str = "INFO"
    #: seconds a Socket.IO client may take to answer a ping before it is dropped
    socket_ping_timeout: float = 60.0
    #: ATELIER_FALLBACK: providers, in order, that take over a job whose provider is unavailable
    fallback: tuple[str, ...] = ()
    watch_interval_seconds: float = 2.0
    max_upload_mb: int = 50
    trash_days: float = 30.0
    #: the scale-out and remote-access settings (backend/scaleout_config.py)
    scaleout: ScaleoutSettings = field(default_factory=lambda: ScaleoutSettings())
    #: the merged environment, for providers to read their own keys from
    env: Mapping[str, str] = field(default_factory=dict, repr=False)


def load_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    env_file = environ.get("ATELIER_ENV_FILE", ".env")
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if os.path.isfile(env_file) else {}
    return {**from_file, **environ}


def _concurrency(raw: str) -> dict[str, int]:
    """``offline=2,openai=4`` -> {"offline": 2, "openai": 4}."""
    limits: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, value = part.partition("=")
        if not value.strip().isdigit() or int(value) < 1:
            raise SettingsError(f"ATELIER_PROVIDER_CONCURRENCY: {part!r} is not provider=number")
        limits[name.strip()] = int(value)
    return limits


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = load_env(environ)
    mode = env.get("ATELIER_ASYNC_MODE", "eventlet").strip() or "eventlet"
    if mode not in ASYNC_MODES:
        raise SettingsError(f"ATELIER_ASYNC_MODE={mode!r}; use eventlet or threading")
    return Settings(
        host=env.get("ATELIER_HOST", "").strip() or "127.0.0.1",
        port=env_int(env, "ATELIER_PORT", 5000, 0, 65535),
        # absolute from the start: Flask resolves relative file paths against its package
        gallery_dir=Path(env.get("ATELIER_GALLERY_DIR", "").strip() or "generated_images").absolute(),
        data_dir=Path(env.get("ATELIER_DATA_DIR", "").strip() or "data").absolute(),
        async_mode=mode,
        default_provider=env.get("ATELIER_DEFAULT_PROVIDER", "").strip() or "offline",
        max_concurrent_jobs=env_int(env, "ATELIER_MAX_CONCURRENT_JOBS", 4, 1, 1000),
        provider_concurrency=_concurrency(env.get("ATELIER_PROVIDER_CONCURRENCY", "")),
        provider_modules=tuple(m.strip() for m in env.get("ATELIER_PROVIDER_MODULES", "").split(",") if m.strip()),
        event_retention_seconds=env_number(env, "ATELIER_EVENT_RETENTION_SECONDS", 600.0, above=True),
        previews_per_second=env_number(env, "ATELIER_PREVIEWS_PER_SECOND", 4.0, above=True),
        preview_size=env_int(env, "ATELIER_PREVIEW_SIZE", 384, 64, 512),
        log_level=(env.get("ATELIER_LOG_LEVEL", "").strip() or "INFO").upper(),
        socket_ping_timeout=env_number(env, "ATELIER_SOCKET_PING_TIMEOUT_SECONDS", 60.0, above=True),
        fallback=tuple(p.strip() for p in env.get("ATELIER_FALLBACK", "").split(",") if p.strip()),
        watch_interval_seconds=env_number(env, "ATELIER_WATCH_INTERVAL_SECONDS", 2.0, above=True),
        max_upload_mb=env_int(env, "ATELIER_MAX_UPLOAD_MB", 50, 1, 4096),
        trash_days=env_number(env, "ATELIER_TRASH_DAYS", 30.0, above=True),
        scaleout=load_scaleout_settings(env),
        env=env,
    )
