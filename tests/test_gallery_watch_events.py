"""The watcher on the operating system's file events (inotify here), in-process: real files,
a real watchdog observer, the real gallery service and index. The test drives the watcher's
passes itself (``tick``) and waits on what a user would see (the gallery feed, the index),
polling with a bound, never sleeping and then asserting. Polling is chosen for network
file systems, by setting, and when events cannot be had."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from backend.runtime import Runtime
from backend.services import gallery_watch
from backend.services.file_events import choose_watch_mode, filesystem_type
from backend.services.gallery import Gallery, image_id_for
from backend.services.gallery_watch import GalleryWatcher
from backend.storage.gallery_index import GalleryIndex
from tests.support.images import plain_png, png_with_text


def _runtime() -> Runtime:
    def spawn(fn, *args):
        thread = threading.Thread(target=fn, args=args, daemon=True)
        thread.start()
        return thread

    return Runtime(spawn, time.sleep)


class Studio:
    """A gallery, its feed and a watcher whose passes the test runs."""

    def __init__(self, root: Path, mode: str = "events", **kwargs) -> None:
        self.root = root
        root.mkdir(exist_ok=True)
        self.feed: list[tuple[str, dict]] = []
        index = GalleryIndex(root / ".atelier" / "index.sqlite3")
        self.gallery = Gallery(root, index, feed=self._on_feed)
        self.gallery.reconcile()
        self.watcher = GalleryWatcher(self.gallery, _runtime(), 0.05, 30 * 86400, mode, **kwargs)
        self.watcher.choose()
        self.watcher.begin()

    def _on_feed(self, event) -> None:
        self.feed.append((event.name, event.payload()))

    def until(self, predicate, timeout: float = 15.0):
        """Run the watcher's passes until ``predicate()`` is true (its value returned)."""
        deadline = time.monotonic() + timeout
        while True:
            self.watcher.tick()
            found = predicate()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen in {timeout} s; feed: {self.feed[-10:]}")
            time.sleep(0.05)

    def added(self, path: str) -> list[dict]:
        return [p for name, p in self.feed if name == "gallery.added" and p["image"]["path"] == path]

    def removed(self, path: str) -> list[dict]:
        return [p for name, p in self.feed if name == "gallery.removed" and p["path"] == path]

    def paths(self) -> set[str]:
        return set(self.gallery.index.fingerprints())

    def close(self) -> None:
        self.watcher.stop()


@pytest.fixture
def studio(tmp_path):
    made: list[Studio] = []

    def make(mode: str = "events", **kwargs) -> Studio:
        s = Studio(tmp_path / "gallery", mode, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_added_replaced_deleted_and_renamed_by_hand(studio):
    s = studio()
    assert s.watcher.mode == "events" and s.watcher.receiving
    (s.root / "by-hand").mkdir()
    (s.root / "by-hand" / "castle.png").write_bytes(png_with_text({"parameters": "a castle\nSteps: 5, Seed: 77"}))
    added = s.until(lambda: s.added("by-hand/castle.png"))
    assert added[0]["image"]["prompt"] == "a castle" and added[0]["replaced"] is False
    first_hash = added[0]["image"]["thumb_url"]

    # replaced in place
    (s.root / "by-hand" / "castle.png").write_bytes(png_with_text({"parameters": "a tower\nSteps: 5"}, size=(80, 20)))
    replaced = s.until(lambda: [p for p in s.added("by-hand/castle.png") if p["replaced"]])
    assert replaced[0]["image"]["prompt"] == "a tower" and replaced[0]["image"]["width"] == 80
    assert replaced[0]["image"]["thumb_url"] != first_hash

    # renamed: the old path is gone, the new one is in, each announced once
    os.rename(s.root / "by-hand" / "castle.png", s.root / "by-hand" / "tower.png")
    s.until(lambda: s.removed("by-hand/castle.png") and s.added("by-hand/tower.png"))
    assert s.paths() == {"by-hand/tower.png"}
    assert s.removed("by-hand/castle.png")[0]["id"] == image_id_for("by-hand/castle.png")

    # deleted
    (s.root / "by-hand" / "tower.png").unlink()
    s.until(lambda: s.removed("by-hand/tower.png"))
    assert s.paths() == set()
    assert [p["reason"] for n, p in s.feed if n == "gallery.removed"] == ["deleted", "deleted"]
    assert len([n for n, _ in s.feed if n == "gallery.added"]) == 3  # added, replaced, renamed: nothing twice


def test_a_folder_moved_in_and_out_by_hand(studio, tmp_path):
    s = studio()
    outside = tmp_path / "holiday"
    (outside / "day2").mkdir(parents=True)
    for name in ("a.png", "b.png", "day2/c.png"):
        (outside / name).write_bytes(plain_png())
    os.rename(outside, s.root / "holiday")
    expected = {"holiday/a.png", "holiday/b.png", "holiday/day2/c.png"}
    s.until(lambda: s.paths() == expected)
    assert {p["image"]["path"] for n, p in s.feed if n == "gallery.added"} == expected

    # a file added inside the moved-in folder is seen too (the folder is watched now)
    (s.root / "holiday" / "day2" / "d.png").write_bytes(plain_png((1, 2, 3)))
    s.until(lambda: s.added("holiday/day2/d.png"))

    # moved within the gallery: every file under its new path
    os.rename(s.root / "holiday", s.root / "trips")
    s.until(lambda: s.paths() == {p.replace("holiday/", "trips/") for p in expected | {"holiday/day2/d.png"}})

    # moved out of the gallery
    os.rename(s.root / "trips", tmp_path / "elsewhere")
    s.until(lambda: s.paths() == set())
    assert {p["path"] for n, p in s.feed if n == "gallery.removed"} >= {"trips/a.png", "trips/day2/d.png"}


def test_a_file_being_written_is_taken_when_it_is_closed(studio, monkeypatch):
    monkeypatch.setattr(gallery_watch, "SETTLE_SECONDS", 3600.0)  # only the close can release it
    s = studio()
    data = png_with_text({"parameters": "slow copy\nSteps: 3"}, size=(64, 64))
    with open(s.root / "copy.png", "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        # a file completed after the half was written: once it is in, the half's events have been taken
        (s.root / "marker.png").write_bytes(plain_png())
        s.until(lambda: s.added("marker.png"))
        assert s.added("copy.png") == [] and "copy.png" not in s.paths()
        f.write(data[len(data) // 2 :])
    (announced,) = s.until(lambda: s.added("copy.png"))
    assert announced["image"]["readable"] and announced["image"]["prompt"] == "slow copy"


def test_a_copy_of_many_files_is_a_few_passes_not_one_per_file(studio, monkeypatch):
    s = studio()
    passes: list[int] = []
    look_at = s.watcher.look_at

    def counted(paths):
        passes.append(len(paths))
        return look_at(paths)

    monkeypatch.setattr(s.watcher, "look_at", counted)
    source = s.root.parent / "camera"
    source.mkdir()
    for i in range(300):
        (source / f"img{i:03d}.png").write_bytes(plain_png((i % 256, 0, 0)))
    shutil.copytree(source, s.root / "camera")
    s.until(lambda: len(s.paths()) == 300)
    assert len([n for n, _ in s.feed if n == "gallery.added"]) == 300
    assert len(passes) < 30, passes


def test_the_index_and_temporary_files_raise_no_pass(studio, monkeypatch):
    s = studio()
    job = s.gallery.import_upload(plain_png(), "upload.png")  # writes a temp file, then the index
    (s.root / ".hidden.png").write_bytes(plain_png())
    (s.root / "marker.png").write_bytes(plain_png((4, 5, 6)))
    s.until(lambda: s.added("marker.png"))
    assert [p["image"]["path"] for n, p in s.feed if n == "gallery.added"] == [job.path, "marker.png"]


# --- polling where events do not arrive ------------------------------------------------------
MOUNTS = """\
sysfs /sys sysfs rw,nosuid 0 0
/dev/nvme0n1p2 / ext4 rw,relatime 0 0
server:/export/art /mnt/art nfs4 rw,relatime 0 0
//nas/photos /mnt/nas\\040photos cifs rw 0 0
me@host:/pics /home/me/remote fuse.sshfs rw 0 0
"""


def test_network_file_systems_are_polled_others_use_events():
    assert filesystem_type(Path("/mnt/art/gallery"), MOUNTS) == "nfs4"
    assert filesystem_type(Path("/mnt/nas photos/x"), MOUNTS) == "cifs"
    assert filesystem_type(Path("/mnt/artwork"), MOUNTS) == "ext4"  # a prefix of the name is not the mount
    for path, mode in (
        ("/mnt/art/gallery", "poll"),
        ("/mnt/nas photos", "poll"),
        ("/home/me/remote/g", "poll"),
        ("/home/me/gallery", "events"),
    ):
        choice = choose_watch_mode("auto", Path(path), MOUNTS)
        assert choice.mode == mode, (path, choice)
    assert "nfs4" in choose_watch_mode("auto", Path("/mnt/art"), MOUNTS).reason
    assert choose_watch_mode("poll", Path("/home/me/gallery"), MOUNTS).mode == "poll"
    assert choose_watch_mode("events", Path("/mnt/art"), MOUNTS).mode == "events"


def test_forced_polling_still_sees_changes(studio):
    s = studio("poll")
    assert s.watcher.mode == "poll" and not s.watcher.receiving
    (s.root / "polled.png").write_bytes(plain_png())
    s.until(lambda: s.added("polled.png"))


def test_the_watch_limit_reached_at_start_falls_back_to_polling(studio, caplog):
    class NoWatches:
        def __init__(self, *args) -> None:
            pass

        def start(self) -> None:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    with caplog.at_level(logging.WARNING, logger="backend.services.gallery_watch"):
        s = studio(events_factory=NoWatches)
    assert s.watcher.mode == "poll" and "max_user_watches" in s.watcher.choice.reason
    assert any("polling" in r.message and "max_user_watches" in r.message for r in caplog.records)
    (s.root / "seen-anyway.png").write_bytes(plain_png())
    s.until(lambda: s.added("seen-anyway.png"))


def test_a_folder_that_cannot_be_watched_later_falls_back_to_polling(studio, caplog):
    s = studio()
    assert s.watcher.receiving
    s.watcher._folder_unwatched(str(s.root / "new"))  # what the observer reports past inotify's limit
    with caplog.at_level(logging.WARNING, logger="backend.services.gallery_watch"):
        s.watcher.tick()
    assert s.watcher.mode == "poll" and not s.watcher.receiving
    assert any("polling" in r.message for r in caplog.records)
    (s.root / "new").mkdir()
    (s.root / "new" / "late.png").write_bytes(plain_png())
    s.until(lambda: s.added("new/late.png"))
