"""Re-fitting a request to a fallback provider: values it cannot honour change with a warning."""

from __future__ import annotations

from backend.providers.registry import ProviderRegistry
from backend.services.validation import build_generation_request, renormalize_for_provider

ENV = {"OPENAI_API_KEY": "sk-a", "STABILITY_API_KEY": "sk-b", "GEMINI_API_KEY": "g"}


def test_request_moves_to_the_fallback_default_model_with_warnings():
    registry = ProviderRegistry.discover(ENV)
    body = {"prompt": "a boat", "provider": "openai", "aspect_ratio": "16:9", "quality": "high", "n": 3}
    request, warnings, _ = build_generation_request(body, registry, "offline")
    assert request.aspect_ratio == "3:2" and warnings[0].field == "aspect_ratio"

    moved, notes = renormalize_for_provider(request, "stability", 2, registry, requested_ratio="16:9")
    assert (moved.provider, moved.model, moved.aspect_ratio, moved.n) == ("stability", "core", "16:9", 2)
    assert (moved.width, moved.height) == (1344, 768) and moved.quality is None and moved.seed is not None
    assert notes == []

    moved, notes = renormalize_for_provider(request, "stability", 1, registry, requested_ratio="4:3")
    assert moved.aspect_ratio != "4:3" and [w.field for w in notes] == ["aspect_ratio"]


def test_a_seed_the_fallback_cannot_take_is_a_warning():
    registry = ProviderRegistry.discover(ENV)
    request, _, _ = build_generation_request({"prompt": "a boat", "provider": "gemini", "seed": 5}, registry, "offline")
    moved, notes = renormalize_for_provider(request, "openai", 1, registry)
    assert moved.seed is None and [w.field for w in notes] == ["seed"]
