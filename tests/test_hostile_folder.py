"""The gallery folder is hostile input: odd names, FIFOs, devices and links never take the studio down.

Only regular files inside the gallery are indexed, served, thumbnailed or exported; a name
that is not valid UTF-8 is skipped with one warning; one bad file stops no scan and no start.
"""

from __future__ import annotations

import collections
import io
import json
import os
import resource
import shutil
import threading
import zipfile

import pytest
import requests

from tests.support.images import plain_png
from tests.support.sio import EventRecorder

SECRET = b"TOPSECRET-outside-the-gallery"
FAST = {"ATELIER_WATCH_INTERVAL_SECONDS": "0.05"}


def _plant(kind: str, gallery, outside, suffix: str = "") -> str:
    """One entry the gallery must never open; returns its name as a warning names it."""
    if kind == "bad-name":
        name = b"bad-\xff\xfe" + suffix.encode() + b".png"
        with open(os.path.join(os.fsencode(gallery), name), "wb") as f:
            f.write(plain_png())
        return repr(name)
    name = {"fifo": "pipe", "dev-zero": "z", "link-outside": "x", "link-to-folder": "etcdir"}[kind] + suffix + ".png"
    if kind == "fifo":
        os.mkfifo(gallery / name)
    else:
        target = {"dev-zero": "/dev/zero", "link-outside": outside / "secret.png", "link-to-folder": outside}[kind]
        os.symlink(target, gallery / name)
    return repr(name)


KINDS = ["bad-name", "fifo", "dev-zero", "link-outside", "link-to-folder"]


def _start_memory_capped(make_server, **env):
    """A server that cannot grow past 4 GiB of address space: reading /dev/zero fails fast
    instead of taking the machine's memory (the server imports for a second before scanning)."""
    server = make_server("eventlet", start=False, **env)
    server.start(wait=False)
    resource.prlimit(server.proc.pid, resource.RLIMIT_AS, (4 << 30, 4 << 30))
    server.wait_ready(timeout=30)
    return server


def _listing(server) -> dict[str, dict]:
    return {i["path"]: i for i in server.get("/api/images", params={"limit": 100}).json()["items"]}


def _wait_feed(client, event, predicate=lambda d: True, timeout=30):
    events = client.wait_for(lambda ev: any(e == event and predicate(d) for e, d in ev), timeout)
    return next(d for e, d in events if e == event and predicate(d))


def _zip_names_and_bytes(response) -> tuple[set[str], bytes, dict]:
    assert response.status_code == 200, response.text[:300]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist()) - {"metadata.csv", "metadata.json"}
    data = b"".join(archive.read(n) for n in archive.namelist())
    return names, data, json.loads(archive.read("metadata.json"))


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.png").write_bytes(SECRET)
    return folder


@pytest.mark.parametrize("kind", KINDS)
def test_an_odd_entry_in_the_folder_stops_no_start_and_no_scan_and_is_never_read(make_server, tmp_path, outside, kind):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    (gallery / "good.png").write_bytes(plain_png())
    os.symlink("good.png", gallery / "alias.png")  # a link to a regular file inside: an image like any other
    at_start = _plant(kind, gallery, outside)

    server = _start_memory_capped(make_server, **FAST)
    assert set(_listing(server)) == {"good.png", "alias.png"}
    client = EventRecorder(server.url).connect()
    try:
        assert client.subscribe(topic="gallery")["ok"]
        # another one while running: the watcher skips it and still sees the next good file
        while_running = _plant(kind, gallery, outside, suffix="2")
        for n in range(3):  # three markers: at least two whole scans over the odd entries
            (gallery / f"marker{n}.png").write_bytes(plain_png((n, 0, 0)))
            _wait_feed(client, "gallery.added", lambda d, n=n: d["image"]["path"] == f"marker{n}.png")
        announced = {d["image"]["path"] for e, d in client.events if e == "gallery.added"}
        assert announced == {"marker0.png", "marker1.png", "marker2.png"}
    finally:
        client.close()
    everything = {"good.png", "alias.png", "marker0.png", "marker1.png", "marker2.png"}
    assert set(_listing(server)) == everything

    # nothing outside, nothing that is not a regular file, is served or exported
    for name in (at_start, while_running):
        if kind != "bad-name":
            r = server.get("/images/" + name.strip("'"))
            assert r.status_code == 404 and SECRET not in r.content
            assert r.headers["Content-Type"].startswith("application/json")
    assert server.get("/images/etcdir.png/secret.png").status_code == 404
    assert server.get("/images/alias.png").content == plain_png()
    names, data, _ = _zip_names_and_bytes(server.get("/api/export.zip"))
    assert names == everything and SECRET not in data

    # one warning per odd entry, naming it safely, however many scans passed over it
    log = server.output()
    assert log.count(at_start) == 1 and log.count(while_running) == 1, log[-3000:]
    assert "Traceback" not in log

    # and the next start is as good as the first
    server.stop()
    server.start()
    assert set(_listing(server)) == everything


def test_a_file_swapped_for_a_link_after_indexing_is_neither_served_nor_exported(make_server, tmp_path, outside):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for name in ("kept.png", "swapped.png", "piped.png", "zeroed.png"):
        (gallery / name).write_bytes(plain_png())
    # the watcher will not look again during the test (polling, and not for an hour; file
    # events would see the swaps at once): only the read paths stand between
    server = _start_memory_capped(make_server, ATELIER_WATCH_MODE="poll", ATELIER_WATCH_INTERVAL_SECONDS="3600")
    items = _listing(server)
    assert set(items) == {"kept.png", "swapped.png", "piped.png", "zeroed.png"}
    (gallery / "swapped.png").unlink()
    os.symlink(outside / "secret.png", gallery / "swapped.png")
    (gallery / "piped.png").unlink()
    os.mkfifo(gallery / "piped.png")
    (gallery / "zeroed.png").unlink()
    os.symlink("/dev/zero", gallery / "zeroed.png")

    for name in ("swapped.png", "piped.png", "zeroed.png"):
        image = items[name]
        r = server.get(image["url"])
        assert r.status_code == 404 and SECRET not in r.content, name
        thumb = server.get(image["thumb_url"])  # the placeholder, at once
        assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/webp"
        names, data, meta = _zip_names_and_bytes(server.get("/api/export.zip", params={"ids": image["id"]}))
        assert names == set() and SECRET not in data
        assert [s["path"] for s in meta["skipped"]] == [name]
    names, data, meta = _zip_names_and_bytes(server.get("/api/export.zip"))
    assert names == {"kept.png"} and SECRET not in data
    assert sorted(s["path"] for s in meta["skipped"]) == ["piped.png", "swapped.png", "zeroed.png"]
    assert server.get("/api/health").status_code == 200


def _permissions_bind(folder) -> bool:
    """Whether this process (and the server it starts) is refused a file without read permission:
    not as root with CAP_DAC_OVERRIDE (run ``setpriv --bounding-set -dac_override,-dac_read_search``)."""
    probe = folder / "probe"
    probe.write_bytes(b"x")
    probe.chmod(0)
    try:
        probe.read_bytes()
    except PermissionError:
        return True
    finally:
        probe.unlink()
    return False


#: as root, the server runs without the capabilities that ignore file permissions
WITHOUT_DAC_BYPASS = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def test_an_image_file_the_server_cannot_read_is_403_not_500(make_server, tmp_path):
    prefix: list[str] = []
    if not _permissions_bind(tmp_path):
        if shutil.which("setpriv") is None:
            pytest.skip("this process reads any file whatever its permissions (root), and setpriv is missing")
        prefix = WITHOUT_DAC_BYPASS
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    (gallery / "locked.png").write_bytes(plain_png())
    server = make_server("eventlet", start=False, ATELIER_WATCH_INTERVAL_SECONDS="3600")
    server.prefix = prefix
    server.start()
    image = _listing(server)["locked.png"]
    os.chmod(gallery / "locked.png", 0)
    try:
        r = server.get(image["url"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert "Traceback" not in r.text and "locked" not in r.json()["error"]["message"]
        names, _, meta = _zip_names_and_bytes(server.get("/api/export.zip"))
        assert names == set() and [s["path"] for s in meta["skipped"]] == ["locked.png"]
    finally:
        os.chmod(gallery / "locked.png", 0o644)


def test_trash_in_the_trash_folder_cannot_restore_outside_the_gallery(make_server, tmp_path):
    server = make_server("eventlet", ATELIER_WATCH_INTERVAL_SECONDS="3600")
    image = server.wait_job(server.submit(prompt="to trash", provider="instant")["id"])["images"][0]
    assert requests.delete(f"{server.url}/api/images/{image['id']}", timeout=10).status_code == 200
    (entry_folder,) = (server.gallery / ".trash").iterdir()
    entry = json.loads((entry_folder / "entry.json").read_text())
    entry["path"] = "../escaped/" + entry["path"]
    (entry_folder / "entry.json").write_text(json.dumps(entry))
    assert server.post(f"/api/images/{image['id']}/restore").status_code == 404
    assert not (tmp_path / "escaped").exists()
    assert server.get("/api/trash").json()["items"] == []


@pytest.mark.both_modes
def test_restore_and_the_watcher_never_announce_one_file_twice(make_server, async_mode):
    server = make_server(async_mode, **FAST)
    images = server.wait_job(server.submit(prompt="round trip", provider="instant", n=3)["id"])["images"]
    client = EventRecorder(server.url).connect()
    cycles = 40
    try:
        assert client.subscribe(topic="gallery")["ok"]

        failures: list[str] = []

        def hammer(image_id: str) -> None:
            with requests.Session() as http:
                for _ in range(cycles):
                    trashed = http.delete(f"{server.url}/api/images/{image_id}", timeout=10)
                    restored = http.post(f"{server.url}/api/images/{image_id}/restore", timeout=10)
                    if (trashed.status_code, restored.status_code) != (200, 200):
                        failures.append(f"{trashed.status_code} {trashed.text[:200]} / {restored.text[:200]}")
                        return

        workers = [threading.Thread(target=hammer, args=(i["id"],)) for i in images]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert not failures
        # a marker the watcher announces: it has scanned past every restore by then
        (server.gallery / "marker.png").write_bytes(plain_png())
        _wait_feed(client, "gallery.added", lambda d: d["image"]["path"] == "marker.png")
        client.wait_for(lambda ev: sum(1 for e, d in ev if e == "gallery.added" and d.get("restored")) == 3 * cycles)
    finally:
        client.close()
    seen = collections.Counter()
    for event, data in client.events:
        if event == "gallery.added" and data["image"]["path"] != "marker.png":
            seen[(data["image"]["id"], "added", bool(data.get("restored")))] += 1
        elif event == "gallery.removed":
            seen[(data["id"], "removed", data["reason"])] += 1
    expected = {}
    for image in images:
        expected[(image["id"], "added", True)] = cycles
        expected[(image["id"], "removed", "trashed")] = cycles
    assert dict(seen) == expected
    assert {i["id"] for i in _listing(server).values()} >= {i["id"] for i in images}
