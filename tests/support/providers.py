"""Providers that exist only for tests and benchmarks (loaded via ATELIER_PROVIDER_MODULES).

``gated`` makes one step, then waits until the file named by ATELIER_TEST_GATE exists or
the job is cancelled, so a test decides when a running job may finish: no timing.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator

from PIL import Image

from backend.providers.base import (
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ModelInfo,
    Provider,
    ProviderError,
    StepRange,
)

SIZES = {"1:1": (64, 64), "16:9": (96, 54)}


def tiny_png(colour=(200, 60, 30), size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


class _TestProvider(Provider):
    default_concurrency = 1

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(id="test", label=f"{self.id} test model", sizes=SIZES, steps=StepRange(1, 4, 2))]


class InstantProvider(_TestProvider):
    """Returns a pre-encoded PNG at once: measures the server's own overhead."""

    id = "instant"
    label = "instant (tests)"
    default_concurrency = 8
    _png = tiny_png()

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        for index in range(request.n):
            yield GeneratedImage(index=index, data=self._png, seed=request.seed_for(index))


class GatedProvider(_TestProvider):
    id = "gated"
    label = "gated (tests)"
    cpu_bound = True  # runs in a worker thread, like the offline renderer

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        gate = self.env.get("ATELIER_TEST_GATE", "")
        for index in range(request.n):
            ctx.step(index, 1, 2, "first half")
            ctx.preview(index, Image.new("RGB", (32, 32), (10, 10, 10)))
            while not (gate and os.path.exists(gate)):
                ctx.raise_if_cancelled()
                time.sleep(0.01)
            ctx.step(index, 2, 2, "second half")
            yield GeneratedImage(index=index, data=tiny_png((index * 40 % 256, 90, 200)), seed=request.seed_for(index))


class BrokenProvider(_TestProvider):
    id = "broken"
    label = "broken (tests)"

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        ctx.status("about to fail")
        raise RuntimeError("simulated crash in the provider")


class GarbageProvider(_TestProvider):
    id = "garbage"
    label = "garbage (tests)"

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        yield GeneratedImage(index=0, data=b"<html>this is not an image</html>", seed=request.seed)


class RefusingProvider(_TestProvider):
    id = "refusing"
    label = "refusing (tests)"

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        raise ProviderError("moderation_blocked", "the provider refused this prompt; rephrase it")
        yield  # pragma: no cover


class KeylessProvider(_TestProvider):
    id = "keyless"
    label = "keyless (tests)"

    def availability(self) -> tuple[bool, str | None]:
        return False, "set KEYLESS_API_KEY to use this provider"


class LargeProvider(_TestProvider):
    """A PNG of ATELIER_TEST_LARGE_SIDE² random pixels, stored uncompressed: a file far
    bigger than the databases and the log, for tests that cap the size of files written."""

    id = "large"
    label = "large (tests)"
    cpu_bound = True

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        side = int(self.env.get("ATELIER_TEST_LARGE_SIDE", "1024"))
        for index in range(request.n):
            image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
            buf = io.BytesIO()
            image.save(buf, "PNG", compress_level=0)
            yield GeneratedImage(index=index, data=buf.getvalue(), seed=request.seed_for(index))


class PricedProvider(InstantProvider):
    """``instant`` with a price ($0.04 an image) and its own sizes: a cloud provider's
    budget and adjustments without the network (a 16:9 request becomes 3:2, with a warning)."""

    id = "priced"
    label = "priced (tests)"

    def models(self) -> list[ModelInfo]:
        sizes = {"1:1": (64, 64), "3:2": (96, 64)}
        return [ModelInfo(id="priced-1", label="priced model", sizes=sizes, price_per_image=0.04)]
