"""The watcher: notices files added, replaced or removed by hand while the studio runs.

A polling scan, portable and dependency-free: every ``interval`` seconds the folder is
walked in a worker thread (stat only; only new or changed files are read), then the
index is updated on the event loop, and the gallery service announces ``gallery.added`` /
``gallery.removed`` on the gallery feed. The pause after a scan is at least five times the scan's own duration, so
a huge gallery never keeps a core busy. The same loop notices an index file deleted
under it (written back from the open connection) and purges the trash once an hour.
"""

from __future__ import annotations

import logging
import time

from backend.runtime import Runtime
from backend.services.gallery import Gallery, ScanResult

log = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600.0


class GalleryWatcher:
    def __init__(self, gallery: Gallery, runtime: Runtime, interval: float, trash_retention_seconds: float) -> None:
        self.gallery = gallery
        self.runtime = runtime
        self.interval = interval
        self.trash_retention = trash_retention_seconds
        self._stopped = False
        self._next_purge = 0.0

    def start(self) -> None:
        self.runtime.spawn(self._loop)

    def stop(self) -> None:
        self._stopped = True

    def _loop(self) -> None:
        pause = self.interval
        while not self._stopped:
            self.runtime.sleep(pause)
            began = time.monotonic()
            try:
                self.check_once()
            except Exception:
                log.exception("gallery watcher: scan failed; trying again")
            pause = max(self.interval, 5 * (time.monotonic() - began))

    def check_once(self) -> tuple[int, int]:
        """One pass; returns (added or replaced, removed). Runs on the event loop."""
        if self.gallery.index.file_missing():
            self._index_file_lost()
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
            purged = self.runtime.run_blocking(self.gallery.trash.purge, self.trash_retention)
            if purged:
                log.info("trash: purged %d deletions older than %.0f days", purged, self.trash_retention / 86400)
        known = self.gallery.known()
        result: ScanResult = self.runtime.run_blocking(self.gallery.scan, known)
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
