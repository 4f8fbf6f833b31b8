"""Google Gemini API: Gemini 2.5 Flash Image through ``generateContent``.

``POST {GEMINI_BASE_URL}/v1beta/models/{model}:generateContent`` with ``x-goog-api-key``.
One image per call (n calls for n images); the image is the first ``inlineData`` part of
``candidates[0].content.parts``; text parts returned beside it are kept with the image.
A blocked prompt or image comes back as HTTP 200 without an image part.
(Wire format: shared/docs/provider-apis.md section 2.)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
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
from backend.providers.http_api import ApiError, HttpProvider, json_or_none, parse_duration, short, status_error

API_VERSION = "v1beta"
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
PRICE_PER_IMAGE = 0.039  # 1290 output tokens at $30 per million
BLOCKED_FINISH = {
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "IMAGE_OTHER",
    "NO_IMAGE",
    "SAFETY",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
}
INT32 = 2**31


def api_seed(seed: int) -> int:
    """Atelier seeds are 0..2^32-1; Gemini takes int32. Same seed in, same seed out."""
    return seed - 2**32 if seed >= INT32 else seed


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64decode(data: str) -> bytes:
    """Standard base64, or the URL-safe alphabet some clients use."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class GeminiProvider(HttpProvider):
    id = "gemini"
    label = "Google Gemini"
    key_vars = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    base_url_var = "GEMINI_BASE_URL"
    default_base_url = "https://generativelanguage.googleapis.com"
    edit_operations = {"general": EditCapability(fields=("prompt", "references"), price=PRICE_PER_IMAGE)}

    def probe(self) -> tuple[str, dict[str, str]] | None:
        return f"{self.base_url()}/v1beta/models", {"x-goog-api-key": self.require_key(), "Accept": "application/json"}

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id="gemini-2.5-flash-image",
                label="Gemini 2.5 Flash Image",
                sizes=SIZES,
                max_images=10,
                supports_seed=True,
                supports_negative_prompt=False,
                steps=None,
                max_reference_images=3,
                price_per_image=PRICE_PER_IMAGE,
            )
        ]

    def body(self, request: GenerationRequest, index: int, images: tuple[Any, ...] = ()) -> dict[str, Any]:
        config: dict[str, Any] = {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": request.aspect_ratio},
        }
        seed = request.seed_for(index)
        if seed is not None:
            config["seed"] = api_seed(seed)
        return {
            "contents": [
                {
                    "parts": [
                        {"text": request.styled_prompt},
                        *({"inlineData": {"mimeType": i.mime, "data": _b64(i.data)}} for i in images),
                    ],
                    "role": "user",
                }
            ],
            "generationConfig": config,
        }

    def generate(
        self, request: GenerationRequest, ctx: GenerationContext, images: tuple[Any, ...] = ()
    ) -> Iterator[GeneratedImage]:
        url = f"{self.base_url()}/{API_VERSION}/models/{request.model}:generateContent"
        headers = {"x-goog-api-key": self.require_key(), "Accept": "application/json"}
        for index, response in self.post_per_image(
            request, ctx, url, headers, lambda i: {"json": self.body(request, i, images)}
        ):
            data, metadata = self.read_answer(self.client.json(response))
            yield GeneratedImage(index=index, data=data, seed=request.seed_for(index), metadata=metadata)

    def edit_image(self, edit: EditInput, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        """general: the prompt, then the image and its references as inline parts."""
        if edit.operation != "general":
            raise ApiError("invalid_request", f"{self.label} cannot do {edit.operation}")
        yield from self.generate(edit.request, ctx, (edit.image, *edit.references))

    def read_answer(self, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        """(image bytes, metadata with the text returned beside it), or ApiError."""
        candidates = body.get("candidates") or []
        feedback = body.get("promptFeedback") if isinstance(body.get("promptFeedback"), dict) else {}
        if not candidates:
            reason = feedback.get("blockReason")
            if reason:
                raise ApiError(
                    "moderation_blocked",
                    f"{self.label} blocked the prompt ({reason}). Rephrase it and try again.",
                )
            raise ApiError("bad_response", f"{self.label} answered without any candidate. Retry later.", retryable=True)
        candidate = candidates[0] if isinstance(candidates[0], dict) else {}
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
        texts = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
        image = next(
            (
                p["inlineData"]
                for p in parts
                if isinstance(p.get("inlineData"), dict)
                and str(p["inlineData"].get("mimeType", "")).startswith("image/")
            ),
            None,
        )
        finish = candidate.get("finishReason")
        if image is None:
            said = f' It said: "{short(" ".join(texts), 200)}"' if texts else ""
            if finish in BLOCKED_FINISH or finish == "STOP" or finish is None:
                raise ApiError(
                    "moderation_blocked",
                    f"{self.label} returned no image (finish reason {finish or 'none'}).{said} "
                    "Rephrase the prompt and try again.",
                )
            raise ApiError(
                "bad_response", f"{self.label} returned no image (finish reason {finish}).{said}", retryable=True
            )
        encoded = image.get("data")
        if not isinstance(encoded, str):
            raise ApiError("bad_response", f"{self.label} sent an image part without data.", retryable=True)
        try:
            data = _b64decode(encoded)
        except (binascii.Error, ValueError):
            raise ApiError(
                "bad_response", f"{self.label} sent image data that is not base64.", retryable=True
            ) from None
        metadata: dict[str, Any] = {}
        if texts:
            metadata["text"] = "\n".join(texts)
        if finish:
            metadata["finish_reason"] = finish
        for key in ("modelVersion", "responseId"):
            if isinstance(body.get(key), str):
                metadata[key] = body[key]
        if isinstance(body.get("usageMetadata"), dict):
            metadata["usage"] = body["usageMetadata"]
        return self.client.image_bytes(data, "an image part"), metadata

    def classify_error(self, response: requests.Response) -> ApiError:
        body = json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        status = str(error.get("status") or "")
        detail = short(error.get("message") or "")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        kinds = {str(d.get("@type", "")).rsplit(".", 1)[-1]: d for d in details}
        code = response.status_code
        if code == 400 and (
            any(d.get("reason") == "API_KEY_INVALID" for d in details) or "API key not valid" in detail
        ):
            return ApiError("auth", f"{self.label} rejected the API key: {detail}. Check GEMINI_API_KEY.")
        if code == 429:
            delay = parse_duration(kinds.get("RetryInfo", {}).get("retryDelay"))
            if delay is None and "QuotaFailure" in kinds:
                return ApiError(
                    "quota",
                    f"{self.label} quota is used up ({status or 'RESOURCE_EXHAUSTED'}): {detail}. "
                    "Check the plan and billing of the key's project.",
                )
            return status_error(429, self.label, "GEMINI_API_KEY", detail, delay)
        return status_error(code, self.label, "GEMINI_API_KEY", detail)
