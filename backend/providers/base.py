"""The provider contract: what every image provider declares and implements.

A provider is a class with an ``id``, a table of models and their capabilities, and a
``generate`` call. It knows nothing of Flask, Socket.IO, the job queue or the gallery:
it receives a normalized request and a :class:`GenerationContext` through which it
reports progress, sends previews and learns that it was cancelled, and it yields the
images it makes as bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from PIL import Image

from backend import shapes

#: The aspect ratios Atelier knows, as (name, width / height).
ASPECT_RATIOS: dict[str, float] = {
    "1:1": 1.0,
    "2:3": 2 / 3,
    "3:2": 3 / 2,
    "3:4": 3 / 4,
    "4:3": 4 / 3,
    "4:5": 4 / 5,
    "5:4": 5 / 4,
    "9:16": 9 / 16,
    "16:9": 16 / 9,
    "21:9": 21 / 9,
}

#: The error vocabulary a job's ``error.code`` uses. Providers raise ProviderError with
#: one of the first eight; the job service adds the others.
ERROR_CODES = (
    "auth",
    "quota",
    "rate_limited",
    "moderation_blocked",
    "invalid_request",
    "provider_unavailable",
    "timeout",
    "bad_response",
    "provider_error",
    "save_failed",
    "interrupted",
)

RETRYABLE_CODES = frozenset({"rate_limited", "provider_unavailable", "timeout", "interrupted"})


class ProviderError(Exception):
    """A failure a person can act on: ``code`` is from ERROR_CODES, ``message`` says what to do."""

    def __init__(self, code: str, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = code in RETRYABLE_CODES if retryable is None else retryable


class Cancelled(Exception):
    """Raised inside a provider (usually by ``ctx.raise_if_cancelled()``) to stop a job."""


@dataclass(frozen=True)
class StepRange:
    minimum: int
    maximum: int
    default: int

    def to_json(self) -> shapes.StepRange:
        return {"min": self.minimum, "max": self.maximum, "default": self.default}


@dataclass(frozen=True)
class ModelInfo:
    """What one model can do. The web layer offers only what is declared here."""

    id: str
    label: str
    #: aspect ratio name -> (width, height) in pixels this model produces for it.
    sizes: Mapping[str, tuple[int, int]]
    max_images: int = 10
    supports_seed: bool = True
    supports_negative_prompt: bool = True
    steps: StepRange | None = None
    qualities: tuple[str, ...] = ()
    default_quality: str | None = None
    max_reference_images: int = 0
    step_progress: bool = False
    cancel: bool = True
    #: USD per image; a provider whose price depends on the request overrides estimate_cost.
    price_per_image: float | None = None
    default_aspect_ratio: str = "1:1"

    def to_json(self) -> shapes.ModelInfo:
        return {
            "id": self.id,
            "label": self.label,
            "aspect_ratios": {ratio: {"width": w, "height": h} for ratio, (w, h) in self.sizes.items()},
            "default_aspect_ratio": self.default_aspect_ratio,
            "max_images": self.max_images,
            "supports_seed": self.supports_seed,
            "supports_negative_prompt": self.supports_negative_prompt,
            "steps": self.steps.to_json() if self.steps else None,
            "qualities": list(self.qualities),
            "default_quality": self.default_quality,
            "max_reference_images": self.max_reference_images,
            "step_progress": self.step_progress,
            "cancel": self.cancel,
            "price_per_image": self.price_per_image,
        }


@dataclass(frozen=True)
class GenerationRequest:
    """A request after validation: every value is one the chosen model supports."""

    prompt: str  # what the person typed
    styled_prompt: str  # the prompt with the style template applied: what the model gets
    negative_prompt: str  # the person's negative prompt joined with the style's
    provider: str
    model: str
    style: str
    aspect_ratio: str
    width: int
    height: int
    n: int
    seed: int | None  # None when the model takes no seed
    steps: int | None = None
    quality: str | None = None
    user_negative_prompt: str = ""
    #: the wildcard template the person typed (``prompt`` is what it resolved to)
    prompt_template: str | None = None
    #: the prompt before an enhancement the person accepted (``prompt`` is the enhanced one)
    original_prompt: str | None = None
    #: (prompt, styled_prompt) of each image when a template resolves differently per
    #: image: the job runs one provider call per image (:meth:`for_image`)
    per_image: tuple[tuple[str, str], ...] | None = None

    def for_image(self, index: int) -> GenerationRequest:
        """Image ``index`` of a job whose images have their own prompts, as a job of one."""
        assert self.per_image is not None
        prompt, styled = self.per_image[index]
        return replace(self, prompt=prompt, styled_prompt=styled, n=1, seed=self.seed_for(index), per_image=None)

    def to_json(self) -> shapes.JobRequest:
        answer: shapes.JobRequest = {
            "prompt": self.prompt,
            "styled_prompt": self.styled_prompt,
            "negative_prompt": self.user_negative_prompt,
            "effective_negative_prompt": self.negative_prompt,
            "provider": self.provider,
            "model": self.model,
            "style": self.style,
            "aspect_ratio": self.aspect_ratio,
            "width": self.width,
            "height": self.height,
            "n": self.n,
            "seed": self.seed,
            "steps": self.steps,
            "quality": self.quality,
        }
        if self.prompt_template is not None:
            answer["prompt_template"] = self.prompt_template
        if self.original_prompt is not None:
            answer["original_prompt"] = self.original_prompt
        if self.per_image is not None:
            answer["image_prompts"] = [{"prompt": p, "styled_prompt": sp} for p, sp in self.per_image]
        return answer

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenerationRequest:
        fields = dict(data)
        fields["user_negative_prompt"] = fields.pop("negative_prompt", "")
        fields["negative_prompt"] = fields.pop("effective_negative_prompt", "")
        images = fields.pop("image_prompts", None)
        if images is not None:
            fields["per_image"] = tuple((i["prompt"], i["styled_prompt"]) for i in images)
        return cls(**fields)

    def seed_for(self, index: int) -> int | None:
        """Image ``index`` of a job uses seed + index, as A1111 does for batches."""
        return None if self.seed is None else (self.seed + index) % 2**32


@dataclass
class GeneratedImage:
    """One finished image: encoded bytes (PNG, JPEG or WebP) and what produced it."""

    index: int
    data: bytes
    seed: int | None = None
    #: Extra facts worth keeping with the image (e.g. a revised prompt, text beside it).
    metadata: dict[str, Any] = field(default_factory=dict)


class PixelImage(GeneratedImage):
    """An image handed over as pixels (a PIL image), as the local providers make them: the
    studio encodes it to PNG (:meth:`encode`) off the producer's thread, in parallel with
    the next image (services/save_pipeline.py). ``data`` encodes it on first use when that
    has not happened yet, so anything that reads a GeneratedImage's bytes still works."""

    def __init__(
        self, index: int, pixels: Image.Image, seed: int | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        self.index = index
        self.seed = seed
        self.metadata = metadata if metadata is not None else {}
        self.pixels: Image.Image | None = pixels
        self.size: tuple[int, int] = pixels.size
        self._data: bytes | None = None

    @property  # type: ignore[override]
    def data(self) -> bytes:
        return self._data if self._data is not None else self.encode()

    def encode(self) -> bytes:
        """The PNG bytes (encoded once; the pixels are let go then)."""
        if self._data is None:
            assert self.pixels is not None
            self._data = encode_png(self.pixels)
            self.pixels = None
        return self._data


#: The key of ``GeneratedImage.metadata`` where a provider states how it really made the
#: image (:func:`settings`): the gallery writes these into the A1111 ``parameters`` that
#: other tools read, so a provider states only what is true and leaves out what it does
#: not know (a remote API's scheduler). In ``metadata`` it travels to and from workers as is.
SETTINGS = "settings"


def settings(sampler: str | None = None, cfg_scale: float | None = None, steps: int | None = None) -> dict[str, Any]:
    """``{SETTINGS: ...}`` for ``GeneratedImage.metadata``: ``sampler`` the method's name (a
    diffusers scheduler class, the procedural renderer), ``cfg_scale`` only where guidance
    is really applied, ``steps`` the denoising steps really run; None values left out."""
    given = {"sampler": sampler, "cfg_scale": cfg_scale, "steps": steps}
    return {SETTINGS: {k: v for k, v in given.items() if v is not None}}


def image_settings(metadata: Mapping[str, Any] | None) -> tuple[str | None, float | None, int | None]:
    """(sampler, cfg_scale, steps) a provider stated in an image's metadata, each None when
    absent or not of its type (the metadata may have come back from a worker)."""
    found = (metadata or {}).get(SETTINGS)
    found = found if isinstance(found, Mapping) else {}
    sampler, cfg, steps = found.get("sampler"), found.get("cfg_scale"), found.get("steps")
    return (
        sampler if isinstance(sampler, str) and sampler else None,
        float(cfg) if isinstance(cfg, int | float) and not isinstance(cfg, bool) else None,
        steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else None,
    )


@dataclass(frozen=True)
class ImageInput:
    """An image sent to a provider: a file name, its bytes and their MIME type."""

    name: str
    data: bytes
    mime: str
    width: int
    height: int


@dataclass(frozen=True)
class EditInput:
    """A validated edit or provider upscale (the studio tools).

    ``request`` carries the prompt, model, n, seed and output size as for a generation;
    ``mask`` is a PNG of the image's size, white where the image may change (the
    Stability convention; adapters convert it to what their API wants)."""

    operation: str
    request: GenerationRequest
    image: ImageInput
    references: tuple[ImageInput, ...] = ()
    mask: bytes | None = None
    #: operation fields: left/right/up/down, search_prompt, select_prompt, creativity ...
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EditCapability:
    """One operation a provider can do, the fields it takes and its limits."""

    fields: tuple[str, ...]
    #: USD per output image
    price: float | None = None
    #: e.g. {"max_expand": 2000} for outpaint, {"max_input_pixels": ...} for upscales
    limits: Mapping[str, int] = field(default_factory=dict)


class GenerationContext(Protocol):
    """What a provider may call while it generates. Safe to call from any thread."""

    @property
    def cancelled(self) -> bool: ...

    def raise_if_cancelled(self) -> None: ...

    def status(self, message: str) -> None:
        """Progress that cannot be measured: a status message, progress null."""

    def step(self, index: int, step: int, total_steps: int, message: str = "") -> None:
        """Image ``index`` finished ``step`` of ``total_steps``."""

    def preview(self, index: int, image: Image.Image) -> None:
        """A look at image ``index`` in the making; throttled and shrunk by the caller."""


class QuietContext:
    """A GenerationContext nobody watches: reports and previews are dropped, nothing cancels
    (a prompt enhancement's HTTP call, a benchmark's bare run)."""

    cancelled = False

    def raise_if_cancelled(self) -> None:
        pass

    def status(self, message: str) -> None:
        pass

    def step(self, index: int, step: int, total_steps: int, message: str = "") -> None:
        pass

    def preview(self, index: int, image: Image.Image) -> None:
        pass


class Provider:
    """Base class of every provider. Subclasses set ``id``, ``label`` and ``models``."""

    id: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: True when generate() burns CPU in Python or C (rendering, local inference): the
    #: job service then runs it in a real OS thread so the event loop stays responsive.
    #: False for providers that mostly wait on the network.
    cpu_bound: ClassVar[bool] = False
    #: How many jobs of this provider may run at once unless the settings say otherwise.
    default_concurrency: ClassVar[int] = 2
    #: The studio tools it can do: operation id -> capability. Edit operations are
    #: "general", "inpaint", "outpaint", "remove-background", "search-replace",
    #: "search-recolor"; provider upscales are "upscale-conservative", "upscale-creative".
    edit_operations: ClassVar[Mapping[str, EditCapability]] = {}

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    # --- what it offers -------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        raise NotImplementedError

    def default_model(self) -> str:
        return self.models()[0].id

    def model(self, model_id: str) -> ModelInfo | None:
        return next((m for m in self.models() if m.id == model_id), None)

    def availability(self) -> tuple[bool, str | None]:
        """(available, reason when not): e.g. a missing key. Never includes a key."""
        return True, None

    def estimate_cost(self, request: GenerationRequest) -> float | None:
        """Estimated USD for the whole request, None when the provider has no price."""
        model = self.model(request.model)
        if model is None or model.price_per_image is None:
            return None
        return round(model.price_per_image * request.n, 6)

    # --- what it does ---------------------------------------------------------------
    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        """Yield the request's images as they are made (index 0..n-1).

        Raise ProviderError for failures a person can act on and Cancelled when
        ``ctx.cancelled`` became true. Any other exception fails the job as a bug.
        """
        raise NotImplementedError

    def edit_image(self, edit: EditInput, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        """Yield the edited images of one of ``edit_operations`` (same rules as generate)."""
        raise ProviderError("invalid_request", f"{self.label} cannot do {edit.operation}")

    def to_json(self) -> shapes.ProviderInfo:
        available, reason = self.availability()
        return {
            "id": self.id,
            "label": self.label,
            "available": available,
            "reason": reason,
            "default_model": self.default_model(),
            "models": [m.to_json() for m in self.models()],
        }


def encode_png(image: Image.Image, compress_level: int = 1) -> bytes:
    """PNG bytes of ``image``. Level 1: the fastest of Pillow's, chosen by measurement
    (bench/bench_save.py, docs/benchmarks.md: levels 4 and 6 cost 1.5-2x the time for
    5-10% smaller files)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()
