"""The watcher: notices files added, replaced, deleted or renamed, and folders moved in or
out, by hand while the studio runs; the gallery service announces them (``gallery.added`` /
``gallery.removed`` on the gallery feed).

Two ways, chosen at start (``ATELIER_WATCH_MODE``, services/file_events.py) and reported in
the log and in ``GET /api/gallery/status``:

- **events**: the operating system's file events (watchdog). An idle studio does no work
  at all; an event names a path, and only that file (or that folder, for a folder moved
  in or out) is looked at. Events are coalesced: a path is looked at once it has been quiet
  for ``QUIET_SECONDS`` (a copy of 10,000 files is a few passes, not 10,000), and a file
  still being written (modified, not yet closed) waits until it is closed, or quiet for
  ``SETTLE_SECONDS``. When events were lost (the kernel's queue overflowed) the whole
  folder is scanned once; when a new folder cannot be watched (inotify's watch limit) the
  watcher falls back to polling, and says so in the log.
- **poll**: every ``interval`` seconds the folder is walked in a worker thread (stat only;
  only new or changed files are read); the pause after a scan is at least five times the
  scan's own duration, so a huge gallery never keeps a core busy. For network shares,
  where events of other machines' changes do not arrive.

Either way the same loop notices an index file deleted under it (written back from the
open connection) and purges the trash once an hour.
"""

from __future__ import annotations

import collections
import errno
import logging
import time
from collections.abc import Callable
from pathlib import Path

from backend.runtime import Runtime
from backend.services.file_events import FileEvents, WatchChoice, choose_watch_mode
from backend.services.gallery import Gallery, ScanResult

log = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600.0
TICK_SECONDS = 0.25
QUIET_SECONDS = 0.15
SETTLE_SECONDS = 1.0
MAX_SCOPES = 5000  # paths looked at in one pass; the rest wait for the next tick

EventsFactory = Callable[..., FileEvents]


class GalleryWatcher:
    def __init__(
        self,
        gallery: Gallery,
        runtime: Runtime,
        interval: float,
        trash_retention_seconds: float,
        mode: str = "auto",
        events_factory: EventsFactory = FileEvents,
    ) -> None:
        self.gallery = gallery
        self.runtime = runtime
        self.interval = interval
        self.trash_retention = trash_retention_seconds
        self.setting = mode
        self.events_factory = events_factory
        self.choice: WatchChoice = WatchChoice("poll", "not started")
        self._events: FileEvents | None = None
        self._stopped = False
        self._next_purge = 0.0
        self._next_housekeeping = 0.0
        self._next_scan = 0.0
        # filled by watchdog's thread: (path, still being written, when); deque.append is atomic
        self._incoming: collections.deque[tuple[str, bool, float]] = collections.deque()
        self._pending: dict[str, tuple[bool, float]] = {}
        self._lost = False
        self._unwatched: str | None = None

    @property
    def mode(self) -> str:
        return self.choice.mode

    @property
    def receiving(self) -> bool:
        """File events are being received (``begin`` has set up the watches)."""
        return self._events is not None and self.choice.mode == "events"

    # --- start ---------------------------------------------------------------------------
    def choose(self) -> WatchChoice:
        """Decide between events and polling (cheap: reads /proc/mounts) and say so."""
        self.choice = choose_watch_mode(self.setting, self.gallery.root)
        self._next_scan = time.monotonic() + self.interval  # polling: the first scan after an interval
        log.info("gallery watcher: %s (%s)", self.choice.mode, self.choice.reason)
        return self.choice

    def begin(self) -> None:
        """Start receiving file events (walks the folder to watch each sub-folder: off the
        event loop); on failure, fall back to polling. Call before the first full scan, so
        that nothing changed after that scan goes unnoticed."""
        if self.choice.mode != "events":
            return
        events = self.events_factory(Path(self.gallery.root), self._changed, self._events_lost, self._folder_unwatched)
        try:
            self.runtime.run_blocking(events.start)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                why = "the inotify watch limit is reached (raise fs.inotify.max_user_watches)"
            elif exc.errno == errno.EMFILE:
                why = "the inotify instance limit is reached (raise fs.inotify.max_user_instances)"
            else:
                why = f"file events are unavailable ({exc.strerror or exc})"
            self._fall_back(why)
            return
        except Exception as exc:  # watchdog missing a backend on this platform
            self._fall_back(f"file events are unavailable ({exc.__class__.__name__}: {exc})")
            return
        self._events = events

    def start(self) -> None:
        """Choose, begin and watch: for a studio whose index is already in line."""
        self.choose()
        self.runtime.spawn(self._begin_and_run)

    def _begin_and_run(self) -> None:
        self.begin()
        self.run()

    def stop(self) -> None:
        self._stopped = True
        if self._events is not None:
            self._events.stop()

    # --- what watchdog's thread reports ----------------------------------------------------
    def _changed(self, rel: str, writing: bool) -> None:
        self._incoming.append((rel, writing, time.monotonic()))

    def _events_lost(self) -> None:
        self._lost = True

    def _folder_unwatched(self, path: str) -> None:
        self._unwatched = path

    def _fall_back(self, why: str) -> None:
        log.warning("gallery watcher: %s; watching by polling every %g s from now on", why, self.interval)
        self.choice = WatchChoice("poll", why)
        if self._events is not None:
            self._events.stop()
            self._events = None
        self._next_scan = 0.0

    # --- the loop --------------------------------------------------------------------------
    def run(self) -> None:
        while not self._stopped:
            self.runtime.sleep(min(TICK_SECONDS, self.interval))
            try:
                self.tick()
            except Exception:
                log.exception("gallery watcher: pass failed; trying again")

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + self.interval
            self._housekeeping()
        if self.choice.mode == "events":
            if self._unwatched is not None:
                self._fall_back(f"the folder {self._unwatched!r} cannot be watched (inotify's watch limit?)")
            elif self._events is None or not self._events.alive():
                self._fall_back("the file events stopped")
        if self.choice.mode == "events":
            self._take_events(now)
        elif now >= self._next_scan:
            began = time.monotonic()
            self.check_once()
            self._next_scan = time.monotonic() + max(self.interval, 5 * (time.monotonic() - began)) - 0.01

    def _housekeeping(self) -> None:
        if self.gallery.index.file_missing():
            self._index_file_lost()
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
            purged = self.runtime.run_blocking(self.gallery.trash.purge, self.trash_retention)
            if purged:
                log.info("trash: purged %d deletions older than %.0f days", purged, self.trash_retention / 86400)

    def _take_events(self, now: float) -> None:
        while self._incoming:
            rel, writing, when = self._incoming.popleft()
            if rel.startswith(".") or "/." in rel:  # the index, thumbnails, trash, temporary files
                continue
            self._pending[rel] = (writing, when)
        if self._lost:
            self._lost = False
            self._pending.clear()
            log.warning("gallery watcher: file events were lost; looking at the whole folder once")
            self.look_at([""])
            return
        ready = [
            rel
            for rel, (writing, when) in self._pending.items()
            if now - when >= (SETTLE_SECONDS if writing else QUIET_SECONDS)
        ][:MAX_SCOPES]
        if not ready:
            return
        for rel in ready:
            del self._pending[rel]
        self.look_at(ready)

    def look_at(self, paths: list[str]) -> tuple[int, int]:
        """Bring the index in line for ``paths`` (files or folders; ``""``: everything) and
        announce what changed. Returns (added or replaced, removed)."""
        scopes = _outermost(paths)
        known = self.gallery.known_under(scopes)
        result: ScanResult = self.runtime.run_blocking(self.gallery.scan_paths, scopes, known)
        return self._apply(result)

    def check_once(self) -> tuple[int, int]:
        """One full pass; returns (added or replaced, removed). Runs on the event loop."""
        known = self.gallery.known()
        result: ScanResult = self.runtime.run_blocking(self.gallery.scan, known)
        return self._apply(result)

    def _apply(self, result: ScanResult) -> tuple[int, int]:
        if not result.changed and not result.removed:
            return 0, 0
        changed, removed = self.gallery.apply(result)
        if changed or removed:
            log.info("gallery watcher: %d added or replaced, %d removed by hand", len(changed), len(removed))
        return len(changed), len(removed)

    def _index_file_lost(self) -> None:
        copied = self.gallery.index.recreate()
        if copied:
            log.warning("gallery index file was deleted while running; written back from the open connection")
        else:
            log.warning("gallery index file was deleted while running; rebuilding it from the files")
            self.gallery.forget_everything()
            # no temp-file sweep here, unlike at start: a job may be writing one right now
            result = self.runtime.run_blocking(self.gallery.scan, {})
            self.gallery.apply(result, announce=False)


def _outermost(paths: list[str]) -> list[str]:
    """``paths`` less those inside another of them (a folder's scan covers its files)."""
    chosen = set(paths)
    if "" in chosen:
        return [""]
    kept = []
    for path in sorted(chosen):
        parts = path.split("/")
        if not any("/".join(parts[:i]) in chosen for i in range(1, len(parts))):
            kept.append(path)
    return kept
