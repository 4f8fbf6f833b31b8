"""Hostile input: traversal in every route, header injection through file names, huge and
deeply nested bodies refused before they are read.

The routes come from the app's own url_map, so a route added later is attacked too.
Requests go over raw HTTP (http.client), because requests/urllib3 would normalise the
``../`` segments away before they reach the server.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import shutil
import socket
import tempfile
import unicodedata
import zipfile

import pytest
import requests
from PIL import Image

from backend.config import load_settings
from tests.support.faults import gallery_files, rss_kib
from tests.support.server import ServerProcess

SECRET = b"TOPSECRET-outside-the-gallery"
MARKERS = (SECRET.decode(), "root:x:0:0")  # the planted file; /etc/passwd

TRAVERSALS = [
    "../secret.png",
    "../../secret.png",
    "..%2fsecret.png",
    "..%2f..%2fsecret.png",
    "%2e%2e%2fsecret.png",
    "%2e%2e/%2e%2e/secret.png",
    "..%252fsecret.png",
    "%252e%252e%252fsecret.png",
    "..\\secret.png",
    "..%5csecret.png",
    "%5c..%5csecret.png",
    "secret.png%00.png",
    "%00",
    "..%00/secret.png",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "....//secret.png",
    "..%c0%afsecret.png",
    "link.png",
    "linkdir/secret.png",
    ".atelier/index.sqlite3",
    ".atelier%2findex.sqlite3",
    "2026-01-01/../../secret.png",
]


def _routes() -> list[tuple[str, str]]:
    """(method, rule) of every route the app serves, read from its url_map."""
    from backend.app import create_app

    scratch = tempfile.mkdtemp(prefix="atelier-url-map-")
    settings = load_settings(
        {
            "ATELIER_ASYNC_MODE": "threading",
            "ATELIER_GALLERY_DIR": f"{scratch}/gallery",
            "ATELIER_DATA_DIR": f"{scratch}/data",
            "ATELIER_ENV_FILE": "/nonexistent",
        }
    )
    app, _ = create_app(settings)
    shutil.rmtree(scratch, ignore_errors=True)
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule))
    return routes


ROUTES = _routes()
ROUTES_WITH_ARGS = [(m, r) for m, r in ROUTES if "<" in r]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "secret.png").write_bytes(SECRET)
    (tmp / "outside").mkdir()
    (tmp / "outside" / "secret.png").write_bytes(SECRET)
    proc = ServerProcess(tmp, "eventlet", ATELIER_MAX_UPLOAD_MB="1")
    proc.gallery.mkdir(parents=True)
    os.symlink(tmp / "secret.png", proc.gallery / "link.png")
    os.symlink(tmp / "outside", proc.gallery / "linkdir")
    proc.start()
    job = proc.wait_job(proc.submit(prompt="a real image", provider="instant")["id"])
    proc.image = job["images"][0]
    yield proc
    proc.stop()


def _raw(srv, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=15)
    try:
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=hdrs)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _fill(rule: str, value: str) -> str:
    def sub(match: re.Match) -> str:
        converter = match.group(1) or ""
        return "256" if converter.startswith("int") else value

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", sub, rule)


def test_the_route_list_is_not_empty():
    rules = {r for _, r in ROUTES_WITH_ARGS}
    assert {"/images/<path:relpath>", "/api/images/<image_id>", "/api/jobs/<job_id>"} <= rules


@pytest.mark.parametrize(("method", "rule"), ROUTES_WITH_ARGS)
def test_traversal_in_every_route_with_a_path_or_id(srv, method, rule):
    for value in TRAVERSALS:
        path = _fill(rule, value)
        body = b"{}" if method in ("POST", "PATCH", "PUT") else None
        status, headers, content = _raw(srv, method, path, body)
        assert status < 500, (method, path, status, content[:200])
        assert status != 200 or "image" not in headers.get("Content-Type", "") or SECRET not in content
        text = content.decode("latin-1")
        for marker in MARKERS:
            assert marker not in text, f"{method} {path} served a file outside the gallery"
    assert srv.get("/api/health").status_code == 200


def test_the_real_image_is_still_served(srv):
    status, headers, content = _raw(srv, "GET", srv.image["url"])
    assert status == 200 and content.startswith(b"\x89PNG")


HOSTILE_NAMES = [
    'evil"; filename="x.exe".png',
    "line\r\nX-Injected: yes.png",
    "../../../etc/cron.d/evil.png",
    "..\\..\\windows\\evil.png",
    "nul\x00byte.png",
    "ünïcödé\u202etxt.png",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_upload_file_names_stay_inside_and_inject_no_header(srv, name):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, "PNG")
    r = requests.post(srv.url + "/api/images/import", files={"file": (name, buf.getvalue(), "image/png")}, timeout=10)
    assert r.status_code == 201, r.text
    [image] = r.json()["images"]
    path = image["path"]
    assert path.startswith("imported/") and ".." not in path and "\\" not in path
    # letters and digits of any script (the slug keeps "ünïcödé"), '/', '.', '_', '-': no control,
    # format (U+202E) or separator character, nothing a file system or a header treats specially
    assert all(c in "/._-" or unicodedata.category(c)[0] in "LNM" for c in path), path
    assert (srv.gallery / path).resolve().is_relative_to(srv.gallery.resolve())

    served = requests.get(srv.url + image["url"], timeout=10)
    assert served.status_code == 200 and "X-Injected" not in served.headers
    export = requests.get(srv.url + "/api/export.zip", params={"ids": image["id"]}, timeout=30)
    assert export.status_code == 200 and "X-Injected" not in export.headers
    disposition = export.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="atelier-\d{8}-\d{6}\.zip"', disposition), disposition
    with zipfile.ZipFile(io.BytesIO(export.content)) as zf:
        for entry in zf.namelist():
            assert not entry.startswith("/") and ".." not in entry.split("/"), entry


@pytest.mark.parametrize("name", ['odd"\r\nX-Injected: yes.png', "carriage\rreturn.png", 'quote"d.png', "tab\tbed.png"])
def test_hand_placed_file_with_control_characters_in_its_name_is_served_safely(srv, name):
    folder = srv.gallery / "by-hand"
    folder.mkdir(exist_ok=True)
    Image.new("RGB", (8, 8), (9, 9, 9)).save(folder / name, "PNG")
    srv.restart()
    items = srv.get("/api/images?limit=200").json()["items"]
    [row] = [i for i in items if i["path"] == f"by-hand/{name}"]
    status, headers, _ = _raw(srv, "GET", row["url"])
    assert "X-Injected" not in headers
    if "\n" in name:
        assert status == 404  # Werkzeug's path converter stops at a newline: not served, not a 500
    else:
        assert status == 200, status
        assert re.fullmatch(r'inline; filename="?[\x20-\x7e]+"?', headers["Content-Disposition"])
        assert "\r" not in headers["Content-Disposition"]
    export = requests.get(srv.url + "/api/export.zip", params={"ids": row["id"]}, timeout=30)
    assert export.status_code == 200 and "X-Injected" not in export.headers
    (folder / name).unlink()


# --- bodies ------------------------------------------------------------------------------
def _refused_before_reading(srv, path: str, announced: int, content_type: str, method: str = "POST") -> bytes:
    """Announce ``announced`` bytes, send only the first KB, and read the answer: a server
    that waited for the body would never answer (the read times out and the test fails)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as sock:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {announced}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"[" * 1024)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


BODY_ROUTES = [(m, _fill(r, "x")) for m, r in ROUTES if m in ("POST", "PATCH", "PUT", "DELETE")]
READS_JSON = {("POST", "/api/jobs"), ("POST", "/api/images/delete"), ("PATCH", "/api/images/x")}


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_50_mb_json_is_refused_by_size_before_it_is_read(srv, method, path):
    answer = _refused_before_reading(srv, path, 50 * 1024 * 1024, "application/json", method)
    # every route answers without waiting for the body; those that read JSON say 413
    assert re.match(rb"HTTP/1.1 4\d\d", answer), answer[:200]
    if (method, path) in READS_JSON:
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


@pytest.mark.parametrize("path", ["/api/images/import", "/api/metadata/parse"])
def test_oversize_upload_is_refused_by_size_before_it_is_read(srv, path):
    answer = _refused_before_reading(srv, path, 50 * 1024 * 1024, "multipart/form-data; boundary=x")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_50_mb_json_sent_in_full_does_not_grow_the_server(srv):
    pid = srv.proc.pid
    srv.get("/api/health")
    before = rss_kib(pid)
    body = b'{"prompt": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    try:
        r = requests.post(srv.url + "/api/jobs", data=body, headers={"Content-Type": "application/json"}, timeout=60)
        assert r.status_code == 413
    except requests.ConnectionError:
        pass  # the server may close the connection on a body it will not read: also a refusal
    assert srv.get("/api/health").status_code == 200
    grown_mib = (rss_kib(pid) - before) / 1024
    assert grown_mib < 20, f"the server grew {grown_mib:.0f} MiB on a body it refused"


@pytest.mark.parametrize("depth", [1000, 100_000, 400_000])
def test_deeply_nested_json_is_a_clear_4xx(srv, depth):
    body = b"[" * depth + b"]" * depth
    r = requests.post(srv.url + "/api/jobs", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
    assert "error" in r.json()
    nested_object = ('{"a":' * depth + "1" + "}" * depth).encode()
    r = requests.post(
        srv.url + "/api/jobs", data=nested_object, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
    assert srv.get("/api/health").status_code == 200


def test_deeply_nested_socket_payload_does_not_hurt_the_server(srv):
    from tests.test_fault_sockets import RawClient

    client = RawClient(srv.url)
    try:
        client.ws.send("42" + json.dumps(["subscribe"])[:-1] + "," + "[" * 50_000 + "]" * 50_000 + "]")
    finally:
        client.close()
    assert srv.get("/api/health").json()["status"] == "ok"
    assert gallery_files(srv.gallery)[1] == []
