"""The gallery's trash: deleted images wait in ``.trash/`` inside the gallery.

Each deletion is a folder ``.trash/<image id>.<ms since epoch>/`` holding the file under
its own name and ``entry.json`` (where it was, when it was deleted, whether it was a
favourite). Moving is a rename on the same file system: instant and atomic. The folder
is hidden, so listings and the index never see it. Entries older than the retention
are purged.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

TRASH_DIR = ".trash"


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
            try:
                data = json.loads((Path(item.path) / "entry.json").read_text(encoding="utf-8"))
                found.append(
                    TrashEntry(
                        data["id"], data["path"], float(data["deleted_at"]), bool(data["favorite"]), Path(item.path)
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(found, key=lambda e: e.deleted_at, reverse=True)

    def find(self, image_id: str) -> TrashEntry | None:
        """The latest deletion of the image with this id."""
        return next((e for e in self.entries() if e.id == image_id and e.file.exists()), None)

    def restore(self, entry: TrashEntry) -> str:
        """Move the file back to where it was, or beside it when that name is taken now.
        Returns its path relative to the gallery."""
        target = self.root / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        stem, suffix = os.path.splitext(target.name)
        for n in range(1000):
            candidate = target if n == 0 else target.with_name(f"{stem}-restored{n}{suffix}")
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
