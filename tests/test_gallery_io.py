"""Images in and out: metadata parsing per tool, import, uploads' bad input, ZIP export."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import zipfile
import zlib

import pytest
import requests
from PIL import Image

from tests.support.images import BASE_TIME, plain_png, sample_files, write_atelier_image
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("io"), "eventlet", ATELIER_MAX_UPLOAD_MB="2").start()
    yield proc
    proc.stop()


def gallery_files(server) -> set[str]:
    return {
        p.relative_to(server.gallery).as_posix()
        for p in server.gallery.rglob("*")
        if p.is_file() and not p.relative_to(server.gallery).as_posix().startswith(".")
    }


def upload(server, path: str, files):
    return requests.post(server.url + path, files=files, timeout=30)


@pytest.mark.parametrize("name", list(sample_files()))
def test_parse_finds_each_tools_parameters(srv, name):
    data, expected = sample_files()[name]
    r = upload(srv, "/api/metadata/parse", {"file": (name, data)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["found"] is True
    params = body["parameters"]
    for key, value in expected.items():
        assert params[key] == value, (key, params)
    assert params["raw"]


def test_parse_reads_atelier_images_and_says_when_there_is_nothing(srv):
    job = srv.submit(prompt="a lighthouse", provider="instant", seed=99)
    image = srv.wait_job(job["id"])["images"][0]
    data = srv.get(image["url"]).content
    params = upload(srv, "/api/metadata/parse", {"file": ("x.png", data)}).json()["parameters"]
    assert params["source"] == "atelier" and params["prompt"] == "a lighthouse" and params["seed"] == 99
    detail = srv.get(f"/api/images/{image['id']}").json()
    assert detail["parameters"]["prompt"] == "a lighthouse" and detail["metadata"]["seed"] == 99
    r = upload(srv, "/api/metadata/parse", {"file": ("plain.png", plain_png())})
    assert r.status_code == 200 and r.json()["found"] is False and r.json()["parameters"] is None


def test_import_copies_files_unchanged_with_their_metadata(srv):
    samples = sample_files()
    before = gallery_files(srv)
    files = [("files", (name, samples[name][0])) for name in ("comfyui.png", "a1111.jpg", "swarmui.png")]
    r = upload(srv, "/api/images/import", files)
    assert r.status_code == 201, r.text
    images = r.json()["images"]
    assert [i["prompt"] for i in images] == [
        "comfy lighthouse in a storm",
        "a castle on a hill, golden hour",
        "swarm neon city",
    ]
    assert images[0]["seed"] == 4242 and images[1]["model"] == "dreamshaper_8"
    for image, (_, (_name, data)) in zip(images, files, strict=True):
        assert image["path"].startswith("imported/")
        assert (srv.gallery / image["path"]).read_bytes() == data
    assert gallery_files(srv) - before == {i["path"] for i in images}
    found = srv.get("/api/images", params={"q": "lighthouse storm"}).json()["items"]
    assert [i["id"] for i in found] == [images[0]["id"]]
    detail = srv.get(f"/api/images/{images[0]['id']}").json()
    assert detail["parameters"]["source"] == "comfyui" and detail["parameters"]["raw"]["prompt"]["3"]


def _bomb_png() -> bytes:
    """A valid PNG header claiming 20000 x 20000 pixels: tiny file, huge decode."""
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("path", ["/api/metadata/parse", "/api/images/import"])
@pytest.mark.parametrize(
    "files, status",
    [
        ({"file": ("notes.png", b"just some text, not an image")}, 422),
        ({"file": ("gif.png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")}, 422),
        ({"file": ("bomb.png", _bomb_png())}, 422),
        ({"file": ("truncated.png", plain_png()[:60])}, 422),
        ({"file": ("big.png", b"\x89PNG" + b"\0" * (3 * 1024 * 1024))}, 413),
        ({"other": ("x.png", plain_png())}, 422),
    ],
)
def test_bad_uploads_are_rejected_and_nothing_is_written(srv, path, files, status):
    before = gallery_files(srv)
    r = upload(srv, path, files)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == "file"
    assert gallery_files(srv) == before


def test_upload_must_be_multipart_and_json_routes_keep_their_small_limit(srv):
    r = requests.post(srv.url + "/api/images/import", data=plain_png(), timeout=10)
    assert r.status_code == 422 and r.json()["error"]["field"] == "file"
    big_json = {"prompt": "x" * (1024 * 1024 + 10)}
    assert srv.post("/api/jobs", json=big_json).status_code == 413
    # a 1.5 MB upload (under the 2 MB upload limit, over the JSON limit) is accepted
    noisy = Image.frombytes(
        "RGB", (700, 700), bytes(range(256)) * (700 * 700 * 3 // 256) + b"\0" * (700 * 700 * 3 % 256)
    )
    buf = io.BytesIO()
    noisy.save(buf, "PNG", compress_level=0)
    assert 1024 * 1024 < len(buf.getvalue()) < 2 * 1024 * 1024
    r = upload(srv, "/api/metadata/parse", {"file": ("noisy.png", buf.getvalue())})
    assert r.status_code == 200, r.text


# --- export ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A server over 1,000 real images in two sessions; the watcher is slow on purpose."""
    tmp = tmp_path_factory.mktemp("export")
    proc = ServerProcess(tmp, "eventlet", ATELIER_WATCH_INTERVAL_SECONDS="3600")
    for i in range(1000):
        write_atelier_image(proc.gallery, f"export image {i}", i, session="tab-one" if i % 4 else "tab-two")
    jpeg = proc.gallery / "photos" / "camera.jpg"
    jpeg.parent.mkdir()
    Image.new("RGB", (50, 40), "navy").save(jpeg, "JPEG")
    proc.start()
    yield proc
    proc.stop()


def read_zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_export_of_1000_images_reads_back_byte_identical(big):
    r = requests.get(big.url + "/api/export.zip", params={"q": "export"}, timeout=60, stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    assert re.fullmatch(r'attachment; filename="atelier-\d{8}-\d{6}\.zip"', r.headers["Content-Disposition"])
    assert "Content-Length" not in r.headers  # streamed, not built first
    body = r.raw.read()
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    names = [n for n in archive.namelist() if n.endswith(".png")]
    assert len(names) == 1000
    for info in archive.infolist():
        if info.filename.endswith(".png"):
            assert info.compress_type == zipfile.ZIP_STORED
            assert archive.read(info) == (big.gallery / info.filename).read_bytes()
    rows = list(csv.DictReader(io.StringIO(archive.read("metadata.csv").decode())))
    assert len(rows) == 1000 and {r["file"] for r in rows} == set(names)
    manifest = json.loads(archive.read("metadata.json"))
    assert manifest["count"] == 1000 and manifest["skipped"] == []
    assert {i["path"] for i in manifest["images"]} == set(names)
    assert manifest["images"][0]["metadata"]["request"]["prompt"].startswith("export image")


def test_export_by_session_ids_job_and_filters(big):
    by_session = read_zip(big.get("/api/export.zip", params={"session": "tab-two"}))
    assert len([n for n in by_session.namelist() if n.endswith(".png")]) == 250
    listed = big.get("/api/images", params={"session": "tab-two"}).json()
    assert listed["total"] == 250
    ids = [i["id"] for i in listed["items"][:3]]
    by_ids = read_zip(big.get("/api/export.zip", params={"ids": ",".join(ids)}))
    paths = {i["path"] for i in listed["items"][:3]}
    assert {n for n in by_ids.namelist() if not n.startswith("metadata.")} == paths
    by_job = read_zip(big.get("/api/export.zip", params={"job": "job"}))
    assert len([n for n in by_job.namelist() if n.endswith(".png")]) == 1000
    jpeg = read_zip(big.get("/api/export.zip", params={"q": "", "to": "2000-01-01"}))
    assert jpeg.namelist() == ["metadata.csv", "metadata.json"]
    photos = read_zip(big.get("/api/export.zip", params={"from": BASE_TIME.replace(year=2000).isoformat()}))
    assert "photos/camera.jpg" in photos.namelist()
    assert photos.read("photos/camera.jpg") == (big.gallery / "photos" / "camera.jpg").read_bytes()


def test_a_file_gone_before_it_is_read_is_skipped_and_listed(big):
    listed = big.get("/api/images", params={"limit": 3, "q": "export"}).json()["items"]
    victim = listed[1]
    (big.gallery / victim["path"]).unlink()  # the watcher runs hourly here: the index still lists it
    archive = read_zip(big.get("/api/export.zip", params={"ids": ",".join(i["id"] for i in listed)}))
    assert archive.testzip() is None
    assert victim["path"] not in archive.namelist()
    assert len([n for n in archive.namelist() if n.endswith(".png")]) == 2
    manifest = json.loads(archive.read("metadata.json"))
    assert manifest["skipped"] == [{"path": victim["path"], "id": victim["id"], "reason": "No such file or directory"}]


@pytest.mark.parametrize(
    "params, field",
    [({"limit": "5"}, "limit"), ({"cursor": "x"}, "cursor"), ({"ids": "../x"}, "ids"), ({"session": "a b"}, "session")],
)
def test_bad_export_parameters_are_422(big, params, field):
    r = big.get("/api/export.zip", params=params)
    assert r.status_code == 422 and r.json()["error"]["field"] == field
