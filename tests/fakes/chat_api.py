"""Fake text models for prompt enhancement: OpenAI chat completions and Gemini generateContent.

:class:`FakeOpenAIChat` answers ``POST /v1/chat/completions`` as OpenAI does (and as Ollama
and llama.cpp do under ``/v1``); :class:`FakeGeminiText` answers
``POST /v1beta/models/{model}:generateContent``. Both check the key, record every request
and answer by script (``fake.script("chat", "rate_limited", "ok")``): ``ok`` rewrites the
prompt as ``"<prompt>, golden hour, 35mm film"``; the hostile answers are ``not_json``,
``html``, ``no_text``, ``empty``, ``huge`` (100 KB of text), ``giant`` (a 1 MB body),
``slow`` (hangs until the fake stops), ``server_error``, ``rate_limited``, ``quota``,
``blocked``, ``quoted``. A wrong key gets the real APIs' 401/400, echoing the key.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.base import FakeApi, Recorded, Reply

SUFFIX = ", golden hour, 35mm film"
_GEMINI_PATH = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")


def rewrite(prompt: str) -> str:
    """What a well-behaved model answers: the prompt with more detail, within a prompt's limit."""
    return (prompt + SUFFIX)[-4000:]


class _TextFake(FakeApi):
    route = "chat"

    def hostile(self, behaviour: str) -> Reply | None:
        if behaviour == "not_json":
            return Reply(200, b"{not json at all", {"Content-Type": "application/json"})
        if behaviour == "html":
            return Reply(200, b"<html><body>It works!</body></html>", {"Content-Type": "text/html"})
        if behaviour == "giant":
            return Reply(200, b'{"pad": "' + b"x" * (1024 * 1024) + b'"}', {"Content-Type": "application/json"})
        if behaviour == "slow":
            return Reply(200, b"{}", {"Content-Type": "application/json"}, slow=True)
        return None

    def text_for(self, behaviour: str, prompt: str) -> str:
        if behaviour == "empty":
            return "   \n "
        if behaviour == "huge":
            return "very " * 20_480  # 100 KB
        if behaviour == "quoted":
            return f'"{rewrite(prompt)}"'
        return rewrite(prompt)


class FakeOpenAIChat(_TextFake):
    """OpenAI chat completions (and the OpenAI-compatible servers); ``key=""``: no key checked."""

    def handle(self, req: Recorded) -> Reply:
        if req.method != "POST" or req.path != "/v1/chat/completions":
            return _openai_error(404, f"no route {req.method} {req.path}", "invalid_request_error")
        auth = req.headers.get("authorization", "")
        if self.key and auth != f"Bearer {self.key}":
            return _openai_error(
                401, f"Incorrect API key provided: {auth.removeprefix('Bearer ')}.", "invalid_request_error"
            )
        try:
            body = req.json()
            messages = body["messages"]
            prompt = messages[-1]["content"]
            assert body["model"] and messages[0]["role"] == "system"
        except (ValueError, KeyError, IndexError, TypeError, AssertionError):
            return _openai_error(400, "bad chat request", "invalid_request_error")
        behaviour = self.behaviour(self.route)
        if (reply := self.hostile(behaviour)) is not None:
            return reply
        if behaviour == "rate_limited":
            return _openai_error(
                429, "Rate limit reached", "requests", "rate_limit_exceeded", **{"retry-after": "0.01"}
            )
        if behaviour == "quota":
            return _openai_error(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota")
        if behaviour == "server_error":
            return _openai_error(500, "The server had an error", "server_error")
        if behaviour == "no_text":
            return Reply.json(200, {"id": "chatcmpl-1", "object": "chat.completion", "choices": []})
        if behaviour == "blocked":
            choice = {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "content_filter"}
            return Reply.json(200, {"id": "chatcmpl-1", "object": "chat.completion", "choices": [choice]})
        text = self.text_for(behaviour, prompt)
        return Reply.json(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60},
            },
        )


def _openai_error(status: int, message: str, type_: str, code: str | None = None, **headers: str) -> Reply:
    return Reply.json(status, {"error": {"message": message, "type": type_, "param": None, "code": code}}, **headers)


class FakeGeminiText(_TextFake):
    """Gemini ``generateContent`` for text models."""

    def handle(self, req: Recorded) -> Reply:
        match = _GEMINI_PATH.match(req.path)
        if req.method != "POST" or not match:
            return _gemini_error(404, f"no route {req.path}", "NOT_FOUND")
        key = req.headers.get("x-goog-api-key", "")
        if key != self.key:
            return _gemini_error(
                400,
                f"API key not valid. Please pass a valid API key. ({key})",
                "INVALID_ARGUMENT",
                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            )
        try:
            body = req.json()
            prompt = body["contents"][-1]["parts"][0]["text"]
            assert body["systemInstruction"]["parts"][0]["text"]
        except (ValueError, KeyError, IndexError, TypeError, AssertionError):
            return _gemini_error(400, "bad generateContent request", "INVALID_ARGUMENT")
        behaviour = self.behaviour(self.route)
        if (reply := self.hostile(behaviour)) is not None:
            return reply
        if behaviour == "rate_limited":
            retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.01s"}
            return _gemini_error(429, "Resource has been exhausted", "RESOURCE_EXHAUSTED", [retry])
        if behaviour == "quota":
            failure = {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []}
            return _gemini_error(429, "Quota exceeded", "RESOURCE_EXHAUSTED", [failure])
        if behaviour == "server_error":
            return _gemini_error(503, "The model is overloaded", "UNAVAILABLE")
        if behaviour == "no_text":
            return Reply.json(
                200, {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "STOP"}]}
            )
        if behaviour == "blocked":
            return Reply.json(200, {"promptFeedback": {"blockReason": "SAFETY"}})
        text = self.text_for(behaviour, prompt)
        return Reply.json(
            200,
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 20},
                "modelVersion": match.group(1),
            },
        )


def _gemini_error(status: int, message: str, status_word: str, details: list[dict[str, Any]] | None = None) -> Reply:
    error = {"code": status, "message": message, "status": status_word, "details": details or []}
    return Reply.json(status, {"error": error})


if __name__ == "__main__":  # the e2e server's text model: python -m tests.fakes.chat_api PORT
    import sys
    import threading as _threading

    FakeOpenAIChat(key="").start(int(sys.argv[1]))
    _threading.Event().wait()
