"""Reading typed values from the settings mapping: one place, one error type.

Every settings reader (the server's, scale-out's, the providers') uses these, so a bad
value anywhere stops the start with one line that names the setting and what it allows.
Every number has explicit bounds and must be finite: ``nan``, ``inf`` and ``1e400`` are
refused like ``soon`` is.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping


class SettingsError(ValueError):
    """A setting with a value that cannot be used; the message names it and what is allowed."""


def _raw(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _range(minimum: float, maximum: float, above: bool) -> str:
    low = f"above {minimum:g}" if above else f"from {minimum:g}"
    high = f"up to {maximum:g}" if above else f"to {maximum:g}"
    return f"{low} {high}"


def parse_number(name: str, raw: str, *, minimum: float, maximum: float, above: bool = False) -> float:
    """``raw`` as a finite number within the bounds (strictly above ``minimum`` when ``above``)."""
    allowed = f"{name}={raw!r}; use a number {_range(minimum, maximum, above)}"
    try:
        value = float(raw) if raw.isascii() else math.nan  # float() also reads "３" and "٣"
    except ValueError:
        raise SettingsError(allowed) from None
    if not math.isfinite(value) or value < minimum or value > maximum or (above and value == minimum):
        raise SettingsError(allowed)
    return value


def env_number(
    env: Mapping[str, str], name: str, default: float, *, minimum: float, maximum: float, above: bool = False
) -> float:
    """A number setting within ``minimum``..``maximum`` (strictly above ``minimum`` when ``above``)."""
    raw = _raw(env, name)
    return default if not raw else parse_number(name, raw, minimum=minimum, maximum=maximum, above=above)


def env_optional_number(env: Mapping[str, str], name: str, *, minimum: float, maximum: float) -> float | None:
    """Like :func:`env_number`, with None when the setting is empty (the feature is off)."""
    raw = _raw(env, name)
    return None if not raw else parse_number(name, raw, minimum=minimum, maximum=maximum)


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    """A whole-number setting within ``minimum``..``maximum``."""
    raw = _raw(env, name)
    if not raw:
        return default
    try:
        value = int(raw) if raw.isascii() else None  # int() also reads "５０００" and "٣"
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum:
        raise SettingsError(f"{name}={raw!r}; use a whole number from {minimum} to {maximum}")
    return value


def env_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (compared case-insensitively; ``choices`` are lower case)."""
    raw = _raw(env, name)
    if not raw:
        return default
    if raw.lower() not in choices:
        raise SettingsError(f"{name}={raw!r}; use one of {', '.join(choices)}")
    return raw.lower()


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def env_flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = _raw(env, name).lower()
    if not raw:
        return default
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise SettingsError(f"{name}={raw!r}; use 1 or 0 (true/false, yes/no, on/off)")


def redact_url(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:  # not parsable: nothing after the scheme can be shown safely
        return url.split("://", 1)[0] + "://…" if "://" in url else "…"
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


def check_http_url(name: str, url: str, shape: str = "http(s)://host[:port][/path]") -> None:
    """A URL setting requests can use (http or https, a host, a valid port), else a
    SettingsError naming it: a bad one would fail every call without saying which setting."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name}={redact_url(url)!r}; use {shape}")


def parse_names(raw: str) -> tuple[str, ...]:
    """``a, b,,a`` -> ("a", "b"): a comma-separated list of names, blanks and repeats dropped."""
    return tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
