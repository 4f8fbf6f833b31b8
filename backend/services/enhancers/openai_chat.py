"""Prompt enhancement with an OpenAI chat model, or any server speaking that API.

``POST {base}/chat/completions`` with ``{"model", "messages": [system, user]}``; the text is
``choices[0].message.content``. The same wire format serves OpenAI itself (``openai``, key
OPENAI_API_KEY) and OpenAI-compatible servers such as Ollama or llama.cpp
(``openai-compatible``, base URL ATELIER_ENHANCER_BASE_URL, key optional).
"""

from __future__ import annotations

from typing import Any

import requests

from backend.providers.http_api import ApiError, json_or_none, parse_retry_after, short, status_error
from backend.services.enhancers.base import Enhancer


class OpenAIChatEnhancer(Enhancer):
    kind = "openai"
    label = "OpenAI chat"
    key_vars = ("ATELIER_ENHANCER_API_KEY", "OPENAI_API_KEY")

    def request(self, prompt: str, system: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        headers = {"Accept": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
        }
        return f"{self.base_url}/chat/completions", headers, body

    def text_of(self, answer: dict[str, Any]) -> str:
        choices = answer.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        if choice is None:
            raise ApiError("bad_response", f"{self.label} answered without choices. Retry later.", retryable=True)
        if choice.get("finish_reason") == "content_filter":
            raise ApiError("moderation_blocked", f"{self.label}'s content filter stopped the answer. Rephrase.")
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
            content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        if not isinstance(content, str):
            refusal = message.get("refusal") if isinstance(message, dict) else None
            if isinstance(refusal, str) and refusal:
                raise ApiError("moderation_blocked", f"{self.label} refused: {short(refusal)}")
            raise ApiError("bad_response", f"{self.label} answered without text. Retry later.", retryable=True)
        return content

    def classify_error(self, response: requests.Response) -> ApiError:
        body = json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, str):  # Ollama and llama.cpp: {"error": "..."} or {"error": {"message": ...}}
            error = {"message": error}
        error = error if isinstance(error, dict) else {}
        detail = short(error.get("message") or "")
        if response.status_code == 429 and error.get("code") == "insufficient_quota":
            return ApiError("quota", f"{self.label} says the account is out of quota: {detail}. Check billing.")
        if response.status_code == 404 and self.kind == "openai-compatible":
            return ApiError(
                "invalid_request",
                f"{self.label} has no such route or model (HTTP 404){': ' + detail if detail else ''}. "
                "Check ATELIER_ENHANCER_BASE_URL (it ends in /v1) and ATELIER_ENHANCER_MODEL.",
            )
        return status_error(
            response.status_code, self.label, self.key_names, detail, parse_retry_after(response.headers)
        )


class CompatibleChatEnhancer(OpenAIChatEnhancer):
    kind = "openai-compatible"
    label = "the OpenAI-compatible enhancer server"
    key_vars = ("ATELIER_ENHANCER_API_KEY",)
    needs_key = False
