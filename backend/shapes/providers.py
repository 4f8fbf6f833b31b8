"""What the providers offer: their models and each model's capabilities."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

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


class ProviderStatus(TypedDict):
    id: str
    label: str
    available: bool
    reason: str | None


class SettingFieldInfo(TypedDict):
    name: str
    label: str
    kind: Literal["url", "number", "integer", "names"]
    min: float | None
    max: float | None
    help: str


class KeyStatus(TypedDict):
    """Never the key: whether one is set, where from, its last four characters, when."""

    set: bool
    source: Literal["environment", "studio"] | None
    """environment: set by the environment or .env (wins, not editable in the studio)"""
    last4: str | None
    set_at: str | None
    """ISO 8601, UTC"""
    problem: NotRequired[str]
    """a key entered in the studio that can no longer be read (the secret changed): enter it again"""


class LocalSetup(TypedDict):
    """diffusers only: what the local models need and what was found."""

    missing_packages: list[str]
    install_command: str
    models_dir: str
    models_dir_variable: str
    hf_cache: str
    found: list[dict[str, str]]
    download_examples: list[str]


class ProviderSettings(TypedDict):
    provider: ProviderStatus
    settings: dict[str, Any]
    """enabled, and each of ``fields`` by name (base_url, timeout_seconds, retries, models, concurrency)"""
    sources: dict[str, Literal["environment", "studio", "default"]]
    fields: list[SettingFieldInfo]
    takes_key: bool
    key: KeyStatus
    version: int
    """counts every save of any provider's settings"""
    local: NotRequired[LocalSetup]


class ProviderTest(TypedDict):
    ok: bool
    verdict: Literal["works", "wrong_key", "no_credit", "cannot_reach", "no_key", "off", "no_check", "failed"]
    message: str
    """in plain words, never holding the key"""
