"""What the providers offer: their models and each model's capabilities."""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict


class StepRange(TypedDict):
    min: int
    max: int
    default: int


class Size(TypedDict):
    width: int
    height: int


class ModelInfo(TypedDict):
    id: str
    label: str
    aspect_ratios: dict[str, Size]
    default_aspect_ratio: str
    max_images: int
    supports_seed: bool
    supports_negative_prompt: bool
    steps: StepRange | None
    qualities: list[str]
    default_quality: str | None
    max_reference_images: int
    step_progress: bool
    cancel: bool
    price_per_image: float | None
    repo: NotRequired[str | None]
    """diffusers only: the Hugging Face repository"""
    pipeline: NotRequired[str]
    """diffusers only: the model family"""
    guidance_scale: NotRequired[float]
    """diffusers only"""
    source: NotRequired[str]
    """diffusers only: models_dir, hf_cache, or download (not yet on disk)"""


class NotInstalled(TypedDict):
    id: str
    repo: str
    download: str
    """the command that fetches it"""


class ProviderInfo(TypedDict):
    id: str
    label: str
    available: bool
    reason: str | None
    default_model: str
    models: list[ModelInfo]
    not_installed: NotRequired[list[NotInstalled]]
    """diffusers only: the catalogue models not on this machine"""
    loaded_model: NotRequired[str | None]
    """diffusers only: the model in memory"""


class Providers(TypedDict):
    providers: list[ProviderInfo]
