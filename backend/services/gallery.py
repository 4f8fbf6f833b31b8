"""The gallery: image files in dated folders, their embedded metadata, and the index.

``save`` validates what a provider returned, embeds the metadata, and writes the file
atomically; ``reconcile`` brings the index in line with the folder (files added or
deleted by hand). Both do disk I/O and run off the event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from backend import __version__
from backend.providers.base import GeneratedImage, GenerationRequest
from backend.storage.files import (
    EXTENSIONS,
    TEMP_PREFIX,
    day_folder,
    gallery_filename,
    remove_temp_files,
    write_new_file,
)
from backend.storage.gallery_index import GalleryIndex, ImageRow
from backend.storage.metadata import embed_metadata, format_infotext, parse_infotext, read_embedded

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
MAX_IMAGE_PIXELS = 64_000_000  # far above any model's output; stops decompression bombs
_NAME_TIME = re.compile(r"^(\d{8}-\d{6}-\d{3})_")


class ImageRejected(Exception):
    """Bytes from a provider that are not a usable image."""


class GalleryUnavailable(Exception):
    """The gallery folder cannot be created or written."""


class InvalidCursor(ValueError):
    pass


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def image_id_for(relpath: str) -> str:
    """Stable id of the file at ``relpath``: the same after the index is rebuilt."""
    return hashlib.blake2b(relpath.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


def inspect_image(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of fully decodable PNG, JPEG or WebP bytes."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, (w, h) = im.format, im.size
            if fmt not in EXTENSIONS:
                raise ImageRejected(f"the provider returned {fmt or 'unknown'} data, not PNG, JPEG or WebP")
            if w * h > MAX_IMAGE_PIXELS:
                raise ImageRejected(f"the provider returned an image of {w}x{h} pixels, over the limit")
            im.load()  # a truncated or corrupt file fails here, not later in someone's viewer
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected("the provider returned an image too large to open safely") from exc
    except Exception as exc:
        reason = exc.__class__.__name__
        raise ImageRejected(f"the provider returned data that is not a readable image ({reason})") from exc
    return fmt, w, h


@dataclass(frozen=True)
class SaveContext:
    job_id: str
    session: str | None
    queued_at: str
    started_at: str | None


class Gallery:
    def __init__(self, root: Path, index: GalleryIndex) -> None:
        self.root = root
        self.index = index

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

    def reconcile(self) -> tuple[list[ImageRow], list[str]]:
        """Index new and changed files, forget vanished ones. Returns (added or changed, removed)."""
        remove_temp_files(self.root)
        known = self.index.fingerprints()
        seen: set[str] = set()
        changed: list[ImageRow] = []
        for path in self._walk():
            rel = path.relative_to(self.root).as_posix()
            try:
                st = path.stat()
            except OSError:
                continue
            seen.add(rel)
            if known.get(rel) != (st.st_size, st.st_mtime_ns):
                changed.append(self.read_file(path, rel, st))
        removed = [p for p in known if p not in seen]
        if changed:
            self.index.upsert(changed)
        if removed:
            self.index.delete_paths(removed)
        return changed, removed

    def _walk(self):
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                    yield Path(dirpath) / name

    def read_file(self, path: Path, rel: str, st: os.stat_result) -> ImageRow:
        """An index row from the file alone: its embedded metadata, else its name and time."""
        row = ImageRow(
            id=image_id_for(rel),
            path=rel,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            created_at=_time_from_name(path.name)
            or datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            readable=False,
        )
        try:
            with Image.open(path) as im:
                row.format, (row.width, row.height) = im.format, im.size
                infotext, atelier = read_embedded(im)
            row.readable = True
        except Exception:
            return row
        if atelier:
            request = atelier.get("request", {})
            row.created_at = atelier.get("created_at", row.created_at)
            row.prompt = request.get("prompt", "")
            row.negative_prompt = request.get("negative_prompt", "")
            for key in ("style", "aspect_ratio", "provider", "model"):
                setattr(row, key, request.get(key))
            row.provider = atelier.get("provider", row.provider)
            row.model = atelier.get("model", row.model)
            row.seed = atelier.get("seed")
            row.job_id = atelier.get("job_id")
            row.session = atelier.get("session")
            row.metadata = atelier
        elif infotext:
            parsed = parse_infotext(infotext)
            row.prompt, row.negative_prompt = parsed["prompt"], parsed["negative_prompt"]
            params = parsed["params"]
            row.model = params.get("Model")
            seed = params.get("Seed")
            row.seed = int(seed) if isinstance(seed, str) and seed.isdigit() else None
            row.metadata = {"source": "a1111", "parameters": params}
        return row

    # --- save ------------------------------------------------------------------------
    def write_image(self, request: GenerationRequest, image: GeneratedImage, ctx: SaveContext) -> ImageRow:
        """Validate, embed metadata and write atomically. Blocking disk and CPU work, and no
        database access, so it can run in a worker thread; ``add`` indexes the result."""
        fmt, width, height = inspect_image(image.data)
        now = datetime.now(UTC)
        created_at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
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
        }
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
                "Version": f"Atelier {__version__}",
            },
        )
        data = embed_metadata(image.data, fmt, infotext, atelier)
        folder = self.root / day_folder(now)
        extension = EXTENSIONS[fmt]
        path = write_new_file(
            folder,
            lambda n: gallery_filename(now, request.provider, request.prompt, seed, extension, n),
            data,
        )
        rel = path.relative_to(self.root).as_posix()
        st = path.stat()
        row = ImageRow(
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
        )
        return row

    def add(self, row: ImageRow) -> None:
        self.index.upsert([row])

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

    def page(self, limit: int, cursor: str | None) -> tuple[list[ImageRow], str | None]:
        before = decode_cursor(cursor) if cursor else None
        rows = self.index.page(limit + 1, before)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)

    def get(self, image_id: str) -> ImageRow | None:
        return self.index.get(image_id)


def image_json(row: ImageRow) -> dict[str, Any]:
    """The public form of an image (REST and events)."""
    return {
        "id": row.id,
        "path": row.path,
        "url": "/images/" + urllib.parse.quote(row.path),
        "width": row.width,
        "height": row.height,
        "format": row.format,
        "bytes": row.size,
        "readable": row.readable,
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
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("cursor is not one this server issued") from exc
    if not (isinstance(values, list) and len(values) == 2 and all(isinstance(v, str) for v in values)):
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
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
