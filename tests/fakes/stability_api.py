"""Fake Stability v2beta stable-image generate (provider-apis.md 4.6): multipart in, bytes out."""

from __future__ import annotations

from tests.fakes.base import FakeApi, Recorded, Reply, b64, png_bytes

ROUTES = {
    "/v2beta/stable-image/generate/core",
    "/v2beta/stable-image/generate/ultra",
    "/v2beta/stable-image/generate/sd3",
}
RATIOS = {"16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"}
SD3_MODELS = {"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash"}


def error(status: int, name: str, *errors: str) -> Reply:
    return Reply.json(status, {"id": "e234abcd", "name": name, "errors": list(errors)})


class FakeStability(FakeApi):
    def handle(self, req: Recorded) -> Reply:
        if req.method != "POST" or req.path not in ROUTES:
            return error(404, "not_found", f"no route {req.path}")
        auth = req.headers.get("authorization", "")
        if auth != f"Bearer {self.key}":
            return error(401, "unauthorized", f"authorization: invalid or missing header value {auth}")
        if not req.is_multipart:
            return error(400, "bad_request", "content-type: must be multipart/form-data")
        form = req.form()
        problems = []
        if not form.get("prompt"):
            problems.append("prompt: is required")
        if form.get("aspect_ratio", "1:1") not in RATIOS:
            problems.append(f"aspect_ratio: must be one of {sorted(RATIOS)}")
        if form.get("output_format", "png") not in {"png", "jpeg", "webp"}:
            problems.append("output_format: invalid")
        if "seed" in form and not 0 <= int(form["seed"]) <= 4294967294:
            problems.append("seed: out of range")
        if req.path.endswith("/sd3") and form.get("model", "sd3.5-large") not in SD3_MODELS:
            problems.append("model: invalid")
        if not req.path.endswith("/sd3") and "model" in form:
            problems.append("model: not allowed")
        if problems:
            return error(400, "bad_request", *problems)
        behaviour = self.behaviour("generate")
        if behaviour == "rate_limited":
            return error(429, "rate_limit_exceeded", "You have exceeded the rate limit of 150 requests within 10s")
        if behaviour == "server_error":
            return error(500, "internal_error", "An unexpected server error occurred")
        if behaviour == "moderation":
            return error(403, "content_moderation", "Your request was flagged by our content moderation system")
        if behaviour == "quota":
            return error(402, "payment_required", "You lack sufficient credits to make this request")
        if behaviour == "slow":
            return Reply(slow=True)
        if behaviour == "garbage":
            return Reply(200, b"\x00\x01garbage", {"Content-Type": "image/png", "finish-reason": "SUCCESS"})
        seed = int(form.get("seed", "0")) or 1234567
        finish = "CONTENT_FILTERED" if behaviour == "filtered" else "SUCCESS"
        data = png_bytes(1024, 1024, (90, 90, 20))
        if req.headers.get("accept") == "application/json":
            return Reply.json(
                200,
                {"image": b64(data), "finish_reason": finish, "seed": seed},
                **{"Content-Type": "application/json; type=image/png"},
            )
        return Reply(
            200,
            data,
            {"Content-Type": "image/png", "finish-reason": finish, "seed": str(seed), "x-request-id": "abc"},
            truncate=behaviour == "truncated",
        )
