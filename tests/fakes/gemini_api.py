"""Fake Gemini generateContent (provider-apis.md 2.6): /v1beta and /v1, camelCase JSON."""

from __future__ import annotations

import re

from tests.fakes.base import FakeApi, Recorded, Reply, b64, png_bytes

ROUTE = re.compile(r"^/(v1|v1beta)/models/([A-Za-z0-9.\-]+):generateContent$")
SIZES = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}


def error(code: int, message: str, status: str, details: list | None = None) -> Reply:
    return Reply.json(code, {"error": {"code": code, "message": message, "status": status, "details": details or []}})


class FakeGemini(FakeApi):
    caption = "Here is your image of a red apple."

    def handle(self, req: Recorded) -> Reply:
        match = ROUTE.match(req.path)
        if req.method != "POST" or not match:
            return error(404, f"no route {req.path}", "NOT_FOUND")
        key = req.headers.get("x-goog-api-key") or (req.query.get("key") or [""])[0]
        if key != self.key:
            return error(
                400,
                f"API key not valid. Please pass a valid API key. (got {key})",
                "INVALID_ARGUMENT",
                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            )
        try:
            body = req.json()
            ratio = body["generationConfig"]["imageConfig"]["aspectRatio"]
            assert body["contents"][0]["parts"][0]["text"]
        except (ValueError, KeyError, IndexError, TypeError, AssertionError):
            return error(400, "Invalid JSON payload", "INVALID_ARGUMENT")
        if ratio not in SIZES:
            return error(400, f"aspect ratio {ratio} is not supported", "INVALID_ARGUMENT")
        behaviour = self.behaviour("generate")
        if behaviour == "rate_limited":
            return error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "RESOURCE_EXHAUSTED",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [{"quotaMetric": "generate_content_requests", "quotaId": "PerMinute"}],
                    },
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.037s"},
                ],
            )
        if behaviour == "quota":
            return error(
                429,
                "You exceeded your current quota.",
                "RESOURCE_EXHAUSTED",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [{"quotaMetric": "generate_requests_per_day", "quotaId": "PerDay"}],
                    }
                ],
            )
        if behaviour == "server_error":
            return error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE")
        if behaviour == "image_safety":
            return Reply.json(
                200,
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": []}, "finishReason": "IMAGE_SAFETY", "index": 0}
                    ]
                },
            )
        if behaviour == "no_image":
            return Reply.json(
                200,
                {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": [{"text": "I can't draw that."}]},
                            "finishReason": "NO_IMAGE",
                            "index": 0,
                        }
                    ]
                },
            )
        if behaviour == "prompt_blocked":
            return Reply.json(200, {"promptFeedback": {"blockReason": "SAFETY"}})
        if behaviour == "slow":
            return Reply(slow=True)
        if behaviour == "not_json":
            return Reply(200, b'{"candidates": [', {"Content-Type": "application/json"})
        width, height = SIZES[ratio]
        image = b"\x00garbage" if behaviour == "garbage" else png_bytes(width, height, (200, 30, 30))
        answer = {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"text": self.caption},
                            {"inlineData": {"mimeType": "image/png", "data": b64(image)}},
                        ],
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 5,
                "candidatesTokenCount": 1290,
                "totalTokenCount": 1295,
                "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}],
            },
            "modelVersion": match.group(2),
            "responseId": "resp-1",
        }
        reply = Reply.json(200, answer)
        reply.truncate = behaviour == "truncated"
        return reply
