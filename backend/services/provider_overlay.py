"""A provider built with the settings entered in the studio over the environment's.

The studio's values are environment variables for that provider alone, laid under the
environment: a variable the environment (or ``.env``) sets wins. A provider turned off
is wrapped in :class:`SwitchedOff`, which says so wherever availability is asked.
The web server and the scale-out workers build their providers with the same function.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from backend import shapes
from backend.providers.base import (
    EditInput,
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ModelInfo,
    Provider,
    ProviderError,
)

OFF_REASON = "turned off on the Providers page"


class SwitchedOff(Provider):
    """A provider that is installed and set up, but turned off: nothing runs on it."""

    def __init__(self, inner: Provider) -> None:
        super().__init__(inner.env)
        self.inner = inner
        self.id = inner.id  # type: ignore[misc]
        self.label = inner.label  # type: ignore[misc]
        self.cpu_bound = inner.cpu_bound  # type: ignore[misc]
        self.default_concurrency = inner.default_concurrency  # type: ignore[misc]
        self.edit_operations = inner.edit_operations  # type: ignore[misc]

    def models(self) -> list[ModelInfo]:
        return self.inner.models()

    def default_model(self) -> str:
        return self.inner.default_model()

    def availability(self) -> tuple[bool, str | None]:
        return False, OFF_REASON

    def estimate_cost(self, request: GenerationRequest) -> float | None:
        return self.inner.estimate_cost(request)

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        raise ProviderError("provider_unavailable", f"{self.label} is {OFF_REASON}")

    def edit_image(self, edit: EditInput, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        raise ProviderError("provider_unavailable", f"{self.label} is {OFF_REASON}")

    def to_json(self) -> shapes.ProviderInfo:
        data = self.inner.to_json()
        data["available"], data["reason"] = False, OFF_REASON
        return data

    def __getattr__(self, name: str) -> Any:  # what a provider adds (diffusers' models_dir)
        return getattr(self.inner, name)


def configured(cls: type[Provider], env: Mapping[str, str], overlay: Mapping[str, str], enabled: bool) -> Provider:
    """``cls`` built on ``overlay`` under ``env`` (the environment wins); raises SettingsError."""
    merged = {**overlay, **{k: v for k, v in env.items() if v.strip() or k not in overlay}}
    provider = cls(merged)
    return provider if enabled else SwitchedOff(provider)
