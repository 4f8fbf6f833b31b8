"""EvoLink adapter against a local fake of the z-image-turbo task API: create, poll, download."""

from __future__ import annotations

import pytest

from backend.providers.evolink import EvoLinkProvider, api_seed
from backend.providers.http_api import ApiError, check_download_url
from tests.fakes.evolink_api import FakeEvoLink
from tests.support.cloud import failure, make_provider, request_for, run

KEY = "sk-evo-SECRET-0123456789"


@pytest.fixture
def fake():
    with FakeEvoLink(KEY) as server:
        yield server


@pytest.fixture
def provider(fake):
    return make_provider(EvoLinkProvider, "EVOLINK_BASE_URL", fake.url, "EVOLINK_API_KEY", KEY)


def test_task_flow_on_the_wire_with_real_progress(fake, provider):
    images, ctx = run(provider, request_for(provider, aspect_ratio="9:16", seed=41))
    create, poll1, poll2, poll3, download = fake.requests
    assert (create.method, create.path) == ("POST", "/v1/images/generations")
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert create.json() == {"model": "z-image-turbo", "prompt": "a red apple", "size": "9:16", "seed": 42}
    task_id = poll1.path.removeprefix("/v1/tasks/")
    assert task_id.startswith("task-unified-") and poll1.method == "GET" and poll3.path == poll1.path
    assert poll1.headers["authorization"] == f"Bearer {KEY}"
    assert download.path == f"/files/{task_id}.png" and "authorization" not in download.headers  # key stays home
    assert [s[1] for s in ctx.steps] == [0, 40, 100]
    assert images[0].metadata == {"task_id": task_id, "provider_seed": 42, "credits_reserved": 0.026}
    assert any("downloading image 1 of 1" in s for s in ctx.statuses)


def test_ratios_evolink_lacks_go_as_custom_size(fake, provider):
    run(provider, request_for(provider, aspect_ratio="21:9", seed=None))
    assert fake.requests[0].json() == {"model": "z-image-turbo", "prompt": "a red apple", "size": "1536x640"}


def test_seed_mapping_stays_in_range():
    assert api_seed(0) == 1 and api_seed(2**32 - 1) <= 2147483647 and api_seed(2147483646) == 2147483647


@pytest.mark.parametrize(
    ("plan", "code", "words"),
    [
        ("failed_policy", "moderation_blocked", "content_policy_violation"),
        ("failed_service", "provider_unavailable", "service_error"),
        ("garbage", "bad_response", "not a PNG"),
        ("truncated", "bad_response", "cut off"),
        ("bad_url", "bad_response", "not http(s)"),
        ("private_url", "bad_response", "private or local address"),
        ("metadata_url", "bad_response", "private or local address"),
        ("redirect", "bad_response", "private or local address"),
    ],
)
def test_task_outcomes_map_to_codes(fake, provider, plan, code, words):
    fake.script("task", plan)
    error = failure(provider, request_for(provider))
    assert error.code == code and words in error.message
    assert len(fake.requests_to("/v1/images/generations")) == 1  # a failed task is not re-created


def test_stuck_task_times_out(fake):
    provider = make_provider(
        EvoLinkProvider, "EVOLINK_BASE_URL", fake.url, "EVOLINK_API_KEY", KEY, ATELIER_TASK_TIMEOUT_SECONDS="0.05"
    )
    fake.script("task", "stuck")
    error = failure(provider, request_for(provider))
    assert error.code == "timeout" and "ATELIER_TASK_TIMEOUT_SECONDS" in error.message


@pytest.mark.parametrize(("behaviour", "code"), [("quota", "quota"), ("server_error", "provider_unavailable")])
def test_create_errors(fake, provider, behaviour, code):
    fake.script("create", *[behaviour] * 5)
    assert failure(provider, request_for(provider)).code == code


def test_rate_limited_create_is_retried_after_retry_after(fake, provider):
    fake.script("create", "rate_limited")
    images, _ = run(provider, request_for(provider))
    assert len(images) == 1 and provider.delays[0] == 0.01
    assert len(fake.requests_to("/v1/images/generations")) == 2


def test_n_images_are_n_tasks(fake, provider):
    images, ctx = run(provider, request_for(provider, n=2))
    assert len(fake.requests_to("/v1/images/generations")) == 2 and [i.index for i in images] == [0, 1]
    assert {s[0] for s in ctx.steps} == {0, 1}


def test_bad_key_is_auth_without_the_key(fake):
    wrong = "sk-evo-wrong-SECRET"
    provider = make_provider(EvoLinkProvider, "EVOLINK_BASE_URL", fake.url, "EVOLINK_API_KEY", wrong)
    error = failure(provider, request_for(provider))
    assert error.code == "auth" and wrong not in error.message


def test_result_urls_loopback_only_when_the_api_is_loopback():
    check_download_url("http://127.0.0.1:5/x.png", allow_loopback=True)
    for url in ("http://127.0.0.1:5/x.png", "http://localhost/x.png", "http://[::1]/x.png"):
        with pytest.raises(ApiError):
            check_download_url(url, allow_loopback=False)
    for url in ("http://10.0.0.1/x", "http://192.168.1.1/x", "http://169.254.169.254/x", "ftp://example.com/x"):
        with pytest.raises(ApiError):
            check_download_url(url, allow_loopback=True)


def test_no_key_unavailable():
    available, reason = EvoLinkProvider({}).availability()
    assert not available and "EVOLINK_API_KEY" in reason
