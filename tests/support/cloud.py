"""Helpers for cloud provider tests: an in-process GenerationContext and provider factories."""

from __future__ import annotations

import threading
from typing import Any

from backend.providers.base import Cancelled, GenerationRequest, Provider
from backend.providers.http_api import ApiError

#: Tiny delays so retries and polls take milliseconds; long enough timeouts for a loaded CI box.
FAST_SETTINGS = {
    "ATELIER_HTTP_TIMEOUT_SECONDS": "10",
    "ATELIER_HTTP_CONNECT_TIMEOUT_SECONDS": "5",
    "ATELIER_RETRY_MAX_SECONDS": "20",
    "ATELIER_RETRY_ATTEMPTS": "3",
    "ATELIER_RETRY_BACKOFF_SECONDS": "0.001",
    "ATELIER_POLL_INTERVAL_SECONDS": "0.001",
    "ATELIER_STATUS_INTERVAL_SECONDS": "60",
}


class RecordingContext:
    """A GenerationContext that records what the provider reported."""

    def __init__(self, cancel_after_status: str | None = None) -> None:
        self.statuses: list[str] = []
        self.steps: list[tuple[int, int, int, str]] = []
        self._cancelled = threading.Event()
        self.cancel_after_status = cancel_after_status

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()

    def status(self, message: str) -> None:
        self.statuses.append(message)
        if self.cancel_after_status and self.cancel_after_status in message:
            self.cancel()

    def step(self, index: int, step: int, total_steps: int, message: str = "") -> None:
        self.steps.append((index, step, total_steps, message))

    def preview(self, index: int, image: Any) -> None:
        pass


def make_provider(cls: type[Provider], base_url_var: str, url: str, key_var: str, key: str, **env: str) -> Provider:
    provider = cls({base_url_var: url, key_var: key, **FAST_SETTINGS, **env})
    provider.delays = []  # type: ignore[attr-defined]
    provider.client.on_wait = provider.delays.append  # type: ignore[attr-defined]
    return provider


def request_for(provider: Provider, **overrides: Any) -> GenerationRequest:
    model = provider.model(overrides.get("model") or provider.default_model())
    assert model is not None
    ratio = overrides.pop("aspect_ratio", model.default_aspect_ratio)
    width, height = model.sizes[ratio]
    fields: dict[str, Any] = dict(
        prompt="a red apple",
        styled_prompt="a red apple",
        negative_prompt="",
        provider=provider.id,
        model=model.id,
        style="none",
        aspect_ratio=ratio,
        width=width,
        height=height,
        n=1,
        seed=7 if model.supports_seed else None,
        steps=model.steps.default if model.steps else None,
        quality=model.default_quality,
    )
    fields.update(overrides)
    return GenerationRequest(**fields)


def run(provider: Provider, request: GenerationRequest, ctx: RecordingContext | None = None):
    ctx = ctx or RecordingContext()
    return list(provider.generate(request, ctx)), ctx


def failure(provider: Provider, request: GenerationRequest, ctx: RecordingContext | None = None) -> ApiError:
    try:
        run(provider, request, ctx)
    except ApiError as exc:
        return exc
    raise AssertionError("the provider did not fail")
