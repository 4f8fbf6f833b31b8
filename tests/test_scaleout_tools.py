"""Studio tools with ATELIER_REDIS_URL: upscale, social formats and edits queued in Redis,
run by worker processes that have no gallery (they read the source from the web server),
saved by the web server with metadata naming their source (tests/support/cluster.py)."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image, ImageChops

from tests.fakes.stability_api import FakeStability
from tests.support.cloud import FAST_SETTINGS
from tests.support.cluster import Cluster, ended
from tests.support.tools import check_social_outputs, data_url, gallery_metadata, gradient, import_image, mask_png

STABILITY_KEY = "sk-scaleout-SECRET-stab"
#: how every PNG starts in base64: a mask in an answer or an event would show it
PNG_BASE64 = "iVBORw0KGgo"


@pytest.fixture
def stability():
    with FakeStability(STABILITY_KEY) as stab:
        yield stab


def _cluster(tmp_path, stability, providers: str) -> Cluster:
    return Cluster(
        tmp_path,
        providers,
        STABILITY_BASE_URL=stability.url,
        STABILITY_API_KEY=STABILITY_KEY,
        **FAST_SETTINGS,
    )


@pytest.fixture
def cluster(tmp_path, stability):
    """Both workers serve the test providers, the local tools and Stability (a local fake)."""
    c = _cluster(tmp_path, stability, "instant,gated,local,stability")
    yield c
    c.close()


def _atelier(cluster: Cluster, image: dict) -> dict:
    return gallery_metadata(cluster.a.gallery, image)


def _submit(server, route: str, **body) -> dict:
    r = server.post(route, json=body)
    assert r.status_code == 202, r.text
    return r.json()["job"]


def _run_watched(cluster: Cluster, watcher, job: dict) -> list[tuple[str, dict]]:
    """The job's events once it has ended, checked for one gapless sequence."""
    watcher.subscribe(job_id=job["id"])
    watcher.wait_for(ended(job["id"]), timeout=60)
    events = watcher.job_events(job["id"])
    seqs = [d["seq"] for _, d in events]
    assert seqs == list(range(1, len(seqs) + 1)), "one sequence across processes, no gap, no repeat"
    names = [e for e, _ in events]
    assert names[0] == "job.queued" and "job.started" in names
    return events


def test_upscale_fast_through_b_runs_on_a_worker_and_lands_in_the_gallery(cluster):
    source = import_image(cluster.a, gradient((200, 150)))
    watcher = cluster.client(cluster.a)
    job = _submit(cluster.b, "/api/upscale", image_id=source["id"], mode="fast", scale=2)
    assert job["provider"] == "local" and job["kind"] == "upscale"
    assert job["warnings"] == []  # workers serve `local`

    events = _run_watched(cluster, watcher, job)
    assert events[-1][0] == "job.succeeded", events[-1]
    started = next(d for e, d in events if e == "job.started")
    assert started["worker"] in ("w1", "w2")
    assert any(e == "job.progress" and "upscaling 200x150 to 400x300" in d.get("message", "") for e, d in events)
    [image] = events[-1][1]["images"]
    assert (image["width"], image["height"]) == (400, 300)
    with Image.open(cluster.a.gallery / image["path"]) as im:
        assert im.size == (400, 300)
    atelier = _atelier(cluster, image)
    assert atelier["source"] == {"image_id": source["id"], "path": source["path"], "operation": "upscale",
                                 "mode": "fast"}  # fmt: skip
    assert atelier["tool"] == {"kind": "upscale", "mode": "fast", "scale": 2, "method": "lanczos+unsharp"}
    assert atelier["job_id"] == job["id"] and atelier["provider"] == "local"

    for server in (cluster.a, cluster.b):
        stored = server.get(f"/api/jobs/{job['id']}").json()["job"]
        assert stored["status"] == "succeeded" and stored["served_by"] == "local"
        assert stored["cost_actual_usd"] == 0.0
        assert image["id"] in {i["id"] for i in server.get("/api/images").json()["items"]}


def test_social_job_with_two_formats_runs_on_a_worker(cluster):

    source = import_image(cluster.b, gradient((640, 480)))
    watcher = cluster.client(cluster.b)
    targets = ["instagram/post", "x/post"]
    job = _submit(cluster.a, "/api/social", image_id=source["id"], targets=targets, crop="center")
    assert job["provider"] == "local" and job["kind"] == "social"

    events = _run_watched(cluster, watcher, job)
    assert events[-1][0] == "job.succeeded", events[-1]
    images = events[-1][1]["images"]
    assert len(images) == 2 and sum(e == "job.image" for e, _ in events) == 2
    for atelier in check_social_outputs(cluster.a.gallery, targets, images, source):
        assert atelier["tool"]["kind"] == "social"


def test_inpaint_runs_on_a_worker_that_sends_the_gallery_source_and_the_mask(cluster, stability):
    source = import_image(cluster.b, gradient((256, 192)))
    mask = mask_png((256, 192), (40, 40, 120, 100))
    body = {"operation": "inpaint", "provider": "stability", "image_id": source["id"], "prompt": "a red door",
            "seed": 11, "mask": data_url(mask)}  # fmt: skip
    job = _submit(cluster.a, "/api/edit", **body)
    assert job["provider"] == "stability" and job["tool"]["mask"] == "attached"
    job = cluster.b.wait_job(job["id"])
    assert job["status"] == "succeeded", job["error"]

    [sent] = stability.requests_to("edit/inpaint")
    parts = {p.name: p for p in sent.parts()}
    assert sent.headers["authorization"] == f"Bearer {STABILITY_KEY}"
    assert parts["image"].filename == "image.png" and parts["image"].content_type == "image/png"
    assert parts["image"].data == (cluster.a.gallery / source["path"]).read_bytes()
    assert sent.form() == {"prompt": "a red door", "seed": "11", "output_format": "png"}
    with Image.open(io.BytesIO(parts["mask"].data)) as sent_mask, Image.open(io.BytesIO(mask)) as painted:
        assert sent_mask.size == (256, 192)
        assert ImageChops.difference(sent_mask.convert("L"), painted.convert("L")).getbbox() is None

    [image] = job["images"]
    atelier = _atelier(cluster, image)
    assert atelier["source"] == {"image_id": source["id"], "path": source["path"], "operation": "inpaint"}
    assert atelier["tool"]["kind"] == "edit" and "mask" not in atelier["tool"]
    assert job["served_by"] == "stability" and job["cost_actual_usd"] == job["cost_usd"] == 0.05


def test_the_mask_never_appears_in_job_answers_or_events(cluster, stability):
    source = import_image(cluster.a, gradient((256, 192)))
    on_a, on_b = cluster.client(cluster.a), cluster.client(cluster.b)
    for c in (on_a, on_b):
        assert c.subscribe(topic="queue")["ok"]
        assert c.subscribe(topic="gallery")["ok"]
    body = {"operation": "inpaint", "provider": "stability", "image_id": source["id"], "prompt": "a window",
            "mask": data_url(mask_png((256, 192), (10, 10, 90, 90))), "session": "masked"}  # fmt: skip
    r = cluster.b.post("/api/edit", json=body)
    assert r.status_code == 202
    job_id = r.json()["job"]["id"]
    answers = [r.text]
    for c in (on_a, on_b):
        answers.append(repr(c.subscribe(job_id=job_id)))  # the ack holds the job's snapshot
        c.wait_for(ended(job_id), timeout=60)
    for server in (cluster.a, cluster.b):
        answers.append(server.get(f"/api/jobs/{job_id}").text)
        answers.append(server.get("/api/jobs").text)
        answers.append(server.get("/api/jobs?session=masked").text)
        stored = server.get(f"/api/jobs/{job_id}").json()["job"]
        assert stored["status"] == "succeeded" and stored["tool"]["mask"] == "attached"
        for image in stored["images"]:
            answers.append(server.get(f"/api/images/{image['id']}").text)
    events = [repr(d) for c in (on_a, on_b) for _, d in c.events]
    assert any(job_id in e for e in events)
    for text in answers + events:
        assert PNG_BASE64 not in text, text[:300]
    [sent] = stability.requests_to("edit/inpaint")
    assert "mask" in {p.name for p in sent.parts()}, "the worker had the mask all the same"


def test_a_source_deleted_before_a_worker_runs_the_job_fails_saying_so_and_its_retry_runs(tmp_path, stability):
    # the workers serve no `local`: a local tool job waits for a worker that does
    cluster = _cluster(tmp_path, stability, "instant,gated,stability")
    try:
        source = import_image(cluster.a, gradient((120, 90)))
        watcher = cluster.client(cluster.b)
        job = _submit(cluster.b, "/api/upscale", image_id=source["id"], mode="fast", scale=2)
        # queued all the same, and the job says why it will not start yet
        assert [w["field"] for w in job["warnings"]] == ["provider"]
        assert "no worker serves 'local'" in job["warnings"][0]["message"]
        later = cluster.a.submit(prompt="passes the tool job by", provider="instant")
        assert cluster.a.wait_job(later["id"])["status"] == "succeeded"
        assert cluster.a.get(f"/api/jobs/{job['id']}").json()["job"]["status"] == "queued", "no worker serves local"
        assert requests.delete(f"{cluster.b.url}/api/images/{source['id']}", timeout=10).status_code == 200

        local = cluster.worker("w-local", "local", cluster.a)
        watcher.subscribe(job_id=job["id"])
        failed = watcher.wait_event("job.failed", job["id"], timeout=60)
        assert next(d for e, d in watcher.job_events(job["id"]) if e == "job.started")["worker"] == local.name
        error = failed["error"]
        assert error["code"] == "invalid_request" and error["retryable"] is False
        assert error["message"] == (
            f"the source image {source['path']} (id {source['id']}) was deleted before this job ran"
        )
        stored = cluster.a.get(f"/api/jobs/{job['id']}").json()["job"]
        assert stored["status"] == "failed" and stored["images"] == []

        # back from the trash, the same job retried through Redis finds it
        assert cluster.a.post(f"/api/images/{source['id']}/restore").status_code == 200
        retry = cluster.a.post(f"/api/jobs/{job['id']}/retry")
        assert retry.status_code == 202, retry.text
        retried = cluster.b.wait_job(retry.json()["job"]["id"])
        assert retried["status"] == "succeeded" and retried["kind"] == "upscale", retried["error"]
        [image] = retried["images"]
        assert (image["width"], image["height"]) == (240, 180)
        assert _atelier(cluster, image)["source"]["image_id"] == source["id"]
    finally:
        cluster.close()


def test_cancel_of_a_queued_tool_job_and_its_retry(cluster):
    source = import_image(cluster.a, gradient((160, 120)))
    watcher = cluster.client(cluster.a)
    # both workers busy with gated jobs: the tool job waits in atelier:local
    busy = [cluster.a.submit(prompt=f"busy {i}", provider="gated") for i in range(2)]
    for b in busy:
        cluster.a.wait_job(b["id"], statuses=("running",))
    job = _submit(cluster.b, "/api/social", image_id=source["id"], targets=["instagram/post"])
    assert job["status"] == "queued"
    watcher.subscribe(job_id=job["id"])
    r = cluster.a.post(f"/api/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["job"]["status"] == "cancelled"
    watcher.wait_event("job.cancelled", job["id"], timeout=30)
    cluster.a.open_gate()
    for b in busy:
        assert cluster.b.wait_job(b["id"])["status"] == "succeeded"
    stored = cluster.b.get(f"/api/jobs/{job['id']}").json()["job"]
    assert stored["status"] == "cancelled" and stored["images"] == []
    assert "job.started" not in [e for e, _ in watcher.job_events(job["id"])]

    retry = cluster.b.post(f"/api/jobs/{job['id']}/retry")
    assert retry.status_code == 202, retry.text
    retried = cluster.a.wait_job(retry.json()["job"]["id"])
    assert retried["status"] == "succeeded" and retried["retry_of"] == job["id"], retried["error"]
    [image] = retried["images"]
    assert _atelier(cluster, image)["source"]["platform"] == "instagram"


def test_a_killed_worker_leaves_a_running_edit_interrupted(cluster, stability):
    stability.script("remove-background", "slow")  # the fake answers only when it stops
    source = import_image(cluster.a, gradient((256, 192)))
    watcher = cluster.client(cluster.b)
    job = _submit(cluster.a, "/api/edit", operation="remove-background", provider="stability", image_id=source["id"])
    watcher.subscribe(job_id=job["id"])
    started = watcher.wait_event("job.started", job["id"], timeout=60)
    next(w for w in cluster.workers if w.name == started["worker"]).kill()
    ended_ = watcher.wait_event("job.interrupted", job["id"], timeout=60)
    assert ended_["error"]["code"] == "interrupted" and ended_["error"]["retryable"] is True
    assert cluster.a.get(f"/api/jobs/{job['id']}").json()["job"]["status"] == "interrupted"


def test_a_worker_reads_only_the_sources_of_a_job_it_holds(tmp_path):
    """GET /internal/jobs/<id>/sources/<image_id>, spoken to as a worker would."""
    import redis

    from backend.services.job_queue import JobQueue
    from tests.support.redis_server import RedisServer, require_redis_server
    from tests.support.server import ServerProcess

    require_redis_server()
    store = RedisServer(tmp_path).start()
    server = ServerProcess(tmp_path, "threading", ATELIER_REDIS_URL=store.url, ATELIER_WORKER_SECRET="w-secret")
    server.start()
    try:
        source, other = import_image(server, gradient((64, 48))), import_image(server, gradient((48, 64)))
        job = _submit(server, "/api/upscale", image_id=source["id"], mode="fast", scale=2)
        queue = JobQueue(redis.Redis.from_url(store.url))
        assert queue.claim(job["id"], "probe")  # no worker runs here: the probe holds the job
        queue.beat(job["id"], "probe")

        def as_worker(method, path, name="probe", secret="w-secret"):
            headers = {"X-Atelier-Worker": secret, "X-Atelier-Worker-Name": name}
            url = f"{server.url}/internal/jobs/{job['id']}{path}"
            return requests.request(method, url, headers=headers, timeout=10)

        assert as_worker("GET", f"/sources/{source['id']}").status_code == 409, "not running yet"
        started = as_worker("POST", "/start").json()["job"]
        assert started["tool"]["source"] == {"image_id": source["id"], "path": source["path"]}

        r = as_worker("GET", f"/sources/{source['id']}")
        assert r.status_code == 200 and r.content == (server.gallery / source["path"]).read_bytes()
        assert as_worker("GET", f"/sources/{source['id']}", secret="wrong").status_code == 401
        assert as_worker("GET", f"/sources/{source['id']}", name="another").status_code == 409
        r = as_worker("GET", f"/sources/{other['id']}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_source", "not named by the job"
        assert requests.delete(f"{server.url}/api/images/{source['id']}", timeout=10).status_code == 200
        r = as_worker("GET", f"/sources/{source['id']}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "source_gone"
        assert "was deleted before this job ran" in r.json()["error"]["message"]
        r = requests.post(
            f"{server.url}/internal/jobs/{job['id']}/finish",
            json={"status": "cancelled", "error": None},
            headers={"X-Atelier-Worker": "w-secret", "X-Atelier-Worker-Name": "probe"},
            timeout=10,
        )
        assert r.status_code == 200
    finally:
        server.stop()
        store.stop()


def test_a_tool_upload_refused_while_redis_is_away_writes_nothing(cluster):
    """The queue is checked before the upload is imported: a 503 leaves no file behind and
    announces nothing (it used to import the upload, then refuse the job)."""
    upload = data_url(gradient((64, 48)))
    before = sorted(p.relative_to(cluster.a.gallery).as_posix() for p in cluster.a.gallery.rglob("*.png"))
    cluster.redis.stop()
    try:
        r = cluster.a.post("/api/upscale", json={"image": upload, "mode": "fast", "scale": 2})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "queue_unavailable"
        after = sorted(p.relative_to(cluster.a.gallery).as_posix() for p in cluster.a.gallery.rglob("*.png"))
        assert after == before, "a refused tool request wrote the upload into the gallery"
        assert cluster.a.get("/api/images").json()["total"] == len(before)
    finally:
        cluster.redis.start()
