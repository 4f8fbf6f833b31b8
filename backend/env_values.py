"""Reading typed values from the settings mapping: one place, one error type.

Every settings reader (the server's, scale-out's, the providers') uses these, so a bad
value anywhere stops the start with one line that names the setting.
"""

from __future__ import annotations

from collections.abc import Mapping


class SettingsError(Exception):
    """A setting with a value that cannot be used; the message names it."""


def env_number(
    env: Mapping[str, str], name: str, default: float, minimum: float = 0.0, *, above: bool = False
) -> float:
    """A number setting at least ``minimum`` (strictly above it when ``above``)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum or (above and value == minimum):
        raise SettingsError(
            f"{name} must be above {minimum:g}" if above else f"{name}={raw} must be at least {minimum:g}"
        )
    return value


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int = 2**31) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}={value} must be between {minimum} and {maximum}")
    return value
