"""The gallery index: a SQLite cache of the gallery folder, rebuildable from the files.

The folder is the truth. Each row mirrors one image file and the metadata read from it;
``size`` and ``mtime_ns`` tell whether the file changed since it was read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backend.storage.db import Database

MIGRATIONS = [
    """
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        readable INTEGER NOT NULL,
        width INTEGER,
        height INTEGER,
        format TEXT,
        prompt TEXT NOT NULL DEFAULT '',
        negative_prompt TEXT NOT NULL DEFAULT '',
        style TEXT,
        aspect_ratio TEXT,
        provider TEXT,
        model TEXT,
        seed INTEGER,
        job_id TEXT,
        session TEXT,
        metadata TEXT
    );
    CREATE INDEX images_created ON images (created_at DESC, id DESC);
    CREATE INDEX images_job ON images (job_id)
    """
]


@dataclass
class ImageRow:
    id: str
    path: str  # relative to the gallery, with '/' separators
    size: int
    mtime_ns: int
    created_at: str
    readable: bool
    width: int | None = None
    height: int | None = None
    format: str | None = None
    prompt: str = ""
    negative_prompt: str = ""
    style: str | None = None
    aspect_ratio: str | None = None
    provider: str | None = None
    model: str | None = None
    seed: int | None = None
    job_id: str | None = None
    session: str | None = None
    metadata: dict[str, Any] | None = None


_COLUMNS = [f for f in ImageRow.__dataclass_fields__]


class GalleryIndex:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    @staticmethod
    def _row(r: Any) -> ImageRow:
        data = dict(r)
        data["readable"] = bool(data["readable"])
        data["metadata"] = json.loads(data["metadata"]) if data["metadata"] else None
        return ImageRow(**data)

    def upsert(self, rows: Iterable[ImageRow]) -> None:
        placeholders = ", ".join("?" for _ in _COLUMNS)
        updates = ", ".join(f"{c}=excluded.{c}" for c in _COLUMNS if c != "path")
        sql = (
            f"INSERT INTO images ({', '.join(_COLUMNS)}) VALUES ({placeholders})"
            f" ON CONFLICT(path) DO UPDATE SET {updates}"
        )
        with self.db.transaction() as conn:
            for row in rows:
                data = asdict(row)
                data["metadata"] = json.dumps(row.metadata) if row.metadata is not None else None
                conn.execute(sql, [data[c] for c in _COLUMNS])

    def delete_paths(self, paths: Iterable[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM images WHERE path=?", [(p,) for p in paths])

    def fingerprints(self) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of every indexed file."""
        return {r["path"]: (r["size"], r["mtime_ns"]) for r in self.db.query("SELECT path, size, mtime_ns FROM images")}

    def get(self, image_id: str) -> ImageRow | None:
        rows = self.db.query("SELECT * FROM images WHERE id=?", (image_id,))
        return self._row(rows[0]) if rows else None

    def by_path(self, path: str) -> ImageRow | None:
        rows = self.db.query("SELECT * FROM images WHERE path=?", (path,))
        return self._row(rows[0]) if rows else None

    def page(self, limit: int, before: tuple[str, str] | None = None) -> list[ImageRow]:
        """Newest first; ``before`` is the (created_at, id) of the last image already seen."""
        if before:
            rows = self.db.query(
                "SELECT * FROM images WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?",
                (*before, limit),
            )
        else:
            rows = self.db.query("SELECT * FROM images ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))
        return [self._row(r) for r in rows]

    def count(self) -> int:
        return self.db.query("SELECT COUNT(*) FROM images")[0][0]
