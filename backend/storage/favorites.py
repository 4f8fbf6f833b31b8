"""Favourites, kept beside the files so they survive a rebuild of the index.

A small JSON file in the gallery's ``.atelier/`` folder lists the favourite images by
their path in the gallery. It is rewritten atomically (temporary file, fsync, rename):
a crash leaves the old list or the new one, never half of one. Image files are never
rewritten to carry the flag: their bytes, hashes and cached thumbnails stay valid.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from backend.storage.files import read_regular

log = logging.getLogger(__name__)
MAX_FAVORITES_BYTES = 64 * 1024 * 1024  # about a million paths


class FavoriteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._paths: set[str] = self._load()

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
        return relpath in self._paths

    def set(self, relpath: str, favorite: bool) -> None:
        with self._lock:
            if (relpath in self._paths) == favorite:
                return
            if favorite:
                self._paths.add(relpath)
            else:
                self._paths.discard(relpath)
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"version": 1, "paths": sorted(self._paths)}, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
