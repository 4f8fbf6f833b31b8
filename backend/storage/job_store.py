"""Jobs in SQLite: the history survives restarts and queued jobs run again."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from backend.storage.db import Database

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "interrupted"})

MIGRATIONS = [
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL,
        provider TEXT NOT NULL,
        session TEXT,
        data TEXT NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
    CREATE INDEX jobs_status ON jobs (status);
    CREATE INDEX jobs_session ON jobs (session)
    """,
    # the queue's own state (paused); one row per key
    """
    CREATE TABLE queue_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)
    """,
    # whose job it is (the account name; NULL for the studio's own, and for every job made
    # before accounts): a member's list and look-ups are filtered by it
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    CREATE INDEX jobs_owner ON jobs (owner, created_at DESC, id DESC)
    """,
    # a user's and an API key's spend this month and their pending jobs (services/budgets.py,
    # services/limits.py) without reading every job of the month (bench/bench_budgets.py)
    """
    CREATE INDEX jobs_owner_spend ON jobs (json_extract(data, '$.owner'), created_at);
    CREATE INDEX jobs_key_spend ON jobs (json_extract(data, '$.key_id'), created_at)
    """,
]


@dataclass
class JobRecord:
    id: str
    created_at: str
    request: dict[str, Any]
    status: str = "queued"
    session: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    progress: float | None = 0.0
    message: str = ""
    images: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    cost_usd: float | None = None
    retry_of: str | None = None
    cancel_requested: bool = False
    #: facts a provider reported beside its images (e.g. text returned with them)
    provider_notes: list[dict[str, Any]] = field(default_factory=list)
    #: the provider that made the images: another one than requested after a fallback
    served_by: str | None = None
    #: "generate", or the studio tool that runs it ("edit", "upscale", "social")
    kind: str = "generate"
    #: the tool's own request (its source image, operation, targets ...); None for generate
    tool: dict[str, Any] | None = None
    #: set when the job ends: what the provider reported, else the estimate for what was delivered
    cost_actual_usd: float | None = None
    #: who sent it when not the studio itself: the API dialect and credential ("openai",
    #: "a1111", with the key's name where accounts exist); None for the studio's own routes
    client: str | None = None
    #: "high", "normal" or "low": higher runs first (services/queue_order.py)
    priority: str = "normal"
    #: sorts the queued jobs in queue order (services/queue_order.py); None once never queued
    queue_rank: float | None = None
    #: whose job it is: the account name (``Principal.owner``); None for the studio's own
    owner: str | None = None
    #: the API key it was submitted with (whose budget and limits it counts against); None
    #: when it was not sent with a key
    key_id: str | None = None
    last_seq: int = 0

    @property
    def provider(self) -> str:
        return self.request["provider"]

    def to_json(self) -> dict[str, Any]:
        """Every field, as ``dataclasses.asdict`` gives them but without its deep copy (a
        third of a job's time in the studio went to it): the containers are copied one
        level down, which is all that may change on a live record (lists are appended to,
        values replaced); what is in them is never changed in place."""
        return {name: _copy(getattr(self, name)) for name in _FIELD_NAMES}

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


_FIELD_NAMES = tuple(f.name for f in fields(JobRecord))


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


class JobStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def save(self, job: JobRecord) -> None:
        data = job.to_json()
        data.pop("last_seq")
        self.db.execute(
            "INSERT INTO jobs (id, created_at, status, provider, session, data, last_seq, owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET status=excluded.status, data=excluded.data,"
            " last_seq=MAX(jobs.last_seq, excluded.last_seq)",
            (job.id, job.created_at, job.status, job.provider, job.session, json.dumps(data), job.last_seq, job.owner),
        )

    def set_last_seq(self, job_id: str, seq: int) -> None:
        self.db.execute("UPDATE jobs SET last_seq=? WHERE id=? AND last_seq<?", (seq, job_id, seq))

    @staticmethod
    def _load(row: Any) -> JobRecord:
        data = json.loads(row["data"])
        data["last_seq"] = row["last_seq"]
        return JobRecord(**data)

    def get(self, job_id: str) -> JobRecord | None:
        rows = self.db.query("SELECT data, last_seq FROM jobs WHERE id=?", (job_id,))
        return self._load(rows[0]) if rows else None

    def with_status(self, status: str) -> list[JobRecord]:
        rows = self.db.query("SELECT data, last_seq FROM jobs WHERE status=? ORDER BY created_at, id", (status,))
        return [self._load(r) for r in rows]

    def queued_in_order(self) -> list[JobRecord]:
        """The queued jobs in queue order: by rank, then first come (jobs queued before
        ranks existed have none and come first, oldest first)."""
        jobs = self.with_status("queued")
        return sorted(jobs, key=lambda j: (j.queue_rank is not None, j.queue_rank or 0.0, j.created_at, j.id))

    def queue_paused(self) -> bool:
        rows = self.db.query("SELECT value FROM queue_state WHERE key='paused'")
        return bool(rows) and rows[0]["value"] == "1"

    def set_queue_paused(self, paused: bool) -> None:
        self.db.execute(
            "INSERT INTO queue_state (key, value) VALUES ('paused', ?)"
            " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            ("1" if paused else "0",),
        )

    def page(
        self,
        limit: int,
        before: tuple[str, str] | None = None,
        session: str | None = None,
        owner: str | None = None,
    ) -> list[JobRecord]:
        """Newest first; ``before`` is the (created_at, id) of the last job already seen;
        ``owner``: only that account's jobs (None: everyone's)."""
        where: list[str] = []
        params: list[Any] = []
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if before:
            where.append("(created_at, id) < (?, ?)")
            params += list(before)
        if session:
            where.append("session = ?")
            params.append(session)
        sql = "SELECT data, last_seq FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        return [self._load(r) for r in self.db.query(sql, [*params, limit])]
