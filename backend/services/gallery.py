"""The gallery: image files in dated folders, their embedded metadata, and the index.

``write_image`` validates what a provider returned, embeds the metadata, and writes the
file atomically; ``scan`` finds what changed in the folder (files added, replaced or
deleted by hand) and ``apply`` brings the index in line. Methods that touch the disk but
not the database (``scan``, ``write_image``, ``read_file``, ``import_file``) may run in a
worker thread; everything touching the index runs on the event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import os
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from backend import __version__, shapes
from backend.providers.base import GeneratedImage, GenerationRequest
from backend.storage.favorites import FavoriteStore
from backend.storage.files import (
    EXTENSIONS,
    TEMP_PREFIX,
    day_folder,
    gallery_filename,
    remove_temp_files,
    slugify,
    write_new_file,
)
from backend.storage.gallery_index import GalleryIndex, ImageQuery, ImageRow
from backend.storage.image_params import extract_parameters, read_file_metadata
from backend.storage.metadata import embed_metadata, format_infotext
from backend.storage.trash import TrashBin, TrashEntry

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
MAX_IMAGE_PIXELS = 64_000_000  # far above any model's output; stops decompression bombs
FAVORITES_FILE = ".atelier/favorites.json"
_NAME_TIME = re.compile(r"^(\d{8}-\d{6}-\d{3})_")


class ImageRejected(Exception):
    """Bytes from a provider that are not a usable image."""


class GalleryUnavailable(Exception):
    """The gallery folder cannot be created or written."""


class InvalidCursor(ValueError):
    pass


class NotInTrash(Exception):
    pass


def utc_now_iso() -> str:
    return _iso(datetime.now(UTC))


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def image_id_for(relpath: str) -> str:
    """Stable id of the file at ``relpath``: the same after the index is rebuilt."""
    return hashlib.blake2b(relpath.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def inspect_image(data: bytes, who: str = "the provider returned") -> tuple[str, int, int]:
    """(format, width, height) of fully decodable PNG, JPEG or WebP bytes."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, (w, h) = im.format, im.size
            if fmt not in EXTENSIONS:
                raise ImageRejected(f"{who} {fmt or 'unknown'} data, not PNG, JPEG or WebP")
            if w * h > MAX_IMAGE_PIXELS:
                raise ImageRejected(f"{who} an image of {w}x{h} pixels, over the limit")
            im.load()  # a truncated or corrupt file fails here, not later in someone's viewer
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"{who} an image too large to open safely") from exc
    except Exception as exc:
        reason = exc.__class__.__name__
        raise ImageRejected(f"{who} data that is not a readable image ({reason})") from exc
    return fmt, w, h


@dataclass(frozen=True)
class SaveContext:
    job_id: str
    session: str | None
    queued_at: str
    started_at: str | None


@dataclass
class ScanResult:
    """What changed in the folder since the fingerprints the scan started from."""

    changed: list[ImageRow] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    known_before: dict[str, tuple[int, int]] = field(default_factory=dict)


class Gallery:
    def __init__(self, root: Path, index: GalleryIndex) -> None:
        self.root = root
        self.index = index
        self.favorites = FavoriteStore(root / FAVORITES_FILE)
        self.trash = TrashBin(root)
        self._lock = threading.Lock()
        self._known: dict[str, tuple[int, int]] | None = None  # path -> (size, mtime_ns) as indexed
        self._writing: set[str] = set()  # paths being written by write_image: the scan leaves them alone

    # --- start -----------------------------------------------------------------------
    @staticmethod
    def prepare_folder(root: Path) -> None:
        """Create the folder if missing; raise GalleryUnavailable if it cannot be written."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f"{TEMP_PREFIX}probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise GalleryUnavailable(f"the gallery folder {root} cannot be written: {exc.strerror or exc}") from exc

    def known(self) -> dict[str, tuple[int, int]]:
        """A copy of the fingerprints of every indexed file (loaded from the index once)."""
        with self._lock:
            if self._known is None:
                self._known = self.index.fingerprints()
            return dict(self._known)

    def _remember(self, rows: list[ImageRow] = (), forget: list[str] = ()) -> None:  # type: ignore[assignment]
        with self._lock:
            if self._known is None:
                return
            for row in rows:
                self._known[row.path] = (row.size, row.mtime_ns)
            for path in forget:
                self._known.pop(path, None)

    def forget_everything(self) -> None:
        """After the index was lost: every file counts as new at the next scan."""
        with self._lock:
            self._known = {}

    def reconcile(self) -> tuple[list[ImageRow], list[str]]:
        """Index new and changed files, forget vanished ones. Returns (added or changed, removed)."""
        remove_temp_files(self.root)
        result = self.scan(self.known())
        return self.apply(result)

    def scan(self, known: dict[str, tuple[int, int]]) -> ScanResult:
        """Walk the folder: read files that are new or changed. Disk only, no database."""
        result = ScanResult(known_before=known)
        seen: set[str] = set()
        writing = set(self._writing)
        for rel, st in self._walk():
            seen.add(rel)
            if rel in writing:
                continue
            if known.get(rel) != (st.st_size, st.st_mtime_ns):
                result.changed.append(self.read_file(self.root / rel, rel, st))
        result.removed = [p for p in known if p not in seen and p not in writing]
        return result

    def apply(self, result: ScanResult, batch: int = 2000) -> tuple[list[ImageRow], list[str]]:
        """Write a scan's findings to the index, dropping any the API changed meanwhile."""
        current = self.known()
        changed = [r for r in result.changed if current.get(r.path) == result.known_before.get(r.path)]
        removed = [p for p in result.removed if p in current and not (self.root / p).exists()]
        for start in range(0, len(changed), batch):
            self.index.upsert(changed[start : start + batch])
        if removed:
            self.index.delete_paths(removed)
        self._remember(changed, removed)
        return changed, removed

    def _walk(self):
        """(relative path, stat) of every image file, hidden files and folders skipped."""
        stack = [""]
        while stack:
            prefix = stack.pop()
            try:
                entries = list(os.scandir(os.path.join(self.root, prefix) if prefix else self.root))
            except OSError:
                continue
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                rel = f"{prefix}/{name}" if prefix else name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(rel)
                    elif os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                        yield rel, entry.stat()
                except OSError:
                    continue

    def read_file(self, path: Path, rel: str, st: os.stat_result) -> ImageRow:
        """An index row from the file alone: its embedded metadata, else its name and time."""
        row = ImageRow(
            id=image_id_for(rel),
            path=rel,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            created_at=_time_from_name(path.name) or _iso(datetime.fromtimestamp(st.st_mtime, UTC)),
            readable=False,
            favorite=rel in self.favorites,
        )
        try:
            data = path.read_bytes()
        except OSError:
            return row
        row.content_hash = content_hash(data)
        try:
            with Image.open(io.BytesIO(data)) as im:
                row.format, (row.width, row.height) = im.format, im.size
                if row.format not in EXTENSIONS:
                    return row
                found = read_file_metadata(im)
            row.readable = True
        except Exception:
            return row
        if found:  # typed and bounded: a file's metadata is hostile input
            params = found.parameters
            row.created_at = found.created_at or row.created_at
            row.prompt, row.negative_prompt = params.prompt, params.negative_prompt
            row.model, row.seed = params.model, params.seed
            row.style, row.aspect_ratio, row.provider = found.style, found.aspect_ratio, found.provider
            row.job_id, row.session, row.metadata = found.job_id, found.session, found.metadata
        return row

    # --- save ------------------------------------------------------------------------
    def write_image(
        self, request: GenerationRequest, image: GeneratedImage, ctx: SaveContext, extra: dict[str, Any] | None = None
    ) -> ImageRow:
        """Validate, embed metadata and write atomically. Blocking disk and CPU work, and no
        database access, so it can run in a worker thread; ``add`` indexes the result.
        ``extra`` (a studio tool's ``source`` and settings) joins the atelier metadata, and
        its source path and operation join the infotext."""
        fmt, width, height = inspect_image(image.data)
        now = datetime.now(UTC)
        created_at = _iso(now)
        seed = image.seed
        atelier = {
            "atelier_version": __version__,
            "created_at": created_at,
            "job_id": ctx.job_id,
            "session": ctx.session,
            "index": image.index,
            "provider": request.provider,
            "model": request.model,
            "seed": seed,
            "width": width,
            "height": height,
            "request": request.to_json(),
            "timings": {"queued_at": ctx.queued_at, "started_at": ctx.started_at, "saved_at": created_at},
            "provider_metadata": image.metadata or None,
            **(extra or {}),
        }
        source = (extra or {}).get("source") or {}
        infotext = format_infotext(
            request.styled_prompt,
            request.negative_prompt,
            {
                "Steps": request.steps,
                "Seed": seed,
                "Size": f"{width}x{height}",
                "Model": request.model,
                "Style": request.style if request.style != "none" else None,
                "Aspect ratio": request.aspect_ratio,
                "Quality": request.quality,
                "Provider": request.provider,
                "Source image": source.get("path"),
                "Tool": " ".join(str(source[k]) for k in ("operation", "mode", "platform", "format") if source.get(k))
                or None,
                "Version": f"Atelier {__version__}",
            },
        )
        data = embed_metadata(image.data, fmt, infotext, atelier)
        day = day_folder(now)
        extension = EXTENSIONS[fmt]
        path = self._write_new(
            day, lambda n: gallery_filename(now, request.provider, request.prompt, seed, extension, n), data
        )
        rel = path.relative_to(self.root).as_posix()
        st = path.stat()
        return ImageRow(
            id=image_id_for(rel),
            path=rel,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            created_at=created_at,
            readable=True,
            width=width,
            height=height,
            format=fmt,
            prompt=request.prompt,
            negative_prompt=request.user_negative_prompt,
            style=request.style,
            aspect_ratio=request.aspect_ratio,
            provider=request.provider,
            model=request.model,
            seed=seed,
            job_id=ctx.job_id,
            session=ctx.session,
            metadata=atelier,
            content_hash=content_hash(data),
        )

    def _write_new(self, folder: str, make_name, data: bytes) -> Path:
        """write_new_file, with every name it tries marked as being written until ``add``
        indexes it, so the watcher does not announce a job's image a second time."""
        tried: list[str] = []

        def name(n: int) -> str:
            chosen = make_name(n)
            rel = f"{folder}/{chosen}"
            tried.append(rel)
            self._writing.add(rel)
            return chosen

        try:
            path = write_new_file(self.root / folder, name, data)
        except BaseException:
            self._writing.difference_update(tried)
            raise
        final = path.relative_to(self.root).as_posix()
        self._writing.difference_update(t for t in tried if t != final)
        return path

    def add(self, row: ImageRow) -> None:
        if row.favorite and row.path not in self.favorites:
            self.favorites.set(row.path, True)
        self.index.upsert([row])
        self._remember([row])
        self._writing.discard(row.path)

    def import_file(self, data: bytes, original_name: str) -> ImageRow:
        """Copy uploaded bytes, unchanged, into ``imported/<day>/``; validated by the caller.
        Disk only; ``add`` indexes the returned row."""
        fmt, _, _ = inspect_image(data, "the upload is")
        stem = slugify(os.path.splitext(os.path.basename(original_name or ""))[0], 60)
        extension = EXTENSIONS[fmt]
        folder = f"imported/{day_folder(datetime.now(UTC))}"
        path = self._write_new(folder, lambda n: stem + (f"-{n}" if n else "") + extension, data)
        rel = path.relative_to(self.root).as_posix()
        return self.read_file(path, rel, path.stat())

    # --- favourites and trash ----------------------------------------------------------------
    def set_favorite(self, row: ImageRow, favorite: bool) -> ImageRow:
        self.favorites.set(row.path, favorite)
        self.index.set_favorite(row.id, favorite)
        row.favorite = favorite
        return row

    def move_to_trash(self, row: ImageRow) -> TrashEntry | None:
        """Move the file into the trash and forget it; None if it was already gone."""
        try:
            entry = self.trash.move_in(row.id, row.path, row.favorite)
        except FileNotFoundError:
            entry = None
        if row.favorite:
            self.favorites.set(row.path, False)
        self.index.delete_paths([row.path])
        self._remember(forget=[row.path])
        return entry

    def restore_file(self, image_id: str) -> ImageRow:
        """Move the latest deletion of ``image_id`` back; disk only, ``add`` indexes it."""
        entry = self.trash.find(image_id)
        if entry is None:
            raise NotInTrash(image_id)
        rel = self.trash.restore(entry)
        path = self.root / rel
        row = self.read_file(path, rel, path.stat())
        row.favorite = entry.favorite
        return row

    # --- read ------------------------------------------------------------------------
    def resolve(self, relpath: str) -> Path | None:
        """The file at ``relpath`` inside the gallery, or None: never anything outside it."""
        if not relpath or "\x00" in relpath or "\\" in relpath or relpath.startswith("/"):
            return None
        parts = relpath.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        if os.path.splitext(parts[-1])[1].lower() not in IMAGE_SUFFIXES:
            return None
        root = os.path.realpath(self.root)
        real = os.path.realpath(os.path.join(root, *parts))
        if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
            return None
        return Path(real)

    def page(
        self, limit: int, cursor: str | None, query: ImageQuery | None = None
    ) -> tuple[list[ImageRow], str | None]:
        query = query or ImageQuery()
        after = decode_cursor(cursor) if cursor else None
        rows = self.index.select(query, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)

    def get(self, image_id: str) -> ImageRow | None:
        return self.index.get(image_id)

    def parameters(self, row: ImageRow) -> dict[str, Any] | None:
        """The generation parameters read from the file now (disk; run off the loop)."""
        path = self.resolve(row.path)
        if path is None:
            return None
        try:
            with Image.open(path) as im:
                params = extract_parameters(im)
        except Exception:
            return None
        return params.to_json() if params else None


def thumb_url(row: ImageRow, size: int) -> str:
    return f"/thumbs/{size}/{row.id}/{row.content_hash or '0'}.webp"


def image_json(row: ImageRow) -> shapes.Image:
    """The public form of an image (REST and events)."""
    return {
        "id": row.id,
        "path": row.path,
        "url": "/images/" + urllib.parse.quote(row.path),
        "thumb_url": thumb_url(row, 256),
        "thumb_512_url": thumb_url(row, 512),
        "width": row.width,
        "height": row.height,
        "format": row.format,
        "bytes": row.size,
        "readable": row.readable,
        "favorite": row.favorite,
        "prompt": row.prompt,
        "negative_prompt": row.negative_prompt,
        "style": row.style,
        "aspect_ratio": row.aspect_ratio,
        "provider": row.provider,
        "model": row.model,
        "seed": row.seed,
        "job_id": row.job_id,
        "session": row.session,
        "created_at": row.created_at,
    }


def encode_cursor(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidCursor("cursor is not one this server issued") from exc
    if not (isinstance(values, list) and len(values) == 2 and all(isinstance(v, str) for v in values)):
        raise InvalidCursor("cursor is not one this server issued")
    if not all(v.isprintable() and v.isascii() for v in values):  # ours are ISO times and ids
        raise InvalidCursor("cursor is not one this server issued")
    return values[0], values[1]


def _time_from_name(name: str) -> str | None:
    match = _NAME_TIME.match(name)
    if not match:
        return None
    try:
        when = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S-%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    return _iso(when)
