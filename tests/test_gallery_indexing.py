"""Serving at once: a big folder never indexed is indexed in the background while the studio
answers. A real server on a folder large enough that its index is still being built when the
first request is answered: the status says so, listings answer with a part of the folder,
jobs run, and the index ends complete. What is asserted is what the server says, never how
long it took."""

from __future__ import annotations

import pytest

from tests.support.images import BASE_TIME, atelier_png
from tests.support.sio import EventRecorder

pytestmark = pytest.mark.both_modes  # scheduling differs per mode: the index is built beside serving in both

FILES = 4_000  # over a second of reading (2,400 images/s at best): still indexing at the first answer


def _fill(gallery, count: int) -> None:
    data = atelier_png("a big folder never indexed", when=BASE_TIME, seed=7)
    for day in range(count // 1000):
        folder = gallery / f"2025-01-{day + 1:02d}"
        folder.mkdir(parents=True)
        for i in range(1000):
            (folder / f"img-{i:04d}.png").write_bytes(data)


def _wait_status(server, predicate, timeout: float = 180):
    import time

    deadline = time.monotonic() + timeout
    while True:
        status = server.get("/api/gallery/status").json()
        if predicate(status):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def test_a_big_folder_never_indexed_is_served_at_once_and_indexed_in_the_background(make_server, async_mode):
    server = make_server(async_mode, start=False)
    _fill(server.gallery, FILES)
    server.start()

    # the first answers: the studio serves while the index is being built
    status = server.get("/api/gallery/status").json()
    assert status["indexing"] is True, status
    assert status["total"] in (None, FILES) and status["indexed"] < FILES
    assert status["watch"] in ("events", "poll") and status["watch_reason"]
    assert server.get("/healthz").status_code == 200
    assert server.get("/").status_code == 200
    page = server.get("/api/images", params={"limit": 50}).json()
    assert page["total"] < FILES, "the listing answers with what is indexed so far"

    feed = EventRecorder(server.url).connect()
    try:
        assert feed.subscribe(topic="gallery")["ok"]
        # a job runs while the folder is being indexed; its image is kept and indexed once
        job = server.wait_job(server.submit(prompt="made while indexing", provider="instant")["id"])
        assert job["status"] == "succeeded"
        (image,) = job["images"]

        done = _wait_status(server, lambda s: not s["indexing"])
        assert done["total"] == FILES + 1 or done["total"] == FILES, done  # the job's image may be walked too
        assert done["images"] == FILES + 1 and done["finished_at"] and done["seconds"] > 0
        assert server.get("/api/images").json()["total"] == FILES + 1
        assert server.get(f"/api/images/{image['id']}").status_code == 200
        last = feed.wait_for(lambda ev: any(e == "gallery.indexing" and not d["indexing"] for e, d in ev))
        progress = [d for e, d in last if e == "gallery.indexing"]
        assert progress[-1]["indexed"] == done["total"] and progress[-1]["total"] == done["total"]
        # the initial index announces no image one by one: only the job's
        assert [d["image"]["id"] for e, d in feed.events if e == "gallery.added"] == [image["id"]]
    finally:
        feed.close()

    # the next start finds the index in line: nothing to read, so it is not in the background
    server.stop()
    server.start()
    status = server.get("/api/gallery/status").json()
    assert server.get("/api/images").json()["total"] == FILES + 1
    assert status["images"] == FILES + 1


def test_a_small_folder_is_indexed_before_the_first_answer(make_server, async_mode):
    server = make_server(async_mode, start=False)
    _fill(server.gallery, 1000)
    server.start()
    status = server.get("/api/gallery/status").json()
    assert status["indexing"] is False and status["indexed"] == status["total"] == 1000
    assert server.get("/api/images").json()["total"] == 1000
