"""A test provider whose model decides the file format it returns (JPEG or WebP), the way
a cloud API or a plugin may answer: the gallery embeds the metadata in EXIF then. It states
its method like a diffusers pipeline does (``settings``: scheduler, guidance, steps), so a
test can check every field of the A1111 parameters third-party readers see.
Loaded with ATELIER_PROVIDER_MODULES=tests.support.format_providers."""

from __future__ import annotations

import io
from collections.abc import Iterator

from PIL import Image

from backend.providers.base import (
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ModelInfo,
    Provider,
    StepRange,
    settings,
)

SIZES = {"1:1": (64, 64), "3:2": (96, 64)}
SAMPLER = "EulerDiscreteScheduler"
CFG_SCALE = 4.5
FORMATS = {"jpeg-model": "JPEG", "webp-model": "WEBP"}


class FormatProvider(Provider):
    id = "formats"
    label = "JPEG and WebP (tests)"
    default_concurrency = 2

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(id=model, label=f"{fmt} (tests)", sizes=SIZES, steps=StepRange(1, 50, 20))
            for model, fmt in FORMATS.items()
        ]

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        for index in range(request.n):
            buf = io.BytesIO()
            Image.new("RGB", (request.width, request.height), (90, 30 + index, 160)).save(
                buf, FORMATS[request.model], quality=90
            )
            yield GeneratedImage(
                index=index,
                data=buf.getvalue(),
                seed=request.seed_for(index),
                metadata=settings(sampler=SAMPLER, cfg_scale=CFG_SCALE, steps=request.steps),
            )
