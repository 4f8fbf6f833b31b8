"""What survives a restart: job history, queued jobs, the gallery, and hand-made changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from PIL import Image

from tests.support.server import ROOT, ServerProcess


def test_restart_keeps_history_gallery_and_runs_queued_jobs(make_server, async_mode):
    server = make_server(async_mode)
    done = server.submit(prompt="made before the restart", provider="instant", n=3)
    server.wait_job(done["id"])
    running = server.submit(prompt="holds the slot", provider="gated")
    queued = [server.submit(prompt=f"queued {i}", provider="gated") for i in range(2)]
    assert [server.get(f"/api/jobs/{j['id']}").json()["job"]["position"] for j in queued] == [1, 2]

    server.kill()  # no goodbye: the running job is cut off
    server.open_gate()
    server.start()

    jobs = {j["id"]: j for j in server.get("/api/jobs").json()["items"]}
    assert jobs[done["id"]]["status"] == "succeeded" and len(jobs[done["id"]]["images"]) == 3
    interrupted = jobs[running["id"]]
    assert interrupted["status"] == "interrupted"
    assert interrupted["error"]["code"] == "interrupted" and interrupted["error"]["retryable"] is True
    for job in queued:
        assert server.wait_job(job["id"])["status"] == "succeeded"
    retry = server.post(f"/api/jobs/{running['id']}/retry")
    assert retry.status_code == 202
    assert server.wait_job(retry.json()["job"]["id"])["status"] == "succeeded"
    images = server.get("/api/images?limit=200").json()["items"]
    assert len(images) == 3 + 2 + 1
    assert {i["id"] for i in images} >= {i["id"] for i in jobs[done["id"]]["images"]}


def test_seq_keeps_rising_across_a_restart(make_server, tmp_path):
    from tests.support.sio import EventRecorder

    server = make_server()
    server.submit(prompt="blocker", provider="gated")
    queued = server.submit(prompt="queued across restart", provider="gated")
    before = server.get(f"/api/jobs/{queued['id']}").json()["job"]["last_seq"]
    server.stop()
    server.open_gate()
    server.start()
    client = EventRecorder(server.url).connect()
    try:
        client.subscribe(job_id=queued["id"], after_seq=before)
        client.wait_event("job.succeeded", queued["id"])
        seqs = [d["seq"] for _, d in client.job_events(queued["id"])]
        assert seqs == list(range(before + 1, before + 1 + len(seqs)))
    finally:
        client.close()


def test_folder_is_the_truth_hand_added_and_hand_deleted_files(make_server):
    server = make_server()
    job = server.submit(prompt="two images", provider="instant", n=2)
    images = server.wait_job(job["id"])["images"]
    server.stop()

    (server.gallery / images[0]["path"]).unlink()  # deleted by hand
    by_hand = server.gallery / "from-elsewhere"
    by_hand.mkdir()
    Image.new("RGB", (40, 30), "teal").save(by_hand / "holiday photo.jpg")
    shutil.copy(server.gallery / images[1]["path"], by_hand / "copy.png")
    (server.gallery / "notes.txt").write_text("not an image")
    (server.gallery / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    server.start()

    listing = {i["path"]: i for i in server.get("/api/images").json()["items"]}
    assert images[0]["path"] not in listing
    assert listing["from-elsewhere/holiday photo.jpg"]["width"] == 40
    copied = listing["from-elsewhere/copy.png"]
    assert copied["prompt"] == "two images" and copied["seed"] == images[1]["seed"], "metadata read from the file"
    assert listing["broken.png"]["readable"] is False
    assert "notes.txt" not in listing
    assert server.get("/images/from-elsewhere/holiday%20photo.jpg").status_code == 200


def test_index_deleted_between_runs_is_rebuilt_from_the_files(make_server):
    server = make_server()
    job = server.submit(prompt="rebuild me", provider="instant", n=2, style="anime")
    before = {i["id"]: i for i in server.wait_job(job["id"])["images"]}
    server.stop()
    shutil.rmtree(server.gallery / ".atelier")
    server.start()
    after = {i["id"]: i for i in server.get("/api/images").json()["items"]}
    assert after == before


def test_unwritable_gallery_stops_the_start_with_one_line(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the gallery folder should be")
    proc = ServerProcess(tmp_path, ATELIER_GALLERY_DIR=str(blocked / "gallery"))
    result = subprocess.run(
        [sys.executable, "-m", "backend"], cwd=ROOT, env=proc.env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    # refused with the settings, before anything starts: one line naming the setting
    assert len(lines) == 1 and lines[0].startswith("atelier: ATELIER_GALLERY_DIR") and "is a file" in lines[0]


def test_missing_gallery_folder_is_created(make_server, tmp_path):
    server = make_server(ATELIER_GALLERY_DIR=str(tmp_path / "new" / "nested" / "gallery"))
    assert (tmp_path / "new" / "nested" / "gallery").is_dir()
    job = server.submit(prompt="first image", provider="instant")
    assert server.wait_job(job["id"])["status"] == "succeeded"


def test_bad_setting_stops_the_start_with_one_line(tmp_path):
    proc = ServerProcess(tmp_path, ATELIER_ASYNC_MODE="gevent")
    result = subprocess.run(
        [sys.executable, "-m", "backend"], cwd=ROOT, env=proc.env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "atelier: ATELIER_ASYNC_MODE='gevent'; use one of eventlet, threading"


def test_bad_provider_setting_stops_the_start_with_one_line(tmp_path):
    proc = ServerProcess(tmp_path, ATELIER_HTTP_TIMEOUT_SECONDS="soon")
    result = subprocess.run(
        [sys.executable, "-m", "backend"], cwd=ROOT, env=proc.env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "atelier: ATELIER_HTTP_TIMEOUT_SECONDS='soon'; use a number from 0.001 to 3600"


def test_a_relative_gallery_path_serves_images_and_thumbnails(make_server, tmp_path, async_mode):
    # the default, ./generated_images, is relative to where the studio starts
    relative = os.path.relpath(tmp_path / "relative-gallery", ROOT)
    server = make_server(async_mode, ATELIER_GALLERY_DIR=relative)
    job = server.submit(prompt="relative paths", provider="instant")
    image = server.wait_job(job["id"])["images"][0]
    assert (tmp_path / "relative-gallery" / image["path"]).is_file()
    for url in (image["url"], image["thumb_url"], image["thumb_512_url"]):
        r = server.get(url)
        assert r.status_code == 200, (url, r.text[:200])
    assert server.get(image["thumb_url"]).headers["Content-Type"] == "image/webp"
