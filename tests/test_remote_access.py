"""Safe remote access against the real server: token, origins, headers, rate limit,
the sub-path, proxies, and refusing to listen openly without a token."""

from __future__ import annotations

import base64
import subprocess
import sys
import time

import pytest
import requests
import socketio

from tests.support.server import ROOT, ServerProcess
from tests.support.sio import EventRecorder

TOKEN = "s3cret-token-for-tests"


def _refused(url: str, **kw) -> bool:
    client = EventRecorder(url, **kw)
    try:
        client.connect()
    except socketio.exceptions.ConnectionError:
        return True
    finally:
        client.close()
    return False


@pytest.mark.parametrize("mode", ["eventlet", "threading"])
def test_token_guards_rest_images_and_socket(make_server, mode):
    server = make_server(mode, ATELIER_TOKEN=TOKEN)
    wrong_basic = "Basic " + base64.b64encode(f"{TOKEN}:wrong".encode()).decode()  # the token as the user name
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": wrong_basic}):
        for path in ("/api/health", "/api/jobs", "/api/images", "/api/providers", "/docs/api.md"):
            r = server.get(path, headers=headers)
            assert r.status_code == 401, path
            assert r.json() == {"error": {"code": "unauthorized", "message": "a valid token is required"}}
            assert TOKEN not in r.text
        r = server.post("/api/jobs", json={"prompt": "x"}, headers=headers)
        assert r.status_code == 401
    # the app shell and the bare health check need no token: they reveal nothing
    assert server.get("/").status_code == 200
    assert server.get("/healthz").json() == {"status": "ok"}
    # AUTOMATIC1111 clients send HTTP Basic: the password is the token, the user name any
    basic = {"Authorization": "Basic " + base64.b64encode(f"anyone:{TOKEN}".encode()).decode()}
    assert server.get("/api/providers", headers=basic).status_code == 200

    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = server.post("/api/jobs", json={"prompt": "with a token", "provider": "instant"}, headers=auth)
    assert r.status_code == 202
    cookie = r.cookies.get("atelier_auth")
    assert cookie and TOKEN not in cookie, "the browser cookie holds a digest, not the token"
    job_id = r.json()["job"]["id"]
    image = None
    for _ in range(1200):
        job = server.get(f"/api/jobs/{job_id}", headers=auth).json()["job"]
        if job["status"] == "succeeded":
            image = job["images"][0]
            break
        time.sleep(0.05)
    assert image is not None
    assert server.get(image["url"]).status_code == 401
    assert server.get(image["url"], cookies={"atelier_auth": cookie}).status_code == 200, "<img> works by cookie"
    assert server.get(image["url"], cookies={"atelier_auth": "forged"}).status_code == 401

    assert _refused(server.url)
    assert _refused(server.url, auth={"token": "wrong"})
    client = EventRecorder(server.url, auth={"token": TOKEN}).connect()
    try:
        assert client.subscribe(job_id=job_id)["ok"] is True
    finally:
        client.close()


def test_listening_openly_without_a_token_is_refused(tmp_path):
    env = ServerProcess(tmp_path, "threading").env()
    env["ATELIER_HOST"] = "0.0.0.0"
    proc = subprocess.run([sys.executable, "-m", "backend"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "0.0.0.0" in lines[0] and "ATELIER_TOKEN" in lines[0] and "ATELIER_ALLOW_OPEN" in lines[0]
    )


def test_open_listening_when_asked_for(make_server):
    server = make_server("threading", ATELIER_HOST="0.0.0.0", ATELIER_ALLOW_OPEN="1")
    assert server.get("/api/health").status_code == 200


def test_origins_loopback_by_default(make_server):
    server = make_server("threading")
    evil = server.get("/api/health", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "forbidden_origin"
    dev = server.get("/api/health", headers={"Origin": "http://localhost:5173"})
    assert dev.status_code == 200 and dev.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    same = server.get("/api/health", headers={"Origin": server.url})
    assert same.status_code == 200 and "Access-Control-Allow-Origin" not in same.headers
    pre = requests.options(
        server.url + "/api/jobs",
        headers={"Origin": "http://127.0.0.1:3000", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert pre.status_code == 204 and "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    assert _refused(server.url, headers={"Origin": "https://evil.example"})
    EventRecorder(server.url, headers={"Origin": "http://localhost:5173"}).connect().close()


def test_origins_from_the_setting(make_server):
    server = make_server("eventlet", ATELIER_ALLOWED_ORIGINS="https://studio.example.org")
    assert server.get("/api/health", headers={"Origin": "https://studio.example.org"}).status_code == 200
    assert server.get("/api/health", headers={"Origin": "http://localhost:5173"}).status_code == 403
    assert _refused(server.url, headers={"Origin": "http://localhost:5173"})
    EventRecorder(server.url, headers={"Origin": "https://studio.example.org"}).connect().close()


def test_security_headers_on_every_response(make_server):
    server = make_server("threading")
    responses = [
        server.get("/"),
        server.get("/api/health"),
        server.get("/api/nope"),
        server.get("/api/jobs/missing"),
        server.get("/socket.io/?EIO=4&transport=polling"),
        server.post("/api/jobs", data="not json"),
    ]
    for r in responses:
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "script-src 'self'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"


def test_submissions_are_rate_limited_per_client(make_server):
    server = make_server("threading", ATELIER_RATE_LIMIT="3/minute")
    for i in range(3):
        assert server.post("/api/jobs", json={"prompt": f"job {i}", "provider": "instant"}).status_code == 202
    r = server.post("/api/jobs", json={"prompt": "one too many", "provider": "instant"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert server.get("/api/jobs").status_code == 200, "reading is not limited"
    # without ATELIER_TRUST_PROXY a forged X-Forwarded-For changes nothing
    forged = server.post("/api/jobs", json={"prompt": "x"}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert forged.status_code == 429


def test_tool_jobs_count_against_the_same_rate_limit(make_server):
    """Each studio tool route queues a job like POST /api/jobs: it is no way around the limit."""
    server = make_server("threading", ATELIER_RATE_LIMIT="1/hour")
    assert server.post("/api/jobs", json={"prompt": "x", "provider": "instant"}).status_code == 202
    for route in ("/api/upscale", "/api/social", "/api/edit"):
        r = server.post(route, json={"image_id": "nope"})
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited", route
    assert server.post("/api/estimate", json={"prompt": "x"}).status_code == 200, "pricing is not a submission"


def test_trusted_proxy_headers_name_the_client(make_server):
    server = make_server("threading", ATELIER_RATE_LIMIT="1/hour", ATELIER_TRUST_PROXY="1")
    body = {"prompt": "x", "provider": "instant"}
    assert server.post("/api/jobs", json=body, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 202
    assert server.post("/api/jobs", json=body, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 429
    assert server.post("/api/jobs", json=body, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 202


def test_base_path_serves_the_whole_studio_under_it(make_server):
    server = make_server("eventlet", ATELIER_BASE_PATH="/studio")
    root = f"http://127.0.0.1:{server.port}"
    assert server.url == root + "/studio"
    assert requests.get(root + "/api/health", timeout=10).status_code == 404
    assert server.get("/api/health").status_code == 200
    assert server.get("/").status_code == 200
    job = server.submit(prompt="under a sub-path", provider="instant")
    client = EventRecorder(root, socketio_path="studio/socket.io").connect()
    try:
        client.subscribe(job_id=job["id"])
        done = client.wait_event("job.succeeded", job["id"])
    finally:
        client.close()
    assert requests.get(root + "/socket.io/?EIO=4&transport=polling", timeout=10).status_code == 404
    image_url = done["images"][0]["url"]
    assert server.get(image_url).status_code == 200
    # a thumbnail URL handed out before the file changed redirects to the current one, under the sub-path too
    stale = done["images"][0]["thumb_url"].rsplit("/", 1)[0] + "/0123456789abcdef.webp"
    moved = server.get(stale, allow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["Location"] == "/studio" + done["images"][0]["thumb_url"]


def test_bad_settings_fail_in_one_line(tmp_path):
    cases = {
        "ATELIER_RATE_LIMIT": ("lots", "ATELIER_RATE_LIMIT"),
        "ATELIER_BASE_PATH": ("studio/", "ATELIER_BASE_PATH"),
        "ATELIER_TRUST_PROXY": ("maybe", "ATELIER_TRUST_PROXY"),
        "ATELIER_REDIS_URL": ("http://127.0.0.1:1", "ATELIER_REDIS_URL"),
    }
    for name, (value, named) in cases.items():
        env = ServerProcess(tmp_path, "threading").env()
        env[name] = value
        proc = subprocess.run([sys.executable, "-m", "backend"], cwd=ROOT, env=env, capture_output=True, text=True)
        assert proc.returncode == 2, name
        assert len(proc.stderr.strip().splitlines()) == 1 and named in proc.stderr
