"""Hugging Face Inference Providers router, hf-inference text-to-image.

``POST {HF_BASE_URL}/hf-inference/models/{model_id}`` with a JSON body
``{"inputs": prompt, "parameters": {...}}`` (None values left out); the answer is the raw
image bytes. One image per call. A 503 with ``estimated_time`` means the model is loading
and is retried after that long. (Wire format: shared/docs/provider-apis.md section 3.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from backend.env_values import SettingsError
from backend.providers.base import GeneratedImage, GenerationContext, GenerationRequest, ModelInfo, StepRange
from backend.providers.http_api import (
    ApiError,
    HttpProvider,
    json_or_none,
    parse_retry_after,
    short,
    status_error,
)

# Multiples of 16 near one megapixel (FLUX needs 16, SD 8): spec section 7, last column.
SIZES = {
    "1:1": (1024, 1024),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "4:3": (1152, 864),
    "3:4": (864, 1152),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "21:9": (1536, 640),
}
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_RATELIMIT_T = re.compile(r"\bt=(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class HfModel:
    id: str
    label: str
    steps: StepRange
    guidance: float | None  # sent as guidance_scale when set
    negative_prompt: bool


KNOWN_MODELS = (
    HfModel("black-forest-labs/FLUX.1-schnell", "FLUX.1 [schnell]", StepRange(1, 4, 4), 0.0, False),
    HfModel("black-forest-labs/FLUX.1-dev", "FLUX.1 [dev]", StepRange(1, 50, 28), 3.5, False),
    HfModel("stabilityai/stable-diffusion-xl-base-1.0", "Stable Diffusion XL 1.0", StepRange(1, 50, 30), None, True),
)


def extra_models(env: Mapping[str, str]) -> list[HfModel]:
    """Other text-to-image model ids by name, from HF_MODELS (comma-separated); an id that is
    no Hub id stops the start naming it."""
    models = []
    for model_id in filter(None, (m.strip() for m in (env.get("HF_MODELS") or "").split(","))):
        if not MODEL_ID.match(model_id):
            raise SettingsError(f"HF_MODELS: {model_id!r} is no model id; use owner/name, comma-separated")
        if all(m.id != model_id for m in [*KNOWN_MODELS, *models]):
            models.append(HfModel(model_id, model_id, StepRange(1, 100, 25), None, True))
    return models


class HuggingFaceProvider(HttpProvider):
    id = "huggingface"
    label = "Hugging Face"
    key_vars = ("HF_TOKEN", "HF_API_TOKEN")
    base_url_var = "HF_BASE_URL"
    default_base_url = "https://router.huggingface.co"

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env)
        self._extra_models = extra_models(env)  # read once: a bad id stops the start

    def _catalogue(self) -> list[HfModel]:
        return [*KNOWN_MODELS, *self._extra_models]

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id=m.id,
                label=m.label,
                sizes=SIZES,
                max_images=10,
                supports_seed=True,
                supports_negative_prompt=m.negative_prompt,
                steps=m.steps,
                price_per_image=None,  # billed by compute time on the account: no list price
            )
            for m in self._catalogue()
        ]

    def body(self, request: GenerationRequest, index: int) -> dict[str, Any]:
        model = next((m for m in self._catalogue() if m.id == request.model), None)
        parameters: dict[str, Any] = {
            "negative_prompt": request.negative_prompt or None,
            "width": request.width,
            "height": request.height,
            "num_inference_steps": request.steps,
            "guidance_scale": model.guidance if model else None,
            "seed": request.seed_for(index),
        }
        return {"inputs": request.styled_prompt, "parameters": {k: v for k, v in parameters.items() if v is not None}}

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        if not MODEL_ID.match(request.model):
            raise ApiError("invalid_request", f"{request.model!r} is not a Hugging Face model id (owner/name)")
        url = f"{self.base_url()}/hf-inference/models/{request.model}"
        headers = {"Authorization": f"Bearer {self.require_key()}", "Accept": "image/png"}
        for index, response in self.post_per_image(
            request, ctx, url, headers, lambda i: {"json": self.body(request, i)}
        ):
            if not response.headers.get("content-type", "").startswith("image/"):
                detail = short(response.text, 120) if response.content[:1] in (b"{", b"[") else ""
                raise ApiError(
                    "bad_response",
                    f"{self.label} answered {response.headers.get('content-type') or 'no content type'} instead of an "
                    f"image{': ' + detail if detail else ''}. Retry later.",
                    retryable=True,
                )
            data = self.client.image_bytes(response.content, "a body")
            yield GeneratedImage(index=index, data=data, seed=request.seed_for(index))

    def error_detail(self, response: requests.Response) -> str:
        body = json_or_none(response)
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, str):
                return short(error)
            if isinstance(error, list) and error:
                return short("; ".join(map(str, error)))
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                return short(errors[0].get("message", ""))
        return short(response.headers.get("X-Error-Message", ""))

    def classify_error(self, response: requests.Response) -> ApiError:
        code = response.status_code
        detail = self.error_detail(response)
        delay = parse_retry_after(response.headers)
        if code == 429 and delay is None:
            match = _RATELIMIT_T.search(response.headers.get("RateLimit", ""))
            delay = float(match.group(1)) if match else None
        if code == 503:
            body = json_or_none(response)
            estimated = body.get("estimated_time") if isinstance(body, dict) else None
            if isinstance(estimated, int | float) and not isinstance(estimated, bool):
                return ApiError(
                    "provider_unavailable",
                    f"{self.label} is still loading the model ({detail}). Retry in a minute or pick another model.",
                    retry_after=float(estimated),
                )
        return status_error(code, self.label, "HF_TOKEN", detail, delay)
