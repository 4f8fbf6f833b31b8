"""The disk says no: a full disk, a read-only or deleted gallery folder, a lost index.

Each job that cannot be saved fails with ``save_failed`` and a message saying why; no
partial file stays behind; the server keeps serving; once the disk is usable again the
next job succeeds. Two real mechanisms for a full disk: a 2 MB tmpfs as the gallery
(when this machine lets root mount; ENOSPC) and RLIMIT_FSIZE set on the running server
with prlimit (always on Linux; EFBIG, Python ignores SIGXFSZ). Read-only is ``chattr +i``
on the gallery folders (root ignores permission bits; ext4/xfs/btrfs support it).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time

import pytest

from tests.support.faults import all_images, can_mount, fill, gallery_files, tmpfs
from tests.support.sio import EventRecorder

FSIZE_LIMIT = 16 * 1024 * 1024  # above the databases, WAL files and log of a short test
LARGE_SIDE = "2600"  # a ~20 MB uncompressed PNG: over the limit


def _serving(srv) -> None:
    assert srv.get("/api/health").json()["status"] == "ok"
    assert srv.get("/api/images").status_code == 200
    assert srv.get("/api/jobs").status_code == 200


def _save_failed(srv, provider: str, words: tuple[str, ...]) -> dict:
    job = srv.wait_job(srv.submit(prompt="no room for me", provider=provider)["id"])
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "save_failed" and job["error"]["retryable"] is True
    message = job["error"]["message"]
    assert message.startswith("the image could not be saved to the gallery")
    assert any(w in message for w in words), message
    return job


class FullDisk:
    """How a test fills the gallery's disk and makes room again."""

    provider = "instant"
    words: tuple[str, ...] = ()

    def server(self, make_server, tmp_path, async_mode): ...
    def make_full(self, srv) -> None: ...
    def make_room(self, srv) -> None: ...


class TmpfsFull(FullDisk):
    words = ("No space left",)

    def server(self, make_server, tmp_path, async_mode):
        if not can_mount():
            pytest.skip("mounting a tmpfs is not permitted here; the RLIMIT_FSIZE case covers a full disk")
        self._mount = tmpfs(tmp_path / "small-gallery", "2m")
        gallery = self._mount.__enter__()
        return make_server(async_mode, ATELIER_GALLERY_DIR=str(gallery))

    def make_full(self, srv) -> None:
        self.filler = fill(srv.gallery)

    def make_room(self, srv) -> None:
        self.filler.unlink()

    def cleanup(self, srv) -> None:
        srv.stop()
        self._mount.__exit__(None, None, None)


class FileSizeLimit(FullDisk):
    provider = "large"
    words = ("File too large",)

    def server(self, make_server, tmp_path, async_mode):
        return make_server(async_mode, ATELIER_TEST_LARGE_SIDE=LARGE_SIDE)

    def make_full(self, srv) -> None:
        # the soft limit only: raising a hard limit again needs CAP_SYS_RESOURCE
        _, self.hard = resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (FSIZE_LIMIT, self.hard))

    def make_room(self, srv) -> None:
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (self.hard, self.hard))

    def cleanup(self, srv) -> None:
        srv.stop()


@pytest.mark.parametrize("mechanism", [TmpfsFull, FileSizeLimit], ids=["tmpfs-enospc", "rlimit-fsize-efbig"])
def test_disk_full_fails_the_job_cleanly_and_recovers(make_server, tmp_path, async_mode, mechanism):
    disk = mechanism()
    srv = disk.server(make_server, tmp_path, async_mode)
    try:
        before = srv.wait_job(srv.submit(prompt="fits", provider=disk.provider)["id"])
        assert before["status"] == "succeeded"

        disk.make_full(srv)
        _save_failed(srv, disk.provider, disk.words)
        _serving(srv)
        files, temps = gallery_files(srv.gallery)
        assert temps == [] and files == [before["images"][0]["path"]], (files, temps)

        disk.make_room(srv)
        after = srv.wait_job(srv.submit(prompt="room again", provider=disk.provider)["id"])
        assert after["status"] == "succeeded", after
        assert {i["path"] for i in all_images(srv)} == set(gallery_files(srv.gallery)[0])
    finally:
        disk.cleanup(srv)


def _chattr(flag: str, *paths) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


def test_read_only_gallery_fails_jobs_cleanly_and_recovers(make_server, async_mode):
    srv = make_server(async_mode)
    first = srv.wait_job(srv.submit(prompt="before read-only", provider="instant")["id"])
    assert first["status"] == "succeeded"
    day = srv.gallery / first["images"][0]["path"].split("/")[0]
    frozen = [srv.gallery, day]
    try:
        _chattr("+i", *frozen)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"chattr +i is not supported on this filesystem ({exc}); read-only needs another mechanism")
    try:
        _save_failed(srv, "instant", ("Operation not permitted", "Read-only", "Permission denied"))
        _serving(srv)
        assert gallery_files(srv.gallery) == ([first["images"][0]["path"]], [])
    finally:
        _chattr("-i", *frozen)
    after = srv.wait_job(srv.submit(prompt="writable again", provider="instant")["id"])
    assert after["status"] == "succeeded"


def test_gallery_folder_deleted_while_running(make_server, async_mode):
    srv = make_server(async_mode, ATELIER_WATCH_INTERVAL_SECONDS="0.1")
    feed = EventRecorder(srv.url).connect()
    try:
        assert feed.subscribe(topic="gallery")["ok"]
        old = srv.wait_job(srv.submit(prompt="soon gone", provider="instant", n=2)["id"])["images"]
        shutil.rmtree(srv.gallery)

        new = srv.wait_job(srv.submit(prompt="after the folder went", provider="instant")["id"])
        assert new["status"] == "succeeded", new
        assert (srv.gallery / new["images"][0]["path"]).is_file()
        # the watcher tells everyone the old files are gone
        gone = {i["path"] for i in old}
        feed.wait_for(lambda ev: gone <= {d["path"] for e, d in ev if e == "gallery.removed"})
        _serving(srv)
        # the index is rebuilt from the folder while the job writes: it converges within a scan
        expected = [new["images"][0]["path"]]
        deadline = time.monotonic() + 30
        while [i["path"] for i in all_images(srv)] != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [i["path"] for i in all_images(srv)] == expected
    finally:
        feed.close()
    srv.restart()
    files, temps = gallery_files(srv.gallery)
    assert temps == [] and [i["path"] for i in all_images(srv)] == files == [new["images"][0]["path"]]


@pytest.mark.parametrize("damage", ["truncated", "zero-bytes", "wal-garbage"])
def test_index_damaged_between_runs_is_rebuilt(make_server, damage):
    srv = make_server()
    images = srv.wait_job(srv.submit(prompt="survive", provider="instant", n=3)["id"])["images"]
    srv.kill()
    index = srv.gallery / ".atelier" / "index.sqlite3"
    if damage == "truncated":
        data = index.read_bytes()
        index.write_bytes(data[: len(data) // 2])
    elif damage == "zero-bytes":
        index.write_bytes(b"")
    else:
        (srv.gallery / ".atelier" / "index.sqlite3-wal").write_bytes(b"\xff" * 9000)
    srv.start()
    assert {i["id"] for i in all_images(srv)} == {i["id"] for i in images}
    again = srv.wait_job(srv.submit(prompt="and more", provider="instant")["id"])
    assert again["status"] == "succeeded"
    assert len(all_images(srv)) == 4
