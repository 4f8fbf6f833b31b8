"""ATELIER_FALLBACK with ATELIER_REDIS_URL: a job whose provider is down on its worker
finishes on the next provider of the list, run by the same worker, and the studio records
who served it (tests/support/cluster.py: a real Redis, two web instances, two workers)."""

from __future__ import annotations

import pytest
from PIL import Image

from backend.storage.metadata import read_embedded
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.stability_api import FakeStability
from tests.support.cloud import FAST_SETTINGS
from tests.support.cluster import Cluster, ended

OPENAI_KEY = "sk-scaleout-SECRET-openai"
STABILITY_KEY = "sk-scaleout-SECRET-stab"


@pytest.fixture
def fakes():
    with FakeOpenAI(OPENAI_KEY) as openai_fake, FakeStability(STABILITY_KEY) as stability_fake:
        yield openai_fake, stability_fake


def test_a_provider_down_on_the_worker_moves_the_job_to_the_next_provider(tmp_path, fakes):
    openai_fake, stability_fake = fakes
    openai_fake.script("generate", "server_error", "server_error")  # one try and one retry: unavailable
    cluster = Cluster(
        tmp_path,
        "openai,stability",
        OPENAI_BASE_URL=openai_fake.url + "/v1",
        OPENAI_API_KEY=OPENAI_KEY,
        STABILITY_BASE_URL=stability_fake.url,
        STABILITY_API_KEY=STABILITY_KEY,
        ATELIER_FALLBACK="openai,gemini,stability",  # gemini has no key: skipped
        **{**FAST_SETTINGS, "ATELIER_RETRY_ATTEMPTS": "1"},
    )
    try:
        watcher = cluster.client(cluster.b)
        job = cluster.a.submit(prompt="a lighthouse", provider="openai", aspect_ratio="2:3", n=2, seed=9)
        watcher.subscribe(job_id=job["id"])
        watcher.wait_for(ended(job["id"]), timeout=60)
        events = watcher.job_events(job["id"])
        assert events[-1][0] == "job.succeeded", events[-1]
        seqs = [d["seq"] for _, d in events]
        assert seqs == list(range(1, len(seqs) + 1)), "one sequence across processes, no gap, no repeat"

        assert len(openai_fake.requests) == 2 and len(stability_fake.requests) == 2
        assert stability_fake.requests[0].form()["aspect_ratio"] == "2:3"
        moves = [d["fallback"] for e, d in events if e == "job.progress" and "fallback" in d]
        assert moves == [{"from": "openai", "to": "stability", "code": "provider_unavailable"}]

        for server in (cluster.a, cluster.b):
            final = server.get(f"/api/jobs/{job['id']}").json()["job"]
            assert final["served_by"] == "stability" and final["cost_usd"] == 0.06  # core: 2 x $0.03
            assert final["cost_actual_usd"] == 0.06
            [note] = [w for w in final["warnings"] if w["field"] == "provider"]
            assert (note["requested"], note["used"]) == ("openai", "stability") and "HTTP 500" in note["message"]
            assert len(final["images"]) == 2
        for image in final["images"]:
            assert image["provider"] == "stability" and image["model"] == "core"
            with Image.open(cluster.a.gallery / image["path"]) as im:
                _, atelier = read_embedded(im)
            assert atelier["provider"] == "stability" and atelier["provider_metadata"]["fallback_from"] == "openai"
        for log in [cluster.a.output(), cluster.b.output(), *(w.output() for w in cluster.workers)]:
            assert OPENAI_KEY not in log and STABILITY_KEY not in log
    finally:
        cluster.close()


def test_without_a_next_provider_on_the_worker_the_job_fails_with_the_providers_error(tmp_path, fakes):
    openai_fake, stability_fake = fakes
    openai_fake.script("generate", "server_error", "server_error")
    cluster = Cluster(
        tmp_path,
        "openai",  # the workers have no stability
        OPENAI_BASE_URL=openai_fake.url + "/v1",
        OPENAI_API_KEY=OPENAI_KEY,
        ATELIER_FALLBACK="openai,stability",
        ATELIER_WORKER_SECRET="worker-SECRET-1",
        **{**FAST_SETTINGS, "ATELIER_RETRY_ATTEMPTS": "1"},
    )
    try:
        job = cluster.a.submit(prompt="a lighthouse", provider="openai")
        final = cluster.b.wait_job(job["id"])
        assert final["status"] == "failed" and final["error"]["code"] == "provider_unavailable"
        assert final["served_by"] is None and stability_fake.requests == []

        # what a worker reports is parsed too: a malformed move or error is a 422, never a 500
        worker = {"X-Atelier-Worker": "worker-SECRET-1", "X-Atelier-Worker-Name": "w1"}
        bad_move = {"from": "openai", "to": "stability", "code": "timeout", "message": "m", "warnings": "no"}
        r = cluster.a.post(f"/internal/jobs/{job['id']}/fallback", json=bad_move, headers=worker)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
        bad_end = {"status": "failed", "error": {"code": 7}}
        r = cluster.b.post(f"/internal/jobs/{job['id']}/finish", json=bad_end, headers=worker)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
        for meta in ("not json", '{"index": "0", "request": {}}', '{"index": 0, "request": {"prompt": 1}}'):
            r = cluster.a.post(
                f"/internal/jobs/{job['id']}/images",
                data={"meta": meta},
                files={"image": ("image", b"x", "application/octet-stream")},
                headers=worker,
            )
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
        assert cluster.a.get(f"/api/jobs/{job['id']}").json()["job"]["error"] == final["error"]
    finally:
        cluster.close()


def test_the_studio_checks_a_workers_end_report_itself(tmp_path):
    """A worker's "failed" without an error, or "succeeded" with an error, is a 422; a
    "succeeded" short of the job's images ends it failed: the studio keeps the n-images check
    for jobs run elsewhere instead of taking a buggy or older worker at its word."""
    cluster = Cluster(tmp_path, "gated", ATELIER_WORKER_SECRET="worker-SECRET-2", **FAST_SETTINGS)
    try:
        watcher = cluster.client(cluster.a)
        job = cluster.a.submit(prompt="held by the gate", provider="gated", n=2)
        watcher.subscribe(job_id=job["id"])
        holder = watcher.wait_event("job.started", job["id"], timeout=60)["worker"]
        worker = {"X-Atelier-Worker": "worker-SECRET-2", "X-Atelier-Worker-Name": holder}
        finish = f"/internal/jobs/{job['id']}/finish"
        for bad in ({"status": "failed"}, {"status": "succeeded", "error": {"code": "x", "message": "y"}}):
            r = cluster.a.post(finish, json=bad, headers=worker)
            assert r.status_code == 422 and r.json()["error"]["field"] == "error", r.text
        r = cluster.a.post(finish, json={"status": "succeeded"}, headers=worker)  # with none of its 2 images
        assert r.status_code == 200, r.text
        ended = cluster.b.wait_job(job["id"])
        assert ended["status"] == "failed" and ended["error"]["code"] == "bad_response"
        assert "0 of 2" in ended["error"]["message"]
    finally:
        cluster.close()
