"""Bringing the index in line with the folder at start, without keeping the studio from serving.

A folder that is small, or barely changed since the last run, is brought in line before
the studio serves, as always (``fits_in_foreground``: a walk that stops after
``FOREGROUND_FILES`` files). Any other (a big folder never indexed, a big folder walked
on a slow disk) is indexed in the background: the studio answers at once, listings
answer with what is indexed so far, and the progress is in ``GET /api/gallery/status``
and in ``gallery.indexing`` events on the gallery feed (at most one a second).

The background pass walks the folder once without reading a file (the total), forgets
what is gone, then reads new and changed files a batch at a time in a worker thread and
indexes each batch on the event loop; ``Gallery.apply`` drops whatever a job, an import or
a trash changed meanwhile, as for any scan. Jobs run meanwhile: their writes are never
mistaken for leftovers of a crash (only temporary files older than the start are removed).
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

from backend import shapes
from backend.runtime import Runtime
from backend.services.event_types import GalleryIndexing
from backend.services.gallery import IMAGE_SUFFIXES, Gallery, ScanResult, utc_now_iso
from backend.storage.files import remove_temp_files, walk_regular_files

log = logging.getLogger(__name__)

FOREGROUND_FILES = 2000  # a folder with more image files is indexed in the background...
FOREGROUND_READS = 1200  # ...and so is one with more to read (about half a second at 2,400 images/s)
BATCH = 256
PROGRESS_EVERY_SECONDS = 1.0


@dataclass
class IndexProgress:
    indexing: bool = False
    indexed: int = 0
    total: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None


class GalleryIndexer:
    def __init__(self, gallery: Gallery, runtime: Runtime) -> None:
        self.gallery = gallery
        self.runtime = runtime
        self.progress = IndexProgress()
        self._last_event = 0.0

    def fits_in_foreground(self) -> bool:
        """Whether the folder is small enough to bring in line before serving: at most
        ``FOREGROUND_FILES`` image files, of which at most ``FOREGROUND_READS`` new or
        changed. Stops walking as soon as it is not."""
        known = self.gallery.known()
        files = walk_regular_files(self.gallery.root, IMAGE_SUFFIXES, lambda name, reason: None)
        reads = 0
        for rel, st in itertools.islice(files, FOREGROUND_FILES + 1):
            if known.get(rel) != (st.st_size, st.st_mtime_ns):
                reads += 1
                if reads > FOREGROUND_READS:
                    return False
        return next(files, None) is None

    def index_now(self) -> tuple[int, int]:
        """The foreground way: the whole reconcile before serving. (changed, removed)."""
        began = time.monotonic()
        self.progress.started_at = utc_now_iso()
        changed, removed = self.gallery.reconcile()
        total = self.gallery.index.count()
        self.progress = IndexProgress(False, total, total, self.progress.started_at, utc_now_iso())
        self.progress.seconds = round(time.monotonic() - began, 3)
        return len(changed), len(removed)

    def announce_start(self) -> None:
        """Mark the index as being built (before serving: the first answer says so)."""
        self.progress = IndexProgress(indexing=True, indexed=self.gallery.index.count(), started_at=utc_now_iso())

    def index_in_background(self) -> None:
        """The background way (a task of its own, or the watcher's before it watches)."""
        began = time.monotonic()
        started_wall = time.time()
        if not self.progress.indexing:
            self.announce_start()
        try:
            self.runtime.run_blocking(remove_temp_files, self.gallery.root, started_wall - 1.0)
            known = self.gallery.known()
            to_read, total, gone = self.runtime.run_blocking(self.gallery.survey, known)
            self.progress.total = total
            self.progress.indexed = max(0, total - len(to_read))
            if gone:
                self.gallery.apply(ScanResult(removed=gone, known_before={p: known[p] for p in gone}), announce=False)
            self._announce(force=True)
            for start in range(0, len(to_read), BATCH):
                batch = to_read[start : start + BATCH]
                before = {path: known[path] for path, _, _ in batch if path in known}
                result = self.runtime.run_blocking(self.gallery.read_paths, batch, before)
                self.gallery.apply(result, announce=False)
                self.progress.indexed += len(batch)
                self._announce()
        except Exception:
            log.exception("gallery: indexing in the background failed; the watcher will go on from here")
        finally:
            self.progress.indexing = False
            self.progress.indexed = self.progress.total or self.progress.indexed
            self.progress.finished_at = utc_now_iso()
            self.progress.seconds = round(time.monotonic() - began, 3)
            self._announce(force=True)
        log.info(
            "gallery %s: indexed in the background in %.1f s: %d images",
            self.gallery.root,
            self.progress.seconds,
            self.gallery.index.count(),
        )

    def _announce(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_event < PROGRESS_EVERY_SECONDS:
            return
        self._last_event = now
        p = self.progress
        self.gallery.feed(GalleryIndexing(indexing=p.indexing, indexed=p.indexed, total=p.total))

    def status(self) -> shapes.IndexStatus:
        p = self.progress
        return {
            "indexing": p.indexing,
            "indexed": p.indexed,
            "total": p.total,
            "started_at": p.started_at,
            "finished_at": p.finished_at,
            "seconds": p.seconds,
        }
