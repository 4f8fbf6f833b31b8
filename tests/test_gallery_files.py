"""The folder is the truth while the studio runs: hand edits, favourites, trash, thumbnails."""

from __future__ import annotations

import io
import json
import os
import shutil
import time

import pytest
from PIL import Image

from tests.support.images import plain_png, png_with_text, write_atelier_image
from tests.support.sio import EventRecorder

pytestmark = pytest.mark.both_modes  # sockets, scheduling, watcher, crash recovery differ per mode

FAST = {"ATELIER_WATCH_INTERVAL_SECONDS": "0.2"}


@pytest.fixture
def watched(make_server, async_mode):
    """A running server that scans often, and a client on its gallery feed."""
    clients = []

    def start(**env):
        server = make_server(async_mode, **{**FAST, **env})
        client = EventRecorder(server.url).connect()
        clients.append(client)
        assert client.subscribe(topic="gallery")["ok"]
        return server, client

    yield start
    for client in clients:
        client.close()


def wait_feed(client, event, predicate=lambda d: True, timeout=30):
    events = client.wait_for(lambda ev: any(e == event and predicate(d) for e, d in ev), timeout)
    return next(d for e, d in events if e == event and predicate(d))


def listing(server, **params):
    return server.get("/api/images", params=params).json()


def test_hand_added_replaced_and_deleted_files_are_noticed_while_running(watched):
    server, client = watched()
    # added by hand: a plain photo without any generation metadata
    folder = server.gallery / "by-hand"
    folder.mkdir()
    tmp = folder / ".holiday.tmp"
    Image.new("RGB", (40, 30), "teal").save(tmp, "JPEG")
    os.replace(tmp, folder / "holiday.jpg")
    added = wait_feed(client, "gallery.added", lambda d: d["image"]["path"] == "by-hand/holiday.jpg")
    image = added["image"]
    assert image["width"] == 40 and image["readable"] and added["replaced"] is False
    assert listing(server)["items"][0]["id"] == image["id"] or image["id"] in {
        i["id"] for i in listing(server)["items"]
    }

    # another tool's image: indexed with what its metadata says
    (folder / "castle.png").write_bytes(png_with_text({"parameters": "a castle\nSteps: 5, Seed: 77, Model: sd15"}))
    castle = wait_feed(client, "gallery.added", lambda d: d["image"]["path"] == "by-hand/castle.png")["image"]
    assert castle["prompt"] == "a castle" and castle["seed"] == 77 and castle["model"] == "sd15"
    assert listing(server, q="castle")["total"] == 1

    # replaced in place: same id, new content hash, new thumbnail URL
    Image.new("RGB", (80, 20), "orange").save(folder / "holiday.jpg", "JPEG")
    replaced = wait_feed(
        client, "gallery.added", lambda d: d["image"]["path"] == "by-hand/holiday.jpg" and d["replaced"]
    )["image"]
    assert replaced["id"] == image["id"] and replaced["width"] == 80
    assert replaced["thumb_url"] != image["thumb_url"]

    # deleted by hand
    (folder / "holiday.jpg").unlink()
    removed = wait_feed(client, "gallery.removed", lambda d: d["path"] == "by-hand/holiday.jpg")
    assert removed["id"] == image["id"]
    assert server.get(f"/api/images/{image['id']}").status_code == 404
    assert listing(server)["total"] == 1


def test_a_jobs_image_is_announced_once_not_again_by_the_watcher(watched):
    server, client = watched()
    job = server.submit(prompt="only once", provider="instant", n=3)
    server.wait_job(job["id"])
    # a hand-added marker file: once the watcher reports it, it has scanned past the job's images
    (server.gallery / "marker.png").write_bytes(plain_png())
    wait_feed(client, "gallery.added", lambda d: d["image"]["path"] == "marker.png")
    ids = [d["image"]["id"] for e, d in client.events if e == "gallery.added"]
    assert len(ids) == len(set(ids)) == 4


def test_favourites_survive_index_deletion_while_running_and_between_runs(watched):
    server, client = watched()
    job = server.submit(prompt="keep me", provider="instant", n=3)
    images = server.wait_job(job["id"])["images"]
    import requests

    r = requests.patch(f"{server.url}/api/images/{images[1]['id']}", json={"favorite": True}, timeout=5)
    assert r.status_code == 200 and r.json()["image"]["favorite"] is True
    updated = wait_feed(client, "gallery.updated")
    assert updated["image"]["id"] == images[1]["id"] and updated["image"]["favorite"]
    assert [i["id"] for i in listing(server, favorite="true")["items"]] == [images[1]["id"]]

    # the index file deleted while running
    index = server.gallery / ".atelier" / "index.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(index) + suffix):
            os.unlink(str(index) + suffix)
    (server.gallery / "after-loss.png").write_bytes(plain_png())
    wait_feed(client, "gallery.added", lambda d: d["image"]["path"] == "after-loss.png")
    assert index.exists()
    page = listing(server)
    assert page["total"] == 4
    assert {i["id"]: i["favorite"] for i in page["items"]}[images[1]["id"]] is True

    # and between runs: rebuilt from the files and the favourites file
    server.stop()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(index) + suffix):
            os.unlink(str(index) + suffix)
    server.start()
    page = listing(server)
    assert page["total"] == 4
    assert [i["id"] for i in listing(server, favorite="true")["items"]] == [images[1]["id"]]
    assert listing(server, favorite="false")["total"] == 3


def test_bad_favourite_requests(watched):
    import requests

    server, _ = watched()
    job = server.submit(prompt="x", provider="instant")
    image = server.wait_job(job["id"])["images"][0]
    url = f"{server.url}/api/images/{image['id']}"
    for body, field in (({"favorite": "yes"}, "favorite"), ({"prompt": "new"}, "prompt"), ({}, "favorite")):
        r = requests.patch(url, json=body, timeout=5)
        assert r.status_code == 422 and r.json()["error"]["field"] == field
    assert requests.patch(f"{server.url}/api/images/nope", json={"favorite": True}, timeout=5).status_code == 404


def test_delete_moves_to_trash_restore_brings_it_back_and_old_trash_is_purged(watched):
    import requests

    server, client = watched()
    job = server.submit(prompt="trash me", provider="instant", n=4)
    images = server.wait_job(job["id"])["images"]
    first = images[0]
    requests.patch(f"{server.url}/api/images/{first['id']}", json={"favorite": True}, timeout=5)
    original = (server.gallery / first["path"]).read_bytes()

    r = requests.delete(f"{server.url}/api/images/{first['id']}", timeout=5)
    assert r.status_code == 200 and r.json()["deleted"] == [first["id"]]
    assert wait_feed(client, "gallery.removed")["id"] == first["id"]
    assert not (server.gallery / first["path"]).exists()
    assert server.get(f"/api/images/{first['id']}").status_code == 404
    assert listing(server)["total"] == 3
    trash = server.get("/api/trash").json()["items"]
    assert [t["id"] for t in trash] == [first["id"]]
    assert trash[0]["purge_at"] - trash[0]["deleted_at"] == pytest.approx(30 * 86400)

    r = server.post("/api/images/delete", json={"ids": [images[1]["id"], images[2]["id"], "nope"]})
    assert r.status_code == 200 and r.json()["deleted"] == [images[1]["id"], images[2]["id"]]
    assert r.json()["not_found"] == ["nope"]
    assert listing(server)["total"] == 1

    r = server.post(f"/api/images/{first['id']}/restore")
    assert r.status_code == 200
    restored = r.json()["image"]
    assert restored["id"] == first["id"] and restored["path"] == first["path"] and restored["favorite"] is True
    assert (server.gallery / first["path"]).read_bytes() == original
    assert wait_feed(client, "gallery.added", lambda d: d.get("restored"))["image"]["id"] == first["id"]
    assert listing(server)["total"] == 2
    assert server.post(f"/api/images/{first['id']}/restore").status_code == 404

    # the watcher never mistakes the trash for the gallery
    (server.gallery / "marker.png").write_bytes(plain_png())
    wait_feed(client, "gallery.added", lambda d: d["image"]["path"] == "marker.png")
    assert listing(server)["total"] == 3

    # a deletion older than the retention is purged at the next start
    server.stop()
    trashed = [p for p in (server.gallery / ".trash").iterdir()]
    assert len(trashed) == 2
    entry = trashed[0] / "entry.json"
    data = json.loads(entry.read_text())
    data["deleted_at"] = time.time() - 31 * 86400
    entry.write_text(json.dumps(data))
    server.start()
    assert len(list((server.gallery / ".trash").iterdir())) == 1
    assert server.post(f"/api/images/{data['id']}/restore").status_code == 404


@pytest.mark.parametrize("body", [{}, {"ids": []}, {"ids": "abc"}, {"ids": [1, 2]}, {"ids": ["x"] * 1001}])
def test_bad_bulk_delete_is_422(watched, body):
    server, _ = watched()
    r = server.post("/api/images/delete", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == "ids"


def test_thumbnails_are_webp_cached_immutable_and_remade_when_corrupt(watched):
    import requests

    server, _ = watched()
    path = write_atelier_image(server.gallery, "thumb test", 1)
    Image.new("RGB", (1200, 600), "purple").save(server.gallery / "wide.png")
    (server.gallery / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    server.restart()
    items = {i["path"]: i for i in listing(server)["items"]}
    wide = items["wide.png"]

    for key, side in (("thumb_url", 256), ("thumb_512_url", 512)):
        r = server.get(wide[key])
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        with Image.open(io.BytesIO(r.content)) as im:
            assert im.format == "WEBP" and im.size == (side, side // 2)
        etag = r.headers["ETag"]
        again = server.get(wide[key], headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["ETag"] == etag

    # the cache entry corrupted, truncated, then deleted: remade each time, never broken
    cache_files = list((server.gallery / ".atelier" / "thumbs" / "256").rglob("*.webp"))
    assert len(cache_files) == 1
    cached = cache_files[0]
    good = cached.read_bytes()
    for damage in (b"garbage" * 10, good[: len(good) // 2], None):
        if damage is None:
            cached.unlink()
        else:
            cached.write_bytes(damage)
        r = server.get(wide["thumb_url"])
        assert r.status_code == 200
        with Image.open(io.BytesIO(r.content)) as im:
            im.load()
            assert im.size == (256, 128)
        assert cached.read_bytes()[:4] == b"RIFF"

    # an unreadable image gets a placeholder, not an error
    r = server.get(items["broken.png"]["thumb_url"])
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).format == "WEBP"

    # an old URL (the file changed since) redirects to the current one; unknown ones are 404
    stale = wide["thumb_url"].rsplit("/", 1)[0] + "/0000000000000000.webp"
    r = requests.get(server.url + stale, allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"].endswith(wide["thumb_url"])
    assert server.get(wide["thumb_url"].replace("/256/", "/300/")).status_code == 404
    assert server.get("/thumbs/256/nope/abc.webp").status_code == 404
    assert path.exists()


def test_corrupt_index_file_between_runs_is_rebuilt(make_server):
    server = make_server()
    job = server.submit(prompt="survive", provider="instant", n=2)
    images = server.wait_job(job["id"])["images"]
    server.stop()
    shutil.rmtree(server.gallery / ".atelier" / "thumbs", ignore_errors=True)
    for suffix in ("-wal", "-shm"):
        p = server.gallery / ".atelier" / f"index.sqlite3{suffix}"
        if p.exists():
            p.unlink()
    (server.gallery / ".atelier" / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    server.start()
    assert {i["id"] for i in listing(server)["items"]} == {i["id"] for i in images}


# --- in process: the gallery service and the safe reads, no server needed -------------------


def test_the_gallery_service_announces_each_change_it_makes_once(tmp_path):
    from backend.services.gallery import Gallery, image_json
    from backend.storage.gallery_index import GalleryIndex

    events: list[tuple[str, str, dict]] = []
    gallery = Gallery(
        tmp_path,
        GalleryIndex(tmp_path / ".atelier" / "index.sqlite3"),
        feed=lambda event: events.append((event.topic, event.name, event.payload())),
    )

    row = gallery.import_upload(plain_png(), "holiday.png")
    assert events.pop() == ("gallery", "gallery.added", {"image": image_json(row), "imported": True})
    liked = gallery.set_favorite(row.id, True)
    assert liked.favorite and events.pop() == ("gallery", "gallery.updated", {"image": image_json(liked)})
    assert gallery.set_favorite("nope", True) is None and not events

    assert gallery.move_to_trash([row.id, "nope"]) == ([row.id], ["nope"])
    assert events.pop() == ("gallery", "gallery.removed", {"id": row.id, "path": row.path, "reason": "trashed"})
    restored = gallery.restore(row.id)
    assert restored.id == row.id and restored.favorite
    assert events.pop() == ("gallery", "gallery.added", {"image": image_json(restored), "restored": True})
    assert not events

    # the watcher's findings: a file added, then deleted, by hand
    (tmp_path / "by-hand.png").write_bytes(plain_png((1, 2, 3)))
    gallery.apply(gallery.scan(gallery.known()))
    ((_, name, payload),) = events
    assert name == "gallery.added" and payload["image"]["path"] == "by-hand.png" and payload["replaced"] is False
    (tmp_path / "by-hand.png").unlink()
    gallery.apply(gallery.scan(gallery.known()))
    assert events[-1][1:] == (
        "gallery.removed",
        {"id": payload["image"]["id"], "path": "by-hand.png", "reason": "deleted"},
    )
    # and a scan that found nothing new, or restores made meanwhile, announce nothing more
    gallery.apply(gallery.scan(gallery.known()))
    assert len(events) == 2


def test_only_regular_files_inside_the_gallery_are_opened_and_reads_are_capped(tmp_path):
    from backend.storage.files import FileTooLarge, RefusedFile, open_regular, read_regular, walk_regular_files

    root, outside = tmp_path / "gallery", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    (root / "sub" / "good.png").write_bytes(plain_png())
    os.symlink("sub/good.png", root / "alias.png")
    os.symlink(outside / "secret.png", root / "x.png")
    os.symlink(outside, root / "dir.png")
    os.symlink("/dev/zero", root / "z.png")
    os.mkfifo(root / "pipe.png")
    (root / "folder.png").mkdir()
    os.symlink(outside, root / "linked-folder")  # never entered
    with open(os.path.join(os.fsencode(root), b"bad-\xff.png"), "wb") as f:
        f.write(plain_png())

    for name in ("x.png", "dir.png", "z.png", "pipe.png", "folder.png", "linked-folder/secret.png"):
        with pytest.raises(RefusedFile):
            open_regular(root / name, root)
    data, st = read_regular(root / "alias.png", root)
    assert data == plain_png() and st.st_size == len(data)
    with pytest.raises(FileTooLarge):
        read_regular(root / "alias.png", root, limit=10)
    with pytest.raises(FileNotFoundError):
        open_regular(root / "missing.png", root)

    skipped: list[tuple[str, str]] = []
    found = sorted(rel for rel, _ in walk_regular_files(root, {".png"}, lambda *s: skipped.append(s)))
    assert found == ["alias.png", "sub/good.png"]
    assert sorted(name for name, _ in skipped) == sorted(
        [repr(b"bad-\xff.png"), "'x.png'", "'dir.png'", "'z.png'", "'pipe.png'"]
    )


def test_folders_made_links_to_elsewhere_receive_nothing(tmp_path):
    from datetime import UTC, datetime

    from backend.services.gallery import Gallery
    from backend.storage.files import RefusedFile, day_folder
    from backend.storage.gallery_index import GalleryIndex

    root, outside = tmp_path / "gallery", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    gallery = Gallery(root, GalleryIndex(root / ".atelier" / "index.sqlite3"))
    kept = gallery.import_upload(plain_png(), "kept.png")
    # the trash, then today's import folder, each replaced by a link to a folder outside
    os.symlink(outside, root / ".trash")
    with pytest.raises(RefusedFile):
        gallery.move_to_trash([kept.id])
    assert (root / kept.path).read_bytes() == plain_png() and gallery.get(kept.id) == kept
    today = root / "imported" / day_folder(datetime.now(UTC))
    shutil.rmtree(today)
    os.symlink(outside, today)
    with pytest.raises(RefusedFile):
        gallery.import_upload(plain_png((9, 9, 9)), "escape.png")
    assert list(outside.iterdir()) == []


def test_web_instances_sharing_one_gallery_announce_each_change_once(tmp_path):
    """Two web instances on one host share the folder and the index (README: several web
    instances); each watches the folder. A change one of them made and announced, or a file
    added by hand that one of them announced, is not announced again by the other's watcher."""
    from backend.services.gallery import Gallery, image_id_for
    from backend.storage.gallery_index import GalleryIndex

    feeds: dict[str, list[tuple[str, dict]]] = {"a": [], "b": []}

    def instance(name: str) -> Gallery:
        def feed(event) -> None:
            feeds[name].append((event.name, event.payload()))

        return Gallery(tmp_path, GalleryIndex(tmp_path / ".atelier" / "index.sqlite3"), feed=feed)

    a, b = instance("a"), instance("b")
    for gallery in (a, b):
        gallery.reconcile()

    def scan_both() -> None:
        for gallery in (a, b):
            gallery.apply(gallery.scan(gallery.known()))

    row = a.import_upload(plain_png(), "holiday.png")
    scan_both()
    a.move_to_trash([row.id])
    scan_both()
    b.restore(row.id)
    scan_both()
    (tmp_path / "by-hand.png").write_bytes(plain_png((1, 2, 3)))
    scan_both()
    (tmp_path / "by-hand.png").unlink()
    scan_both()

    said = [(name, p.get("id") or p["image"]["path"]) for name, p in feeds["a"] + feeds["b"]]
    assert sorted(said) == sorted(
        [
            ("gallery.added", row.path),  # imported on a
            ("gallery.removed", row.id),  # trashed on a
            ("gallery.added", row.path),  # restored on b
            ("gallery.added", "by-hand.png"),  # found by a's watcher
            ("gallery.removed", image_id_for("by-hand.png")),  # its deletion, found by a's watcher
        ]
    ), said
    assert [p.get("reason") for name, p in feeds["a"] + feeds["b"] if name == "gallery.removed"] == [
        "trashed",
        "deleted",
    ]
    assert [i.path for i in b.index.page(10, None)] == [row.path]


def test_favourites_set_on_two_web_instances_are_all_kept(tmp_path):
    """Both instances write the one favourites file beside the images: a favourite set on one
    is not lost when the other sets another, and survives a rebuild of the index."""
    from backend.services.gallery import Gallery
    from backend.storage.gallery_index import GalleryIndex

    def instance() -> Gallery:
        return Gallery(tmp_path, GalleryIndex(tmp_path / ".atelier" / "index.sqlite3"))

    a, b = instance(), instance()
    first = a.import_upload(plain_png(), "first.png")
    second = a.import_upload(plain_png((5, 6, 7)), "second.png")
    a.set_favorite(first.id, True)
    b.set_favorite(second.id, True)
    b.set_favorite(first.id, False)
    a.set_favorite(first.id, True)

    (tmp_path / ".atelier" / "index.sqlite3").unlink()
    rebuilt = instance()
    rebuilt.reconcile()
    assert {row.path for row in rebuilt.index.page(10, None) if row.favorite} == {first.path, second.path}


def test_a_trash_on_one_web_instance_is_not_also_announced_as_deleted_by_the_others_watcher(tmp_path):
    """The other instance's watcher may scan while the file is moving into the trash: it never
    finds a file gone that the index still holds, so it never announces a deletion by hand."""
    from backend.services.gallery import Gallery
    from backend.storage.gallery_index import GalleryIndex

    feeds: dict[str, list[tuple[str, dict]]] = {"a": [], "b": []}

    def instance(name: str) -> Gallery:
        def feed(event) -> None:
            feeds[name].append((event.name, event.payload()))

        return Gallery(tmp_path, GalleryIndex(tmp_path / ".atelier" / "index.sqlite3"), feed=feed)

    a, b = instance("a"), instance("b")
    row = a.import_upload(plain_png(), "holiday.png")
    b.apply(b.scan(b.known()))
    move_in = a.trash.move_in

    def move_in_while_b_scans(*args):
        entry = move_in(*args)
        b.apply(b.scan(b.known()))  # the file is in the trash now, a has not finished
        return entry

    a.trash.move_in = move_in_while_b_scans  # type: ignore[method-assign]
    assert a.move_to_trash([row.id]) == ([row.id], [])
    b.apply(b.scan(b.known()))
    assert feeds["b"] == []
    assert feeds["a"][-1] == ("gallery.removed", {"id": row.id, "path": row.path, "reason": "trashed"})
    assert a.get(row.id) is None and b.restore(row.id).id == row.id
