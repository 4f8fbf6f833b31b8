"""OpenAI adapter against a local fake of the Images API: the request on the wire and every answer."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from backend.providers.openai_images import OpenAIProvider, alpha_mask
from tests.fakes.base import png_bytes
from tests.fakes.openai_api import FakeOpenAI
from tests.support.cloud import RecordingContext, failure, make_provider, request_for, run

KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture
def fake():
    with FakeOpenAI(KEY) as server:
        yield server


@pytest.fixture
def provider(fake):
    return make_provider(OpenAIProvider, "OPENAI_BASE_URL", fake.url + "/v1", "OPENAI_API_KEY", KEY)


def test_generation_request_on_the_wire(fake, provider):
    images, ctx = run(provider, request_for(provider, n=2, quality="low", aspect_ratio="2:3", seed=None))
    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/v1/images/generations")
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {
        "model": "gpt-image-1",
        "prompt": "a red apple",
        "n": 2,
        "output_format": "png",
        "quality": "low",
        "size": "1024x1536",
    }
    assert [i.index for i in images] == [0, 1]
    assert Image.open(io.BytesIO(images[0].data)).size == (1024, 1536)
    assert images[0].metadata["size"] == "1024x1536" and images[0].metadata["usage"]["total_tokens"] == 4210
    assert ctx.statuses[0] == "sending request to OpenAI"


def test_capabilities_and_cost(provider):
    model = provider.model("gpt-image-1")
    assert dict(model.sizes) == {"1:1": (1024, 1024), "3:2": (1536, 1024), "2:3": (1024, 1536)}
    assert model.qualities == ("low", "medium", "high", "auto") and not model.supports_seed
    assert provider.estimate_cost(request_for(provider, quality="low", n=2)) == 0.022
    assert provider.estimate_cost(request_for(provider, quality="high", aspect_ratio="3:2")) == 0.25
    assert provider.estimate_cost(request_for(provider, model="gpt-image-1-mini", quality="medium")) == 0.011
    assert provider.estimate_cost(request_for(provider, model="gpt-image-1.5", quality="auto")) == 0.133


@pytest.mark.parametrize(
    ("behaviour", "code", "words"),
    [
        ("moderation", "moderation_blocked", "Rephrase"),
        ("bad_request", "invalid_request", "Invalid value for 'n'"),
        ("not_json", "bad_response", "not JSON"),
        ("garbage", "bad_response", "not a PNG"),
        ("truncated", "bad_response", "cut off"),
    ],
)
def test_failures_map_to_codes_and_are_not_retried(fake, provider, behaviour, code, words):
    fake.script("generate", behaviour)
    error = failure(provider, request_for(provider))
    assert error.code == code and words in error.message
    assert len(fake.requests) == 1 and provider.delays == []


def test_wrong_key_is_auth_and_the_key_never_shows(fake):
    wrong = "sk-wrong-SECRET-999999999"
    provider = make_provider(OpenAIProvider, "OPENAI_BASE_URL", fake.url + "/v1", "OPENAI_API_KEY", wrong)
    error = failure(provider, request_for(provider))
    assert error.code == "auth" and "OPENAI_API_KEY" in error.message
    assert wrong not in error.message and "[redacted]" in error.message  # the fake echoes the key back
    assert len(fake.requests) == 1


def test_rate_limit_is_retried_after_retry_after(fake, provider):
    fake.script("generate", "rate_limited", "rate_limited_ms")
    ctx = RecordingContext()
    images, _ = run(provider, request_for(provider), ctx)
    assert len(images) == 1 and len(fake.requests) == 3
    assert provider.delays == [0.02, 0.03]  # Retry-After: 0.02, then retry-after-ms: 30 beats Retry-After: 9
    assert [s for s in ctx.statuses if "retry" in s] == [
        "OpenAI rate limited; retry 1 of 3 in 0.0 s",
        "OpenAI rate limited; retry 2 of 3 in 0.0 s",
    ]


def test_server_errors_back_off_then_give_up(fake, provider):
    fake.script("generate", *["server_error"] * 4)
    error = failure(provider, request_for(provider))
    assert error.code == "provider_unavailable" and "gave up after 4 attempts" in error.message
    assert len(fake.requests) == 4 and len(provider.delays) == 3
    assert all(0 < d <= 0.001 * 2**i for i, d in enumerate(provider.delays))  # exponential, jittered


def test_retry_after_beyond_the_budget_fails_at_once(fake, provider):
    fake.script("generate", "rate_limited_long")
    error = failure(provider, request_for(provider))
    assert error.code == "rate_limited" and "ATELIER_RETRY_MAX_SECONDS" in error.message
    assert len(fake.requests) == 1 and provider.delays == []


def test_slow_answer_is_a_timeout(fake):
    provider = make_provider(
        OpenAIProvider,
        "OPENAI_BASE_URL",
        fake.url + "/v1",
        "OPENAI_API_KEY",
        KEY,
        ATELIER_HTTP_TIMEOUT_SECONDS="0.2",
        ATELIER_RETRY_ATTEMPTS="1",
    )
    fake.script("generate", "slow", "slow")
    error = failure(provider, request_for(provider))
    assert error.code == "timeout" and "ATELIER_HTTP_TIMEOUT_SECONDS" in error.message
    assert len(fake.requests) == 2  # retried once


def test_connection_refused_is_provider_unavailable():
    provider = make_provider(
        OpenAIProvider, "OPENAI_BASE_URL", "http://127.0.0.1:9/v1", "OPENAI_API_KEY", KEY, ATELIER_RETRY_ATTEMPTS="1"
    )
    error = failure(provider, request_for(provider))
    assert error.code == "provider_unavailable" and "OPENAI_BASE_URL" in error.message
    assert len(provider.delays) == 1


def test_cancel_during_retry_wait_stops(fake, provider):
    fake.script("generate", "rate_limited", "rate_limited")
    ctx = RecordingContext(cancel_after_status="retry 1")
    from backend.providers.base import Cancelled

    with pytest.raises(Cancelled):
        run(provider, request_for(provider), ctx)
    assert len(fake.requests) == 1


def test_no_key_means_unavailable_with_reason():
    provider = OpenAIProvider({})
    available, reason = provider.availability()
    assert not available and "OPENAI_API_KEY" in reason


def test_edit_sends_multipart_with_image_parts(fake, provider):
    first, second = png_bytes(32, 32), png_bytes(32, 32, (1, 2, 3))
    request = request_for(provider, n=2, quality="high")
    images = list(
        provider.edit(
            request,
            [("a.png", first, "image/png"), ("b.png", second, "image/png")],
            RecordingContext(),
            mask=alpha_mask(png_bytes(32, 32)),  # OpenAI wants a PNG with alpha
        )
    )
    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/v1/images/edits")
    assert req.headers["authorization"] == f"Bearer {KEY}"
    parts = req.parts()
    assert [(p.name, p.filename) for p in parts if p.filename] == [
        ("image[]", "a.png"),
        ("image[]", "b.png"),
        ("mask", "mask.png"),
    ]
    assert parts[-3].data == first and parts[-3].content_type == "image/png"
    assert req.form() == {
        "prompt": "a red apple",
        "model": "gpt-image-1",
        "n": "2",
        "size": "1024x1024",
        "output_format": "png",
        "quality": "high",
    }
    assert len(images) == 2


def test_edit_with_one_image_names_the_part_image(fake, provider):
    list(provider.edit(request_for(provider), [("a.png", png_bytes(), "image/png")], RecordingContext()))
    assert [p.name for p in fake.requests[0].parts() if p.filename] == ["image"]


def test_base64_decoded_exactly(fake, provider):
    images, _ = run(provider, request_for(provider))
    body = fake.requests[0]
    assert body.path.endswith("generations")
    assert images[0].data.startswith(b"\x89PNG") and base64.b64encode(images[0].data)
