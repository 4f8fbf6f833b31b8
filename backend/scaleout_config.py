"""Settings for running beyond one process: Redis workers and safe remote access.

Kept apart from config.py so the single-process settings stay as they were; every
setting here is off (or loopback-only) by default.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from backend.env_values import SettingsError, env_number

RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour)s?\s*$")
_BASE = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


@dataclass(frozen=True)
class ScaleoutSettings:
    #: ATELIER_REDIS_URL: jobs go to RQ queues and events through Redis when set
    redis_url: str | None = None
    #: ATELIER_WORKER_SECRET: what workers show the web server's internal endpoints;
    #: when unset, one is generated and shared through Redis
    worker_secret: str | None = None
    #: a worker refreshes its heartbeat this often; a job whose heartbeat is gone for
    #: three intervals becomes interrupted
    heartbeat_seconds: float = 5.0
    #: RQ's limit on one job on a worker
    job_timeout_seconds: int = 3600
    #: ATELIER_TOKEN: every REST call and the Socket.IO handshake need it when set
    token: str | None = None
    allow_open: bool = False
    #: ATELIER_ALLOWED_ORIGINS: cross-origin pages allowed to use the API and socket;
    #: empty means loopback pages only (same-origin requests are always allowed)
    allowed_origins: tuple[str, ...] = ()
    #: ATELIER_RATE_LIMIT: job submissions per client, as (count, seconds); None = no limit
    rate_limit: tuple[int, int] | None = None
    #: ATELIER_BASE_PATH: serve the whole studio under this sub-path ("" = at the root)
    base_path: str = ""
    #: ATELIER_TRUST_PROXY: how many proxies in front whose X-Forwarded-* are honoured
    trust_proxy: int = 0

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)


def redact_url(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}"
    else:
        netloc = f":***@{netloc}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_rate(raw: str) -> tuple[int, int]:
    """``30/minute`` -> (30, 60); ``5/10second`` -> (5, 10)."""
    match = _RATE.match(raw)
    if not match or int(match.group(1)) < 1:
        raise ValueError(raw)
    return int(match.group(1)), int(match.group(2) or 1) * RATE_UNITS[match.group(3)]


def load_scaleout_settings(env: Mapping[str, str]) -> ScaleoutSettings:
    def flag(name: str) -> bool:
        return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")

    redis_url = env.get("ATELIER_REDIS_URL", "").strip() or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(
            f"ATELIER_REDIS_URL={redact_url(redis_url)!r} must start with redis://, rediss:// or unix://"
        )
    raw_rate = env.get("ATELIER_RATE_LIMIT", "").strip()
    try:
        rate = parse_rate(raw_rate) if raw_rate else None
    except ValueError:
        raise SettingsError(
            f"ATELIER_RATE_LIMIT={raw_rate!r}; use a count per second, minute or hour, e.g. 30/minute"
        ) from None
    base = env.get("ATELIER_BASE_PATH", "").strip().rstrip("/")
    if base and not _BASE.match(base):
        raise SettingsError(f"ATELIER_BASE_PATH={base!r} must look like /studio (letters, digits, '-', '_', '.')")
    raw_proxy = env.get("ATELIER_TRUST_PROXY", "").strip().lower()
    if raw_proxy in ("", "0", "false", "no", "off"):
        trust_proxy = 0
    elif raw_proxy in ("true", "yes", "on"):
        trust_proxy = 1
    elif raw_proxy.isdigit():
        trust_proxy = int(raw_proxy)
    else:
        raise SettingsError(f"ATELIER_TRUST_PROXY={raw_proxy!r}; use the number of proxies in front (usually 1)")

    origins = tuple(o.strip().rstrip("/") for o in env.get("ATELIER_ALLOWED_ORIGINS", "").split(",") if o.strip())
    return ScaleoutSettings(
        redis_url=redis_url,
        worker_secret=env.get("ATELIER_WORKER_SECRET", "").strip() or None,
        heartbeat_seconds=env_number(env, "ATELIER_WORKER_HEARTBEAT_SECONDS", 5.0, above=True),
        job_timeout_seconds=int(env_number(env, "ATELIER_JOB_TIMEOUT_SECONDS", 3600, above=True)),
        token=env.get("ATELIER_TOKEN", "").strip() or None,
        allow_open=flag("ATELIER_ALLOW_OPEN"),
        allowed_origins=origins,
        rate_limit=rate,
        base_path=base,
        trust_proxy=trust_proxy,
    )
