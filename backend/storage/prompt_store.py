"""Prompt history in SQLite: one row per distinct prompt (per owner), kept as jobs are
submitted, with how often and when last it was used and the settings it was last used
with. Its own small table, so listing and searching stay fast however many jobs there are.

``owner`` is "" for the whole studio until accounts exist; then it is the user's id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.storage.db import Database

MIGRATIONS = [
    """
    CREATE TABLE prompts (
        id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL DEFAULT '',
        prompt TEXT NOT NULL,
        uses INTEGER NOT NULL DEFAULT 1,
        first_used TEXT NOT NULL,
        last_used TEXT NOT NULL,
        settings TEXT NOT NULL
    );
    CREATE UNIQUE INDEX prompts_text ON prompts (owner, prompt);
    CREATE INDEX prompts_recent ON prompts (owner, last_used DESC, id DESC)
    """
]

#: words of one search, and characters of one word
MAX_WORDS, MAX_WORD_CHARS = 10, 100


@dataclass(frozen=True)
class PromptEntry:
    id: int
    prompt: str
    uses: int
    first_used: str
    last_used: str
    settings: dict[str, Any]


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class PromptStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def record(self, prompt: str, settings: dict[str, Any], at: str, owner: str = "") -> None:
        """One more use of ``prompt`` at ``at`` (ISO time) with ``settings``."""
        self.db.execute(
            "INSERT INTO prompts (owner, prompt, uses, first_used, last_used, settings) VALUES (?, ?, 1, ?, ?, ?)"
            " ON CONFLICT(owner, prompt) DO UPDATE SET uses = uses + 1,"
            " last_used = MAX(last_used, excluded.last_used), settings = excluded.settings",
            (owner, prompt, at, at, json.dumps(settings)),
        )

    def page(
        self, limit: int, query: str = "", before: tuple[str, int] | None = None, owner: str = ""
    ) -> list[PromptEntry]:
        """Most recently used first; ``query``: every word appears in the prompt (any case);
        ``before``: the (last_used, id) of the last entry already seen."""
        where, params = ["owner = ?"], [owner]
        for word in query.split()[:MAX_WORDS]:
            where.append("prompt LIKE ? ESCAPE '\\'")
            params.append(_like(word[:MAX_WORD_CHARS]))
        if before:
            where.append("(last_used, id) < (?, ?)")
            params += list(before)
        sql = (
            "SELECT id, prompt, uses, first_used, last_used, settings FROM prompts WHERE "
            + " AND ".join(where)
            + " ORDER BY last_used DESC, id DESC LIMIT ?"
        )
        rows = self.db.query(sql, [*params, limit])
        return [
            PromptEntry(r["id"], r["prompt"], r["uses"], r["first_used"], r["last_used"], json.loads(r["settings"]))
            for r in rows
        ]

    def delete(self, entry_id: int, owner: str = "") -> bool:
        """Whether there was such an entry."""
        with self.db.exclusive():
            found = self.db.query("SELECT 1 FROM prompts WHERE id = ? AND owner = ?", (entry_id, owner))
            if found:
                self.db.execute("DELETE FROM prompts WHERE id = ? AND owner = ?", (entry_id, owner))
        return bool(found)
