"""SQLite connections: WAL, one serialized connection per database file.

One connection guarded by a lock keeps SQLite safe under both async modes: under
eventlet the lock is green and only the hub thread uses it; under threading it is a
real lock. Statements here take microseconds; bulk work belongs in worker threads.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Database:
    def __init__(self, path: Path, migrations: Sequence[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._migrations = migrations
        self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            self._migrate(conn, self._migrations)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the connection's lock across several steps (no statement of anyone else between)."""
        with self._lock:
            yield

    def reopen(self) -> None:
        """Close the connection and open the file at our path again (it may be a new file).
        Under the lock, so a statement runs wholly on the old connection or on the new one."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = self._connect()  # first, so a failure leaves the old connection working
            self._conn.close()
            self._conn = fresh

    @staticmethod
    def _migrate(conn: sqlite3.Connection, migrations: Sequence[str]) -> None:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(migrations[version:], start=version + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(None, (s.strip() for s in script.split(";"))):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
