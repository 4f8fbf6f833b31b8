"""Stability adapter against a local fake of v2beta stable-image generate."""

from __future__ import annotations

import pytest

from backend.providers.stability import StabilityProvider
from tests.fakes.stability_api import FakeStability
from tests.support.cloud import failure, make_provider, request_for, run

KEY = "sk-stab-SECRET-0123456789"


@pytest.fixture
def fake():
    with FakeStability(KEY) as server:
        yield server


@pytest.fixture
def provider(fake):
    return make_provider(StabilityProvider, "STABILITY_BASE_URL", fake.url, "STABILITY_API_KEY", KEY)


def test_core_request_is_multipart_on_the_wire(fake, provider):
    images, _ = run(
        provider, request_for(provider, model="core", aspect_ratio="16:9", negative_prompt="blurry", seed=5)
    )
    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/v2beta/stable-image/generate/core")
    assert req.headers["authorization"] == f"Bearer {KEY}" and req.headers["accept"] == "image/*"
    assert req.is_multipart
    assert req.form() == {
        "prompt": "a red apple",
        "negative_prompt": "blurry",
        "aspect_ratio": "16:9",
        "seed": "5",
        "output_format": "png",
    }
    assert images[0].seed == 5 and images[0].metadata == {"finish_reason": "SUCCESS"}


@pytest.mark.parametrize(("model", "route"), [("ultra", "ultra"), ("sd3.5-large-turbo", "sd3"), ("sd3.5-flash", "sd3")])
def test_each_model_uses_its_route(fake, provider, model, route):
    run(provider, request_for(provider, model=model, n=2))
    assert [r.path for r in fake.requests] == [f"/v2beta/stable-image/generate/{route}"] * 2
    form = fake.requests[0].form()
    assert form.get("model") == (model if route == "sd3" else None)


def test_seed_zero_asks_for_random_and_the_real_seed_is_recorded(fake, provider):
    images, _ = run(provider, request_for(provider, seed=0))
    assert fake.requests[0].form()["seed"] == "0"
    assert images[0].seed == 1234567 and images[0].metadata["requested_seed"] == 0


def test_prices_per_model(provider):
    prices = {m.id: m.price_per_image for m in provider.models()}
    assert prices == {
        "core": 0.03,
        "ultra": 0.08,
        "sd3.5-large": 0.065,
        "sd3.5-large-turbo": 0.04,
        "sd3.5-medium": 0.035,
        "sd3.5-flash": 0.025,
    }
    assert provider.estimate_cost(request_for(provider, model="ultra", n=3)) == 0.24
    assert "4:3" not in provider.model("core").sizes  # not in Stability's enum


@pytest.mark.parametrize(
    ("behaviour", "code", "words"),
    [
        ("moderation", "moderation_blocked", "content moderation"),
        ("filtered", "moderation_blocked", "CONTENT_FILTERED"),
        ("quota", "quota", "credits"),
        ("garbage", "bad_response", "not a PNG"),
        ("truncated", "bad_response", "cut off"),
    ],
)
def test_answers_map_to_codes(fake, provider, behaviour, code, words):
    fake.script("generate", behaviour)
    error = failure(provider, request_for(provider))
    assert error.code == code and words in error.message
    assert len(fake.requests) == 1


def test_rate_limit_and_server_error_are_retried(fake, provider):
    fake.script("generate", "rate_limited", "server_error")
    images, _ = run(provider, request_for(provider))
    assert len(images) == 1 and len(fake.requests) == 3 and len(provider.delays) == 2


def test_bad_key_is_auth_without_the_key(fake):
    wrong = "sk-stab-wrong-SECRET"
    provider = make_provider(StabilityProvider, "STABILITY_BASE_URL", fake.url, "STABILITY_API_KEY", wrong)
    error = failure(provider, request_for(provider))
    assert error.code == "auth" and wrong not in error.message and "STABILITY_API_KEY" in error.message


def test_no_key_unavailable():
    available, reason = StabilityProvider({}).availability()
    assert not available and "STABILITY_API_KEY" in reason
