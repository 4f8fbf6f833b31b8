"""The prompt enhancer's settings (``ATELIER_ENHANCER*``): which text model rewrites prompts.

Plain values only (standard library): :mod:`backend.config` reads them at start, a bad one
stops the start with one line naming it. The keys are not kept here: the enhancer reads
them from the merged environment, as the image providers read theirs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from backend.env_values import SettingsError, check_http_url, env_choice, env_int, env_number

#: "" (off) and the kinds of text model an enhancer can talk to
KINDS = ("openai", "gemini", "openai-compatible")
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "gemini": "https://generativelanguage.googleapis.com"}
#: the image provider's base URL setting an enhancer of that kind follows unless its own is set
PROVIDER_BASE_URL_VARS = {"openai": "OPENAI_BASE_URL", "gemini": "GEMINI_BASE_URL"}
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")


@dataclass(frozen=True)
class EnhancerSettings:
    #: ATELIER_ENHANCER: "" when prompt enhancement is off
    kind: str = ""
    #: ATELIER_ENHANCER_MODEL
    model: str = ""
    #: ATELIER_ENHANCER_BASE_URL (or the provider's own base URL setting), without a trailing /
    base_url: str = ""
    #: ATELIER_ENHANCER_TIMEOUT_SECONDS: the longest wait for one answer
    timeout_seconds: float = 30.0
    #: ATELIER_ENHANCER_RETRY_ATTEMPTS: retries of a rate-limited, unavailable or timed-out call
    retry_attempts: int = 1

    @property
    def enabled(self) -> bool:
        return bool(self.kind)


def load_enhancer_settings(env: Mapping[str, str]) -> EnhancerSettings:
    kind = env_choice(env, "ATELIER_ENHANCER", "", KINDS)
    timeout = env_number(env, "ATELIER_ENHANCER_TIMEOUT_SECONDS", 30.0, minimum=0.05, maximum=600.0)
    retries = env_int(env, "ATELIER_ENHANCER_RETRY_ATTEMPTS", 1, minimum=0, maximum=5)
    if not kind:
        return EnhancerSettings(timeout_seconds=timeout, retry_attempts=retries)
    model = (env.get("ATELIER_ENHANCER_MODEL") or "").strip() or DEFAULT_MODELS.get(kind, "")
    if not model:
        raise SettingsError(
            f"ATELIER_ENHANCER={kind} needs ATELIER_ENHANCER_MODEL: the model name the server knows, e.g. llama3.2"
        )
    if not _MODEL.match(model):
        raise SettingsError(
            f"ATELIER_ENHANCER_MODEL={model[:80]!r}; use a model name (letters, digits and . _ : / @ + -)"
        )
    base_url = (env.get("ATELIER_ENHANCER_BASE_URL") or "").strip()
    name = "ATELIER_ENHANCER_BASE_URL"
    if not base_url and kind in PROVIDER_BASE_URL_VARS:
        name = PROVIDER_BASE_URL_VARS[kind]
        base_url = (env.get(name) or "").strip() or DEFAULT_BASE_URLS[kind]
    if not base_url:
        raise SettingsError(
            "ATELIER_ENHANCER=openai-compatible needs ATELIER_ENHANCER_BASE_URL, the server's OpenAI-style "
            "base URL, e.g. http://127.0.0.1:11434/v1 (Ollama) or http://127.0.0.1:8080/v1 (llama.cpp)"
        )
    check_http_url(name, base_url)
    return EnhancerSettings(kind, model, base_url.rstrip("/"), timeout, retries)
