"""kill -9 of the server during 100 running and queued jobs: nothing lost, nothing half-written.

Jobs that hold a slot are ``gated`` (they wait for a file the test creates) or ``offline``
(real renders writing real files when the kill lands); the rest are queued. The kill comes
once the gallery feed has announced an image from a running offline job, never after a delay.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.faults import all_images, fully_readable, gallery_files
from tests.support.sio import EventRecorder

pytestmark = pytest.mark.both_modes  # sockets, scheduling, watcher, crash recovery differ per mode

FINISHED_JOBS, GATED_RUNNING, OFFLINE, TOTAL = 5, 4, 10, 100


def _assert_gallery_whole(srv) -> list[dict]:
    """No temporary file left, every image file indexed and readable, every indexed file there."""
    files, temps = gallery_files(srv.gallery)
    assert temps == [], f"half-written files left in the gallery: {temps}"
    indexed = all_images(srv)
    assert sorted(i["path"] for i in indexed) == files, "the index and the folder disagree"
    for rel in files:
        assert fully_readable(srv.gallery / rel), f"{rel} is not a whole image"
    assert all(i["readable"] for i in indexed)
    return indexed


def test_kill_9_during_100_jobs_loses_nothing(make_server, async_mode):
    srv = make_server(
        async_mode,
        ATELIER_MAX_CONCURRENT_JOBS="8",
        ATELIER_PROVIDER_CONCURRENCY="gated=4,offline=2",
    )
    feed = EventRecorder(srv.url).connect()
    try:
        assert feed.subscribe(topic="gallery")["ok"]
        finished = [srv.submit(prompt=f"finished {i}", provider="instant", n=2) for i in range(FINISHED_JOBS)]
        for job in finished:
            assert srv.wait_job(job["id"])["status"] == "succeeded"
        feed.wait_for(lambda ev: sum(e == "gallery.added" for e, _ in ev) >= 2 * FINISHED_JOBS)

        held = [srv.submit(prompt=f"held {i}", provider="gated", n=2) for i in range(GATED_RUNNING)]
        rendering = [srv.submit(prompt=f"render {i}", provider="offline", n=2, steps=4) for i in range(OFFLINE)]
        queued = [
            srv.submit(prompt=f"queued {i}", provider="gated", n=2) for i in range(TOTAL - GATED_RUNNING - OFFLINE)
        ]
        assert len(held) + len(rendering) + len(queued) == TOTAL
        # an offline job is writing files: the kill lands while the studio is busy saving
        feed.wait_for(lambda ev: sum(e == "gallery.added" for e, _ in ev) > 2 * FINISHED_JOBS, timeout=120)
        announced = [d["image"]["path"] for e, d in feed.events if e == "gallery.added"]
    finally:
        feed.close()

    srv.kill()
    # what a write cut off by the kill leaves at worst: a hidden temporary file
    day = srv.gallery / datetime.now(UTC).strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    (day / ".atelier-tmp-cut-off-by-kill").write_bytes(b"\x89PNG\r\n\x1a\n half an image")
    _, cut_off = gallery_files(srv.gallery)
    srv.start()

    # the start removed every write the kill cut off; the whole-gallery check waits for the end,
    # since the offline jobs that were queued resume at once and have writes in flight now
    _, temps = gallery_files(srv.gallery)
    assert not set(cut_off) & set(temps), f"writes cut off by the kill left after the start: {cut_off}"
    indexed = all_images(srv)
    assert set(announced) <= {i["path"] for i in indexed}, "an image announced before the kill is gone"

    statuses = {j["id"]: srv.get(f"/api/jobs/{j['id']}").json()["job"] for j in finished + held + rendering + queued}
    for job in finished:
        assert statuses[job["id"]]["status"] == "succeeded"
    for job in held:
        got = statuses[job["id"]]
        assert got["status"] == "interrupted", got
        assert got["error"]["code"] == "interrupted" and got["error"]["retryable"] is True
    for job in queued:
        assert statuses[job["id"]]["status"] in ("queued", "running")

    srv.open_gate()
    interrupted = []
    for job in rendering + queued:
        final = srv.wait_job(job["id"], timeout=300)
        if final["status"] == "interrupted":
            interrupted.append(final)
        else:
            assert final["status"] == "succeeded", final
            assert len(final["images"]) == 2
    assert all(j["id"] in {r["id"] for r in rendering} for j in interrupted), "only running jobs are interrupted"

    for job in held + interrupted:
        retry = srv.post(f"/api/jobs/{job['id']}/retry")
        assert retry.status_code == 202, retry.text
        again = srv.wait_job(retry.json()["job"]["id"], timeout=300)
        assert again["status"] == "succeeded" and again["retry_of"] == job["id"]

    indexed = _assert_gallery_whole(srv)
    assert len(indexed) >= 2 * (FINISHED_JOBS + TOTAL)
    assert srv.get("/api/health").json()["queue"] == {"queued": [], "running": []}
