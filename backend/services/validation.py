"""Turns a job request body into a GenerationRequest the chosen model supports.

Bad values are refused with a ValidationError naming the field (HTTP 422). Known values
the chosen model cannot honour are replaced by the nearest one it can, and every such
change is reported as a warning: never a silent change of what the person asked for.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, replace
from typing import Any

from backend.providers.base import ASPECT_RATIOS, GenerationRequest, ModelInfo
from backend.providers.registry import ProviderRegistry
from backend.services.queue_order import DEFAULT_PRIORITY, PRIORITIES
from backend.services.schema import Field, Shape, ValidationError
from backend.services.styles import Style, load_styles
from backend.services.wildcards import WildcardError, WildcardFiles, expand_many, has_syntax

__all__ = ["ValidationError", "build_generation_request", "job_priority", "JOB_REQUEST"]

MAX_PROMPT_CHARS = 4000
MAX_IMAGES = 10
MAX_SEED = 2**32 - 1
KNOWN_QUALITIES = ("low", "medium", "high", "auto", "standard", "hd")
SESSION_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SESSION_RE = re.compile(SESSION_PATTERN)


def _provider_ids(registry: ProviderRegistry | None) -> list[str]:
    return list(registry.ids()) if registry is not None else []


def _model_ids(registry: ProviderRegistry | None) -> list[str]:
    return [m.id for p in (registry or []) for m in p.models()]


def _qualities(registry: ProviderRegistry | None) -> list[str]:
    return list(KNOWN_QUALITIES) + [q for p in (registry or []) for m in p.models() for q in m.qualities]


def _registry(env: Any) -> ProviderRegistry | None:
    """Document-time enums get the Studio (or nothing, for a document without one)."""
    return getattr(env, "registry", None)


SESSION = Field(
    "session",
    "string",
    "the client session (e.g. one per browser tab)",
    nullable=True,
    pattern=SESSION_PATTERN,
    message="session must be 1-64 letters, digits, '-' or '_'",
)

#: The body of POST /api/jobs: read by build_generation_request and by the OpenAPI document.
JOB_REQUEST = Shape(
    (
        Field(
            "prompt",
            "string",
            "what to make; not blank",
            required=True,
            min_length=1,
            max_length=MAX_PROMPT_CHARS,
            pattern=r"\S",
        ),
        Field(
            "original_prompt",
            "string",
            "the prompt before an enhancement the person accepted (kept with the job and its images)",
            nullable=True,
            max_length=MAX_PROMPT_CHARS,
        ),
        Field("negative_prompt", "string", "what to avoid", nullable=True, max_length=MAX_PROMPT_CHARS, default=""),
        Field(
            "provider",
            "string",
            "provider id (default ATELIER_DEFAULT_PROVIDER); must be available",
            nullable=True,
            enum=lambda env: _provider_ids(_registry(env)),
        ),
        Field(
            "model",
            "string",
            "model id of that provider (default: the provider's default)",
            nullable=True,
            enum=lambda env: _model_ids(_registry(env)),
        ),
        Field("style", "string", "style name", nullable=True, default="none", enum=lambda env: list(load_styles())),
        Field("aspect_ratio", "string", "default: the model's default", nullable=True, enum=tuple(ASPECT_RATIOS)),
        Field("n", "integer", "images in the job", nullable=True, default=1, minimum=1, maximum=MAX_IMAGES),
        Field("seed", "integer", "image i uses seed + i (default: random)", nullable=True, minimum=0, maximum=MAX_SEED),
        Field(
            "steps",
            "integer",
            "clamped to the model's range, with a warning",
            nullable=True,
            minimum=1,
            message="steps must be a positive integer",
        ),
        Field(
            "quality",
            "string",
            "the model's default if not given",
            nullable=True,
            enum=lambda env: _qualities(_registry(env)),
        ),
        SESSION,
        Field(
            "priority",
            "string",
            "higher runs first; first come, first served within a priority",
            nullable=True,
            default=DEFAULT_PRIORITY,
            enum=PRIORITIES,
        ),
    ),
    description="A generation job. Unknown fields are refused, so a typo never silently changes what was asked.",
)
JOB_FIELDS = JOB_REQUEST.names


@dataclass(frozen=True)
class Warning_:
    field: str
    message: str
    requested: Any
    used: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "message": self.message,
            "requested": self.requested,
            "used": self.used,
        }


def _string(body: dict[str, Any], name: str, default: str = "") -> str:
    value = JOB_REQUEST[name].check_type(body.get(name))
    return default if value is None else value


def _integer(body: dict[str, Any], name: str) -> int | None:
    field = JOB_REQUEST[name]
    return field.check_bounds(field.check_type(body.get(name)))


def nearest_aspect_ratio(requested: str, supported: list[str]) -> str:
    """The supported ratio closest in shape (log of width/height) to ``requested``."""
    target = math.log(ASPECT_RATIOS[requested])
    return min(supported, key=lambda r: (abs(math.log(ASPECT_RATIOS[r]) - target), r))


def job_priority(body: Any) -> str:
    """The job's place in the queue from a job body: high, normal (default) or low."""
    if not isinstance(body, dict):
        return DEFAULT_PRIORITY
    return JOB_REQUEST["priority"].check(body.get("priority")) or DEFAULT_PRIORITY


def build_generation_request(
    body: Any, registry: ProviderRegistry, default_provider: str, wildcards: WildcardFiles | None = None
) -> tuple[GenerationRequest, list[Warning_], str | None]:
    """Validate ``body``; returns (request, warnings, client session id). With ``wildcards``
    (the studio's folder) a prompt in the Dynamic Prompts syntax is resolved per image."""
    body = JOB_REQUEST.check_object(body)

    prompt = _string(body, "prompt")
    if not prompt.strip():
        raise ValidationError("prompt", "prompt must not be empty")
    if len(prompt) > JOB_REQUEST["prompt"].max_length:
        raise ValidationError("prompt", f"prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    negative = _string(body, "negative_prompt")
    JOB_REQUEST["negative_prompt"].check_bounds(negative)
    original = JOB_REQUEST["original_prompt"].check_bounds(_string(body, "original_prompt") or None)

    n = _integer(body, "n")
    n = JOB_REQUEST["n"].default if n is None else n

    provider_id = _string(body, "provider") or default_provider
    provider = registry.get(provider_id)
    if provider is None:
        raise ValidationError("provider", f"unknown provider {provider_id!r}; known: {', '.join(registry.ids())}")
    available, reason = provider.availability()
    if not available:
        raise ValidationError("provider", f"provider {provider_id!r} is unavailable: {reason}")

    model_id = _string(body, "model") or provider.default_model()
    model = provider.model(model_id)
    if model is None:
        known = ", ".join(m.id for m in provider.models())
        raise ValidationError("model", f"unknown model {model_id!r} for {provider_id}; known: {known}")

    style_name = _string(body, "style") or "none"
    style = load_styles().get(style_name)
    if style is None:
        raise ValidationError("style", f"unknown style {style_name!r}; known: {', '.join(load_styles())}")

    session = SESSION.check_bounds(_string(body, "session") or None)
    job_priority(body)  # checked with the rest, though the queue, not the request, keeps it

    warnings: list[Warning_] = []
    ratio = _aspect_ratio(body, model, warnings)
    seed = _seed(body, model, warnings)
    steps = _steps(body, model, warnings)
    quality = _quality(body, model, warnings)
    if negative.strip() and not model.supports_negative_prompt:
        warnings.append(
            Warning_(
                "negative_prompt",
                f"{model.label} does not take a negative prompt; it was not sent",
                negative,
                None,
            )
        )
        negative = ""

    styled_prompt, effective_negative = style.apply(prompt, negative)
    if not model.supports_negative_prompt:
        effective_negative = ""
    width, height = model.sizes[ratio]
    request = GenerationRequest(
        prompt=prompt,
        styled_prompt=styled_prompt,
        negative_prompt=effective_negative,
        user_negative_prompt=negative,
        provider=provider.id,
        model=model.id,
        style=style.name,
        aspect_ratio=ratio,
        width=width,
        height=height,
        n=n,
        seed=seed,
        steps=steps,
        quality=quality,
        original_prompt=original,
    )
    if wildcards is not None and has_syntax(prompt):
        chosen = _integer(body, "seed")
        wildcard_seed = seed if seed is not None else chosen if chosen is not None else secrets.randbelow(MAX_SEED)
        request = resolve_wildcards(request, style, wildcards, wildcard_seed)
    return request, warnings, session


def resolve_wildcards(request: GenerationRequest, style: Style, files: WildcardFiles, seed: int) -> GenerationRequest:
    """``request`` with its prompt resolved for each image (image i with ``seed + i``); the
    template is kept in ``prompt_template``. ValidationError naming a bad template."""
    template = request.prompt
    try:
        prompts = expand_many(template, seed, request.n, files)
    except WildcardError as exc:
        raise ValidationError("prompt", exc.message) from None
    if all(p == template for p in prompts):
        return request  # nothing to resolve ("snake__case")
    if not all(p.strip() for p in prompts):
        raise ValidationError("prompt", "the prompt resolves to an empty prompt for some seeds")
    styled = [style.apply(p, request.user_negative_prompt)[0] for p in prompts]
    per_image = tuple(zip(prompts, styled, strict=True)) if len(set(prompts)) > 1 else None
    return replace(request, prompt=prompts[0], styled_prompt=styled[0], prompt_template=template, per_image=per_image)


def renormalize_for_provider(
    request: GenerationRequest,
    provider_id: str,
    n: int,
    registry: ProviderRegistry,
    requested_ratio: str | None = None,
) -> tuple[GenerationRequest, list[Warning_]]:
    """``request`` moved to another provider's default model (fallback), with a warning
    for each value that model cannot honour. Steps and quality stay that model's defaults;
    ``requested_ratio`` is what the person asked for before the first model changed it."""
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.user_negative_prompt,
        "provider": provider_id,
        "style": request.style,
        "aspect_ratio": requested_ratio or request.aspect_ratio,
        "n": n,
    }
    if request.seed is not None:
        body["seed"] = request.seed
    moved, warnings, _ = build_generation_request(body, registry, provider_id)
    return replace(moved, prompt_template=request.prompt_template, original_prompt=request.original_prompt), warnings


def _aspect_ratio(body: dict[str, Any], model: ModelInfo, warnings: list[Warning_]) -> str:
    requested = _string(body, "aspect_ratio") or model.default_aspect_ratio
    if requested not in ASPECT_RATIOS:
        raise ValidationError(
            "aspect_ratio",
            f"unknown aspect ratio {requested!r}; known: {', '.join(ASPECT_RATIOS)}",
        )
    if requested in model.sizes:
        return requested
    used = nearest_aspect_ratio(requested, list(model.sizes))
    warnings.append(
        Warning_(
            "aspect_ratio",
            f"{model.label} cannot make {requested}; using the nearest it can, {used}",
            requested,
            used,
        )
    )
    return used


def _seed(body: dict[str, Any], model: ModelInfo, warnings: list[Warning_]) -> int | None:
    seed = _integer(body, "seed")
    if not model.supports_seed:
        if seed is not None:
            warnings.append(Warning_("seed", f"{model.label} takes no seed; results will vary", seed, None))
        return None
    return secrets.randbelow(MAX_SEED) if seed is None else seed


def _steps(body: dict[str, Any], model: ModelInfo, warnings: list[Warning_]) -> int | None:
    steps = _integer(body, "steps")
    if model.steps is None:
        if steps is not None:
            warnings.append(Warning_("steps", f"{model.label} does not take a step count", steps, None))
        return None
    if steps is None:
        return model.steps.default
    used = min(max(steps, model.steps.minimum), model.steps.maximum)
    if used != steps:
        warnings.append(
            Warning_(
                "steps",
                f"{model.label} takes {model.steps.minimum}-{model.steps.maximum} steps; using {used}",
                steps,
                used,
            )
        )
    return used


def _quality(body: dict[str, Any], model: ModelInfo, warnings: list[Warning_]) -> str | None:
    quality = _string(body, "quality") or None
    if quality is not None and quality not in KNOWN_QUALITIES and quality not in model.qualities:
        raise ValidationError("quality", f"unknown quality {quality!r}")
    if not model.qualities:
        if quality is not None:
            warnings.append(Warning_("quality", f"{model.label} has no quality setting", quality, None))
        return None
    if quality is None:
        return model.default_quality or model.qualities[0]
    if quality in model.qualities:
        return quality
    used = model.default_quality or model.qualities[0]
    warnings.append(
        Warning_(
            "quality",
            f"{model.label} offers {', '.join(model.qualities)}; using {used}",
            quality,
            used,
        )
    )
    return used
