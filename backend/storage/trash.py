"""The gallery's trash: deleted images wait in ``.trash/`` inside the gallery.

Each deletion is a folder ``.trash/<image id>.<ms since epoch>/`` holding the file under
its own name and ``entry.json`` (where it was, when it was deleted, whether it was a
favourite). Moving is a rename on the same file system: instant and atomic. The folder
is hidden, so listings and the index never see it. Entries older than the retention
are purged. The trash is in the gallery, so anyone may have written it: an entry whose
``entry.json`` is not what this module writes, or whose file is not a regular file, is
left alone, and nothing is ever restored outside the gallery.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backend.storage.files import RefusedFile, inside, read_regular, valid_relpath

TRASH_DIR = ".trash"
MAX_ENTRY_BYTES = 64 * 1024


@dataclass(frozen=True)
class TrashEntry:
    id: str
    path: str  # where it was, relative to the gallery
    deleted_at: float  # epoch seconds
    favorite: bool
    folder: Path

    @property
    def file(self) -> Path:
        return self.folder / Path(self.path).name


class TrashBin:
    def __init__(self, gallery_root: Path) -> None:
        self.root = gallery_root
        self.folder = gallery_root / TRASH_DIR

    def move_in(self, image_id: str, relpath: str, favorite: bool) -> TrashEntry:
        """Move the gallery file at ``relpath`` into the trash; raises FileNotFoundError."""
        now = time.time()
        folder = self.folder / f"{image_id}.{int(now * 1000)}"
        folder.mkdir(parents=True, exist_ok=True)
        if not inside(self.root, folder):  # .trash made a link to elsewhere: never move a file out
            shutil.rmtree(folder, ignore_errors=True)
            raise RefusedFile("outside the gallery")
        entry = TrashEntry(image_id, relpath, now, favorite, folder)
        (folder / "entry.json").write_text(
            json.dumps({"id": image_id, "path": relpath, "deleted_at": now, "favorite": favorite}), encoding="utf-8"
        )
        try:
            os.rename(self.root / relpath, entry.file)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return entry

    def entries(self) -> list[TrashEntry]:
        found: list[TrashEntry] = []
        try:
            folders = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        for item in folders:
            entry = self._read_entry(Path(item.path))
            if entry is not None:
                found.append(entry)
        return sorted(found, key=lambda e: e.deleted_at, reverse=True)

    def _read_entry(self, folder: Path) -> TrashEntry | None:
        """The entry in ``folder``, or None when its ``entry.json`` is missing, not a small
        regular file, or not an object of the right types with a path inside the gallery."""
        try:
            raw, _ = read_regular(folder / "entry.json", self.root, MAX_ENTRY_BYTES, hidden_ok=True)
            data = json.loads(raw)
            image_id, path, deleted_at, favorite = data["id"], data["path"], data["deleted_at"], data["favorite"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not (isinstance(image_id, str) and isinstance(path, str) and valid_relpath(path)):
            return None
        if not (isinstance(deleted_at, int | float) and isinstance(favorite, bool)) or deleted_at != deleted_at:
            return None  # NaN never expires
        return TrashEntry(image_id, path, float(deleted_at), favorite, folder)

    def find(self, image_id: str) -> TrashEntry | None:
        """The latest deletion of the image with this id whose file is still there, a regular
        file (a link or a FIFO put in its place is never restored)."""
        for entry in self.entries():
            if entry.id == image_id:
                try:
                    if stat.S_ISREG(os.lstat(entry.file).st_mode):
                        return entry
                except OSError:
                    continue
        return None

    def restore(self, entry: TrashEntry, claim: Callable[[str], None] = lambda rel: None) -> str:
        """Move the file back to where it was, or beside it when that name is taken now.
        Returns its path relative to the gallery. ``claim`` is told each name before the
        file may appear under it."""
        target = self.root / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not inside(self.root, target.parent):  # a folder on the way is a link to elsewhere now
            raise RefusedFile("outside the gallery")
        stem, suffix = os.path.splitext(target.name)
        for n in range(1000):
            candidate = target if n == 0 else target.with_name(f"{stem}-restored{n}{suffix}")
            claim(candidate.relative_to(self.root).as_posix())
            try:
                os.link(entry.file, candidate)  # never overwrites what is there now
            except FileExistsError:
                continue
            shutil.rmtree(entry.folder, ignore_errors=True)
            return candidate.relative_to(self.root).as_posix()
        raise FileExistsError(f"no free name to restore {entry.path}")

    def purge(self, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds
        purged = 0
        for entry in self.entries():
            if entry.deleted_at < cutoff:
                shutil.rmtree(entry.folder, ignore_errors=True)
                purged += 1
        return purged
