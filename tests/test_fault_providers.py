"""Provider faults end to end: the real server, jobs over REST, the local fakes misbehaving.

The adapters' own tests (tests/test_provider_*.py) cover each mapping in-process; here
each fault goes through the whole studio: the job ends ``failed`` with a clear code and
message, nothing reaches the gallery, the key is in no answer, and the server goes on.
"""

from __future__ import annotations

import pytest

from tests.fakes.evolink_api import FakeEvoLink
from tests.fakes.gemini_api import FakeGemini
from tests.fakes.huggingface_api import FakeHuggingFace
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.stability_api import FakeStability
from tests.support.cloud import FAST_SETTINGS
from tests.support.faults import gallery_files
from tests.support.server import ServerProcess

KEYS = {
    "openai": ("OPENAI_API_KEY", "sk-FAULT-openai-key"),
    "gemini": ("GEMINI_API_KEY", "AIza-FAULT-gemini-key"),
    "huggingface": ("HF_TOKEN", "hf_FAULT_huggingface_key"),
    "stability": ("STABILITY_API_KEY", "sk-FAULT-stability-key"),
    "evolink": ("EVOLINK_API_KEY", "sk-FAULT-evolink-key"),
}
FAKES = {
    "openai": (FakeOpenAI, "OPENAI_BASE_URL", "/v1"),
    "gemini": (FakeGemini, "GEMINI_BASE_URL", ""),
    "huggingface": (FakeHuggingFace, "HF_BASE_URL", ""),
    "stability": (FakeStability, "STABILITY_BASE_URL", ""),
    "evolink": (FakeEvoLink, "EVOLINK_BASE_URL", ""),
}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """One server wired to a fake of every provider, plus a second host to redirect to."""
    fakes = {pid: cls(KEYS[pid][1]).start() for pid, (cls, _, _) in FAKES.items()}
    elsewhere = FakeOpenAI("not-a-key").start()
    env = {**FAST_SETTINGS, "ATELIER_HTTP_TIMEOUT_SECONDS": "0.5", "ATELIER_RETRY_ATTEMPTS": "1"}
    for pid, (_, url_var, suffix) in FAKES.items():
        env[url_var] = fakes[pid].url + suffix
        env[KEYS[pid][0]] = KEYS[pid][1]
    srv = ServerProcess(tmp_path_factory.mktemp("provider-faults"), "eventlet", **env).start()
    yield srv, fakes, elsewhere
    srv.stop()
    for fake in [*fakes.values(), elsewhere]:
        fake.stop()


def _fails(srv, provider: str, code: str, *words: str) -> dict:
    job = srv.wait_job(srv.submit(prompt="a fault", provider=provider)["id"])
    assert job["status"] == "failed", job
    assert job["error"]["code"] == code, job["error"]
    for word in words:
        assert word in job["error"]["message"], job["error"]["message"]
    assert srv.get("/api/health").json()["status"] == "ok"
    assert gallery_files(srv.gallery) == ([], []), "a failed job left a file"
    body = srv.get(f"/api/jobs/{job['id']}").text
    assert all(key not in body for _, key in KEYS.values())
    return job


def test_hang_past_the_timeout_is_a_timeout_after_retries(studio):
    srv, fakes, _ = studio
    fakes["openai"].script("generate", "slow", "slow")
    _fails(srv, "openai", "timeout", "did not answer within 0.5 s", "gave up after 2 attempts")
    assert len(fakes["openai"].requests_to("/images/generations")) >= 2


@pytest.mark.parametrize("behaviour", ["truncated", "reset"])
def test_connection_cut_mid_body_fails_without_a_second_bill(studio, behaviour):
    srv, fakes, _ = studio
    before = len(fakes["openai"].requests_to("/images/generations"))
    fakes["openai"].script("generate", behaviour)
    _fails(srv, "openai", "bad_response", "cut off")
    assert len(fakes["openai"].requests_to("/images/generations")) == before + 1, "retried: could bill twice"


def test_200_with_html_instead_of_json(studio):
    srv, fakes, _ = studio
    fakes["openai"].script("generate", "not_json")
    _fails(srv, "openai", "bad_response", "not JSON")


def test_decompression_bomb_is_refused_before_decoding(studio):
    srv, fakes, _ = studio
    fakes["openai"].script("generate", "bomb")
    _fails(srv, "openai", "bad_response", "too large")


@pytest.mark.parametrize("provider", ["openai", "gemini", "huggingface", "stability", "evolink"])
def test_redirect_to_another_host_is_not_followed_and_the_key_stays_home(studio, provider):
    srv, fakes, elsewhere = studio
    fakes[provider].redirect_to = elsewhere.url
    try:
        job = srv.wait_job(srv.submit(prompt="a redirect", provider=provider)["id"])
    finally:
        fakes[provider].redirect_to = None
    assert job["status"] == "failed", job
    assert job["error"]["code"] in ("bad_response", "invalid_request"), job["error"]
    key = KEYS[provider][1]
    leaked = [r for r in elsewhere.requests if key in str(r.headers) or key.encode() in r.body]
    assert leaked == [], f"{provider} sent its key to another host"
    assert elsewhere.requests == [], "a redirect from the API was followed"
    assert gallery_files(srv.gallery) == ([], [])


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ("bad_url", "not http(s)"),
        ("private_url", "private or local address"),
        ("metadata_url", "private or local address"),
        ("redirect", "private or local address"),
    ],
)
def test_evolink_result_url_off_http_or_on_a_private_address_is_refused(studio, plan, words):
    srv, fakes, _ = studio
    fakes["evolink"].script("task", plan)
    _fails(srv, "evolink", "bad_response", words)


def test_server_still_runs_jobs_after_every_fault(studio):
    srv, _, _ = studio
    for provider in FAKES:
        job = srv.wait_job(srv.submit(prompt="all well again", provider=provider)["id"])
        assert job["status"] == "succeeded", job
    assert len(gallery_files(srv.gallery)[0]) == len(FAKES)
