"""Edit: a gallery image changed by a provider (reference images, mask, outpaint, search).

``GET /api/edit/operations`` is built from the providers' declared ``edit_operations``;
``build_edit`` validates a request against the chosen provider's capability and the
source image; ``EditTool`` loads the files when the job runs and calls the provider.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from PIL import Image

from backend.providers.base import (
    EditInput,
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ImageInput,
    Provider,
    ProviderError,
)
from backend.providers.registry import ProviderRegistry
from backend.services.schema import Field, Shape
from backend.services.tools.base import ToolContext, ToolJob
from backend.services.tools.common import (
    MIME,
    SOURCE_FIELDS,
    Source,
    SourceFinder,
    SourceReader,
    ToolImage,
    ToolProducer,
    check_fields,
    decode_data_url,
    encode,
    nearest_ratio,
    open_image,
    read,
    source_parameters,
    text,
    tool_request,
    turned_a_quarter,
)
from backend.services.validation import MAX_PROMPT_CHARS, MAX_SEED, SESSION, ValidationError, nearest_aspect_ratio

#: every edit operation, what it does, and the fields it takes (for the SPA and the docs)
OPERATIONS: dict[str, str] = {
    "general": "change the image as the prompt says, guided by reference images",
    "inpaint": "repaint the masked part (white = change) as the prompt says",
    "outpaint": "extend the image left, right, up and/or down",
    "remove-background": "make the background transparent",
    "search-replace": "find what search_prompt names and replace it with the prompt",
    "search-recolor": "find what select_prompt names and recolour it as the prompt says",
}
MAX_EDIT_IMAGES = 4
SIDES = ("left", "right", "up", "down")
DEFAULT_MAX_EXPAND = 2000


def _edit_providers(env: Any) -> list[Provider]:
    """Document-time enums: the running studio's providers that can edit."""
    registry = getattr(env, "registry", None)
    return [p for p in (registry or []) if p.edit_operations]


def _side(name: str) -> Field:
    return Field(name, "integer", f"outpaint: pixels to add {'at the ' if name in ('left', 'right') else ''}{name}"
                 " (at most the provider's max_expand, GET /api/edit/operations)", nullable=True, default=0,
                 minimum=0)  # fmt: skip


#: The body of POST /api/edit: read by build_edit and by the OpenAPI document.
EDIT_REQUEST = Shape(
    (
        Field(
            "operation",
            "string",
            "; ".join(f"{op}: {what}" for op, what in OPERATIONS.items()),
            required=True,
            enum=tuple(OPERATIONS),
            message=lambda v: f"unknown operation {v!r}; known: {', '.join(OPERATIONS)}",
        ),
        Field(
            "provider",
            "string",
            "default: the first available provider that can do the operation",
            nullable=True,
            enum=lambda env: [p.id for p in _edit_providers(env)],
        ),
        Field(
            "model",
            "string",
            "general / inpaint: a model of that provider (default: its default)",
            nullable=True,
            enum=lambda env: [m.id for p in _edit_providers(env) for m in p.models()],
        ),
        *SOURCE_FIELDS,
        Field(
            "prompt",
            "string",
            "what to do; needed by every operation but outpaint",
            nullable=True,
            max_length=MAX_PROMPT_CHARS,
            message=f"prompt is over {MAX_PROMPT_CHARS} characters",
        ),  # fmt: skip
        Field("negative_prompt", "string", "what to avoid", nullable=True, max_length=MAX_PROMPT_CHARS),
        Field(
            "mask", "string", "inpaint: a PNG data: URL at the image's size, white (or painted) = change", nullable=True
        ),  # fmt: skip
        Field(
            "references",
            "array",
            "general: ids of gallery images that guide the edit (at most the model's limit minus one)",
            nullable=True,
            items=Field("references", "string"),
            message="references must be a list of gallery image ids",
        ),
        *(_side(side) for side in SIDES),
        Field("search_prompt", "string", "search-replace: what to find", nullable=True, max_length=MAX_PROMPT_CHARS),
        Field(
            "select_prompt", "string", "search-recolor: what to recolour", nullable=True, max_length=MAX_PROMPT_CHARS
        ),  # fmt: skip
        Field("n", "integer", "images to make", nullable=True, default=1, minimum=1, maximum=MAX_EDIT_IMAGES),
        Field("seed", "integer", "when the model takes one", nullable=True, minimum=0, maximum=MAX_SEED),
        Field(
            "quality",
            "string",
            "one of the model's qualities (GET /api/providers)",
            nullable=True,
            enum=lambda env: list(
                dict.fromkeys(q for p in _edit_providers(env) for m in p.models() for q in m.qualities)
            ),
        ),
        SESSION,
    ),
    description="An edit job: one operation on a gallery image (or an uploaded one) by a provider that can do it.",
)


def operations_json(registry: ProviderRegistry) -> list[dict[str, Any]]:
    result = []
    for op, description in OPERATIONS.items():
        providers = []
        fields: list[str] = []
        for provider in registry:
            capability = provider.edit_operations.get(op)
            if capability is None:
                continue
            available, reason = provider.availability()
            providers.append(
                {
                    "id": provider.id,
                    "label": provider.label,
                    "available": available,
                    "reason": reason,
                    "fields": list(capability.fields),
                    "limits": dict(capability.limits),
                    "price_per_image": capability.price,
                }
            )
            fields += [f for f in capability.fields if f not in fields]
        result.append({"id": op, "description": description, "fields": fields, "providers": providers})
    return result


def _provider_for(op: str, body: dict[str, Any], registry: ProviderRegistry) -> Provider:
    able = [p for p in registry if op in p.edit_operations]
    named = text(body, "provider")
    if named:
        provider = registry.get(named)
        if provider is None:
            raise ValidationError("provider", f"unknown provider {named!r}")
        if op not in provider.edit_operations:
            who = ", ".join(p.id for p in able) or "none installed"
            raise ValidationError("operation", f"{provider.label} cannot do {op}; providers that can: {who}")
    else:
        provider = next((p for p in able if p.availability()[0]), None) or (able[0] if able else None)
        if provider is None:
            raise ValidationError("operation", f"no installed provider can do {op}")
    available, reason = provider.availability()
    if not available:
        raise ValidationError("provider", f"provider {provider.id!r} is unavailable: {reason}")
    return provider


def _mask(body: dict[str, Any], source: Source) -> bytes:
    data = decode_data_url(body.get("mask"), "mask")
    with Image.open(io.BytesIO(data)) as im:
        size = im.size
        if size != (source.width, source.height):
            raise ValidationError(
                "mask",
                f"the mask is {size[0]}x{size[1]} but the image is {source.width}x{source.height}; "
                "paint the mask at the image's size",
            )
        # white = change; anything painted counts (alpha of a transparent canvas counts too)
        luma = im.convert("RGBA")
        alpha = luma.getchannel("A")
        grey = luma.convert("L")
    if alpha.getextrema()[0] < 255:  # a canvas painted on transparency: painted = change
        grey = alpha
    binary = grey.point(lambda v: 255 if v >= 128 else 0)
    if binary.getextrema() == (0, 0):
        raise ValidationError("mask", "the mask is empty: paint the part of the image to change")
    buf = io.BytesIO()
    binary.save(buf, format="PNG")
    return buf.getvalue()


def build_edit(body: Any, registry: ProviderRegistry, sources: SourceFinder) -> ToolJob:
    """The edit job of a body, or ValidationError naming the field."""
    body = check_fields(body, EDIT_REQUEST)
    op = read(body, EDIT_REQUEST["operation"])
    provider = _provider_for(op, body, registry)
    capability = provider.edit_operations[op]
    session = read(body, SESSION)

    source = sources.source(body)
    limits = capability.limits
    if min(source.width, source.height) < limits.get("min_side", 0):
        raise ValidationError("image_id", f"{provider.label} needs every side of the image to be at least "
                              f"{limits['min_side']} px; this one is {source.width}x{source.height}")  # fmt: skip
    if source.width * source.height > limits.get("max_input_pixels", 1 << 62):
        raise ValidationError(
            "image_id",
            f"{provider.label} takes at most {limits['max_input_pixels']:,} pixels for {op}; "
            f"this image is {source.width}x{source.height}",
        )

    prompt = EDIT_REQUEST["prompt"].check_bounds(text(body, "prompt").strip())
    if "prompt" in capability.fields and op != "outpaint" and not prompt:
        raise ValidationError("prompt", f"{op} needs a prompt saying what to do")
    negative = read(body, EDIT_REQUEST["negative_prompt"]) or ""

    tool: dict[str, Any] = {"operation": op, "source": source.to_json(), "params": {}}
    if op == "inpaint":
        tool["mask"] = base64.b64encode(_mask(body, source)).decode()  # saved with the job: JSON text
    elif body.get("mask") is not None:
        raise ValidationError("mask", f"{op} takes no mask")
    width, height = source.width, source.height
    if op == "outpaint":
        max_expand = limits.get("max_expand", DEFAULT_MAX_EXPAND)
        sides = {}
        for side in SIDES:
            # the declared side, narrowed to this provider's limit
            message = f"{side} must be between 0 and {max_expand} px ({provider.label}'s limit)"
            sides[side] = read(body, replace(EDIT_REQUEST[side], maximum=max_expand, message=message))
        if not any(sides.values()):
            raise ValidationError("left", "outpaint needs at least one of left, right, up, down above 0")
        tool["params"].update(sides)
        width, height = width + sides["left"] + sides["right"], height + sides["up"] + sides["down"]
    for name in ("search_prompt", "select_prompt"):
        if name in capability.fields:
            value = EDIT_REQUEST[name].check_bounds(text(body, name).strip())
            if not value:
                raise ValidationError(name, f"{op} needs {name}: what to look for in the image")
            tool["params"][name] = value
        elif body.get(name):
            raise ValidationError(name, f"{op} takes no {name}")

    model_id = text(body, "model") or provider.default_model()
    model = provider.model(model_id)
    if op in ("general", "inpaint") and provider.id != "stability":
        if model is None:
            raise ValidationError("model", f"unknown model {model_id!r} for {provider.id}")
        ratio = nearest_aspect_ratio(_ratio_name(source), list(model.sizes))
        width, height = model.sizes[ratio]
    else:
        model_id = op  # Stability edits have one model per route

    references = body.get("references") or []
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        raise ValidationError("references", "references must be a list of gallery image ids")
    if references and "references" not in capability.fields:
        raise ValidationError("references", f"{provider.label} takes no reference images for {op}")
    most = max((model.max_reference_images if model else 0) - 1, 0)
    if len(references) > most:
        raise ValidationError("references", f"{provider.label} takes at most {most} reference images beside the image")
    tool["references"] = [sources.find(r, "references").to_json() for r in references]

    n = read(body, EDIT_REQUEST["n"])
    seed = read(body, EDIT_REQUEST["seed"])
    quality = text(body, "quality") or (model.default_quality if model else None)
    if model and model.qualities and quality not in model.qualities:
        raise ValidationError("quality", f"quality must be one of {', '.join(model.qualities)}")
    if model and not model.qualities:
        quality = None
    request = tool_request(
        prompt or f"{op} of {source.prompt or source.path}",
        provider.id,
        model_id,
        width,
        height,
        n,
        seed if (model is None or model.supports_seed) else None,
        styled_prompt=prompt,
        negative_prompt=negative,
        user_negative_prompt=negative,
        quality=quality,
    )
    return ToolJob(request, tool, session)


def _ratio_name(source: Source) -> str:
    return nearest_ratio(source.width, source.height)


def estimate_edit(provider: Provider, op: str, request: GenerationRequest) -> float | None:
    capability = provider.edit_operations.get(op)
    if capability and capability.price is not None:
        return round(capability.price * request.n, 6)
    return provider.estimate_cost(request)


class EditTool:
    """The edit tool: POST /api/edit."""

    kind = "edit"
    label = "Edit"
    summary = "Edit a gallery image with a provider"
    description = "402: over ATELIER_MONTHLY_BUDGET_USD. With ATELIER_REDIS_URL the job goes to its provider's queue."
    request = EDIT_REQUEST

    def build(self, body: Any, ctx: ToolContext) -> ToolJob:
        return build_edit(body, ctx.registry, ctx.sources)

    def estimate(self, job: ToolJob, registry: ProviderRegistry) -> float | None:
        provider = registry.get(job.request.provider)
        return estimate_edit(provider, job.tool["operation"], job.request) if provider else None

    def producer(self, registry: ProviderRegistry, read_source: SourceReader) -> ToolProducer:
        return EditProducer(registry, read_source)


class EditProducer:
    """Runs edit jobs: loads the source, its references and mask, calls the provider."""

    def __init__(self, registry: ProviderRegistry, read_source: SourceReader) -> None:
        self.registry = registry
        self.read_source = read_source

    def cpu_bound(self, tool: dict[str, Any]) -> bool:
        return False

    def produce(
        self, tool: dict[str, Any], request: GenerationRequest, ctx: GenerationContext
    ) -> Iterator[GeneratedImage]:
        provider = self.registry.get(request.provider)
        if provider is None:
            raise ProviderError("invalid_request", f"provider {request.provider!r} is no longer installed")
        yield from run_provider_tool(provider, tool, request, ctx, self.read_source, {"kind": "edit"})


def image_input(data: bytes, name: str) -> ImageInput:
    """The image as the provider gets it: upright, as it was shown and measured (a mask is
    painted on it), re-encoded when its EXIF turned it a quarter."""
    if turned_a_quarter(io.BytesIO(data)):
        data = encode(open_image(data), "PNG")
    with Image.open(io.BytesIO(data)) as im:
        fmt, (w, h) = im.format or "PNG", im.size
    extension = {"JPEG": "jpg"}.get(fmt, fmt.lower())
    return ImageInput(f"{name}.{extension}", data, MIME.get(fmt, "image/png"), w, h)


def run_provider_tool(
    provider: Provider,
    tool: dict[str, Any],
    request: GenerationRequest,
    ctx: GenerationContext,
    read_source: SourceReader,
    extra: dict[str, Any],
) -> Iterator[GeneratedImage]:
    """An edit or provider upscale: the provider's images with their source attached."""
    source = tool["source"]
    data = read_source(source)
    image = image_input(data, "image")
    parameters = source_parameters(data)
    references = tuple(image_input(read_source(r), f"reference-{i + 1}") for i, r in
                       enumerate(tool.get("references", [])))  # fmt: skip
    mask = base64.b64decode(tool["mask"]) if tool.get("mask") else None
    edit = EditInput(tool["operation"], request, image, references, mask, dict(tool.get("params", {})))
    for generated in provider.edit_image(edit, ctx):
        yield ToolImage(
            index=generated.index,
            data=generated.data,
            seed=generated.seed,
            metadata=generated.metadata,
            extra={
                "source": {**source, "operation": tool["operation"], **parameters},
                "tool": {**extra, **tool.get("params", {}), "references": tool.get("references", [])},
            },
        )
