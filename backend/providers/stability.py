"""Stability AI REST v2beta: stable-image generate ``core``, ``ultra`` and ``sd3`` (SD 3.5).

``POST {STABILITY_BASE_URL}/v2beta/stable-image/generate/{core|ultra|sd3}``, always
multipart (text parts only), ``accept: image/*``: the answer is the image bytes with
``finish-reason`` and ``seed`` headers. One image per call. ``CONTENT_FILTERED`` means the
image was blurred by moderation. (Wire format: shared/docs/provider-apis.md section 4.)
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from backend.providers.base import (
    EditCapability,
    EditInput,
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ModelInfo,
)
from backend.providers.http_api import ApiError, HttpProvider, json_or_none, parse_retry_after, short, status_error

# Stability does not publish pixel sizes per ratio; these are the ~1 MP sizes its SD3 API
# produces. The gallery records the real size of every file it saves.
SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "2:3": (832, 1216),
    "3:2": (1216, 832),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "9:16": (768, 1344),
}
MAX_SEED = 4294967294  # 0 asks Stability for a random seed


@dataclass(frozen=True)
class StabilityModel:
    id: str
    label: str
    route: str
    credits: float
    sd3_model: str | None = None


MODELS = (
    StabilityModel("core", "Stable Image Core", "core", 3),
    StabilityModel("ultra", "Stable Image Ultra", "ultra", 8),
    StabilityModel("sd3.5-large", "Stable Diffusion 3.5 Large", "sd3", 6.5, "sd3.5-large"),
    StabilityModel("sd3.5-large-turbo", "Stable Diffusion 3.5 Large Turbo", "sd3", 4, "sd3.5-large-turbo"),
    StabilityModel("sd3.5-medium", "Stable Diffusion 3.5 Medium", "sd3", 3.5, "sd3.5-medium"),
    StabilityModel("sd3.5-flash", "Stable Diffusion 3.5 Flash", "sd3", 2.5, "sd3.5-flash"),
)
USD_PER_CREDIT = 0.01
MAX_EXPAND = 2000  # outpaint: pixels per side
#: operation -> (route under /v2beta/stable-image/, credits, text fields it sends)
EDIT_ROUTES: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "inpaint": ("edit/inpaint", 5, ("prompt", "negative_prompt", "seed", "output_format")),
    "outpaint": ("edit/outpaint", 4, ("left", "right", "up", "down", "prompt", "seed", "output_format")),
    "remove-background": ("edit/remove-background", 2, ("output_format",)),
    "search-replace": (
        "edit/search-and-replace",
        4,
        ("prompt", "search_prompt", "negative_prompt", "seed", "output_format"),
    ),
    "search-recolor": (
        "edit/search-and-recolor",
        5,
        ("prompt", "select_prompt", "negative_prompt", "seed", "output_format"),
    ),
    "upscale-conservative": (
        "upscale/conservative",
        40,
        ("prompt", "negative_prompt", "seed", "creativity", "output_format"),
    ),
    "upscale-creative": ("upscale/creative", 60, ("prompt", "negative_prompt", "seed", "creativity", "output_format")),
}
OPERATION_FIELDS = {
    "inpaint": ("prompt", "mask"),
    "outpaint": ("left", "right", "up", "down", "prompt"),
    "remove-background": (),
    "search-replace": ("prompt", "search_prompt"),
    "search-recolor": ("prompt", "select_prompt"),
    "upscale-conservative": ("prompt", "creativity"),
    "upscale-creative": ("prompt", "creativity"),
}
LIMITS: dict[str, dict[str, int]] = {
    "inpaint": {"min_side": 64, "max_input_pixels": 9_437_184},
    "outpaint": {"max_expand": MAX_EXPAND, "min_side": 64, "max_input_pixels": 9_437_184},
    "remove-background": {"min_side": 64, "max_input_pixels": 4_194_304},
    "search-replace": {"min_side": 64, "max_input_pixels": 9_437_184},
    "search-recolor": {"min_side": 64, "max_input_pixels": 9_437_184},
    "upscale-conservative": {"min_side": 64, "max_input_pixels": 9_437_184, "max_output_pixels": 4_194_304},
    "upscale-creative": {"min_side": 64, "max_input_pixels": 1_048_576, "max_output_pixels": 16_777_216},
}


class StabilityProvider(HttpProvider):
    id = "stability"
    label = "Stability AI"
    key_vars = ("STABILITY_API_KEY",)
    base_url_var = "STABILITY_BASE_URL"
    default_base_url = "https://api.stability.ai"
    edit_operations = {
        op: EditCapability(OPERATION_FIELDS[op], round(credits * USD_PER_CREDIT, 6), LIMITS[op])
        for op, (_, credits, _) in EDIT_ROUTES.items()
    }

    def probe(self) -> tuple[str, dict[str, str]] | None:
        return f"{self.base_url()}/v1/user/balance", {"Authorization": f"Bearer {self.require_key()}"}

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id=m.id,
                label=m.label,
                sizes=SIZES,
                max_images=10,
                supports_seed=True,
                supports_negative_prompt=True,
                steps=None,
                price_per_image=round(m.credits * USD_PER_CREDIT, 6),
            )
            for m in MODELS
        ]

    def fields(self, request: GenerationRequest, index: int) -> list[tuple[str, tuple[None, str]]]:
        model = next(m for m in MODELS if m.id == request.model)
        values: list[tuple[str, Any]] = [
            ("prompt", request.styled_prompt),
            ("negative_prompt", request.negative_prompt or None),
            ("aspect_ratio", request.aspect_ratio),
            ("seed", None if request.seed_for(index) is None else request.seed_for(index) % (MAX_SEED + 1)),
            ("output_format", "png"),
            ("model", model.sd3_model),
        ]
        return [(name, (None, str(value))) for name, value in values if value is not None]

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        model = next((m for m in MODELS if m.id == request.model), None)
        if model is None:
            raise ApiError("invalid_request", f"unknown Stability model {request.model!r}")
        url = f"{self.base_url()}/v2beta/stable-image/generate/{model.route}"
        headers = {"Authorization": f"Bearer {self.require_key()}", "Accept": "image/*"}
        for index, response in self.post_per_image(
            request, ctx, url, headers, lambda i: {"files": self.fields(request, i)}
        ):
            yield self.read_answer(response, index, request.seed_for(index))

    def edit_fields(self, edit: EditInput, index: int) -> list[tuple[str, tuple[Any, ...]]]:
        """The multipart body of an edit or upscale: the image (and mask), then text fields."""
        _, _, names = EDIT_ROUTES[edit.operation]
        request = edit.request
        seed = request.seed_for(index)
        values = {
            **{k: v for k, v in edit.params.items() if v is not None},
            "prompt": request.styled_prompt or None,
            "negative_prompt": request.negative_prompt or None,
            "seed": None if seed is None else seed % (MAX_SEED + 1),
            "output_format": "png",
        }
        parts: list[tuple[str, tuple[Any, ...]]] = [("image", (edit.image.name, edit.image.data, edit.image.mime))]
        if edit.operation == "inpaint" and edit.mask is not None:
            parts.append(("mask", ("mask.png", edit.mask, "image/png")))
        parts += [(name, (None, str(values[name]))) for name in names if values.get(name) is not None]
        return parts

    def edit_image(self, edit: EditInput, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        if edit.operation not in EDIT_ROUTES:
            raise ApiError("invalid_request", f"{self.label} cannot do {edit.operation}")
        route = EDIT_ROUTES[edit.operation][0]
        url = f"{self.base_url()}/v2beta/stable-image/{route}"
        headers = {"Authorization": f"Bearer {self.require_key()}", "Accept": "image/*"}
        n = edit.request.n
        for index in range(n):
            ctx.raise_if_cancelled()
            which = f" image {index + 1} of {n}" if n > 1 else ""
            ctx.status(f"sending {edit.operation} to {self.label}{which}")
            if edit.operation == "upscale-creative":
                response = self.client.request(
                    "POST", url, ctx, waiting=f"waiting for {self.label}", headers={**headers, "Accept": "*/*"},
                    files=self.edit_fields(edit, index),
                )  # fmt: skip
                generation = self.client.json(response).get("id")
                if not isinstance(generation, str) or not generation:
                    raise ApiError("bad_response", f"{self.label} did not return a generation id.", retryable=True)
                response = self.poll_result(generation, headers, ctx)
            else:
                response = self.client.request(
                    "POST", url, ctx, waiting=f"waiting for {self.label}{which}", headers=headers,
                    files=self.edit_fields(edit, index),
                )  # fmt: skip
            yield self.read_answer(response, index, edit.request.seed_for(index))

    def poll_result(self, generation: str, headers: dict[str, str], ctx: GenerationContext) -> requests.Response:
        """GET /v2beta/results/{id} until it is no longer 202 (in progress)."""
        url = f"{self.base_url()}/v2beta/results/{generation}"
        started = time.monotonic()
        polls = 0
        while True:
            response = self.client.request("GET", url, ctx, headers=headers)
            if response.status_code != 202:
                return response
            polls += 1
            elapsed = time.monotonic() - started
            if elapsed + self.settings.poll_interval > self.settings.task_timeout:
                raise ApiError(
                    "timeout",
                    f"{self.label} did not finish the upscale within {self.settings.task_timeout:g} s "
                    "(ATELIER_TASK_TIMEOUT_SECONDS). Retry later.",
                )
            ctx.status(f"{self.label} is upscaling (checked {polls} time{'s' if polls > 1 else ''}, {elapsed:.0f} s)")
            self.client.wait(self.settings.poll_interval, ctx)

    def read_answer(self, response: requests.Response, index: int, sent_seed: int | None) -> GeneratedImage:
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = self.client.json(response)
            finish, seed = body.get("finish_reason"), body.get("seed")
            try:
                data = base64.b64decode(str(body.get("image", "")), validate=True)
            except (binascii.Error, ValueError):
                raise ApiError("bad_response", f"{self.label} sent image data that is not base64.") from None
        else:
            finish, seed, data = response.headers.get("finish-reason"), response.headers.get("seed"), response.content
        if finish == "CONTENT_FILTERED":
            raise ApiError(
                "moderation_blocked",
                f"{self.label}'s content moderation filtered the image (CONTENT_FILTERED). Rephrase the prompt.",
            )
        try:
            used_seed = int(seed) if seed is not None else sent_seed
        except ValueError:
            used_seed = sent_seed
        metadata: dict[str, Any] = {"finish_reason": finish} if finish else {}
        if used_seed != sent_seed:
            metadata["requested_seed"] = sent_seed
        return GeneratedImage(
            index=index, data=self.client.image_bytes(data, "a body"), seed=used_seed, metadata=metadata
        )

    def classify_error(self, response: requests.Response) -> ApiError:
        body = json_or_none(response)
        body = body if isinstance(body, dict) else {}
        name = str(body.get("name") or "")
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        detail = short("; ".join(map(str, errors)) or body.get("message") or name)
        if response.status_code == 403 and name == "content_moderation":
            return ApiError(
                "moderation_blocked",
                f"{self.label}'s content moderation rejected the request: {detail}. Rephrase the prompt.",
            )
        return status_error(
            response.status_code, self.label, "STABILITY_API_KEY", detail, parse_retry_after(response.headers)
        )
