"""Values that made the server answer 500 before (found while fuzzing it from its OpenAPI
document): each is now a 4xx naming what is wrong, and the server keeps serving."""

from __future__ import annotations

import base64

import pytest
import requests


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    from tests.support.server import ServerProcess

    proc = ServerProcess(tmp_path_factory.mktemp("hostile"), "eventlet").start()
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    "query, field",
    [
        ("from=9999-12-31T23:59:59-23:59", "from"),  # past year 9999 once moved to UTC
        ("from=0001-01-01T00:00:00%2B23:59", "from"),  # before year 1 once moved to UTC
        ("to=9999-12-31", "to"),  # a 'to' day runs to the next midnight: year 10000
        ("q=seed:%C2%B2", "q"),  # '²'.isdigit() is true, int('²') is not
    ],
)
@pytest.mark.parametrize("path", ["/api/images", "/api/export.zip"])
def test_listing_values_out_of_range_are_422(srv, path, query, field):
    r = srv.get(f"{path}?{query}")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_cursor_holding_lone_surrogates_is_422(srv):
    cursor = base64.urlsafe_b64encode(b'["\\ud800", "x"]').decode().rstrip("=")
    for path in ("/api/images", "/api/jobs"):
        r = srv.get(f"{path}?cursor={cursor}")
        assert r.status_code == 422 and r.json()["error"]["field"] == "cursor", r.text


@pytest.mark.parametrize(
    "method, path",
    [("post", "/api/jobs"), ("post", "/api/images/delete"), ("patch", "/api/images/x")],
)
def test_json_nested_too_deeply_is_400(srv, method, path):
    body = "[" * 100_000 + "]" * 100_000  # 200 kB: under the size limit, past the parser's depth
    r = requests.request(method, srv.url + path, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json", r.text


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", "/api/jobs", '{"prompt": "a\\ud800b", "provider": "instant"}'),
        ("post", "/api/jobs", '{"prompt": "ok", "provider": "instant", "negative_prompt": "\\udfff"}'),
        ("post", "/api/images/delete", '{"ids": ["\\ud800"]}'),
        ("patch", "/api/images/x", '{"\\ud800": true}'),
    ],
)
def test_lone_surrogates_in_json_are_400_and_no_job_is_made(srv, method, path, body):
    """Valid JSON, but no text: a job would be accepted, then fail writing its file."""
    before = len(srv.get("/api/jobs").json()["items"])
    r = requests.request(method, srv.url + path, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json", r.text
    assert len(srv.get("/api/jobs").json()["items"]) == before
    assert srv.get("/api/health").status_code == 200
