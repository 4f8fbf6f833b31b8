"""Hugging Face adapter against a local fake of the router's hf-inference route."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from backend.providers.huggingface import HuggingFaceProvider
from tests.fakes.huggingface_api import FakeHuggingFace
from tests.support.cloud import failure, make_provider, request_for, run

KEY = "hf_test_SECRET_0123456789"


@pytest.fixture
def fake():
    with FakeHuggingFace(KEY) as server:
        yield server


@pytest.fixture
def provider(fake):
    return make_provider(HuggingFaceProvider, "HF_BASE_URL", fake.url, "HF_TOKEN", KEY)


def test_request_on_the_wire(fake, provider):
    images, _ = run(provider, request_for(provider, aspect_ratio="3:2", n=2, seed=3))
    first, second = fake.requests
    assert (first.method, first.path) == ("POST", "/hf-inference/models/black-forest-labs/FLUX.1-schnell")
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.headers["accept"] == "image/png" and first.headers["content-type"] == "application/json"
    assert first.json() == {
        "inputs": "a red apple",
        "parameters": {"width": 1216, "height": 832, "num_inference_steps": 4, "guidance_scale": 0.0, "seed": 3},
    }
    assert second.json()["parameters"]["seed"] == 4
    assert Image.open(io.BytesIO(images[1].data)).size == (1216, 832)
    assert [i.seed for i in images] == [3, 4]


def test_negative_prompt_sent_when_the_model_takes_one(fake, provider):
    model = "stabilityai/stable-diffusion-xl-base-1.0"
    run(provider, request_for(provider, model=model, negative_prompt="blurry", steps=20))
    params = fake.requests[0].json()["parameters"]
    assert params["negative_prompt"] == "blurry" and params["num_inference_steps"] == 20
    assert "guidance_scale" not in params
    assert fake.requests[0].path == f"/hf-inference/models/{model}"


def test_other_models_by_name_from_settings(fake):
    provider = make_provider(HuggingFaceProvider, "HF_BASE_URL", fake.url, "HF_TOKEN", KEY, HF_MODELS="acme/pix-1, ")
    assert [m.id for m in provider.models()][-1] == "acme/pix-1"
    run(provider, request_for(provider, model="acme/pix-1"))
    assert fake.requests[0].path == "/hf-inference/models/acme/pix-1"


def test_capabilities(provider):
    model = provider.model("black-forest-labs/FLUX.1-schnell")
    assert model.steps.to_json() == {"min": 1, "max": 4, "default": 4}
    assert model.sizes["16:9"] == (1344, 768) and model.sizes["21:9"] == (1536, 640)
    assert provider.estimate_cost(request_for(provider)) is None  # billed by compute time


@pytest.mark.parametrize(
    ("behaviour", "code", "words"),
    [
        ("quota", "quota", "monthly included credits"),
        ("bad_request", "invalid_request", "multiple of 8"),
        ("garbage", "bad_response", "not a PNG"),
        ("json_200", "bad_response", "instead of an image"),
        ("truncated", "bad_response", "cut off"),
    ],
)
def test_answers_map_to_codes(fake, provider, behaviour, code, words):
    fake.script("generate", behaviour)
    error = failure(provider, request_for(provider))
    assert error.code == code and words in error.message
    assert len(fake.requests) == 1


def test_retry_after_wins_over_ratelimit_header(fake, provider):
    fake.script("generate", "rate_limited", "rate_limited_header")
    images, _ = run(provider, request_for(provider))
    assert len(images) == 1 and len(fake.requests) == 3
    assert provider.delays == [0.0, 0.01]  # Retry-After: 0, then RateLimit t=0.01


def test_model_loading_waits_estimated_time(fake, provider):
    fake.script("generate", "loading")
    run(provider, request_for(provider))
    assert provider.delays == [0.02] and len(fake.requests) == 2


def test_bad_token_is_auth_without_the_token(fake):
    wrong = "hf_wrong_SECRET_77"
    provider = make_provider(HuggingFaceProvider, "HF_BASE_URL", fake.url, "HF_TOKEN", wrong)
    error = failure(provider, request_for(provider))
    assert error.code == "auth" and "HF_TOKEN" in error.message and wrong not in error.message


def test_hf_api_token_accepted_and_missing_token_reported():
    assert HuggingFaceProvider({"HF_API_TOKEN": "hf_x"}).availability() == (True, None)
    available, reason = HuggingFaceProvider({}).availability()
    assert not available and "HF_TOKEN" in reason


def test_a_model_id_that_is_no_hub_id_stops_the_start(fake):
    """``bad id`` was dropped without a word: the user looked for their model in a list that never had it."""
    from backend.env_values import SettingsError

    with pytest.raises(SettingsError, match="^HF_MODELS: 'bad id' .*use"):
        make_provider(HuggingFaceProvider, "HF_BASE_URL", fake.url, "HF_TOKEN", KEY, HF_MODELS="acme/pix-1, bad id")
