"""Boards, kept beside the files so they survive a rebuild of the index.

A small JSON file in the gallery's ``.atelier/`` folder (next to the favourites) holds
every board: its name, owner, visibility, cover and member images, each image by its
path in the gallery (as favourites are), so a rebuilt index finds them all again. It is
rewritten atomically (temporary file, fsync, rename), and several web instances on one
host share it: each change re-reads it under a lock held across processes, and a read
notices when another instance rewrote it.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from backend.storage.files import read_regular
from backend.storage.shared_json import Signature, file_signature, locked_across_processes, write_json_atomically

log = logging.getLogger(__name__)
MAX_BOARDS_BYTES = 64 * 1024 * 1024
Visibility = Literal["private", "shared"]
T = TypeVar("T")


@dataclass
class BoardRecord:
    id: str
    name: str
    visibility: Visibility
    #: the account that made it; None: the studio's (made without accounts)
    owner: str | None
    created_at: str
    #: the cover image's path; None: none chosen
    cover: str | None = None
    #: the member images' paths in the gallery, in the order they were added
    paths: list[str] = field(default_factory=list)


def _record(data: Any) -> BoardRecord | None:
    """A board from the file, or None for an entry that is not one (the file is hand-editable)."""
    if not isinstance(data, dict):
        return None
    try:
        paths = data.get("paths") or []
        cover = data.get("cover")
        owner = data.get("owner")
        board = BoardRecord(
            id=str(data["id"]),
            name=str(data["name"]),
            visibility="shared" if data.get("visibility") == "shared" else "private",
            owner=owner if isinstance(owner, str) else None,
            created_at=str(data.get("created_at") or ""),
            cover=cover if isinstance(cover, str) else None,
            paths=list(dict.fromkeys(p for p in paths if isinstance(p, str))) if isinstance(paths, list) else [],
        )
    except (KeyError, TypeError):
        return None
    return board


class BoardStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._boards: dict[str, BoardRecord] = {}
        self._shared: frozenset[str] | None = None  # the shared boards' paths, worked out once per change
        self._seen: Signature | None | bool = False  # the file as last read (False: never)
        self._refresh()

    def _signature(self) -> Signature | None:
        return file_signature(self.path)

    def _refresh(self) -> None:
        signature = self._signature()
        if signature != self._seen:
            self._boards, self._seen = self._load(), signature
            self._shared = None

    def _across_processes(self) -> AbstractContextManager[None]:
        return locked_across_processes(self.path)

    def _load(self) -> dict[str, BoardRecord]:
        try:
            raw, _ = read_regular(self.path, self.path.parent.parent, MAX_BOARDS_BYTES, hidden_ok=True)
            data = json.loads(raw)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("boards file %s unreadable (%s); starting with none", self.path, exc)
            return {}
        entries = data.get("boards") if isinstance(data, dict) else None
        boards = [_record(e) for e in entries] if isinstance(entries, list) else []
        return {b.id: b for b in boards if b is not None}

    # --- reads: copies, so a caller never changes the held boards ------------------------
    def all(self) -> list[BoardRecord]:
        with self._lock:
            self._refresh()
            return [copy.deepcopy(b) for b in self._boards.values()]

    def get(self, board_id: str) -> BoardRecord | None:
        with self._lock:
            self._refresh()
            board = self._boards.get(board_id)
            return copy.deepcopy(board) if board else None

    def shared_paths(self) -> frozenset[str]:
        """The paths of every image in a shared board (asked on every gallery event: cached)."""
        with self._lock:
            self._refresh()
            if self._shared is None:
                self._shared = frozenset(p for b in self._boards.values() if b.visibility == "shared" for p in b.paths)
            return self._shared

    # --- writes ----------------------------------------------------------------------------
    def change(self, fn: Callable[[dict[str, BoardRecord]], T]) -> T:
        """Run ``fn`` on the boards as the file holds them now and save what it changed:
        the one way to change boards, atomic across threads and processes."""
        with self._lock, self._across_processes():
            self._boards, self._seen = self._load(), self._signature()
            self._shared = None
            before = json.dumps(self._dump(), sort_keys=True)
            result = fn(self._boards)
            if json.dumps(self._dump(), sort_keys=True) != before:
                self._save()
                self._seen = self._signature()
            return copy.deepcopy(result)

    def _dump(self) -> dict[str, Any]:
        return {"version": 1, "boards": [asdict(b) for b in self._boards.values()]}

    def _save(self) -> None:
        write_json_atomically(self.path, self._dump())
