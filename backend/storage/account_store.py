"""Accounts in SQLite: users, API keys and sign-in sessions (``data/accounts.db``).

Secrets are never stored: a password as its argon2id hash (made by services/accounts.py),
an API key and a session id as the SHA-256 of a high-entropy secret. Sessions live here,
server-side, so signing out, disabling a user or deleting one ends them at once.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.storage.db import Database

ACCOUNTS_FILE = "accounts.db"

MIGRATIONS = [
    """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        password_hash TEXT,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        monthly_budget_usd REAL,
        oidc_subject TEXT UNIQUE
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        monthly_budget_usd REAL
    );
    CREATE INDEX api_keys_user ON api_keys (user_id);
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id)
    """,
]


@dataclass(frozen=True)
class UserRecord:
    id: str
    name: str
    role: str
    password_hash: str | None
    disabled: bool
    created_at: str
    monthly_budget_usd: float | None
    oidc_subject: str | None = None


@dataclass(frozen=True)
class KeyRecord:
    id: str
    user_id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: str
    last_used_at: str | None
    monthly_budget_usd: float | None


@dataclass(frozen=True)
class SessionRecord:
    id_hash: str
    user_id: str
    csrf_token: str
    created_at: str
    expires_at: float


def _user(row: sqlite3.Row) -> UserRecord:
    return UserRecord(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        password_hash=row["password_hash"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        monthly_budget_usd=row["monthly_budget_usd"],
        oidc_subject=row["oidc_subject"],
    )


def _key(row: sqlite3.Row) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=tuple(json.loads(row["scopes"])),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        monthly_budget_usd=row["monthly_budget_usd"],
    )


class NameTaken(ValueError):
    """A user with this name exists already."""


class LastAdmin(ValueError):
    """The change would leave the studio without an enabled admin (it was not made)."""


_ENABLED_ADMINS = "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0"


class AccountsUnreadable(Exception):
    """The accounts database cannot be opened (not a database, unreadable): a clear line at
    start, never a traceback, and never a studio that quietly starts without its users."""


class AccountStore:
    def __init__(self, path: Path) -> None:
        try:
            self.db = Database(path, MIGRATIONS)
            self.db.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.DatabaseError, OSError) as exc:
            raise AccountsUnreadable(
                f"the accounts database {path} cannot be read ({exc}); restore it from a backup "
                "(moving it away starts the studio without users)"
            ) from None

    # users ---------------------------------------------------------------------------------

    def has_users(self) -> bool:
        return bool(self.db.query("SELECT 1 FROM users LIMIT 1"))

    def add_user(self, user: UserRecord) -> None:
        try:
            self.db.execute(
                "INSERT INTO users (id, name, role, password_hash, disabled, created_at, monthly_budget_usd, "
                "oidc_subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user.id,
                    user.name,
                    user.role,
                    user.password_hash,
                    int(user.disabled),
                    user.created_at,
                    user.monthly_budget_usd,
                    user.oidc_subject,
                ),
            )
        except sqlite3.IntegrityError:
            raise NameTaken(user.name) from None

    def add_first_user(self, user: UserRecord) -> bool:
        """Add ``user`` only if there is no user yet (the first-run page); False if one exists."""
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
                return False
            conn.execute(
                "INSERT INTO users (id, name, role, password_hash, disabled, created_at, monthly_budget_usd) "
                "VALUES (?, ?, ?, ?, 0, ?, ?)",
                (user.id, user.name, user.role, user.password_hash, user.created_at, user.monthly_budget_usd),
            )
        return True

    def user(self, user_id: str) -> UserRecord | None:
        rows = self.db.query("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    def user_by_name(self, name: str) -> UserRecord | None:
        rows = self.db.query("SELECT * FROM users WHERE name = ?", (name,))
        return _user(rows[0]) if rows else None

    def user_by_subject(self, subject: str) -> UserRecord | None:
        rows = self.db.query("SELECT * FROM users WHERE oidc_subject = ?", (subject,))
        return _user(rows[0]) if rows else None

    def users(self) -> list[UserRecord]:
        return [_user(r) for r in self.db.query("SELECT * FROM users ORDER BY name")]

    def update_user(self, user_id: str, keep_an_admin: bool = False, **values: Any) -> None:
        """``keep_an_admin``: raise :class:`LastAdmin` (changing nothing) if no enabled admin
        would be left; checked in the same transaction, so two admins demoting each other at
        once (or the users CLI meanwhile) cannot both win."""
        allowed = {"role", "password_hash", "disabled", "monthly_budget_usd"}
        assert set(values) <= allowed, values
        if not values:
            return
        columns = ", ".join(f"{name} = ?" for name in values)
        params = [int(v) if isinstance(v, bool) else v for v in values.values()]
        with self.db.transaction() as conn:
            conn.execute(f"UPDATE users SET {columns} WHERE id = ?", (*params, user_id))
            if keep_an_admin and not conn.execute(_ENABLED_ADMINS).fetchone()[0]:
                raise LastAdmin(user_id)  # rolls the update back

    def delete_user(self, user_id: str, keep_an_admin: bool = False) -> bool:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM api_keys WHERE user_id = ?", (user_id,))
            deleted = conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0
            if keep_an_admin and not conn.execute(_ENABLED_ADMINS).fetchone()[0]:
                raise LastAdmin(user_id)  # rolls the deletion back
            return deleted

    def count_admins(self) -> int:
        (row,) = self.db.query(_ENABLED_ADMINS)
        return int(row[0])

    # API keys ------------------------------------------------------------------------------

    def add_key(self, key: KeyRecord, secret_hash: str) -> None:
        self.db.execute(
            "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, scopes, created_at, last_used_at, "
            "monthly_budget_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key.id,
                key.user_id,
                key.name,
                key.prefix,
                secret_hash,
                json.dumps(list(key.scopes)),
                key.created_at,
                key.last_used_at,
                key.monthly_budget_usd,
            ),
        )

    def key_by_hash(self, secret_hash: str) -> KeyRecord | None:
        rows = self.db.query("SELECT * FROM api_keys WHERE secret_hash = ?", (secret_hash,))
        return _key(rows[0]) if rows else None

    def key(self, key_id: str) -> KeyRecord | None:
        rows = self.db.query("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        return _key(rows[0]) if rows else None

    def keys(self, user_id: str | None = None) -> list[KeyRecord]:
        if user_id is None:
            rows = self.db.query("SELECT * FROM api_keys ORDER BY created_at, id")
        else:
            rows = self.db.query("SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at, id", (user_id,))
        return [_key(r) for r in rows]

    def touch_key(self, key_id: str, when: str) -> None:
        self.db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (when, key_id))

    def delete_key(self, key_id: str) -> bool:
        return self.db.execute("DELETE FROM api_keys WHERE id = ?", (key_id,)).rowcount > 0

    # sessions ------------------------------------------------------------------------------

    def add_session(self, session: SessionRecord) -> None:
        self.db.execute(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (session.id_hash, session.user_id, session.csrf_token, session.created_at, session.expires_at),
        )

    def session(self, id_hash: str) -> SessionRecord | None:
        rows = self.db.query("SELECT * FROM sessions WHERE id_hash = ?", (id_hash,))
        if not rows:
            return None
        r = rows[0]
        return SessionRecord(r["id_hash"], r["user_id"], r["csrf_token"], r["created_at"], r["expires_at"])

    def delete_session(self, id_hash: str) -> bool:
        return self.db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,)).rowcount > 0

    def delete_sessions_of(self, user_id: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

    def trim_sessions(self, user_id: str, keep: int) -> list[str]:
        """Keep only the user's ``keep`` newest sessions; the ended ones' id hashes."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id_hash FROM sessions WHERE user_id = ? ORDER BY expires_at DESC, rowid DESC LIMIT -1 OFFSET ?",
                (user_id, keep),
            ).fetchall()
            ended = [r[0] for r in rows]
            conn.executemany("DELETE FROM sessions WHERE id_hash = ?", [(h,) for h in ended])
        return ended

    def purge_sessions(self, now: float) -> None:
        self.db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))

    def data_version(self) -> int:
        """Changes whenever another connection (another process: the users CLI, another web
        instance) has committed to the database since this one last asked."""
        (row,) = self.db.query("PRAGMA data_version")
        return int(row[0])

    def close(self) -> None:
        self.db.close()
