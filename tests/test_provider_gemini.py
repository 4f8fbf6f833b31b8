"""Gemini adapter against a local fake of generateContent."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from backend.providers.gemini import SIZES, GeminiProvider, api_seed
from tests.fakes.gemini_api import FakeGemini
from tests.support.cloud import RecordingContext, failure, make_provider, request_for, run

KEY = "AIza-test-SECRET-0123456789"


@pytest.fixture
def fake():
    with FakeGemini(KEY) as server:
        yield server


@pytest.fixture
def provider(fake):
    return make_provider(GeminiProvider, "GEMINI_BASE_URL", fake.url, "GEMINI_API_KEY", KEY)


def test_request_on_the_wire_and_text_kept(fake, provider):
    images, ctx = run(provider, request_for(provider, aspect_ratio="16:9", n=2, seed=7))
    assert len(fake.requests) == 2  # one call per image
    first, second = fake.requests
    assert (first.method, first.path) == ("POST", "/v1beta/models/gemini-2.5-flash-image:generateContent")
    assert first.headers["x-goog-api-key"] == KEY and "key" not in first.query
    assert first.json() == {
        "contents": [{"parts": [{"text": "a red apple"}], "role": "user"}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9"},
            "seed": 7,
        },
    }
    assert second.json()["generationConfig"]["seed"] == 8
    assert Image.open(io.BytesIO(images[0].data)).size == (1344, 768)
    assert images[0].metadata["text"] == FakeGemini.caption
    assert images[0].metadata["usage"]["candidatesTokenCount"] == 1290
    assert [i.seed for i in images] == [7, 8]
    assert "sending request to Google Gemini image 2 of 2" in ctx.statuses


def test_capabilities_and_price(provider):
    model = provider.model("gemini-2.5-flash-image")
    assert dict(model.sizes) == SIZES and len(SIZES) == 10
    assert model.price_per_image == 0.039 and not model.supports_negative_prompt
    assert provider.estimate_cost(request_for(provider, n=3)) == 0.117


def test_seeds_map_into_int32():
    assert api_seed(7) == 7 and api_seed(2**31 - 1) == 2**31 - 1
    assert api_seed(2**32 - 1) == -1 and -(2**31) <= api_seed(2**31) < 0


@pytest.mark.parametrize(
    ("behaviour", "code", "words"),
    [
        ("image_safety", "moderation_blocked", "IMAGE_SAFETY"),
        ("no_image", "moderation_blocked", "I can't draw that."),
        ("prompt_blocked", "moderation_blocked", "blocked the prompt (SAFETY)"),
        ("quota", "quota", "billing"),
        ("not_json", "bad_response", "not JSON"),
        ("garbage", "bad_response", "not a PNG"),
        ("truncated", "bad_response", "cut off"),
    ],
)
def test_answers_map_to_codes(fake, provider, behaviour, code, words):
    fake.script("generate", behaviour)
    error = failure(provider, request_for(provider))
    assert error.code == code and words in error.message
    assert len(fake.requests) == 1


def test_rate_limit_waits_retry_info_delay(fake, provider):
    fake.script("generate", "rate_limited")
    ctx = RecordingContext()
    images, _ = run(provider, request_for(provider), ctx)
    assert len(images) == 1 and len(fake.requests) == 2
    assert provider.delays == [0.037]
    assert any("Google Gemini rate limited; retry 1 of 3" in s for s in ctx.statuses)


def test_overloaded_503_is_retried_then_unavailable(fake, provider):
    fake.script("generate", *["server_error"] * 4)
    error = failure(provider, request_for(provider))
    assert error.code == "provider_unavailable" and len(fake.requests) == 4


def test_invalid_key_is_auth_without_the_key(fake):
    wrong = "AIza-wrong-SECRET-42"
    provider = make_provider(GeminiProvider, "GEMINI_BASE_URL", fake.url, "GEMINI_API_KEY", wrong)
    error = failure(provider, request_for(provider))
    assert error.code == "auth" and wrong not in error.message and "GEMINI_API_KEY" in error.message


def test_google_api_key_is_accepted_and_gemini_key_preferred(fake):
    alone = GeminiProvider({"GOOGLE_API_KEY": KEY, "GEMINI_BASE_URL": fake.url})
    assert alone.availability() == (True, None) and alone.api_key() == KEY
    both = GeminiProvider({"GOOGLE_API_KEY": "other", "GEMINI_API_KEY": KEY})
    assert both.api_key() == KEY
    available, reason = GeminiProvider({}).availability()
    assert not available and "GEMINI_API_KEY" in reason


def test_slow_answer_times_out(fake):
    provider = make_provider(
        GeminiProvider,
        "GEMINI_BASE_URL",
        fake.url,
        "GEMINI_API_KEY",
        KEY,
        ATELIER_HTTP_TIMEOUT_SECONDS="0.2",
        ATELIER_RETRY_ATTEMPTS="0",
    )
    fake.script("generate", "slow")
    assert failure(provider, request_for(provider)).code == "timeout"
