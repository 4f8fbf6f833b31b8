"""Every bad input of the spine gets a clear error naming the field, and nothing is lost."""

from __future__ import annotations

import pytest
import requests


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    from tests.support.server import ServerProcess

    proc = ServerProcess(tmp_path_factory.mktemp("bad"), "eventlet").start()
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   \n\t "}, "prompt"),
        ({"prompt": "x" * 4001}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "ok", "n": 0}, "n"),
        ({"prompt": "ok", "n": 11}, "n"),
        ({"prompt": "ok", "n": "3"}, "n"),
        ({"prompt": "ok", "n": True}, "n"),
        ({"prompt": "ok", "provider": "midjourney"}, "provider"),
        ({"prompt": "ok", "provider": "keyless"}, "provider"),
        ({"prompt": "ok", "model": "sdxl-9000"}, "model"),
        ({"prompt": "ok", "style": "vaporwave"}, "style"),
        ({"prompt": "ok", "aspect_ratio": "7:3"}, "aspect_ratio"),
        ({"prompt": "ok", "aspect_ratio": "16/9"}, "aspect_ratio"),
        ({"prompt": "ok", "seed": -1}, "seed"),
        ({"prompt": "ok", "seed": 2**32}, "seed"),
        ({"prompt": "ok", "steps": 0}, "steps"),
        ({"prompt": "ok", "quality": "ultra-mega"}, "quality"),
        ({"prompt": "ok", "sampler": "euler"}, "sampler"),
        ({"prompt": "ok", "session": "../../etc"}, "session"),
    ],
)
def test_bad_job_fields_are_422_naming_the_field(srv, body, field):
    r = srv.post("/api/jobs", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error" and error["field"] == field and error["message"]


def test_unavailable_provider_says_why_without_a_key(srv):
    r = srv.post("/api/jobs", json={"prompt": "ok", "provider": "keyless"})
    assert "set KEYLESS_API_KEY" in r.json()["error"]["message"]


@pytest.mark.parametrize("data", [b"not json", b"{'prompt': 1}", b"", b'{"prompt": "unterminated'])
def test_body_that_is_not_json_is_400(srv, data):
    r = requests.post(srv.url + "/api/jobs", data=data, headers={"Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_json_that_is_not_an_object_is_422(srv):
    r = srv.post("/api/jobs", json=["a", "list"])
    assert r.status_code == 422


def test_unknown_job_and_image_are_404(srv):
    for path in ("/api/jobs/nope", "/api/images/nope"):
        r = srv.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert srv.post("/api/jobs/nope/cancel").status_code == 404


def test_bad_listing_parameters_are_422(srv):
    assert srv.get("/api/images?limit=0").json()["error"]["field"] == "limit"
    assert srv.get("/api/images?limit=1001").json()["error"]["field"] == "limit"  # pages go to 1000
    assert srv.get("/api/images?limit=abc").status_code == 422
    assert srv.get("/api/images?cursor=%%%garbage").json()["error"]["field"] == "cursor"
    assert srv.get("/api/jobs?cursor=bm90LWpzb24").status_code == 422


def test_unsupported_values_are_replaced_with_a_warning_never_silently(srv):
    r = srv.post(
        "/api/jobs",
        json={"prompt": "ok", "provider": "instant", "aspect_ratio": "21:9", "steps": 99, "quality": "high"},
    )
    assert r.status_code == 202
    warnings = {w["field"]: w for w in r.json()["warnings"]}
    assert warnings["aspect_ratio"]["requested"] == "21:9" and warnings["aspect_ratio"]["used"] == "16:9"
    assert warnings["steps"]["used"] == 4
    assert warnings["quality"]["used"] is None
    job = r.json()["job"]
    assert job["request"]["aspect_ratio"] == "16:9" and job["request"]["steps"] == 4
    assert srv.get(f"/api/jobs/{job['id']}").json()["job"]["warnings"] == r.json()["warnings"]


@pytest.mark.parametrize(
    "path",
    [
        "/images/../../etc/passwd",
        "/images/%2e%2e/%2e%2e/etc/passwd",
        "/images/%252e%252e/etc/passwd",
        "/images/..%2f..%2fetc%2fpasswd",
        "/images/..%5c..%5cetc%5cpasswd",
        "/images//etc/passwd",
        "/images/%2fetc%2fpasswd",
        "/images/a%00.png",
        "/images/.atelier/index.sqlite3",
        "/images/nothing-here.png",
    ],
)
def test_traversal_in_image_paths_is_404(srv, path):
    # a raw request: no client-side normalisation of the path
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 404, (path, body[:200])
    assert b"root:" not in body


def test_symlink_out_of_the_gallery_is_not_served(srv, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret outside the gallery")
    (srv.gallery / "escape.png").symlink_to(secret)
    assert srv.get("/images/escape.png").status_code == 404
