"""A small JSON file beside the gallery that several web instances on one host share
(favourites, boards): who changed it is noticed by its signature, changes are made under a
lock held across processes, and it is rewritten atomically (temporary file, fsync, rename):
a crash leaves the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if os.name == "posix":
    import fcntl

Signature = tuple[int, int, int]


def file_signature(path: Path) -> Signature | None:
    """Changes whenever the file is replaced (every save makes a new inode); None: no file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


@contextmanager
def locked_across_processes(path: Path) -> Iterator[None]:
    """Hold the file's lock (a ``.<name>.lock`` beside it) until the block ends."""
    if os.name != "posix":  # no lock across processes: one web instance per gallery
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # released when the file closes


def write_json_atomically(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
