"""Matrices: a small SQLite table in the data folder (``matrices.sqlite3``).

A matrix row holds its base request, axes and cells as JSON; ``matrix_jobs`` maps each
cell's job to its matrix, so a job's end finds its matrix with one indexed lookup.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend.storage.db import Database

MIGRATIONS = [
    """
    CREATE TABLE matrices (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX matrices_created ON matrices (created_at DESC);
    CREATE TABLE matrix_jobs (
        job_id TEXT PRIMARY KEY,
        matrix_id TEXT NOT NULL
    );
    CREATE TABLE matrix_renders (
        matrix_id TEXT NOT NULL,
        jobs TEXT NOT NULL,
        PRIMARY KEY (matrix_id, jobs)
    )
    """,
]


@dataclass
class MatrixCellRecord:
    """One cell: its place on each axis, its job (None when skipped) and why it was skipped."""

    coords: list[int]
    job_id: str | None
    skipped: str | None = None


@dataclass
class MatrixRecord:
    id: str
    created_at: str
    base: dict[str, Any]
    axes: list[dict[str, Any]]
    cells: list[MatrixCellRecord]
    session: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    estimate: dict[str, Any] = field(default_factory=dict)
    #: the grid image once made, and the cell jobs it was made from (a retried cell makes a new one)
    grid_image_id: str | None = None
    grid_jobs: list[str] = field(default_factory=list)
    #: whose matrix it is: the account name; None for the studio's own
    owner: str | None = None

    def job_ids(self) -> list[str]:
        return [c.job_id for c in self.cells if c.job_id]


class MatrixStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def save(self, matrix: MatrixRecord) -> None:
        data = json.dumps(asdict(matrix))
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO matrices (id, created_at, data) VALUES (?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET data=excluded.data",
                (matrix.id, matrix.created_at, data),
            )
            for job_id in matrix.job_ids():
                conn.execute(
                    "INSERT INTO matrix_jobs (job_id, matrix_id) VALUES (?, ?) ON CONFLICT(job_id) DO NOTHING",
                    (job_id, matrix.id),
                )

    def claim_render(self, matrix: MatrixRecord) -> bool:
        """True for the one caller (of every process on this data folder) that is to draw the
        grid of the matrix's current cell jobs: two web instances may see its last cells end."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO matrix_renders (matrix_id, jobs) VALUES (?, ?)",
            (matrix.id, ",".join(matrix.job_ids())),
        )
        return cursor.rowcount == 1

    def get(self, matrix_id: str) -> MatrixRecord | None:
        rows = self.db.query("SELECT data FROM matrices WHERE id=?", (matrix_id,))
        return _load(rows[0]["data"]) if rows else None

    def for_job(self, job_id: str) -> str | None:
        rows = self.db.query("SELECT matrix_id FROM matrix_jobs WHERE job_id=?", (job_id,))
        return rows[0]["matrix_id"] if rows else None

    def unfinished(self) -> list[MatrixRecord]:
        """Matrices without a grid for their current cells (to look at again after a start)."""
        found = [_load(r["data"]) for r in self.db.query("SELECT data FROM matrices")]
        return [m for m in found if m.grid_image_id is None or m.grid_jobs != m.job_ids()]


def _load(text: str) -> MatrixRecord:
    data = json.loads(text)
    data["cells"] = [MatrixCellRecord(**c) for c in data["cells"]]
    return MatrixRecord(**data)
