"""What every prompt enhancer shares: instructions, a capped read of the answer, key hygiene.

An enhancer sends one prompt to a text model and gets one rewritten prompt back, through
the image providers' HTTP machinery (:class:`ApiClient`: retries, the error vocabulary,
the key redacted from every message). What the model answers is hostile: it is read up
to :data:`MAX_ANSWER_BYTES`, must be JSON with text in it, and the text is cleaned and
bounded like a prompt; anything else is ``bad_response``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import requests

from backend.enhancer_config import EnhancerSettings
from backend.providers.base import QuietContext
from backend.providers.http_api import ApiClient, ApiError, HttpSettings, json_or_none, short, status_error

#: the most an answer may weigh; a chat answer holding one prompt is a few KB
MAX_ANSWER_BYTES = 128 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "`": "`"}

INSTRUCTIONS = (
    "You rewrite prompts for text-to-image models. Keep the subject and intent of the prompt you are given; "
    "make it vivid and concrete: subject details, setting, composition, lighting, colour, medium and mood. "
    "Write one paragraph of at most 80 words in the prompt's language. Answer with the rewritten prompt only: "
    "no preamble, no quotes, no explanations, no lists."
)


@dataclass(frozen=True)
class Enhanced:
    original: str
    enhanced: str


def instructions(style: str | None) -> str:
    if not style or style == "none":
        return INSTRUCTIONS
    return (
        f"{INSTRUCTIONS} The image will be made with the '{style}' style preset, which adds its own style words: "
        "fit the description to that style without repeating them."
    )


def clean_text(text: str, label: str, limit: int) -> str:
    """The model's text as a prompt: control characters out, surrounding quotes off, bounded."""
    text = _CONTROL.sub(" ", text).strip()
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    if not text:
        raise ApiError("bad_response", f"{label} answered with an empty prompt. Retry, or try another model.")
    if len(text) > limit:
        raise ApiError(
            "bad_response",
            f"{label} answered with a prompt of {len(text)} characters; a prompt may have at most {limit}. "
            "Retry, or try another model.",
        )
    return text


class Enhancer:
    """One configured text model. Subclasses build the request and find the text in the answer."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: the settings holding a key for this kind, in order
    key_vars: ClassVar[tuple[str, ...]] = ()
    #: False for local servers that take no key
    needs_key: ClassVar[bool] = True

    def __init__(self, settings: EnhancerSettings, env: Mapping[str, str], max_prompt_chars: int) -> None:
        self.settings = settings
        self.model = settings.model
        self.base_url = settings.base_url
        self.max_prompt_chars = max_prompt_chars
        self.key = next((v.strip() for n in self.key_vars if (v := env.get(n) or "").strip()), "")
        timeout = settings.timeout_seconds
        http = replace(
            HttpSettings.from_env(env),
            connect_timeout=min(timeout, 10.0),
            read_timeout=timeout,
            retry_max_seconds=timeout,
            max_retries=settings.retry_attempts,
        )
        self.client = ApiClient(
            self.label, http, self.classify_error, secrets=(self.key,), base_url_var="ATELIER_ENHANCER_BASE_URL"
        )

    @property
    def key_names(self) -> str:
        return " or ".join(self.key_vars) or "the API key"

    def describe(self) -> dict[str, str]:
        return {"kind": self.kind, "model": self.model}

    def missing_key(self) -> str | None:
        """What to set when this kind needs a key and none is set; None when ready."""
        if self.needs_key and not self.key:
            return f"set {self.key_names} to use {self.label} for prompt enhancement"
        return None

    def enhance(self, prompt: str, style: str | None) -> Enhanced:
        """The rewritten prompt; ApiError with a code of the shared vocabulary otherwise."""
        url, headers, body = self.request(prompt, instructions(style))
        try:
            response = self.client.request("POST", url, QuietContext(), headers=headers, json=body, stream=True)
        except ApiError as exc:
            raise self.own_words(exc) from None
        answer = self.read_json(response)
        text = self.text_of(answer)
        return Enhanced(prompt, clean_text(text, self.label, self.max_prompt_chars))

    def own_words(self, error: ApiError) -> ApiError:
        """The shared client's message with the enhancer's own settings named."""
        if error.code == "timeout" and "ATELIER_HTTP_TIMEOUT_SECONDS" in error.message:
            return error.with_message(
                f"{self.label} did not answer within {self.settings.timeout_seconds:g} s "
                "(ATELIER_ENHANCER_TIMEOUT_SECONDS). Retry later, or raise the timeout for a slow local model."
            )
        return error.with_message(
            error.message.replace("ATELIER_RETRY_MAX_SECONDS", "ATELIER_ENHANCER_TIMEOUT_SECONDS")
        )

    # --- for subclasses ------------------------------------------------------------------
    def request(self, prompt: str, system: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        raise NotImplementedError

    def text_of(self, answer: dict[str, Any]) -> str:
        raise NotImplementedError

    def classify_error(self, response: requests.Response) -> ApiError:
        body = json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        detail = error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else ""
        return status_error(response.status_code, self.label, self.key_names, short(detail or ""))

    # --- reading -------------------------------------------------------------------------
    def read_json(self, response: requests.Response) -> dict[str, Any]:
        """The answer's JSON object, read up to MAX_ANSWER_BYTES and the timeout."""
        deadline = time.monotonic() + self.settings.timeout_seconds
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(16 * 1024):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise ApiError(
                        "bad_response",
                        f"{self.label} answered with more than {MAX_ANSWER_BYTES // 1024} KB; "
                        "an answer holding one prompt is far smaller. Check the model.",
                    )
                if time.monotonic() > deadline:
                    raise ApiError(
                        "timeout",
                        f"{self.label} did not finish its answer within {self.settings.timeout_seconds:g} s "
                        "(ATELIER_ENHANCER_TIMEOUT_SECONDS).",
                    )
                chunks.append(chunk)
        except requests.RequestException:
            raise ApiError("bad_response", f"the answer from {self.label} was cut off. Retry.") from None
        finally:
            response.close()
        response._content = b"".join(chunks)  # noqa: SLF001 - a body read by hand, handed to the shared parser
        return self.client.json(response)
