"""Several machines on one: a real Redis, two web instances and two workers as processes
(tests/support/cluster.py). Instance A runs under eventlet, instance B under threading;
they share the gallery and the job database (same host) and reach each other only
through Redis. Workers reach nothing but Redis and a web server's address.
"""

from __future__ import annotations

import sys

import pytest

from tests.support.cluster import Cluster, ended
from tests.support.redis_server import RedisServer, require_redis_server
from tests.support.server import ROOT, ServerProcess
from tests.support.worker import WorkerProcess


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


def test_job_from_a_watched_on_b_run_by_a_worker_lands_in_both_galleries(cluster):
    watcher = cluster.client(cluster.b)
    job = cluster.a.submit(prompt="a lighthouse in fog", provider="instant", n=2, seed=7)
    ack = watcher.subscribe(job_id=job["id"])
    assert ack["ok"] is True
    watcher.wait_for(ended(job["id"]), timeout=60)

    events = watcher.job_events(job["id"])
    names = [e for e, _ in events]
    seqs = [d["seq"] for _, d in events]
    assert seqs == list(range(1, len(seqs) + 1)), "one sequence across processes, no gap, no repeat"
    assert names[0] == "job.queued" and "job.started" in names and names[-1] == "job.succeeded"
    started = next(d for e, d in events if e == "job.started")
    assert started["worker"] in ("w1", "w2")
    images = events[-1][1]["images"]
    assert len(images) == 2

    for server in (cluster.a, cluster.b):
        listed = {i["id"] for i in server.get("/api/images").json()["items"]}
        assert {i["id"] for i in images} <= listed
        stored = server.get(f"/api/jobs/{job['id']}").json()["job"]
        assert stored["status"] == "succeeded" and stored["last_seq"] == seqs[-1]
        for image in images:
            served = server.get(image["url"])
            assert served.status_code == 200 and served.content == (cluster.a.gallery / image["path"]).read_bytes()

    # a late subscriber on A gets the whole replay, once, in order
    late = cluster.client(cluster.a)
    late.subscribe(job_id=job["id"], after_seq=2)
    late.wait_for(ended(job["id"]), timeout=30)
    assert [d["seq"] for _, d in late.job_events(job["id"])] == seqs[2:]


def test_live_events_reach_clients_of_both_instances(cluster):
    on_a, on_b = cluster.client(cluster.a), cluster.client(cluster.b)
    job = cluster.b.submit(prompt="held at the gate", provider="gated")
    on_a.subscribe(job_id=job["id"])
    on_b.subscribe(job_id=job["id"])
    for c in (on_a, on_b):
        c.wait_event("job.preview", job["id"], timeout=60)
    cluster.a.open_gate()
    for c in (on_a, on_b):
        c.wait_for(ended(job["id"]), timeout=60)
    seqs_a = [d["seq"] for _, d in on_a.job_events(job["id"])]
    seqs_b = [d["seq"] for _, d in on_b.job_events(job["id"])]
    assert seqs_a == seqs_b == list(range(1, len(seqs_a) + 1))
    preview = next(d for e, d in on_b.job_events(job["id"]) if e == "job.preview")
    assert isinstance(preview["data"], bytes) and preview["data"][:2] == b"\xff\xd8"


def test_cancel_through_b_stops_the_job_on_its_worker(cluster):
    watcher = cluster.client(cluster.b)
    job = cluster.a.submit(prompt="never finishes", provider="gated")
    watcher.subscribe(job_id=job["id"])
    watcher.wait_event("job.progress", job["id"], timeout=60)
    r = cluster.b.post(f"/api/jobs/{job['id']}/cancel")
    assert r.status_code == 202 and r.json()["job"]["cancel_requested"] is True
    watcher.wait_event("job.cancelled", job["id"], timeout=60)
    assert cluster.a.get(f"/api/jobs/{job['id']}").json()["job"]["status"] == "cancelled"
    messages = [d.get("message") for e, d in watcher.job_events(job["id"]) if e == "job.progress"]
    assert "cancelling" in messages
    # a queued job is cancelled at once: both workers are busy with gated jobs first
    busy = [cluster.a.submit(prompt=f"busy {i}", provider="gated") for i in range(2)]
    for b in busy:
        cluster.a.wait_job(b["id"], statuses=("running",))
    queued = cluster.b.submit(prompt="waits", provider="gated")
    r = cluster.a.post(f"/api/jobs/{queued['id']}/cancel")
    assert r.status_code == 200 and r.json()["job"]["status"] == "cancelled"
    cluster.a.open_gate()
    for b in busy:
        assert cluster.b.wait_job(b["id"])["status"] == "succeeded"
    assert cluster.b.get(f"/api/jobs/{queued['id']}").json()["job"]["status"] == "cancelled"


def test_a_killed_worker_leaves_the_job_interrupted_and_its_retry_runs_elsewhere(cluster):
    watcher = cluster.client(cluster.a)
    job = cluster.b.submit(prompt="the worker dies", provider="gated")
    watcher.subscribe(job_id=job["id"])
    started = watcher.wait_event("job.started", job["id"], timeout=60)
    victim = next(w for w in cluster.workers if w.name == started["worker"])
    survivor = next(w for w in cluster.workers if w is not victim)
    victim.kill()  # kill -9: no goodbye

    ended = watcher.wait_event("job.interrupted", job["id"], timeout=60)
    assert ended["error"]["code"] == "interrupted" and ended["error"]["retryable"] is True
    stored = cluster.a.get(f"/api/jobs/{job['id']}").json()["job"]
    assert stored["status"] == "interrupted"

    retry = cluster.a.post(f"/api/jobs/{job['id']}/retry")
    assert retry.status_code == 202
    retry_id = retry.json()["job"]["id"]
    watcher.subscribe(job_id=retry_id)
    assert watcher.wait_event("job.started", retry_id, timeout=60)["worker"] == survivor.name
    cluster.a.open_gate()
    assert cluster.b.wait_job(retry_id)["status"] == "succeeded"


def test_redis_lost_and_back(cluster):
    # one worker, so one gated job runs and one waits in the queue
    cluster.workers[1].kill()
    running = cluster.a.submit(prompt="runs through the outage", provider="gated")
    cluster.a.wait_job(running["id"], statuses=("running",))
    queued = cluster.a.submit(prompt="queued through the outage", provider="gated")
    done = cluster.a.submit(prompt="made before", provider="instant")

    cluster.redis.stop()
    for server in (cluster.a, cluster.b):
        r = server.post("/api/jobs", json={"prompt": "while Redis is away", "provider": "instant"})
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "queue_unavailable" and "Redis" in error["message"]
        assert r.headers["Retry-After"]
        assert server.get("/api/images").status_code == 200, "the gallery keeps serving"
        assert server.get(f"/api/jobs/{queued['id']}").json()["job"]["status"] == "queued"

    cluster.redis.start()
    cluster.a.open_gate()
    for job in (running, queued, done):
        assert cluster.b.wait_job(job["id"], timeout=120)["status"] == "succeeded"
    after = cluster.b.submit(prompt="after Redis came back", provider="instant")
    assert cluster.a.wait_job(after["id"], timeout=60)["status"] == "succeeded"


def test_unreachable_redis_at_start_is_one_line_naming_the_url(tmp_path):
    from tests.support.server import free_port

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    server = ServerProcess(tmp_path, "threading", ATELIER_REDIS_URL=url)
    server.start(wait=False)
    assert server.proc.wait(60) == 1
    out = server.output().strip().splitlines()
    assert len(out) == 1 and "cannot reach Redis at" in out[0] and url.split("@")[1] in out[0]
    assert "hunter2" not in server.output(), "the password never reaches a message"

    worker = WorkerProcess(tmp_path, "w", url, server.url, "instant")
    rc, output = worker.run_to_exit()
    assert rc == 1 and "cannot reach Redis at" in output and "hunter2" not in output


def test_a_worker_asked_for_a_provider_it_lacks_says_so_at_start(tmp_path):
    # `local` (the studio tools that need no provider) is there on every machine
    worker = WorkerProcess(tmp_path, "w", "redis://127.0.0.1:1/0", "http://127.0.0.1:1", "instant,local,midjourney")
    rc, output = worker.run_to_exit()
    assert rc == 2
    assert "no provider 'midjourney'" in output and "instant" in output and "local" in output.split("it has:")[1]
    worker = WorkerProcess(tmp_path, "w2", "redis://127.0.0.1:1/0", "http://127.0.0.1:1", "keyless")
    rc, output = worker.run_to_exit()
    assert rc == 2 and "keyless" in output and "KEYLESS_API_KEY" in output


def test_the_plain_rq_worker_command_runs_jobs_too(tmp_path):
    import os
    import subprocess

    require_redis_server()
    redis = RedisServer(tmp_path).start()
    server = ServerProcess(tmp_path, "threading", ATELIER_REDIS_URL=redis.url).start()
    try:
        job = server.submit(prompt="run by rq worker", provider="instant", n=2)
        worker = WorkerProcess(tmp_path, "rq", redis.url, server.url, "instant")
        rq = os.path.join(os.path.dirname(sys.executable), "rq")
        cmd = [rq, "worker", "-w", "rq.worker.SimpleWorker", "--url", redis.url, "--burst", "atelier:instant"]
        done = subprocess.run(cmd, cwd=ROOT, env=worker.env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        finished = server.wait_job(job["id"])
        assert finished["status"] == "succeeded" and len(finished["images"]) == 2
    finally:
        server.stop()
        redis.stop()
