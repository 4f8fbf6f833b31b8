"""Favourites, kept beside the files so they survive a rebuild of the index.

A small JSON file in the gallery's ``.atelier/`` folder lists the favourite images by
their path in the gallery. It is rewritten atomically (temporary file, fsync, rename):
a crash leaves the old list or the new one, never half of one. Image files are never
rewritten to carry the flag: their bytes, hashes and cached thumbnails stay valid.

Several web instances on one host share the file: each change re-reads it under a lock
held across processes, and a read notices when another instance rewrote it, so a
favourite set on one instance is never lost by a change on another.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import AbstractContextManager
from pathlib import Path

from backend.storage.files import read_regular
from backend.storage.shared_json import Signature, file_signature, locked_across_processes, write_json_atomically

log = logging.getLogger(__name__)
MAX_FAVORITES_BYTES = 64 * 1024 * 1024  # about a million paths


class FavoriteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self._seen: Signature | None | bool = False  # the file as last read (False: never)
        self._refresh()

    def _signature(self) -> Signature | None:
        return file_signature(self.path)

    def _refresh(self) -> None:
        """Read the file again when it changed since it was last read (another web instance
        sharing the gallery rewrote it; every save replaces the file, a new inode)."""
        signature = self._signature()
        if signature != self._seen:
            self._paths, self._seen = self._load(), signature

    def _across_processes(self) -> AbstractContextManager[None]:
        return locked_across_processes(self.path)

    def _load(self) -> set[str]:
        try:
            # a small regular file only: a FIFO or a link to /dev/zero in its place must not hang the start
            raw, _ = read_regular(self.path, self.path.parent.parent, MAX_FAVORITES_BYTES, hidden_ok=True)
            data = json.loads(raw)
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            log.warning("favourites file %s unreadable (%s); starting with none", self.path, exc)
            return set()
        paths = data.get("paths") if isinstance(data, dict) else None
        return {p for p in paths if isinstance(p, str)} if isinstance(paths, list) else set()

    def __contains__(self, relpath: str) -> bool:
        self._refresh()  # no lock: scans ask from worker threads; a racing refresh reads again
        return relpath in self._paths

    def set(self, relpath: str, favorite: bool) -> None:
        with self._lock, self._across_processes():
            self._paths, self._seen = self._load(), self._signature()  # the file as it is now, whatever changed
            if (relpath in self._paths) == favorite:
                return
            if favorite:
                self._paths.add(relpath)
            else:
                self._paths.discard(relpath)
            self._save()
            self._seen = self._signature()

    def _save(self) -> None:
        write_json_atomically(self.path, {"version": 1, "paths": sorted(self._paths)})
