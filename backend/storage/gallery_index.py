"""The gallery index: a SQLite cache of the gallery folder, rebuildable from the files.

The folder is the truth. Each row mirrors one image file and the metadata read from it;
``size`` and ``mtime_ns`` tell whether the file changed since it was read. Prompts are
also kept in an FTS5 table (same rowid) maintained here, not by triggers, so search
stays in step with every upsert and delete.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend.storage.db import Database

_IMAGES_TABLE = """
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
    )"""

MIGRATIONS = [
    _IMAGES_TABLE
    + """;
    CREATE INDEX images_created ON images (created_at DESC, id DESC);
    CREATE INDEX images_job ON images (job_id)
    """,
    # v2: favourites, content hashes (thumbnail URLs) and search. The index is a cache, so
    # the table is rebuilt from the files rather than migrated.
    "DROP TABLE images;"
    + _IMAGES_TABLE.replace("metadata TEXT", "metadata TEXT, favorite INTEGER NOT NULL DEFAULT 0, content_hash TEXT")
    + """;
    CREATE INDEX images_created ON images (created_at, id);
    CREATE INDEX images_job ON images (job_id, created_at, id);
    CREATE INDEX images_session ON images (session, created_at, id);
    CREATE INDEX images_provider ON images (provider, created_at, id);
    CREATE INDEX images_favorite ON images (favorite, created_at, id);
    CREATE INDEX images_seed ON images (seed);
    CREATE VIRTUAL TABLE images_fts USING fts5(prompt, negative_prompt, tokenize='unicode61 remove_diacritics 2')
    """,
    # v3: seeds use all 64 bits (see _seed_to_db) and metadata values are bounded when read:
    # every file is read again, so no row written before keeps an unbounded value
    "DELETE FROM images; DELETE FROM images_fts",
]
SEED_RANGE = 2**64  # seeds are 0..2^64-1; SQLite's INTEGER is signed 64-bit


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
    favorite: bool = False
    content_hash: str | None = None


_COLUMNS = [f for f in ImageRow.__dataclass_fields__]
_METADATA = _COLUMNS.index("metadata")
_SEED = _COLUMNS.index("seed")
_READABLE = _COLUMNS.index("readable")
_FAVORITE = _COLUMNS.index("favorite")
_SELECTED = ", ".join(_COLUMNS)
#: the columns with NULL for the metadata JSON: what a listing shows (reading and parsing
#: the metadata of every row was most of the time of a page of 1,000)
_LISTED = ", ".join("NULL" if c == "metadata" else c for c in _COLUMNS)


def _seed_to_db(seed: int | None) -> int | None:
    """A seed as SQLite stores it: 2^63..2^64-1 wrap to negative (two's complement), so
    every 64-bit seed round-trips exactly and ``seed = ?`` still uses the index. A value
    outside 0..2^64-1 is no seed (None)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < SEED_RANGE:
        return None
    return seed - SEED_RANGE if seed >= SEED_RANGE // 2 else seed


def _seed_from_db(value: int | None) -> int | None:
    return None if value is None else value + SEED_RANGE if value < 0 else value


_TEXT_FILTERS = ("provider", "style", "aspect_ratio", "job_id", "session")


@dataclass
class ImageQuery:
    """What a listing or an export selects. ``fts`` is an already-safe FTS5 expression."""

    provider: str | None = None
    model: str | None = None  # exact
    model_like: str | None = None  # substring, from a ``model:`` search term
    style: str | None = None
    aspect_ratio: str | None = None
    job_id: str | None = None
    session: str | None = None
    favorite: bool | None = None
    seed: int | None = None
    created_from: str | None = None  # inclusive, ISO UTC like created_at
    created_to: str | None = None  # exclusive
    fts: str | None = None
    text_like: str | None = None  # LIKE pattern for searches FTS cannot tokenize
    ids: list[str] | None = None
    #: only the files below this folder (a member's own, ``alice/``) or in ``also_paths`` (shared to them)
    folder: str | None = None
    also_paths: list[str] | None = None
    #: only these paths (a board's images)
    paths: list[str] | None = None
    newest_first: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        data = asdict(self)
        data.pop("newest_first")
        return json.dumps(data, sort_keys=True)

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for name in _TEXT_FILTERS:
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{name} = ?")
                params.append(value)
        if self.seed is not None:  # a seed outside 0..2^64-1 compares to NULL: no row
            clauses.append("seed = ?")
            params.append(_seed_to_db(self.seed))
        if self.model is not None:
            clauses.append("model = ?")
            params.append(self.model)
        if self.model_like is not None:
            clauses.append("model LIKE ? ESCAPE '\\'")
            params.append(f"%{_like_escape(self.model_like)}%")
        if self.favorite is not None:
            clauses.append("favorite = ?")
            params.append(1 if self.favorite else 0)
        if self.created_from:
            clauses.append("created_at >= ?")
            params.append(self.created_from)
        if self.created_to:
            clauses.append("created_at < ?")
            params.append(self.created_to)
        if self.fts:
            clauses.append("rowid IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)")
            params.append(self.fts)
        if self.text_like:
            pattern = f"%{_like_escape(self.text_like)}%"
            clauses.append("(prompt LIKE ? ESCAPE '\\' OR negative_prompt LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        if self.ids is not None:
            clauses.append(f"id IN ({', '.join('?' for _ in self.ids)})")
            params += self.ids
        # path lists go in as one JSON parameter: no limit on the number of SQL variables
        if self.folder is not None:
            clauses.append("(substr(path, 1, ?) = ? OR path IN (SELECT value FROM json_each(?)))")
            params += [len(self.folder), self.folder, json.dumps(self.also_paths or [])]
        if self.paths is not None:
            clauses.append("path IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(self.paths))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class GalleryIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.db = Database(path, MIGRATIONS)
        except sqlite3.DatabaseError:
            self._set_aside_corrupt()
            self.db = Database(path, MIGRATIONS)
        self._inode = _inode(path)
        self._counts: dict[str, int] = {}  # query key -> total, dropped on every write
        self._distinct: dict[str, set[str]] = {}  # column -> values, dropped on every write

    @staticmethod
    def _row(r: Any) -> ImageRow:
        data = dict(r)
        data["readable"] = bool(data["readable"])
        data["favorite"] = bool(data["favorite"])
        data["seed"] = _seed_from_db(data["seed"])
        data["metadata"] = json.loads(data["metadata"]) if data["metadata"] else None
        return ImageRow(**data)

    @staticmethod
    def _ordered_row(r: Any) -> ImageRow:
        """A row selected as _SELECTED / _LISTED (ImageRow's field order) -> ImageRow: by
        position, which for a page of 1,000 costs a third of ``dict(row)`` and keywords."""
        values = list(r)
        values[_READABLE] = bool(values[_READABLE])
        values[_FAVORITE] = bool(values[_FAVORITE])
        values[_SEED] = _seed_from_db(values[_SEED])
        raw = values[_METADATA]
        values[_METADATA] = json.loads(raw) if raw else None
        return ImageRow(*values)

    def _forget_cached(self) -> None:
        self._counts.clear()
        self._distinct.clear()

    def _set_aside_corrupt(self) -> None:
        """A corrupt cache: move it aside (kept for a look) so it is rebuilt from the files."""
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{self.path}{suffix}"):
                os.replace(f"{self.path}{suffix}", f"{self.path}.corrupt{suffix}")

    # --- the file under us ---------------------------------------------------------------
    def file_missing(self) -> bool:
        """True when the index file was deleted or replaced while this connection is open."""
        return _inode(self.path) != self._inode

    def recreate(self) -> bool:
        """Write the index back to its path from the open connection (which still holds
        the deleted file), then reopen it there. Returns False when that was impossible
        and the caller must rebuild from the files.

        The connection's lock is held from the copy to the reopen: a row a job writes
        meanwhile lands either in the old file before it is copied or in the new one,
        never in a file that is about to be dropped."""
        with self.db.exclusive():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            copied = False
            if not self.path.exists():
                try:
                    self.db.execute("VACUUM INTO ?", (str(self.path),))
                    copied = True
                except sqlite3.Error:
                    for suffix in ("", "-wal", "-shm"):
                        try:
                            os.unlink(str(self.path) + suffix)
                        except OSError:
                            pass
            try:
                self.db.reopen()
            except sqlite3.DatabaseError:  # replaced by something that is not a database
                self._set_aside_corrupt()
                self.db.reopen()
                copied = False
            self._inode = _inode(self.path)
            self._forget_cached()
        return copied

    # --- writes --------------------------------------------------------------------------
    def upsert(self, rows: Iterable[ImageRow], *, only_changed: bool = False) -> list[ImageRow]:
        """Write ``rows``; returns those written. ``only_changed``: leave a row the index
        already holds with the same size and mtime (another web instance sharing the index
        wrote it), so that the change is announced once, by whoever wrote it."""
        placeholders = ", ".join("?" for _ in _COLUMNS)
        updates = ", ".join(f"{c}=excluded.{c}" for c in _COLUMNS if c != "path")
        unchanged = " WHERE size IS NOT excluded.size OR mtime_ns IS NOT excluded.mtime_ns" if only_changed else ""
        sql = (
            f"INSERT INTO images ({', '.join(_COLUMNS)}) VALUES ({placeholders})"
            f" ON CONFLICT(path) DO UPDATE SET {updates}{unchanged} RETURNING rowid"
        )
        written: list[ImageRow] = []
        with self.db.transaction() as conn:
            self._forget_cached()
            for row in rows:
                values = [getattr(row, c) for c in _COLUMNS]  # not asdict: it deep-copies the metadata
                values[_METADATA] = json.dumps(row.metadata) if row.metadata is not None else None
                values[_SEED] = _seed_to_db(row.seed)
                found = conn.execute(sql, values).fetchone()
                if found is None:  # only_changed, and already held as it is
                    continue
                (rowid,) = found
                written.append(row)
                conn.execute("DELETE FROM images_fts WHERE rowid = ?", (rowid,))
                if row.prompt or row.negative_prompt:
                    conn.execute(
                        "INSERT INTO images_fts (rowid, prompt, negative_prompt) VALUES (?, ?, ?)",
                        (rowid, row.prompt, row.negative_prompt),
                    )
        return written

    def delete_paths(self, paths: Iterable[str]) -> list[str]:
        """Forget ``paths``; returns those the index held."""
        deleted: list[str] = []
        with self.db.transaction() as conn:
            self._forget_cached()
            for path in paths:
                found = conn.execute("DELETE FROM images WHERE path = ? RETURNING rowid", (path,)).fetchone()
                if found:
                    deleted.append(path)
                    conn.execute("DELETE FROM images_fts WHERE rowid = ?", (found[0],))
        return deleted

    def set_favorite(self, image_id: str, favorite: bool) -> None:
        with self.db.transaction() as conn:
            self._forget_cached()
            conn.execute("UPDATE images SET favorite = ? WHERE id = ?", (1 if favorite else 0, image_id))

    # --- reads ---------------------------------------------------------------------------
    def fingerprints(self) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of every indexed file."""
        return {r[0]: (r[1], r[2]) for r in self.db.query("SELECT path, size, mtime_ns FROM images")}

    def get(self, image_id: str) -> ImageRow | None:
        rows = self.db.query("SELECT * FROM images WHERE id=?", (image_id,))
        return self._row(rows[0]) if rows else None

    def get_many(self, ids: list[str]) -> list[ImageRow]:
        rows: list[ImageRow] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found = self.db.query(f"SELECT * FROM images WHERE id IN ({', '.join('?' for _ in chunk)})", chunk)
            rows += [self._row(r) for r in found]
        return rows

    def by_path(self, path: str) -> ImageRow | None:
        rows = self.db.query("SELECT * FROM images WHERE path=?", (path,))
        return self._row(rows[0]) if rows else None

    def page(self, limit: int, before: tuple[str, str] | None = None) -> list[ImageRow]:
        """Newest first; ``before`` is the (created_at, id) of the last image already seen."""
        return self.select(ImageQuery(), limit, before)

    def select(
        self, query: ImageQuery, limit: int, after: tuple[str, str] | None = None, metadata: bool = True
    ) -> list[ImageRow]:
        """One page in ``query``'s order; ``after`` is the (created_at, id) of the last row seen.
        ``metadata=False``: rows without their metadata (None), for listings."""
        where, params = query.where()
        if after:
            op = "<" if query.newest_first else ">"
            where += (" AND " if where else " WHERE ") + f"(created_at, id) {op} (?, ?)"
            params = [*params, *after]
        direction = "DESC" if query.newest_first else "ASC"
        columns = _SELECTED if metadata else _LISTED
        sql = f"SELECT {columns} FROM images{where} ORDER BY created_at {direction}, id {direction} LIMIT ?"
        return [self._ordered_row(r) for r in self.db.query(sql, [*params, limit])]

    def iterate(self, query: ImageQuery, batch: int = 500, metadata: bool = True) -> Iterator[ImageRow]:
        """Every row ``query`` selects, fetched a batch at a time (constant memory)."""
        after: tuple[str, str] | None = None
        while True:
            rows = self.select(query, batch, after, metadata)
            yield from rows
            if len(rows) < batch:
                return
            after = (rows[-1].created_at, rows[-1].id)

    def present(self, query: ImageQuery) -> set[str]:
        """The ids of the rows ``query`` selects (keep its ``ids`` to a few hundred)."""
        where, params = query.where()
        return {r[0] for r in self.db.query(f"SELECT id FROM images{where}", params)}

    def total(self, query: ImageQuery) -> int:
        key = query.key()
        cached = self._counts.get(key)
        if cached is None:
            where, params = query.where()
            cached = self.db.query(f"SELECT COUNT(*) FROM images{where}", params)[0][0]
            if len(self._counts) > 256:
                self._forget_cached()
            self._counts[key] = cached
        return cached

    def distinct(self, column: str) -> set[str]:
        assert column in ("provider", "style", "aspect_ratio")
        key = f"distinct:{column}"
        if key not in self._distinct:
            sql = f"SELECT DISTINCT {column} FROM images WHERE {column} IS NOT NULL"
            self._distinct[key] = {r[0] for r in self.db.query(sql)}
        return self._distinct[key]

    def count(self) -> int:
        return self.total(ImageQuery())


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
