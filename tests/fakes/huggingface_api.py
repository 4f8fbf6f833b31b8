"""Fake Hugging Face router, hf-inference text-to-image (provider-apis.md 3.4): raw image bytes."""

from __future__ import annotations

from tests.fakes.base import FakeApi, Recorded, Reply, png_bytes


class FakeHuggingFace(FakeApi):
    def handle(self, req: Recorded) -> Reply:
        if req.method != "POST" or not req.path.startswith("/hf-inference/models/"):
            return Reply.json(404, {"error": f"no route {req.path}"})
        model = req.path.removeprefix("/hf-inference/models/")
        auth = req.headers.get("authorization", "")
        if auth != f"Bearer {self.key}":
            return Reply.json(
                401,
                {"error": f"Invalid credentials in Authorization header ({auth})"},
                **{"X-Error-Message": "Invalid credentials in Authorization header"},
            )
        try:
            body = req.json()
            assert isinstance(body["inputs"], str) and body["inputs"]
            params = body.get("parameters", {})
            assert all(v is not None for v in params.values())
        except (ValueError, KeyError, AssertionError):
            return Reply.json(400, {"error": "Bad request: inputs is required"})
        behaviour = self.behaviour("generate")
        if behaviour == "rate_limited":
            return Reply.json(
                429,
                {"error": "Rate limit reached"},
                **{
                    "Retry-After": "0",
                    "RateLimit": '"api";r=0;t=55',
                    "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
                },
            )
        if behaviour == "rate_limited_header":
            return Reply.json(429, {"error": "Rate limit reached"}, **{"RateLimit": '"api";r=0;t=0.01'})
        if behaviour == "loading":
            return Reply.json(503, {"error": f"Model {model} is currently loading", "estimated_time": 0.02})
        if behaviour == "quota":
            return Reply.json(
                402,
                {
                    "error": "You have exceeded your monthly included credits for Inference "
                    "Providers. Subscribe to PRO to get 20x more monthly included credits."
                },
            )
        if behaviour == "bad_request":
            return Reply.json(422, {"error": "Input validation error: `width` must be a multiple of 8"})
        if behaviour == "slow":
            return Reply(slow=True)
        if behaviour == "garbage":
            return Reply(200, b"<html>not an image</html>", {"Content-Type": "image/png"})
        if behaviour == "json_200":
            return Reply.json(200, {"error": "unexpected"})
        data = png_bytes(params.get("width", 1024), params.get("height", 1024), (30, 160, 60))
        return Reply(200, data, {"Content-Type": "image/png"}, truncate=behaviour == "truncated")
