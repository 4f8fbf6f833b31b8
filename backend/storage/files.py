"""Gallery file names and atomic writes.

Names begin with a UTC timestamp (so they sort in time order), carry the provider, a
short ASCII slug of the prompt and the seed, and never exceed 120 bytes. Nothing in a
prompt can reach the path: the slug keeps only [a-z0-9-]. Files are written to a hidden
temporary name in the same folder, flushed to disk, then linked into place, so the
folder never holds a partial image and an existing file is never overwritten.
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from datetime import UTC, datetime
from pathlib import Path

MAX_NAME_BYTES = 120
TEMP_PREFIX = ".atelier-tmp-"
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
_SAFE_ID = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_len: int = 40) -> str:
    """A short, lowercase ASCII slug: accents folded, everything else dropped."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _SAFE_ID.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rsplit("-", 1)[0] or slug[:max_len]
    return slug.strip("-") or "untitled"


def gallery_filename(
    when: datetime, provider: str, prompt: str, seed: int | None, extension: str, suffix: int = 0
) -> str:
    """e.g. ``20261121-143205-042_offline_serene-mountain-lake_1234.png``."""
    utc = when.astimezone(UTC)
    stamp = utc.strftime("%Y%m%d-%H%M%S-") + f"{utc.microsecond // 1000:03d}"
    tail = ("" if seed is None else f"_{seed}") + (f"-{suffix}" if suffix else "") + extension
    head = f"{stamp}_{slugify(provider, 20)}_"
    room = MAX_NAME_BYTES - len(head) - len(tail)
    return head + slugify(prompt, max(8, min(40, room))) + tail


def day_folder(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_new_file(folder: Path, make_name, data: bytes) -> Path:
    """Atomically write ``data`` under the first free name ``make_name(n)`` gives.

    ``make_name(0)``, ``make_name(1)``... are tried until one does not exist. On any
    error (disk full, read-only folder) no file is left behind and the error is raised.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        for attempt in range(1000):
            target = folder / make_name(attempt)
            try:
                os.link(tmp, target)  # fails if target exists: never overwrite
            except FileExistsError:
                continue
            _fsync_dir(folder)
            return target
        raise FileExistsError(f"no free file name in {folder}")
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def remove_temp_files(root: Path) -> int:
    """Delete leftovers of writes interrupted by a crash; returns how many."""
    removed = 0
    if not root.is_dir():
        return 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(TEMP_PREFIX):
                try:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                except OSError:
                    pass
    return removed
