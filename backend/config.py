"""Settings from the environment and a ``.env`` file (the environment wins), read in one place.

Every setting is listed with its default and bounds in ``.env.example``. Nothing else in
``backend/`` reads the environment: each part gets its values from :class:`Settings`
(a test fails on an ``os.environ`` anywhere else). Every number is finite and within
bounds and every choice is checked, so a bad value stops the start with one line naming
the variable and what it allows (:class:`SettingsError`). Provider keys are read by the
providers themselves from the same merged mapping (``Settings.env``); they never leave
the server.

This module imports only the standard library at import time: ``python -m backend``
asks it for the async mode before eventlet patches the standard library.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from backend.enhancer_config import EnhancerSettings, load_enhancer_settings
from backend.env_values import (
    SettingsError,
    env_choice,
    env_flag,
    env_int,
    env_number,
    env_optional_number,
    parse_names,
)
from backend.oidc_config import OidcSettings, load_oidc_settings
from backend.scaleout_config import (
    MAX_RATE_COUNT,
    MAX_RATE_WINDOW,
    ScaleoutSettings,
    load_scaleout_settings,
    parse_rate,
)

__all__ = ["Settings", "SettingsError", "early_async_mode", "load_env", "load_settings"]

ASYNC_MODES = ("eventlet", "threading")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: ATELIER_WATCH_MODE (services/file_events.py)
WATCH_MODES = ("auto", "events", "poll")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPA_DIR = ROOT / "frontend" / "dist"
MAX_BUDGET_USD = 1_000_000.0
_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_PROVIDER_LIMIT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*(\d{1,4})\s*$")
MAX_PROVIDER_CONCURRENCY = 1000
#: bounds of ATELIER_USER_MAX_CONCURRENT_JOBS and ATELIER_KEY_MAX_CONCURRENT_JOBS
MAX_ACCOUNT_CONCURRENT_JOBS = 10_000


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 5000
    gallery_dir: Path = Path("generated_images")
    data_dir: Path = Path("data")
    #: ATELIER_WILDCARDS_DIR: the ``__name__.txt`` files of wildcard prompts (need not exist)
    wildcards_dir: Path = Path("wildcards")
    async_mode: str = "eventlet"
    default_provider: str = "offline"
    max_concurrent_jobs: int = 4
    provider_concurrency: dict[str, int] = field(default_factory=dict)
    provider_modules: tuple[str, ...] = ()
    event_retention_seconds: float = 600.0
    previews_per_second: float = 4.0
    preview_size: int = 384
    #: a level name of the logging module, upper case
    log_level: str = "INFO"
    #: seconds a Socket.IO client may take to answer a ping before it is dropped
    socket_ping_timeout: float = 60.0
    #: ATELIER_FALLBACK: providers, in order, that take over a job whose provider is unavailable
    fallback: tuple[str, ...] = ()
    watch_interval_seconds: float = 2.0
    #: ATELIER_WATCH_MODE: auto (file events; polling on network shares), events, poll
    watch_mode: str = "auto"
    max_upload_mb: int = 50
    trash_days: float = 30.0
    #: ATELIER_MONTHLY_BUDGET_USD: None = no budget
    monthly_budget_usd: float | None = None
    #: ATELIER_USER_MONTHLY_BUDGET_USD: each user's monthly budget unless the user has their
    #: own (accounts); None = no budget per user
    user_monthly_budget_usd: float | None = None
    #: ATELIER_USER_RATE_LIMIT / ATELIER_KEY_RATE_LIMIT: job submissions per user / per API
    #: key, as (count, seconds); None = no limit
    user_rate_limit: tuple[int, int] | None = None
    key_rate_limit: tuple[int, int] | None = None
    #: ATELIER_USER_MAX_CONCURRENT_JOBS / ATELIER_KEY_MAX_CONCURRENT_JOBS: queued and running
    #: jobs one user / one key may have at once; None = no limit
    user_max_concurrent_jobs: int | None = None
    key_max_concurrent_jobs: int | None = None
    #: ATELIER_MATRIX_MAX_CELLS: the most cells (jobs) one matrix may have
    matrix_max_cells: int = 100
    #: the client APIs (/v1, /sdapi/v1) answer after the job; past this many seconds of
    #: waiting they start the answer and write a space now and then, so proxies keep it open
    client_api_keepalive_seconds: float = 20.0
    #: a client API caller that disconnects cancels its job (False: the job runs on)
    client_api_cancel_on_disconnect: bool = True
    #: ATELIER_MODEL_ALIASES: model names clients send (dall-e-3) -> Atelier model ids
    model_aliases: dict[str, str] = field(default_factory=dict)
    #: ATELIER_SPA_DIR: where the built web studio is served from
    spa_dir: Path = DEFAULT_SPA_DIR
    #: the scale-out and remote-access settings (backend/scaleout_config.py)
    scaleout: ScaleoutSettings = field(default_factory=lambda: ScaleoutSettings())
    #: the prompt enhancer (ATELIER_ENHANCER*, backend/enhancer_config.py)
    enhancer: EnhancerSettings = field(default_factory=lambda: EnhancerSettings())
    #: ATELIER_SECRET_KEY: encrypts provider keys entered in the studio; None: a secret file
    #: generated in the data folder (services/secret_box.py)
    secret_key: str | None = field(default=None, repr=False)
    #: ATELIER_PROVIDER_URLS_ALLOW_PRIVATE: base URLs entered in the studio may point at
    #: loopback or private addresses (a local OpenAI-compatible server); off: public only
    provider_urls_allow_private: bool = False
    #: sign-in through OpenID Connect (ATELIER_OIDC_*, backend/oidc_config.py)
    oidc: OidcSettings = field(default_factory=lambda: OidcSettings())
    #: the merged environment, for providers to read their own keys from
    env: Mapping[str, str] = field(default_factory=dict, repr=False)


def _env_file(environ: Mapping[str, str]) -> str:
    return environ.get("ATELIER_ENV_FILE", ".env")


def load_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment over the ``.env`` file (``ATELIER_ENV_FILE``)."""
    from dotenv import dotenv_values  # here, not at the top: dotenv imports threading (see module doc)

    environ = os.environ if environ is None else environ
    env_file = _env_file(environ)
    try:
        read = dotenv_values(env_file) if os.path.isfile(env_file) else {}
    except (OSError, UnicodeDecodeError) as exc:
        why = "is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else f"cannot be read ({exc.strerror or exc})"
        raise SettingsError(f"ATELIER_ENV_FILE={env_file!r} {why}; use a readable UTF-8 .env file") from None
    return {**{k: v for k, v in read.items() if v is not None}, **environ}


def early_async_mode(environ: Mapping[str, str] | None = None) -> str:
    """ATELIER_ASYNC_MODE from the environment or ``.env``, with the standard library alone:
    ``python -m backend`` needs it before eventlet's monkey patching. Not validated here;
    :func:`load_settings` refuses a bad value right after, in one line."""
    environ = os.environ if environ is None else environ
    mode = environ.get("ATELIER_ASYNC_MODE")
    env_file = _env_file(environ)
    if mode is None and os.path.isfile(env_file):
        try:
            with open(env_file, encoding="utf-8") as f:
                for line in f:
                    key, sep, value = line.strip().removeprefix("export ").partition("=")
                    if sep and key.strip() == "ATELIER_ASYNC_MODE":
                        mode = value.split("#", 1)[0].strip().strip("'\"")
        except (OSError, UnicodeDecodeError):
            mode = None  # load_settings reads the file again and says what is wrong
    return (mode or "eventlet").strip().lower()


def _concurrency(raw: str) -> dict[str, int]:
    """``offline=2,openai=4`` -> {"offline": 2, "openai": 4}."""
    limits: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        match = _PROVIDER_LIMIT.match(part)
        if not match or not 1 <= int(match.group(2)) <= MAX_PROVIDER_CONCURRENCY:
            raise SettingsError(
                f"ATELIER_PROVIDER_CONCURRENCY: {part!r}; use provider=number (1 to {MAX_PROVIDER_CONCURRENCY}), "
                "comma-separated, e.g. offline=2,openai=4"
            )
        limits[match.group(1)] = int(match.group(2))
    return limits


_ALIAS = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._:-]{0,99})\s*=\s*([A-Za-z0-9][A-Za-z0-9._/:-]{0,199})\s*$")


def _model_aliases(raw: str) -> dict[str, str]:
    """``dall-e-3=openai/gpt-image-1,gpt-image-1=offline/procedural-v1`` -> {alias: model id}."""
    aliases: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        match = _ALIAS.match(part)
        if not match:
            raise SettingsError(
                f"ATELIER_MODEL_ALIASES: {part!r}; use name=provider/model, comma-separated, "
                "e.g. dall-e-3=openai/gpt-image-1"
            )
        aliases[match.group(1)] = match.group(2)
    return aliases


def _host(raw: str, mode: str) -> str:
    host = raw.strip() or "127.0.0.1"
    bare = host.removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        address = None
    labels = host.removesuffix(".").split(".")
    if address is None and not (len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)):
        raise SettingsError(f"ATELIER_HOST={raw!r}; use an IP address or a host name, e.g. 127.0.0.1")
    if isinstance(address, ipaddress.IPv6Address):
        if mode == "eventlet":
            # eventlet.listen opens an IPv4 socket: "::1" passes the loopback check, then fails to bind
            raise SettingsError(
                f"ATELIER_HOST={raw!r}: eventlet mode listens on IPv4 only; use 127.0.0.1 (or another "
                "IPv4 address), or ATELIER_ASYNC_MODE=threading to listen on IPv6"
            )
        return bare
    return host


def _rate(env: Mapping[str, str], name: str) -> tuple[int, int] | None:
    """A ``count/window`` setting (``60/minute``, ``5/10seconds``), None when empty."""
    raw = env.get(name, "").strip()
    try:
        return parse_rate(raw) if raw else None
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r}; use count/window, a count of 1 to {MAX_RATE_COUNT} in a window "
            f"of 1 second to {MAX_RATE_WINDOW // 3600} hours, e.g. 60/minute, 5/10seconds or 100/hour"
        ) from None


def _optional_count(env: Mapping[str, str], name: str, maximum: int) -> int | None:
    """A whole number of 1 to ``maximum``, None (no limit) when empty."""
    return env_int(env, name, 0, minimum=1, maximum=maximum) if env.get(name, "").strip() else None


def _writable_folder(name: str, raw: str, default: str) -> Path:
    """A folder that exists and is writable, or that can be created (nothing is created here)."""
    path = Path(raw.strip() or default).absolute()  # absolute: Flask resolves relative paths against its package
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{name}={str(path)!r} is a file, not a folder; use a folder Atelier can write to")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise SettingsError(
            f"{name}={str(path)!r} cannot be created: {str(existing)!r} is a file, not a folder; "
            "use a folder Atelier can write to"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "cannot be written" if existing == path else f"cannot be created: {str(existing)!r} is not writable"
        raise SettingsError(f"{name}={str(path)!r} {what}; use a folder Atelier can write to")
    return path


def _provider_modules(raw: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in raw.split(",") if m.strip())
    for name in names:
        try:
            # finds the module without running it (its parent packages are imported)
            found = _MODULE.match(name) is not None and importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise SettingsError(
                f"ATELIER_PROVIDER_MODULES: no importable module {name!r}; use dotted module names, comma-separated"
            )
    return names


MIN_SECRET_KEY_CHARS = 32


def _secret_key(raw: str) -> str | None:
    """ATELIER_SECRET_KEY: a long random string (any printable text; a Fernet key is fine)."""
    value = raw.strip()
    if not value:
        return None
    if len(value) < MIN_SECRET_KEY_CHARS or len(value) > 1024 or not value.isprintable():
        raise SettingsError(
            f"ATELIER_SECRET_KEY: use {MIN_SECRET_KEY_CHARS} to 1024 printable characters, e.g. the output of "
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'
        )
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """All settings, checked; raises :class:`SettingsError` naming the first bad one."""
    env = load_env(environ)
    mode = env_choice(env, "ATELIER_ASYNC_MODE", "eventlet", ASYNC_MODES)
    spa_raw = env.get("ATELIER_SPA_DIR", "").strip()
    return Settings(
        host=_host(env.get("ATELIER_HOST", ""), mode),
        port=env_int(env, "ATELIER_PORT", 5000, minimum=0, maximum=65535),
        gallery_dir=_writable_folder("ATELIER_GALLERY_DIR", env.get("ATELIER_GALLERY_DIR", ""), "generated_images"),
        data_dir=_writable_folder("ATELIER_DATA_DIR", env.get("ATELIER_DATA_DIR", ""), "data"),
        wildcards_dir=Path(env.get("ATELIER_WILDCARDS_DIR", "").strip() or "wildcards").absolute(),
        async_mode=mode,
        default_provider=env.get("ATELIER_DEFAULT_PROVIDER", "").strip() or "offline",
        max_concurrent_jobs=env_int(env, "ATELIER_MAX_CONCURRENT_JOBS", 4, minimum=1, maximum=1000),
        provider_concurrency=_concurrency(env.get("ATELIER_PROVIDER_CONCURRENCY", "")),
        provider_modules=_provider_modules(env.get("ATELIER_PROVIDER_MODULES", "")),
        event_retention_seconds=env_number(
            env, "ATELIER_EVENT_RETENTION_SECONDS", 600.0, minimum=1.0, maximum=7 * 24 * 3600.0
        ),
        previews_per_second=env_number(env, "ATELIER_PREVIEWS_PER_SECOND", 4.0, minimum=0.0, maximum=60.0, above=True),
        preview_size=env_int(env, "ATELIER_PREVIEW_SIZE", 384, minimum=64, maximum=512),
        log_level=env_choice(env, "ATELIER_LOG_LEVEL", "info", LOG_LEVELS).upper(),
        socket_ping_timeout=env_number(env, "ATELIER_SOCKET_PING_TIMEOUT_SECONDS", 60.0, minimum=1.0, maximum=3600.0),
        fallback=parse_names(env.get("ATELIER_FALLBACK", "")),
        watch_interval_seconds=env_number(env, "ATELIER_WATCH_INTERVAL_SECONDS", 2.0, minimum=0.05, maximum=86400.0),
        watch_mode=env_choice(env, "ATELIER_WATCH_MODE", "auto", WATCH_MODES),
        max_upload_mb=env_int(env, "ATELIER_MAX_UPLOAD_MB", 50, minimum=1, maximum=4096),
        trash_days=env_number(env, "ATELIER_TRASH_DAYS", 30.0, minimum=0.0, maximum=36500.0, above=True),
        monthly_budget_usd=env_optional_number(env, "ATELIER_MONTHLY_BUDGET_USD", minimum=0.0, maximum=MAX_BUDGET_USD),
        user_monthly_budget_usd=env_optional_number(
            env, "ATELIER_USER_MONTHLY_BUDGET_USD", minimum=0.0, maximum=MAX_BUDGET_USD
        ),
        user_rate_limit=_rate(env, "ATELIER_USER_RATE_LIMIT"),
        key_rate_limit=_rate(env, "ATELIER_KEY_RATE_LIMIT"),
        user_max_concurrent_jobs=_optional_count(env, "ATELIER_USER_MAX_CONCURRENT_JOBS", MAX_ACCOUNT_CONCURRENT_JOBS),
        key_max_concurrent_jobs=_optional_count(env, "ATELIER_KEY_MAX_CONCURRENT_JOBS", MAX_ACCOUNT_CONCURRENT_JOBS),
        matrix_max_cells=env_int(env, "ATELIER_MATRIX_MAX_CELLS", 100, minimum=1, maximum=1000),
        client_api_keepalive_seconds=env_number(
            env, "ATELIER_CLIENT_API_KEEPALIVE_SECONDS", 20.0, minimum=1.0, maximum=3600.0
        ),
        client_api_cancel_on_disconnect=env_flag(env, "ATELIER_CLIENT_API_CANCEL_ON_DISCONNECT", True),
        model_aliases=_model_aliases(env.get("ATELIER_MODEL_ALIASES", "")),
        spa_dir=Path(spa_raw).absolute() if spa_raw else DEFAULT_SPA_DIR,
        scaleout=load_scaleout_settings(env),
        enhancer=load_enhancer_settings(env),
        secret_key=_secret_key(env.get("ATELIER_SECRET_KEY", "")),
        provider_urls_allow_private=env_flag(env, "ATELIER_PROVIDER_URLS_ALLOW_PRIVATE"),
        oidc=load_oidc_settings(env),
        env=env,
    )
