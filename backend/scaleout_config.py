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

from backend.env_values import SettingsError, check_http_url, env_flag, env_int, env_number, parse_names, redact_url

RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600}
_RATE = re.compile(r"^\s*(\d{1,9})\s*/\s*(\d{0,9})\s*(second|minute|hour)s?\s*$")
#: bounds of ATELIER_RATE_LIMIT: a count of 1..MAX_RATE_COUNT per 1 s .. MAX_RATE_WINDOW s
MAX_RATE_COUNT = 1_000_000
MAX_RATE_WINDOW = 7 * 24 * 3600
#: sub-path segments: no "." or ".." (they would climb out of the sub-path)
_BASE = re.compile(r"^(/(?!\.{1,2}(?:/|$))[A-Za-z0-9._~-]+)+$")
MAX_TRUST_PROXY = 10
_SECRET = re.compile(r"^[!-~]+$")


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
    #: ATELIER_SERVER_URL (workers): where the studio is; None = http://127.0.0.1:5000<base path>
    server_url: str | None = None
    #: ATELIER_WORKER_PROVIDERS (workers): what a worker serves when --providers is not given
    worker_providers: tuple[str, ...] = ()

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_rate(raw: str) -> tuple[int, int]:
    """``30/minute`` -> (30, 60); ``5/10second`` -> (5, 10). A zero count or window is refused:
    ``1/0second`` would mean no limit at all."""
    match = _RATE.match(raw)
    if not match:
        raise ValueError(raw)
    count = int(match.group(1))
    window = int(match.group(2) or 1) * RATE_UNITS[match.group(3)]
    if not (1 <= count <= MAX_RATE_COUNT and 1 <= window <= MAX_RATE_WINDOW):
        raise ValueError(raw)
    return count, window


def _origin(raw: str) -> str:
    """An allowed origin: ``*`` or ``http(s)://host[:port]`` (no path)."""
    origin = raw.strip().rstrip("/")
    if origin == "*":
        return origin
    try:
        parts = urllib.parse.urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number 0..65535
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise SettingsError(
            f"ATELIER_ALLOWED_ORIGINS: {origin!r} is not an origin; use * or http(s)://host[:port], comma-separated"
        )
    return origin


def _server_url(raw: str) -> str | None:
    url = raw.strip().rstrip("/")
    if not url:
        return None
    check_http_url("ATELIER_SERVER_URL", url, "http(s)://host[:port][/base-path]")
    return url


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """A token or shared secret: it travels in HTTP headers, so printable ASCII without spaces
    (a browser's fetch throws on a header character past U+00FF; requests cannot send it)."""
    value = env.get(name, "").strip()
    if value and not _SECRET.match(value):
        raise SettingsError(f"{name}: use letters, digits and ASCII punctuation only (no spaces or other characters)")
    return value or None


def load_scaleout_settings(env: Mapping[str, str]) -> ScaleoutSettings:
    redis_url = env.get("ATELIER_REDIS_URL", "").strip() or None
    try:
        urllib.parse.urlsplit(redis_url or "").port  # noqa: B018 - raises ValueError for a bad host or port
        well_formed = True
    except ValueError:
        well_formed = False
    if redis_url and not (well_formed and redis_url.startswith(("redis://", "rediss://", "unix://"))):
        raise SettingsError(
            f"ATELIER_REDIS_URL={redact_url(redis_url)!r}; use redis://host[:port][/db], rediss://… or unix://path"
        )
    raw_rate = env.get("ATELIER_RATE_LIMIT", "").strip()
    try:
        rate = parse_rate(raw_rate) if raw_rate else None
    except ValueError:
        raise SettingsError(
            f"ATELIER_RATE_LIMIT={raw_rate!r}; use count/window, a count of 1 to {MAX_RATE_COUNT} in a window "
            f"of 1 second to {MAX_RATE_WINDOW // 3600} hours, e.g. 30/minute, 5/10seconds or 100/hour"
        ) from None
    base = env.get("ATELIER_BASE_PATH", "").strip().rstrip("/")
    if base and not _BASE.match(base):
        raise SettingsError(
            f"ATELIER_BASE_PATH={base!r}; use a sub-path like /studio (segments of letters, digits, "
            "'-', '_', '.', '~'; no '.' or '..' segments)"
        )
    raw_proxy = env.get("ATELIER_TRUST_PROXY", "").strip().lower()
    if raw_proxy in ("", "0", "false", "no", "off"):
        trust_proxy = 0
    elif raw_proxy in ("true", "yes", "on"):
        trust_proxy = 1
    elif raw_proxy.isascii() and raw_proxy.isdigit() and int(raw_proxy) <= MAX_TRUST_PROXY:  # "²".isdigit()
        trust_proxy = int(raw_proxy)
    else:
        raise SettingsError(
            f"ATELIER_TRUST_PROXY={raw_proxy!r}; use the number of proxies in front, 0 to {MAX_TRUST_PROXY} (usually 1)"
        )

    origins = tuple(_origin(o) for o in env.get("ATELIER_ALLOWED_ORIGINS", "").split(",") if o.strip())
    workers = parse_names(env.get("ATELIER_WORKER_PROVIDERS", ""))
    return ScaleoutSettings(
        redis_url=redis_url,
        worker_secret=_secret(env, "ATELIER_WORKER_SECRET"),
        heartbeat_seconds=env_number(env, "ATELIER_WORKER_HEARTBEAT_SECONDS", 5.0, minimum=0.1, maximum=600),
        job_timeout_seconds=env_int(env, "ATELIER_JOB_TIMEOUT_SECONDS", 3600, minimum=1, maximum=7 * 24 * 3600),
        token=_secret(env, "ATELIER_TOKEN"),
        allow_open=env_flag(env, "ATELIER_ALLOW_OPEN"),
        allowed_origins=origins,
        rate_limit=rate,
        base_path=base,
        trust_proxy=trust_proxy,
        server_url=_server_url(env.get("ATELIER_SERVER_URL", "")),
        worker_providers=workers,
    )
