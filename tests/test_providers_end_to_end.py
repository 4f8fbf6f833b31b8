"""Each cloud provider runs a job end to end: the real server, a real Socket.IO client, a local fake API.

The server is a subprocess whose base URL setting points at a fake on 127.0.0.1 and whose
key is a fake one; the test checks the events, the gallery file and its metadata, and that
the key shows up nowhere: not in events, REST answers or the server's log.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from backend.storage.metadata import read_embedded
from tests.fakes.evolink_api import FakeEvoLink
from tests.fakes.gemini_api import FakeGemini
from tests.fakes.huggingface_api import FakeHuggingFace
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.stability_api import FakeStability
from tests.support.cloud import FAST_SETTINGS
from tests.support.sio import EventRecorder

TERMINAL = {"job.succeeded", "job.failed", "job.cancelled"}
# provider id -> (fake class, base URL var, suffix of the base URL, key var, key, request fields, expected size)
CASES = {
    "openai": (
        FakeOpenAI,
        "OPENAI_BASE_URL",
        "/v1",
        "OPENAI_API_KEY",
        "sk-e2e-SECRET-openai-1",
        {"quality": "low"},
        (1536, 1024),
    ),
    "gemini": (FakeGemini, "GEMINI_BASE_URL", "", "GEMINI_API_KEY", "AIza-e2e-SECRET-gemini-2", {}, (1248, 832)),
    "huggingface": (FakeHuggingFace, "HF_BASE_URL", "", "HF_TOKEN", "hf_e2e_SECRET_hf_3", {}, (1216, 832)),
    "stability": (
        FakeStability,
        "STABILITY_BASE_URL",
        "",
        "STABILITY_API_KEY",
        "sk-e2e-SECRET-stab-4",
        {},
        (1024, 1024),
    ),
    "evolink": (FakeEvoLink, "EVOLINK_BASE_URL", "", "EVOLINK_API_KEY", "sk-evo-e2e-SECRET-5", {}, (1024, 1024)),
}
BOTH_MODES = {"openai", "evolink"}


def _done(job_id):
    return lambda events: any(e in TERMINAL and d.get("job_id") == job_id for e, d in events if isinstance(d, dict))


def _run_job(srv, **body):
    client = EventRecorder(srv.url).connect()
    try:
        job = srv.submit(**body)
        assert client.subscribe(job_id=job["id"])["ok"] is True
        client.wait_for(_done(job["id"]))
        return job, client.job_events(job["id"]), list(client.events)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("provider_id", "async_mode"),
    [(p, "eventlet") for p in CASES] + [(p, "threading") for p in sorted(BOTH_MODES)],
)
def test_job_end_to_end(make_server, provider_id, async_mode):
    fake_cls, url_var, suffix, key_var, key, fields, size = CASES[provider_id]
    with fake_cls(key) as fake:
        srv = make_server(async_mode, **{url_var: fake.url + suffix, key_var: key, **FAST_SETTINGS})
        listing = srv.get("/api/providers").json()["providers"]
        entry = next(p for p in listing if p["id"] == provider_id)
        assert entry["available"] is True and entry["reason"] is None

        job, events, everything = _run_job(
            srv, prompt="a red apple on a table", provider=provider_id, aspect_ratio="3:2", **fields
        )
        names = [e for e, _ in events]
        assert names[0] == "job.queued" and names[1] == "job.started" and names[-1] == "job.succeeded", names
        progress = [d for e, d in events if e == "job.progress"]
        assert any(d["message"].startswith("sending request to") for d in progress)
        if provider_id == "evolink":
            assert [d["progress"] for d in progress if d["progress"] is not None] == [0.0, 0.4, 1.0]
        else:
            assert all(d["progress"] is None for d in progress), "no invented progress"
        [image] = events[-1][1]["images"]
        assert image["provider"] == provider_id and (image["width"], image["height"]) == size

        path = srv.gallery / image["path"]
        with Image.open(path) as im:
            _, atelier = read_embedded(im)
        assert atelier["provider"] == provider_id and atelier["job_id"] == job["id"]
        final = srv.get(f"/api/jobs/{job['id']}").json()["job"]
        assert final["status"] == "succeeded" and final["served_by"] == provider_id
        if provider_id == "gemini":
            assert atelier["provider_metadata"]["text"] == FakeGemini.caption
            assert final["provider_notes"][0]["text"] == FakeGemini.caption
        if provider_id == "openai":
            assert final["cost_usd"] == 0.016  # low quality, 1536x1024

        srv.stop()
        seen = json.dumps([str(e) for e in everything]) + json.dumps(listing) + json.dumps(final) + srv.output()
        assert key not in seen, "the key must never leave the server"


def test_failure_ends_the_job_with_code_and_clear_message(make_server):
    key = "sk-e2e-SECRET-moderated"
    with FakeOpenAI(key) as fake:
        fake.script("generate", "moderation")
        srv = make_server("eventlet", OPENAI_BASE_URL=fake.url + "/v1", OPENAI_API_KEY=key, **FAST_SETTINGS)
        job, events, _ = _run_job(srv, prompt="something", provider="openai")
        error = events[-1][1]["error"]
        assert events[-1][0] == "job.failed" and error["code"] == "moderation_blocked"
        assert "Rephrase" in error["message"]


def test_provider_without_key_lists_unavailable_and_refuses_jobs(make_server):
    srv = make_server("threading", OPENAI_API_KEY="")
    entry = next(p for p in srv.get("/api/providers").json()["providers"] if p["id"] == "openai")
    assert entry["available"] is False and "OPENAI_API_KEY" in entry["reason"]
    r = srv.post("/api/jobs", json={"prompt": "x", "provider": "openai"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "provider"


@pytest.mark.both_modes
def test_fallback_runs_the_job_on_the_next_provider(make_server, async_mode):
    with FakeOpenAI("sk-fb-SECRET-1") as openai_fake, FakeStability("sk-fb-SECRET-2") as stability_fake:
        openai_fake.script("generate", "server_error", "server_error")
        srv = make_server(
            async_mode,
            OPENAI_BASE_URL=openai_fake.url + "/v1",
            OPENAI_API_KEY="sk-fb-SECRET-1",
            STABILITY_BASE_URL=stability_fake.url,
            STABILITY_API_KEY="sk-fb-SECRET-2",
            ATELIER_FALLBACK="openai,gemini,stability",  # gemini has no key: skipped
            **{**FAST_SETTINGS, "ATELIER_RETRY_ATTEMPTS": "1"},
        )
        job, events, _ = _run_job(srv, prompt="a lighthouse", provider="openai", aspect_ratio="2:3", n=2, seed=9)
        assert events[-1][0] == "job.succeeded"
        assert len(openai_fake.requests) == 2 and len(stability_fake.requests) == 2
        assert stability_fake.requests[0].form()["aspect_ratio"] == "2:3"
        moves = [d["fallback"] for e, d in events if e == "job.progress" and "fallback" in d]
        assert moves == [{"from": "openai", "to": "stability", "code": "provider_unavailable"}]
        final = srv.get(f"/api/jobs/{job['id']}").json()["job"]
        assert final["served_by"] == "stability" and final["cost_usd"] == 0.06  # core: 2 x $0.03
        [note] = [w for w in final["warnings"] if w["field"] == "provider"]
        assert (note["requested"], note["used"]) == ("openai", "stability") and "HTTP 500" in note["message"]
        for image in final["images"]:
            assert image["provider"] == "stability" and image["model"] == "core"
            with Image.open(srv.gallery / image["path"]) as im:
                _, atelier = read_embedded(im)
            assert atelier["provider"] == "stability" and atelier["provider_metadata"]["fallback_from"] == "openai"


def test_no_fallback_for_moderation(make_server):
    with FakeOpenAI("sk-x") as openai_fake, FakeStability("sk-y") as stability_fake:
        openai_fake.script("generate", "moderation")
        srv = make_server(
            "eventlet",
            OPENAI_BASE_URL=openai_fake.url + "/v1",
            OPENAI_API_KEY="sk-x",
            STABILITY_BASE_URL=stability_fake.url,
            STABILITY_API_KEY="sk-y",
            ATELIER_FALLBACK="stability",
            **FAST_SETTINGS,
        )
        _, events, _ = _run_job(srv, prompt="x", provider="openai")
        assert events[-1][0] == "job.failed" and stability_fake.requests == []
