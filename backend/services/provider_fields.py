"""What can be set for each provider from the studio, and the checks a new value passes.

Each setting is the environment variable the provider already reads (the base URL, the
HTTP timeout and retries, Hugging Face's model list), set for that provider alone; the
concurrency is the job pool's limit for it. Values from outside are parsed here, typed and
bounded, and a bad one is a :class:`FieldProblem` naming the field.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from backend.providers.base import Provider
from backend.providers.http_api import HttpProvider, forbidden_address

Kind = Literal["url", "number", "integer", "names"]

MAX_KEY_CHARS = 512
MAX_URL_CHARS = 2048
MAX_MODELS = 50
_KEY = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII without spaces: it travels in a header
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class FieldProblem(ValueError):
    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


@dataclass(frozen=True)
class SettingField:
    name: str
    label: str
    kind: Kind
    #: the environment variable it sets for this provider (None: the pool's concurrency)
    var: str | None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "min": self.minimum,
            "max": self.maximum,
            "help": self.help,
        }


CONCURRENCY = SettingField(
    "concurrency", "Jobs at once", "integer", None, 1, 1000, "how many of this provider's jobs run at the same time"
)


def fields_of(provider: type[Provider]) -> list[SettingField]:
    """The settings of a provider class, in the order the page shows them."""
    found: list[SettingField] = []
    if issubclass(provider, HttpProvider):
        if provider.base_url_var:
            found.append(
                SettingField(
                    "base_url",
                    "Base URL",
                    "url",
                    provider.base_url_var,
                    help=f"default {provider.default_base_url}; another address serving the same API (a proxy)",
                )
            )
        found.append(
            SettingField(
                "timeout_seconds",
                "Timeout (seconds)",
                "number",
                "ATELIER_HTTP_TIMEOUT_SECONDS",
                1,
                3600,
                "longest silence while waiting for an answer",
            )
        )
        found.append(
            SettingField("retries", "Retries", "integer", "ATELIER_RETRY_ATTEMPTS", 0, 20, "retries after a failure")
        )
    if provider.id == "huggingface":
        found.append(
            SettingField(
                "models",
                "Other models",
                "names",
                "HF_MODELS",
                help="Hub model ids (owner/name) besides the built-in ones",
            )
        )
    found.append(CONCURRENCY)
    return found


def takes_key(provider: type[Provider]) -> bool:
    return issubclass(provider, HttpProvider) and bool(provider.key_vars)


def parse_key(raw: Any) -> str:
    """A key from a request, trimmed: text of 1 to 512 printable ASCII characters."""
    if not isinstance(raw, str):
        raise FieldProblem("api_key", "api_key must be text (or null to remove the key set in the studio)")
    if len(raw) > MAX_KEY_CHARS * 2:
        raise FieldProblem("api_key", f"api_key is too long; a key has at most {MAX_KEY_CHARS} characters")
    key = raw.strip()
    if not key:
        raise FieldProblem("api_key", "api_key is empty; paste the key, or send null to remove it")
    if len(key) > MAX_KEY_CHARS:
        raise FieldProblem("api_key", f"api_key is too long; a key has at most {MAX_KEY_CHARS} characters")
    if not _KEY.match(key):
        raise FieldProblem("api_key", "api_key holds spaces or characters a key does not have (printable ASCII only)")
    return key


def parse_value(field: SettingField, raw: Any, allow_private: bool) -> str:
    """A setting's new value from a request, as the text of its environment variable."""
    if field.kind == "url":
        return _url(field.name, raw, allow_private)
    if field.kind == "names":
        return _names(field.name, raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise FieldProblem(field.name, f"{field.name} must be a number")
    if field.kind == "integer" and raw != int(raw):
        raise FieldProblem(field.name, f"{field.name} must be a whole number")
    if (field.minimum is not None and raw < field.minimum) or (field.maximum is not None and raw > field.maximum):
        raise FieldProblem(field.name, f"{field.name} must be from {field.minimum:g} to {field.maximum:g}")
    return str(int(raw)) if field.kind == "integer" else repr(float(raw))


def typed(field: SettingField, text: str) -> Any:
    """The stored or environment text of a setting, as the answer gives it."""
    try:
        if field.kind == "integer":
            return int(text)
        if field.kind == "number":
            return float(text)
    except ValueError:
        return None
    if field.kind == "names":
        return [n.strip() for n in text.split(",") if n.strip()]
    return text


def _url(name: str, raw: Any, allow_private: bool) -> str:
    if not isinstance(raw, str):
        raise FieldProblem(name, f"{name} must be text: an http(s) URL")
    url = raw.strip().rstrip("/")
    if len(url) > MAX_URL_CHARS:
        raise FieldProblem(name, f"{name} is too long (at most {MAX_URL_CHARS} characters)")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        parts, port = None, 0
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldProblem(name, f"{name} must be an http(s) URL, e.g. https://api.example.com/v1")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise FieldProblem(name, f"{name} must hold no user name, password, query or fragment (put the key in api_key)")
    try:
        refused = forbidden_address(parts.hostname, port, allow_loopback=False, allow_private=allow_private)
    except (OSError, UnicodeError):
        raise FieldProblem(name, f"{name}: the host {parts.hostname} could not be resolved") from None
    if refused is not None:
        allowed = "" if allow_private else " (ATELIER_PROVIDER_URLS_ALLOW_PRIVATE=1 allows loopback and private ones)"
        raise FieldProblem(name, f"{name} points at a private or local address ({refused}); use a public one{allowed}")
    return url


def _names(name: str, raw: Any) -> str:
    if not isinstance(raw, list) or len(raw) > MAX_MODELS:
        raise FieldProblem(name, f"{name} must be a list of at most {MAX_MODELS} model ids")
    names = []
    for item in raw:
        if not isinstance(item, str) or not _MODEL_ID.match(item.strip()):
            shown = item[:100] if isinstance(item, str) else type(item).__name__
            raise FieldProblem(name, f"{name}: {shown!r} is no model id; use owner/name")
        names.append(item.strip())
    return ",".join(dict.fromkeys(names))


def set_in_env(env: Mapping[str, str], var: str) -> bool:
    return bool((env.get(var) or "").strip())
