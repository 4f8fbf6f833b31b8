"""Gallery file names and atomic writes.

Names begin with a UTC timestamp (so they sort in time order), carry the provider, a
short slug of the prompt and the seed, and never exceed 120 bytes of UTF-8. The slug keeps
the letters and digits of every script (``日本の山``, ``café``, ``नमस्ते``), lower-cased and
NFC, joined by ``-``; nothing else in a prompt reaches the path, so a name holds none of
the characters Windows, macOS or Linux reserve, never ends in a dot or a space, and is
never a reserved Windows device name. Files are written to a hidden
temporary name in the same folder, flushed to disk, then linked into place, so the
folder never holds a partial image and an existing file is never overwritten.

Reading is the other way round: anyone may put anything in the gallery folder. The scan,
the watcher, serving, thumbnails and the export all list and open files through
``walk_regular_files`` and ``open_regular`` / ``read_regular``: only regular files inside
the gallery, checked on the opened descriptor, with a size cap.
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

MAX_NAME_BYTES = 120
PROMPT_SLUG_BYTES = 60  # 60 ASCII letters or 20 CJK characters of the prompt
TEMP_PREFIX = ".atelier-tmp-"
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
#: Windows device names: reserved in any folder, with any extension (``con.png``)
_RESERVED_NAMES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"{kind}{n}" for kind in ("com", "lpt") for n in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³")]
)


#: Unicode's default-ignorable code points that are letters or marks (DerivedCoreProperties;
#: the rest are format or unassigned, never kept): invisible, so two names would look the
#: same. The fillers (Hangul) read as blanks: they separate words; the joiner and the
#: variation selectors only change a glyph: dropped
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_INVISIBLE_MARKS = frozenset(
    [chr(c) for c in (0x034F, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F)]
    + [chr(c) for c in range(0xFE00, 0xFE10)]
    + [chr(c) for c in range(0xE0100, 0xE01F0)]
)


def _cut(slug: str, max_bytes: int) -> str:
    """``slug`` in at most ``max_bytes`` of UTF-8: never inside a UTF-8 sequence nor between a
    letter and its combining marks, and at a word's end when there is more than one word."""
    if len(slug.encode("utf-8")) <= max_bytes:
        return slug
    cut = slug.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    while cut and unicodedata.category(slug[len(cut)])[0] == "M":  # a mark of the last letter was cut off
        cut = cut[:-1]
    if slug[len(cut)] != "-" and "-" in cut:
        cut = cut.rsplit("-", 1)[0]
    return cut


def slugify(text: str, max_bytes: int = 40) -> str:
    """A short slug of ``text``: its letters and digits, of any script, lower-cased and NFC,
    words joined by ``-``, at most ``max_bytes`` of UTF-8; ``untitled`` when it has none."""
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text[: max_bytes * 8]).lower())
    words: list[str] = []
    word: list[str] = []
    size = 0
    for ch in text + " ":
        if ch in _INVISIBLE_MARKS:
            continue
        kind = "Z" if ch in _INVISIBLE_LETTERS else unicodedata.category(ch)[0]
        if kind in "LN" or (kind == "M" and word):  # a mark only with the letter it belongs to
            word.append(ch)
            continue
        if word:
            words.append("".join(word))
            size += len(words[-1].encode("utf-8")) + 1
            word = []
            if size > max_bytes:
                break
    slug = _cut("-".join(words), max_bytes).strip("-") or "untitled"
    return slug + "_" if slug in _RESERVED_NAMES else slug


def gallery_filename(
    when: datetime, provider: str, prompt: str, seed: int | None, extension: str, suffix: int = 0
) -> str:
    """e.g. ``20261121-143205-042_offline_serene-mountain-lake_1234.png``."""
    utc = when.astimezone(UTC)
    stamp = utc.strftime("%Y%m%d-%H%M%S-") + f"{utc.microsecond // 1000:03d}"
    tail = ("" if seed is None else f"_{seed}") + (f"-{suffix}" if suffix else "") + extension
    head = f"{stamp}_{slugify(provider, 20)}_"
    room = MAX_NAME_BYTES - len(head.encode("utf-8")) - len(tail.encode("utf-8"))
    return head + slugify(prompt, max(8, min(PROMPT_SLUG_BYTES, room))) + tail


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


def remove_temp_files(root: Path, older_than: float | None = None) -> int:
    """Delete leftovers of writes interrupted by a crash; returns how many. ``older_than``
    (a time.time()): only those last written before it, so that a write started since (a job
    running while the index builds in the background) is left alone."""
    removed = 0
    if not root.is_dir():
        return 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(TEMP_PREFIX):
                try:
                    if older_than is not None and os.lstat(os.path.join(dirpath, name)).st_mtime >= older_than:
                        continue
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                except OSError:
                    pass
    return removed


# --- reading what is in the gallery: only regular files inside it ----------------------

#: far above any image a model or a camera makes; a read never holds more than this
MAX_FILE_BYTES = 256 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class RefusedFile(OSError):
    """Not a regular file inside the gallery (a FIFO, device, socket, folder, or a link to
    outside): never read. ``reason`` says which, without the path."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EPERM, reason)
        self.reason = reason


class FileTooLarge(OSError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"the file is over {limit // (1024 * 1024)} MB")
        self.size = size


def valid_relpath(relpath: str) -> bool:
    """A path relative to the gallery: no hidden, empty, ``.`` or ``..`` part, no NUL or
    backslash, and valid UTF-8 (so it can be indexed, logged and sent as JSON)."""
    if not relpath or "\x00" in relpath or "\\" in relpath or relpath.startswith("/"):
        return False
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from the file system (surrogate escapes)
        return False
    return not any(p in ("", ".", "..") or p.startswith(".") for p in relpath.split("/"))


def _inside(real_root: str, real: str) -> str | None:
    """``real`` (an absolute, resolved path) relative to ``real_root`` when it lies inside it, else None."""
    prefix = real_root if real_root.endswith(os.sep) else real_root + os.sep
    return real[len(prefix) :] if real.startswith(prefix) and len(real) > len(prefix) else None


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether ``path``, links followed, is ``root`` or lies inside it."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or _inside(real_root, real) is not None


def _open_fd(
    path: str | os.PathLike[str], within: str | os.PathLike[str], hidden_ok: bool
) -> tuple[int, os.stat_result]:
    """A descriptor open for reading on a regular file inside ``within``, and its stat."""
    real_root = os.path.realpath(within)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket
                raise RefusedFile("not a regular file") from None
            raise
        # the file is a link: follow it once, by name, then open what it leads to, itself no link
        real = os.path.realpath(path)
        if _inside(real_root, real) is None:
            raise RefusedFile("outside the gallery") from None
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except OSError as again:
            if again.errno in (errno.ELOOP, errno.ENXIO, errno.EOPNOTSUPP):
                raise RefusedFile("not a regular file") from None
            raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RefusedFile("not a regular file")
        # where the descriptor really is, links in the folders above included: the kernel's
        # answer on Linux (one call), else the path resolved by name
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}").removesuffix(" (deleted)")
        except OSError:
            opened = os.path.realpath(path)
        rel = _inside(real_root, opened)
        if rel is None:
            raise RefusedFile("outside the gallery")
        if not hidden_ok and any(p.startswith(".") for p in rel.split(os.sep)):
            raise RefusedFile("in a hidden folder")
        return fd, st
    except BaseException:
        os.close(fd)
        raise


def open_regular(path: str | os.PathLike[str], within: str | os.PathLike[str], hidden_ok: bool = False):
    """Open ``path`` for reading when it is, once links are followed, a regular file inside
    ``within`` (not in a hidden folder unless ``hidden_ok``). Returns (binary file, its
    stat). The type and the place are checked on the opened descriptor, never on the name
    alone, so a file swapped for a FIFO, a device or a link between a check and the open is
    still refused; O_NONBLOCK keeps the open of a FIFO from waiting for a writer.

    Raises RefusedFile, FileNotFoundError, PermissionError (or another OSError)."""
    fd, st = _open_fd(path, within, hidden_ok)
    return os.fdopen(fd, "rb"), st


def read_regular(
    path: str | os.PathLike[str], within: str | os.PathLike[str], limit: int = MAX_FILE_BYTES, hidden_ok: bool = False
) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file inside ``within`` (see ``open_regular``), at most
    ``limit`` of them: FileTooLarge when there are more, even if it grew after the stat."""
    fd, st = _open_fd(path, within, hidden_ok)
    try:
        if st.st_size > limit:
            raise FileTooLarge(st.st_size, limit)
        chunks, total = [], 0
        want = max(st.st_size + 1, 65536)  # one read, for a file that did not grow since the fstat
        while chunk := os.read(fd, want):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FileTooLarge(total, limit)
            want = 1 << 20
    finally:
        os.close(fd)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0], st


def regular_file_stat(root: Path, relpath: str) -> os.stat_result | None:
    """The stat of the regular file at ``relpath`` (links followed) when it lies inside the
    gallery outside its hidden folders; else None. What a listing may index."""
    if not valid_relpath(relpath):
        return None
    path = os.path.join(root, relpath)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        if os.path.islink(path) or relpath.count("/"):  # a link, or a folder above may be one
            rel = _inside(os.path.realpath(root), os.path.realpath(path))
            if rel is None or any(p.startswith(".") for p in rel.split(os.sep)):
                return None
    except (OSError, ValueError):
        return None
    return st


def walk_regular_files(
    root: Path, suffixes: set[str], skipped: Callable[[str, str], None], start: str = ""
) -> Iterator[tuple[str, os.stat_result]]:
    """(path relative to ``root``, stat) of every regular file with one of ``suffixes``
    inside the gallery (or its folder ``start``). Hidden entries are passed over; folders
    that are links are not entered; every other entry that is not taken goes to
    ``skipped(safe name, reason)``, the name as the repr of its bytes when it is not valid
    UTF-8. Never raises."""
    real_root = os.path.realpath(root)
    stack = [start]
    while stack:
        prefix = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(root, prefix) if prefix else root))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel = f"{prefix}/{name}" if prefix else name
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                skipped(repr(os.fsencode(rel)), "its name is not valid UTF-8")
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(rel)
                    continue
                if os.path.splitext(name)[1].lower() not in suffixes:
                    continue
                if entry.is_symlink():
                    target = _inside(real_root, os.path.realpath(entry.path))
                    if target is None or any(p.startswith(".") for p in target.split(os.sep)):
                        skipped(repr(rel), "it is a link to outside the gallery")
                        continue
                    st = os.stat(entry.path)
                else:
                    st = entry.stat(follow_symlinks=False)
            except (OSError, ValueError):
                continue  # vanished, a link loop: nothing to index
            if not stat.S_ISREG(st.st_mode):
                skipped(repr(rel), "it is not a regular file")
                continue
            yield rel, st


def walk_scope(
    root: Path, scope: str, suffixes: set[str], skipped: Callable[[str, str], None]
) -> Iterator[tuple[str, os.stat_result]]:
    """What ``walk_regular_files`` yields at or under ``scope`` (a path relative to ``root``:
    a file, a folder, or ``""`` for everything), and nothing for a path the walk never
    reaches (hidden, below a link to a folder, gone). For a file event: never lists the
    folder around the file."""
    if scope == "":
        yield from walk_regular_files(root, suffixes, skipped)
        return
    parts = scope.split("/")
    for i, part in enumerate(parts):
        try:
            part.encode("utf-8")
        except UnicodeEncodeError:  # as the walk reports it, unless it is hidden
            if not any(p.startswith(".") for p in parts[: i + 1]):
                skipped(repr(os.fsencode("/".join(parts[: i + 1]))), "its name is not valid UTF-8")
            return
    if not valid_relpath(scope):
        return
    path = str(root)
    for part in parts[:-1]:  # the walk enters no link: every folder above must be a real one
        path = os.path.join(path, part)
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return
        except (OSError, ValueError):
            return
    full = os.path.join(root, scope)
    try:
        st = os.lstat(full)
    except (OSError, ValueError):
        return
    if stat.S_ISDIR(st.st_mode):
        yield from walk_regular_files(root, suffixes, skipped, start=scope)
        return
    if os.path.splitext(parts[-1])[1].lower() not in suffixes:
        return
    try:
        if stat.S_ISLNK(st.st_mode):
            target = _inside(os.path.realpath(root), os.path.realpath(full))
            if target is None or any(p.startswith(".") for p in target.split(os.sep)):
                skipped(repr(scope), "it is a link to outside the gallery")
                return
            st = os.stat(full)
    except (OSError, ValueError):
        return
    if not stat.S_ISREG(st.st_mode):
        skipped(repr(scope), "it is not a regular file")
        return
    yield scope, st
