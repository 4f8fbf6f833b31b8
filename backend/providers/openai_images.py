"""OpenAI Images API: gpt-image-1, gpt-image-1-mini, gpt-image-1.5.

``POST {OPENAI_BASE_URL}/images/generations`` with a JSON body; ``/images/edits`` with a
multipart body for edits with reference images. GPT image models always answer base64 in
``data[].b64_json``; n images come from one call. No seed, steps or negative prompt exist.
(Wire format: shared/docs/provider-apis.md section 1.)
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator, Sequence
from typing import Any

import requests
from PIL import Image

from backend.providers.base import (
    EditCapability,
    EditInput,
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ModelInfo,
)
from backend.providers.http_api import ApiError, HttpProvider, json_or_none, parse_retry_after, short, status_error

SIZES = {"1:1": (1024, 1024), "3:2": (1536, 1024), "2:3": (1024, 1536)}
QUALITIES = ("low", "medium", "high", "auto")
#: USD per image by quality: (1024x1024, other sizes). "auto" is estimated at the high price.
PRICES: dict[str, dict[str, tuple[float, float]]] = {
    "gpt-image-1": {"low": (0.011, 0.016), "medium": (0.042, 0.063), "high": (0.167, 0.25)},
    "gpt-image-1-mini": {"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)},
    "gpt-image-1.5": {"low": (0.009, 0.013), "medium": (0.034, 0.051), "high": (0.133, 0.2)},
}
LABELS = {"gpt-image-1": "GPT Image 1", "gpt-image-1-mini": "GPT Image 1 mini", "gpt-image-1.5": "GPT Image 1.5"}
DEFAULT_QUALITY = "medium"


class OpenAIProvider(HttpProvider):
    id = "openai"
    label = "OpenAI"
    key_vars = ("OPENAI_API_KEY",)
    base_url_var = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"
    edit_operations = {
        "general": EditCapability(fields=("prompt", "references")),
        "inpaint": EditCapability(fields=("prompt", "mask")),
    }

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id=model_id,
                label=LABELS[model_id],
                sizes=SIZES,
                max_images=10,
                supports_seed=False,
                supports_negative_prompt=False,
                steps=None,
                qualities=QUALITIES,
                default_quality=DEFAULT_QUALITY,
                max_reference_images=16,
                price_per_image=PRICES[model_id][DEFAULT_QUALITY][0],
            )
            for model_id in PRICES
        ]

    def price(self, model: str, quality: str | None, width: int, height: int) -> float | None:
        table = PRICES.get(model)
        if table is None:
            return None
        square, other = table["high" if quality in (None, "auto") else quality]
        return square if (width, height) == (1024, 1024) else other

    def estimate_cost(self, request: GenerationRequest) -> float | None:
        price = self.price(request.model, request.quality, request.width, request.height)
        return None if price is None else round(price * request.n, 6)

    def probe(self) -> tuple[str, dict[str, str]] | None:
        return f"{self.base_url()}/models", self._headers()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.require_key()}", "Accept": "application/json"}

    def generation_body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.styled_prompt,
            "n": request.n,
            "output_format": "png",
            "size": f"{request.width}x{request.height}",
        }
        if request.quality:
            body["quality"] = request.quality
        return body

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        headers = self._headers()
        ctx.status(f"sending request to {self.label}")
        response = self.client.request(
            "POST",
            f"{self.base_url()}/images/generations",
            ctx,
            waiting=f"waiting for {self.label}",
            headers=headers,
            json=self.generation_body(request),
        )
        yield from self._images(response, request.n, ctx)

    def edit(
        self,
        request: GenerationRequest,
        images: Sequence[tuple[str, bytes, str]],
        ctx: GenerationContext,
        mask: bytes | None = None,
    ) -> Iterator[GeneratedImage]:
        """Edit with reference ``images`` as (filename, bytes, mime), optional PNG ``mask``."""
        if not images:
            raise ApiError("invalid_request", "an edit needs at least one reference image")
        fields: list[tuple[str, tuple[Any, ...]]] = [
            ("prompt", (None, request.styled_prompt)),
            ("model", (None, request.model)),
            ("n", (None, str(request.n))),
            ("size", (None, f"{request.width}x{request.height}")),
            ("output_format", (None, "png")),
        ]
        if request.quality:
            fields.append(("quality", (None, request.quality)))
        part = "image" if len(images) == 1 else "image[]"
        fields += [(part, (name, data, mime)) for name, data, mime in images]
        if mask is not None:
            fields.append(("mask", ("mask.png", mask, "image/png")))
        headers = self._headers()
        ctx.status(f"sending edit to {self.label}")
        response = self.client.request(
            "POST",
            f"{self.base_url()}/images/edits",
            ctx,
            waiting=f"waiting for {self.label}",
            headers=headers,
            files=fields,
        )
        yield from self._images(response, request.n, ctx)

    def edit_image(self, edit: EditInput, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        """general: the image and its references as ``image[]``; inpaint: the image and the
        mask turned into OpenAI's form (transparent where the image may change)."""
        if edit.operation not in self.edit_operations:
            raise ApiError("invalid_request", f"{self.label} cannot do {edit.operation}")
        images = [edit.image, *edit.references] if edit.operation == "general" else [edit.image]
        mask = alpha_mask(edit.mask) if edit.operation == "inpaint" and edit.mask else None
        yield from self.edit(edit.request, [(i.name, i.data, i.mime) for i in images], ctx, mask=mask)

    def _images(self, response: requests.Response, n: int, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        ctx.status(f"reading the answer from {self.label}")
        body = self.client.json(response)
        data = body.get("data")
        if not isinstance(data, list) or not data:
            raise ApiError("bad_response", f"{self.label} answered without images. Retry later.", retryable=True)
        common = {k: body[k] for k in ("size", "quality", "output_format") if isinstance(body.get(k), str)}
        if isinstance(body.get("usage"), dict):
            common["usage"] = body["usage"]
        for index, item in enumerate(data[:n]):
            ctx.raise_if_cancelled()
            encoded = item.get("b64_json") if isinstance(item, dict) else None
            if not isinstance(encoded, str):
                raise ApiError("bad_response", f"{self.label} answered an image without b64_json.", retryable=True)
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ApiError("bad_response", f"{self.label} sent image data that is not base64.") from None
            metadata = dict(common)
            if item.get("revised_prompt"):
                metadata["revised_prompt"] = item["revised_prompt"]
            yield GeneratedImage(index=index, data=self.client.image_bytes(raw, "data"), metadata=metadata)

    def classify_error(self, response: requests.Response) -> ApiError:
        body = json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        detail = short(error.get("message") or "")
        request_id = response.headers.get("x-request-id")
        if request_id:
            detail = f"{detail} (request {request_id})".strip()
        if error.get("code") == "moderation_blocked" or (
            response.status_code == 400 and "safety system" in str(error.get("message", ""))
        ):
            return ApiError(
                "moderation_blocked",
                f"{self.label}'s safety system rejected this request: {detail}. Rephrase the prompt.",
            )
        if response.status_code == 429 and error.get("code") == "insufficient_quota":
            return ApiError("quota", f"{self.label} says the account is out of quota: {detail}. Check billing.")
        return status_error(
            response.status_code, self.label, "OPENAI_API_KEY", detail, parse_retry_after(response.headers)
        )


def alpha_mask(mask: bytes) -> bytes:
    """A white-means-change mask as the PNG OpenAI wants: transparent where it may change."""
    with Image.open(io.BytesIO(mask)) as im:
        luma = im.convert("L")
    rgba = Image.new("RGBA", luma.size, (0, 0, 0, 255))
    rgba.putalpha(luma.point(lambda v: 0 if v >= 128 else 255))
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    return buf.getvalue()
