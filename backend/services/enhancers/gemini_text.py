"""Prompt enhancement with a Gemini text model through ``generateContent``.

``POST {base}/v1beta/models/{model}:generateContent`` with ``x-goog-api-key``, the
instructions in ``systemInstruction`` and the prompt as the user's turn; the text is the
``text`` parts of ``candidates[0].content.parts``. A blocked prompt comes back as HTTP 200
with ``promptFeedback.blockReason`` or a candidate finished for safety and no text.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import requests

from backend.providers.http_api import ApiError, json_or_none, parse_duration, short, status_error
from backend.services.enhancers.base import Enhancer

API_VERSION = "v1beta"
BLOCKED_FINISH = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"}


class GeminiEnhancer(Enhancer):
    kind = "gemini"
    label = "Gemini"
    key_vars = ("ATELIER_ENHANCER_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")

    def request(self, prompt: str, system: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        headers = {"x-goog-api-key": self.key, "Accept": "application/json"}
        body = {
            "systemInstruction": {"parts": [{"text": system}]},
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        }
        model = urllib.parse.quote(self.model.removeprefix("models/"), safe="-._~")
        return f"{self.base_url}/{API_VERSION}/models/{model}:generateContent", headers, body

    def text_of(self, answer: dict[str, Any]) -> str:
        feedback = answer.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            raise ApiError(
                "moderation_blocked", f"{self.label} blocked the prompt ({short(feedback['blockReason'], 60)})."
            )
        candidates = answer.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if not isinstance(candidate, dict):
            raise ApiError("bad_response", f"{self.label} answered without candidates. Retry later.", retryable=True)
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        texts = [
            p["text"]
            for p in parts or []
            if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
        ]
        if not texts:
            if candidate.get("finishReason") in BLOCKED_FINISH:
                reason = short(candidate["finishReason"], 60)
                raise ApiError("moderation_blocked", f"{self.label} stopped the answer ({reason}). Rephrase.")
            raise ApiError("bad_response", f"{self.label} answered without text. Retry later.", retryable=True)
        return "".join(texts)

    def classify_error(self, response: requests.Response) -> ApiError:
        body = json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        detail = short(error.get("message") or "")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        code = response.status_code
        if code == 400 and (
            any(d.get("reason") == "API_KEY_INVALID" for d in details) or "API key not valid" in detail
        ):
            return ApiError("auth", f"{self.label} rejected the API key: {detail}. Check {self.key_names}.")
        delay = None
        if code == 429:
            kinds = {str(d.get("@type", "")).rsplit(".", 1)[-1]: d for d in details}
            delay = parse_duration(kinds.get("RetryInfo", {}).get("retryDelay"))
            if delay is None and "QuotaFailure" in kinds:
                return ApiError("quota", f"{self.label} quota is used up: {detail}. Check the key's plan and billing.")
        return status_error(code, self.label, self.key_names, detail, delay)
