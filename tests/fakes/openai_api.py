"""Fake OpenAI Images API (provider-apis.md 1.8): generations (JSON) and edits (multipart)."""

from __future__ import annotations

import io

from PIL import Image

from tests.fakes.base import FakeApi, Recorded, Reply, b64, bomb_png, png_bytes

SIZES = {"1024x1024", "1536x1024", "1024x1536", "auto"}
QUALITIES = {"low", "medium", "high", "auto"}


def error(status: int, message: str, type_: str, code: str | None = None, **headers: str) -> Reply:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return Reply.json(status, body, **{"x-request-id": "req_123", **headers})


def mask_problem(mask: bytes, image: bytes) -> str | None:
    """OpenAI's rule: a PNG with an alpha channel, the size of the first image."""
    with Image.open(io.BytesIO(mask)) as m, Image.open(io.BytesIO(image)) as i:
        if m.format != "PNG" or "A" not in m.getbands():
            return "Invalid mask: must be a PNG with an alpha channel"
        if m.size != i.size:
            return f"Invalid mask: size {m.size} does not match the image {i.size}"
    return None


class FakeOpenAI(FakeApi):
    def handle(self, req: Recorded) -> Reply:
        if req.method == "GET" and req.path == "/v1/models":  # the free call the studio's test button makes
            return self.list_models(req)
        if req.method != "POST" or req.path not in ("/v1/images/generations", "/v1/images/edits"):
            return error(404, f"no route {req.method} {req.path}", "invalid_request_error")
        auth = req.headers.get("authorization", "")
        if auth != f"Bearer {self.key}":
            return error(
                401,
                f"Incorrect API key provided: {auth.removeprefix('Bearer ')}.",
                "invalid_request_error",
                "invalid_api_key",
            )
        edits = req.path.endswith("/edits")
        if edits:
            if not req.is_multipart:
                return error(400, "edits need multipart/form-data", "invalid_request_error")
            fields = req.form()
            images = [p for p in req.parts() if p.name in ("image", "image[]") and p.filename]
            if not images:
                return error(400, "image is required", "invalid_request_error")
            masks = [p for p in req.parts() if p.name == "mask"]
            if masks:
                problem = mask_problem(masks[0].data, images[0].data)
                if problem:
                    return error(400, problem, "invalid_request_error", "invalid_mask")
        else:
            try:
                fields = req.json()
            except ValueError:
                return error(400, "body is not JSON", "invalid_request_error")
        for name in ("model", "prompt"):
            if not fields.get(name):
                return error(400, f"missing {name}", "invalid_request_error", param=name)
        if fields.get("size", "auto") not in SIZES:
            return error(400, f"Invalid size {fields['size']!r}", "invalid_request_error")
        if fields.get("quality", "auto") not in QUALITIES:
            return error(400, f"Invalid quality {fields['quality']!r}", "invalid_request_error")
        behaviour = self.behaviour("edits" if edits else "generate")
        if behaviour == "rate_limited":
            return error(
                429,
                "Rate limit reached for images per minute",
                "requests",
                "rate_limit_exceeded",
                **{"retry-after": "0.02", "x-ratelimit-reset-requests": "20ms"},
            )
        if behaviour == "rate_limited_ms":
            return error(
                429,
                "Rate limit reached",
                "requests",
                "rate_limit_exceeded",
                **{"retry-after-ms": "30", "retry-after": "9"},
            )
        if behaviour == "rate_limited_long":
            return error(429, "Rate limit reached", "requests", "rate_limit_exceeded", **{"retry-after": "3600"})
        if behaviour == "server_error":
            return error(500, "The server had an error while processing your request.", "server_error")
        if behaviour == "moderation":
            return error(
                400,
                "Your request was rejected by the safety system. safety_violations=[sexual].",
                "image_generation_user_error",
                "moderation_blocked",
            )
        if behaviour == "bad_request":
            return error(400, "Invalid value for 'n'", "invalid_request_error", "invalid_value")
        if behaviour == "slow":
            return Reply(slow=True)
        if behaviour == "not_json":
            return Reply(200, b"<html>oops</html>", {"Content-Type": "text/html"})
        if behaviour == "garbage":
            return Reply.json(200, {"created": 1, "data": [{"b64_json": b64(b"GIF89a not a png")}]})
        if behaviour == "bomb":
            return Reply.json(200, {"created": 1, "data": [{"b64_json": b64(bomb_png())}]})
        n = int(fields.get("n", 1))
        size = fields.get("size", "1024x1024")
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        body = {
            "created": 1713833628,
            "output_format": fields.get("output_format", "png"),
            "quality": fields.get("quality", "medium"),
            "size": size,
            "data": [
                {"b64_json": b64(png_bytes(width, height, (10 + i * 30, 80, 160))), "revised_prompt": None}
                for i in range(n)
            ],
            "usage": {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210},
        }
        reply = Reply.json(200, body, **{"x-request-id": "req_ok"})
        if behaviour == "truncated":
            reply.truncate = True
        reply.reset = behaviour == "reset"
        return reply

    def list_models(self, req: Recorded) -> Reply:
        auth = req.headers.get("authorization", "")
        if auth != f"Bearer {self.key}":  # echoes the key it got, as the real API does
            message = f"Incorrect API key provided: {auth.removeprefix('Bearer ')}."
            return error(401, message, "invalid_request_error", "invalid_api_key")
        behaviour = self.behaviour("models")
        if behaviour == "slow":
            return Reply(slow=True)
        if behaviour == "quota":
            return error(429, "You exceeded your current quota.", "insufficient_quota", "insufficient_quota")
        models = [{"id": m, "object": "model", "owned_by": "openai"} for m in ("gpt-image-1", "gpt-image-1-mini")]
        return Reply.json(200, {"object": "list", "data": models})


if __name__ == "__main__":  # the e2e server's cloud provider: python -m tests.fakes.openai_api PORT KEY
    import sys
    import threading as _threading

    FakeOpenAI(key=sys.argv[2]).start(int(sys.argv[1]))
    _threading.Event().wait()
