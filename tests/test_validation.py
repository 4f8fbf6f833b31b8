"""Job request validation, in-process: whatever a client sends, the answer is a request the
chosen model supports (every changed value reported as a warning) or a ValidationError
naming a field. No process boundary here: these are the rules, not the transport."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.providers.base import ASPECT_RATIOS
from backend.providers.registry import ProviderRegistry
from backend.services.validation import (
    JOB_REQUEST,
    MAX_SEED,
    ValidationError,
    build_generation_request,
    renormalize_for_provider,
)


@pytest.fixture(scope="module")
def registry() -> ProviderRegistry:
    return ProviderRegistry.discover({}, ("tests.support.providers",))


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
)
FIELD_VALUES: dict[str, Any] = {
    "prompt": st.one_of(st.text(max_size=50), JSON_VALUES),
    "provider": st.sampled_from(["offline", "instant", "keyless", "nope", "", 3]),
    "aspect_ratio": st.one_of(st.sampled_from([*ASPECT_RATIOS, "7:3", ""]), JSON_VALUES),
    "n": st.one_of(st.integers(min_value=-2, max_value=12), JSON_VALUES),
    "seed": st.one_of(st.integers(min_value=-5, max_value=2**33), JSON_VALUES),
    "steps": st.one_of(st.integers(min_value=-5, max_value=500), JSON_VALUES),
    "quality": st.one_of(st.sampled_from(["low", "high", "hd", "ultra"]), JSON_VALUES),
    "style": st.one_of(st.sampled_from(["none", "anime", "vaporwave"]), JSON_VALUES),
    "negative_prompt": st.one_of(st.text(max_size=20), JSON_VALUES),
}
BODIES = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({}, optional=FIELD_VALUES),
    st.fixed_dictionaries(
        {"prompt": st.just("a red fox")}, optional={k: v for k, v in FIELD_VALUES.items() if k != "prompt"}
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_any_body_is_a_supported_request_or_a_named_refusal(registry: ProviderRegistry, body: Any) -> None:
    try:
        request, warnings, _session = build_generation_request(body, registry, "offline")
    except ValidationError as exc:
        # a known field, the whole body (None), or an unknown key named as such
        assert exc.field is None or exc.field in JOB_REQUEST.names or "unknown field" in exc.message, exc
        assert exc.message
        return
    provider = registry.get(request.provider)
    assert provider is not None
    model = provider.model(request.model)
    assert model is not None
    assert request.prompt.strip() and request.prompt == body["prompt"]
    assert request.aspect_ratio in model.sizes
    assert (request.width, request.height) == model.sizes[request.aspect_ratio]
    assert 1 <= request.n <= model.max_images or 1 <= request.n <= 10
    if request.seed is not None:
        assert 0 <= request.seed <= MAX_SEED
    if model.steps is not None:
        assert model.steps.minimum <= request.steps <= model.steps.maximum
    # nothing the person asked for changes silently: each difference has its warning
    changed = {w.field for w in warnings}
    if (
        isinstance(body.get("aspect_ratio"), str)
        and body["aspect_ratio"]
        and body["aspect_ratio"] != request.aspect_ratio
    ):
        assert "aspect_ratio" in changed
    if type(body.get("steps")) is int and body["steps"] != request.steps:
        assert "steps" in changed
    if type(body.get("seed")) is int and body["seed"] != request.seed:
        assert "seed" in changed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": " "}, "prompt"),
        ({"prompt": "x" * 4001}, "prompt"),
        ({"prompt": "ok", "n": 0}, "n"),
        ({"prompt": "ok", "n": True}, "n"),
        ({"prompt": "ok", "seed": 2**32}, "seed"),
        ({"prompt": "ok", "seed": 1.5}, "seed"),
        ({"prompt": "ok", "provider": "keyless"}, "provider"),
        ({"prompt": "ok", "aspect_ratio": "16/9"}, "aspect_ratio"),
        ({"prompt": "ok", "quality": "ultra"}, "quality"),
        ({"prompt": "ok", "sampler": "euler"}, "sampler"),
        ([], None),
        ("prompt", None),
    ],
)
def test_each_bad_value_is_refused_naming_its_field(registry: ProviderRegistry, body: Any, field: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        build_generation_request(body, registry, "offline")
    assert caught.value.field == field


def test_fallback_keeps_what_was_asked_and_reports_what_the_next_model_changes(registry: ProviderRegistry) -> None:
    asked = {"prompt": "a lighthouse", "provider": "offline", "aspect_ratio": "21:9", "seed": 7, "n": 2}
    request, _, _ = build_generation_request(asked, registry, "offline")
    moved, warnings = renormalize_for_provider(request, "instant", 2, registry, requested_ratio="21:9")
    assert (moved.provider, moved.prompt, moved.n) == ("instant", "a lighthouse", 2)
    instant = registry.get("instant").model(moved.model)  # type: ignore[union-attr]
    if "21:9" not in instant.sizes:
        assert moved.aspect_ratio in instant.sizes
        assert any(w.field == "aspect_ratio" and w.requested == "21:9" for w in warnings)
    else:
        assert moved.aspect_ratio == "21:9"
