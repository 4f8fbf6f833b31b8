"""Upscale: ``fast`` 2x/4x on this machine with Pillow (Lanczos, then a light unsharp
mask), ``conservative`` and ``creative`` through Stability, ``auto`` by target size.

``auto`` takes ``target_width`` and/or ``target_height`` and picks the smallest fast
factor (2 or 4) that reaches the target, then gives exactly the target size (the other
side follows the image's aspect ratio when only one is given): it stays local and free.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from PIL import Image, ImageFilter

from backend.providers.base import GeneratedImage, GenerationContext, GenerationRequest, ProviderError
from backend.providers.registry import ProviderRegistry
from backend.services.schema import Field, Shape
from backend.services.tools.base import ToolContext, ToolJob
from backend.services.tools.common import (
    LOCAL,
    MAX_TOOL_PIXELS,
    SOURCE_FIELDS,
    SourceFinder,
    SourceReader,
    ToolImage,
    ToolProducer,
    check_fields,
    encode,
    open_image,
    read,
    source_parameters,
    tool_request,
)
from backend.services.tools.edit import estimate_edit, run_provider_tool
from backend.services.validation import MAX_PROMPT_CHARS, MAX_SEED, SESSION, ValidationError

MODES = ("fast", "conservative", "creative", "auto")
PROVIDER_MODES = {"conservative": "upscale-conservative", "creative": "upscale-creative"}
SCALES = (2, 4)
CREATIVITY = {"conservative": (0.2, 0.5, 0.35), "creative": (0.1, 0.5, 0.3)}
DEFAULT_PROMPT = "high quality, sharp details"


#: no output side can be longer (the pixel limit and 4x bound the rest); a bound here keeps
#: absurd numbers out of the arithmetic and out of the error messages
MAX_TARGET_SIDE = 65536


def _target(name: str) -> Field:
    return Field(name, "integer", f"auto: the {name[7:]} to reach, in px (the other side keeps the aspect ratio)",
                 nullable=True, minimum=1, maximum=MAX_TARGET_SIDE,
                 message=f"{name} must be a whole number of pixels, 1 to {MAX_TARGET_SIDE}")  # fmt: skip


#: The body of POST /api/upscale: read by build_upscale and by the OpenAPI document.
UPSCALE_REQUEST = Shape(
    (
        *SOURCE_FIELDS,
        Field(
            "mode",
            "string",
            "fast: 2x/4x here, free; auto: fast to a target size; conservative / creative: through Stability",
            nullable=True,
            default="fast",
            enum=MODES,
            message=lambda v: f"unknown mode {v!r}; known: {', '.join(MODES)}",
        ),
        Field(
            "scale",
            "integer",
            "fast: the factor",
            nullable=True,
            default=2,
            enum=SCALES,
            message="scale must be 2 or 4",
        ),  # fmt: skip
        _target("target_width"),
        _target("target_height"),
        Field(
            "prompt",
            "string",
            "conservative / creative: what the image shows (default: its own prompt)",
            nullable=True,
            max_length=MAX_PROMPT_CHARS,
        ),  # fmt: skip
        Field(
            "negative_prompt",
            "string",
            "conservative / creative: what to avoid",
            nullable=True,
            max_length=MAX_PROMPT_CHARS,
        ),  # fmt: skip
        Field(
            "creativity",
            "number",
            "; ".join(f"{mode}: {low}..{high} (default {dflt})" for mode, (low, high, dflt) in CREATIVITY.items()),
            nullable=True,
            minimum=min(low for low, _, _ in CREATIVITY.values()),
            maximum=max(high for _, high, _ in CREATIVITY.values()),
        ),
        Field("seed", "integer", "conservative / creative", nullable=True, minimum=0, maximum=MAX_SEED),
        SESSION,
    ),
    description="An upscale job of a gallery image (or an uploaded one).",
)


def build_upscale(body: Any, registry: ProviderRegistry, sources: SourceFinder) -> ToolJob:
    """The upscale job of a body, or ValidationError naming the field."""
    body = check_fields(body, UPSCALE_REQUEST)
    mode = read(body, UPSCALE_REQUEST["mode"])
    session = read(body, SESSION)
    source = sources.source(body)
    w, h = source.width, source.height
    tool: dict[str, Any] = {"mode": mode, "source": source.to_json()}

    if mode in PROVIDER_MODES:
        op = PROVIDER_MODES[mode]
        provider = next((p for p in registry if op in p.edit_operations), None)
        if provider is None:
            raise ValidationError("mode", f"no installed provider can do the {mode} upscale")
        available, reason = provider.availability()
        if not available:
            raise ValidationError("mode", f"the {mode} upscale needs {provider.label}, which is unavailable: {reason}")
        limits = provider.edit_operations[op].limits
        if min(w, h) < limits.get("min_side", 0):
            raise ValidationError("image_id", f"the {mode} upscale needs sides of at least {limits['min_side']} px")
        if w * h > limits.get("max_input_pixels", 1 << 62):
            raise ValidationError(
                "image_id",
                f"the {mode} upscale takes images of at most {limits['max_input_pixels']:,} pixels "
                f"({provider.label}'s limit); this one is {w}x{h}. Use mode fast.",
            )
        low, high, default = CREATIVITY[mode]
        # the declared creativity, narrowed to this mode's range
        creativity = read(body, replace(UPSCALE_REQUEST["creativity"], minimum=low, maximum=high, default=default))
        creativity = float(creativity)
        prompt = (read(body, UPSCALE_REQUEST["prompt"]) or "").strip() or source.prompt or DEFAULT_PROMPT
        tool.update(operation=op, params={"creativity": creativity})
        factor = 4 if mode == "creative" else min(4.0, (limits.get("max_output_pixels", 4_194_304) / (w * h)) ** 0.5)
        width, height = round(w * factor), round(h * factor)
        seed = read(body, UPSCALE_REQUEST["seed"])
        negative = read(body, UPSCALE_REQUEST["negative_prompt"]) or ""
        request = tool_request(prompt, provider.id, f"upscale-{mode}", width, height, 1, seed,
                               styled_prompt=prompt, negative_prompt=negative)  # fmt: skip
        return ToolJob(request, tool, session)

    if mode == "auto":
        tw, th = read(body, UPSCALE_REQUEST["target_width"]), read(body, UPSCALE_REQUEST["target_height"])
        if tw is None and th is None:
            raise ValidationError("target_width", "auto needs target_width and/or target_height")
        width = tw if tw is not None else round(w * th / h)  # type: ignore[operator]
        height = th if th is not None else round(h * tw / w)  # type: ignore[operator]
        needed = max(width / w, height / h)
        if needed <= 1:
            name = "target_width" if tw is not None else "target_height"
            raise ValidationError(name, f"the image is already {w}x{h}; the target must be larger")
        if needed > 4:
            name = "target_width" if tw is not None and width / w >= height / h else "target_height"
            raise ValidationError(name, f"{width}x{height} is more than 4x {w}x{h}; the largest upscale is 4x")
        scale = 2 if needed <= 2 else 4
    else:
        scale = read(body, UPSCALE_REQUEST["scale"])
        width, height = w * scale, h * scale  # type: ignore[operator]
    if width * height > MAX_TOOL_PIXELS:
        raise ValidationError(
            "target_width" if mode == "auto" else "scale",
            f"{width}x{height} is over the upscale limit of {MAX_TOOL_PIXELS:,} pixels (4096x4096)",
        )
    tool.update(scale=scale, width=width, height=height)
    prompt = source.prompt or f"upscale of {source.path}"
    request = tool_request(prompt, LOCAL, f"upscale-fast-{scale}x", width, height, 1, source.seed)
    return ToolJob(request, tool, session)


def upscale_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """Lanczos to exactly width x height, then a light unsharp mask against the softness."""
    big = image.resize((width, height), Image.Resampling.LANCZOS)
    return big.filter(ImageFilter.UnsharpMask(radius=1.2, percent=60, threshold=2))


class UpscaleTool:
    """The upscale tool: POST /api/upscale."""

    kind = "upscale"
    label = "Upscale"
    summary = "Upscale a gallery image"
    description = "fast and auto are free and need no provider (with ATELIER_REDIS_URL: a worker serving `local`)."
    request = UPSCALE_REQUEST

    def build(self, body: Any, ctx: ToolContext) -> ToolJob:
        return build_upscale(body, ctx.registry, ctx.sources)

    def estimate(self, job: ToolJob, registry: ProviderRegistry) -> float | None:
        if job.tool["mode"] not in PROVIDER_MODES:
            return 0.0
        provider = registry.get(job.request.provider)
        return estimate_edit(provider, job.tool["operation"], job.request) if provider else None

    def producer(self, registry: ProviderRegistry, read_source: SourceReader) -> ToolProducer:
        return UpscaleProducer(registry, read_source)


class UpscaleProducer:
    def __init__(self, registry: ProviderRegistry, read_source: SourceReader) -> None:
        self.registry = registry
        self.read_source = read_source

    def cpu_bound(self, tool: dict[str, Any]) -> bool:
        return tool["mode"] not in PROVIDER_MODES

    def produce(
        self, tool: dict[str, Any], request: GenerationRequest, ctx: GenerationContext
    ) -> Iterator[GeneratedImage]:
        source = tool["source"]
        extra = {"kind": "upscale", "mode": tool["mode"]}
        if tool["mode"] in PROVIDER_MODES:
            provider = self.registry.get(request.provider)
            if provider is None:
                raise ProviderError("invalid_request", f"provider {request.provider!r} is no longer installed")
            yield from run_provider_tool(provider, tool, request, ctx, self.read_source, extra)
            return
        data = self.read_source(source)
        ctx.step(0, 0, 3, "reading the image")
        image = open_image(data)
        ctx.raise_if_cancelled()
        ctx.step(0, 1, 3, f"upscaling {image.width}x{image.height} to {tool['width']}x{tool['height']}")
        big = upscale_image(image, tool["width"], tool["height"])
        ctx.raise_if_cancelled()
        ctx.step(0, 2, 3, "saving")
        out = encode(big, "PNG")
        ctx.step(0, 3, 3, "done")
        yield ToolImage(
            index=0,
            data=out,
            seed=request.seed,
            extra={
                "source": {**source, "operation": "upscale", "mode": tool["mode"], **source_parameters(data)},
                "tool": {**extra, "scale": tool["scale"], "method": "lanczos+unsharp"},
            },
        )
