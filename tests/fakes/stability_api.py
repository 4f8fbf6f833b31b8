"""Fake Stability v2beta stable-image generate, edit and upscale (provider-apis.md 4.6):
multipart in, bytes out; creative upscale answers an id polled at /v2beta/results/{id}."""

from __future__ import annotations

import hashlib
import io
import math

from PIL import Image

from tests.fakes.base import FakeApi, Recorded, Reply, b64, png_bytes

ROUTES = {
    "/v2beta/stable-image/generate/core",
    "/v2beta/stable-image/generate/ultra",
    "/v2beta/stable-image/generate/sd3",
}
RATIOS = {"16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"}
SD3_MODELS = {"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash"}
EDIT = "/v2beta/stable-image/edit/"
UPSCALE = "/v2beta/stable-image/upscale/"
#: route -> text fields it requires
EDIT_ROUTES = {
    EDIT + "inpaint": ("prompt",),
    EDIT + "outpaint": (),
    EDIT + "remove-background": (),
    EDIT + "search-and-replace": ("prompt", "search_prompt"),
    EDIT + "search-and-recolor": ("prompt", "select_prompt"),
    UPSCALE + "conservative": ("prompt",),
    UPSCALE + "creative": ("prompt",),
}
RESULTS = "/v2beta/results/"


def error(status: int, name: str, *errors: str) -> Reply:
    return Reply.json(status, {"id": "e234abcd", "name": name, "errors": list(errors)})


class FakeStability(FakeApi):
    #: how many times GET /v2beta/results/{id} answers 202 before the image
    pending_polls = 2

    def __init__(self, key: str = "test-key") -> None:
        super().__init__(key)
        self.results: dict[str, list] = {}  # id -> [polls left, image bytes]

    def handle(self, req: Recorded) -> Reply:
        if req.path in EDIT_ROUTES or req.path.startswith(RESULTS):
            return self.handle_tool(req)
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

    # --- edit, upscale, results ---------------------------------------------------------
    def handle_tool(self, req: Recorded) -> Reply:
        if req.headers.get("authorization", "") != f"Bearer {self.key}":
            return error(401, "unauthorized", "authorization: invalid or missing header value")
        if req.path.startswith(RESULTS):
            entry = self.results.get(req.path.removeprefix(RESULTS))
            if req.method != "GET" or entry is None:
                return error(404, "not_found", "generation id not found")
            if entry[0] > 0:
                entry[0] -= 1
                return Reply.json(202, {"id": req.path.removeprefix(RESULTS), "status": "in-progress"})
            return Reply(200, entry[1], {"Content-Type": "image/png", "finish-reason": "SUCCESS", "seed": "42"})
        if req.method != "POST":
            return error(404, "not_found", f"no route {req.method} {req.path}")
        if not req.is_multipart:
            return error(400, "bad_request", "content-type: must be multipart/form-data")
        form = req.form()
        images = [p for p in req.parts() if p.name == "image" and p.filename]
        if len(images) != 1:
            return error(400, "bad_request", "image: is required")
        try:
            with Image.open(io.BytesIO(images[0].data)) as im:
                width, height = im.size
        except Exception:
            return error(400, "bad_request", "image: not a readable image")
        problems = [f"{name}: is required" for name in EDIT_ROUTES[req.path] if not form.get(name)]
        route = req.path.rsplit("/", 1)[-1]
        if route == "outpaint":
            sides = {k: int(form.get(k, "0")) for k in ("left", "right", "up", "down")}
            if not any(sides.values()):
                problems.append("left, right, up or down: at least one must be above 0")
            if any(not 0 <= v <= 2000 for v in sides.values()):
                problems.append("left/right/up/down: must be between 0 and 2000")
            width, height = width + sides["left"] + sides["right"], height + sides["up"] + sides["down"]
        if route == "creative" and width * height > 1_048_576:
            problems.append("image: must have at most 1,048,576 pixels")
        if problems:
            return error(400, "bad_request", *problems)
        behaviour = self.behaviour(route)
        if behaviour == "moderation":
            return error(403, "content_moderation", "Your request was flagged by our content moderation system")
        if behaviour == "server_error":
            return error(500, "internal_error", "An unexpected server error occurred")
        if route == "conservative":
            factor = min(4.0, math.sqrt(4_194_304 / (width * height)))
            width, height = round(width * factor), round(height * factor)
        elif route == "creative":
            width, height = width * 4, height * 4
        data = png_bytes(width, height, (30, 140, 60))
        if route == "creative":
            generation = hashlib.sha256(f"{len(self.results)}-{req.body[:64]!r}".encode()).hexdigest()
            self.results[generation] = [self.pending_polls, data]
            return Reply.json(200, {"id": generation})
        seed = form.get("seed", "0")
        headers = {"Content-Type": "image/png", "finish-reason": "SUCCESS", "seed": seed}
        return Reply(200, data, headers, slow=behaviour == "slow")  # slow: answers when the fake stops
