"""The gallery: image files in dated folders, their embedded metadata, and the index.

``write_image`` validates what a provider returned, embeds the metadata, and writes the
file atomically; ``scan`` finds what changed in the folder (files added, replaced or
deleted by hand) and ``apply`` brings the index in line. Methods that touch the disk but
not the database (``scan``, ``write_image``, ``read_file``, ``import_file``) may run in a
worker thread; everything touching the index runs on the event loop.

The gallery service owns every change: ``import_upload``, ``set_favorite``,
``move_to_trash``, ``restore`` and the watcher's ``apply`` announce what they did on the
``gallery`` feed themselves, and never twice: a path the API is changing is left out of a
scan, and a scan's findings are applied wholly before or after an API change.

The folder is hostile input: only regular files inside it are read (``storage.files``),
and one bad file never stops a scan, a reconcile or a start.
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
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from PIL import Image

from backend import __version__, shapes
from backend.providers.base import GeneratedImage, GenerationRequest, PixelImage, image_settings
from backend.services.event_types import Feed, FeedEvent, GalleryAdded, GalleryRemoved, GalleryUpdated
from backend.services.ownership import UserNames, folder_owner, no_users
from backend.storage.favorites import FavoriteStore
from backend.storage.files import (
    EXTENSIONS,
    TEMP_PREFIX,
    RefusedFile,
    day_folder,
    gallery_filename,
    inside,
    open_regular,
    read_regular,
    regular_file_stat,
    remove_temp_files,
    slugify,
    valid_relpath,
    walk_regular_files,
    walk_scope,
    write_new_file,
)
from backend.storage.gallery_index import GalleryIndex, ImageQuery, ImageRow
from backend.storage.image_params import extract_parameters, read_file_metadata
from backend.storage.infotext import format_infotext
from backend.storage.metadata import embed_metadata
from backend.storage.trash import TrashBin, TrashEntry

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
MAX_IMAGE_PIXELS = 64_000_000  # far above any model's output; stops decompression bombs
FAVORITES_FILE = ".atelier/favorites.json"
_NAME_TIME = re.compile(r"^(\d{8}-\d{6}-\d{3})_")
T = TypeVar("T")


def _no_feed(event: FeedEvent, rooms: list[str] | None = None) -> None:
    pass


def _nothing_shared() -> frozenset[str]:
    return frozenset()


#: the gallery feed's rooms with accounts on: ``gallery`` (admins: everything), each user's
#: own (``gallery@<name>``) and the images in shared boards (``gallery@shared``)
GALLERY_ALL = "gallery"
GALLERY_SHARED = "gallery@shared"


def gallery_room(owner: str) -> str:
    return f"gallery@{owner}"


def _call(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


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


def _typed(values: dict[str, Any], name: str, kind: type) -> Any:
    """``values[name]`` when it is a ``kind`` (never a bool for int), else None: a tool's
    source parameters may have come back from a worker as JSON."""
    value = values.get(name)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _cfg(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return f"{value:g}"  # 7.0 -> "7", as A1111 writes it


def build_infotext(
    request: GenerationRequest, image: GeneratedImage, width: int, height: int, extra: dict[str, Any] | None = None
) -> str:
    """The A1111 ``parameters`` of an image: what A1111's PNG Info, SD Prompt Reader,
    sd-parsers and sd-metadata read. Steps, Sampler, CFG scale and Seed are written only
    where true (a provider states its sampler and guidance: ``providers.base.settings``);
    Steps leads the settings line, as those readers find the line by it. A tool's output
    carries its source's parameters (``extra.source.parameters``) and says what the tool did."""
    source = (extra or {}).get("source") or {}
    origin = source.get("parameters") if isinstance(source.get("parameters"), dict) else None
    sampler, cfg, steps = image_settings(image.metadata)
    tool = " ".join(str(source[k]) for k in ("operation", "mode", "platform", "format") if source.get(k)) or None
    if origin is not None:  # a tool's output: its source's generation, then the tool
        prompt, negative = _typed(origin, "prompt", str) or "", _typed(origin, "negative_prompt", str) or ""
        generation = {
            "Steps": _typed(origin, "steps", int),
            "Sampler": _typed(origin, "sampler", str),
            "CFG scale": _cfg(origin.get("cfg_scale")),
            "Seed": _typed(origin, "seed", int),
            "Size": f"{width}x{height}",
            "Model": _typed(origin, "model", str),
        }
        rest = {"Tool provider": request.provider, "Tool model": request.model}
    else:
        prompt, negative = request.styled_prompt, request.negative_prompt
        generation = {
            "Steps": steps or request.steps,
            "Sampler": sampler,
            "CFG scale": _cfg(cfg),
            "Seed": image.seed,
            "Size": f"{width}x{height}",
            "Model": request.model,
        }
        rest = {
            "Style": request.style if request.style != "none" else None,
            "Aspect ratio": request.aspect_ratio,
            "Quality": request.quality,
            "Provider": request.provider,
        }
    return format_infotext(
        prompt,
        negative,
        {
            **generation,
            **rest,
            "Source image": source.get("path"),
            "Tool": tool,
            "Version": f"Atelier {__version__}",
        },
    )


@dataclass(frozen=True)
class SaveContext:
    job_id: str | None  # None: not a job's image (a matrix's grid)
    session: str | None
    queued_at: str
    started_at: str | None
    client: str | None = None
    #: whose image it is: saved below ``<owner>/`` (None: the studio's, the top-level day folders)
    owner: str | None = None


@dataclass
class ScanResult:
    """What changed in the folder since the fingerprints the scan started from."""

    changed: list[ImageRow] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    known_before: dict[str, tuple[int, int]] = field(default_factory=dict)


class Gallery:
    """The gallery service: owns every change to the gallery and announces each one on the
    ``gallery`` feed (``feed``, the bus's; set by the studio once its bus is final).
    ``run_blocking`` runs disk work where it cannot stall the sockets."""

    def __init__(
        self,
        root: Path,
        index: GalleryIndex,
        feed: Feed = _no_feed,
        run_blocking: Callable[..., Any] = _call,
    ) -> None:
        self.root = root
        self.index = index
        self.feed = feed
        self.run_blocking = run_blocking
        self.favorites = FavoriteStore(root / FAVORITES_FILE)
        #: the accounts that exist (their folders are theirs); set by the studio
        self.user_names: UserNames = no_users
        #: the paths of the images in shared boards (their events reach every user); set by the studio
        self.shared_paths: Callable[[], Collection[str]] = _nothing_shared
        self.trash = TrashBin(root)
        self._lock = threading.Lock()
        self._known: dict[str, tuple[int, int]] | None = None  # path -> (size, mtime_ns) as indexed
        # paths an API change (a job's write, a restore, a trash) is working on: the scan leaves
        # them alone, and a scan's findings about them are dropped. A plain set: it is changed
        # from worker threads too (its single operations are atomic), never under a green lock.
        self._writing: set[str] = set()
        # held while the index and ``_known`` change together, so that a scan's findings are
        # applied wholly before or wholly after an API change, never in the middle of one
        self._changes = threading.RLock()
        self._warned: set[str] = set()  # entries skipped with a warning: warned once
        self._failed: dict[str, tuple[int, int]] = {}  # path -> fingerprint that could not be indexed

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

    def _fingerprints_of(self, paths: list[str]) -> dict[str, tuple[int, int]]:
        """The indexed fingerprints of ``paths`` (without copying all of them)."""
        with self._lock:
            if self._known is None:
                self._known = self.index.fingerprints()
            return {p: self._known[p] for p in paths if p in self._known}

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
        return self.apply(result, announce=False)

    def scan(self, known: dict[str, tuple[int, int]]) -> ScanResult:
        """Walk the folder: read files that are new or changed. Disk only, no database.
        Only regular files inside the gallery are read; one that cannot be is skipped."""
        return self.scan_paths([""], known)

    def scan_paths(self, scopes: list[str], known: dict[str, tuple[int, int]]) -> ScanResult:
        """``scan`` of only the files and folders ``scopes`` (paths relative to the gallery,
        ``""`` for all of it), after file events named them. ``known``: the fingerprints of
        the indexed files at or under them (``known_under``). Disk only."""
        result = ScanResult(known_before=known)
        seen: set[str] = set()
        writing = set(self._writing)
        for scope in scopes:
            for rel, st in walk_scope(self.root, scope, IMAGE_SUFFIXES, self._skip):
                if rel in writing:
                    seen.add(rel)
                    continue
                fingerprint = (st.st_size, st.st_mtime_ns)
                if known.get(rel) != fingerprint and self._failed.get(rel) != fingerprint:
                    row = self._read_or_skip(rel, st)
                    if row is None:
                        continue
                    result.changed.append(row)
                seen.add(rel)
        result.removed = [p for p in known if p not in seen and p not in writing]
        return result

    def _read_or_skip(self, rel: str, st: os.stat_result) -> ImageRow | None:
        try:
            return self.read_file(self.root / rel, rel, st)
        except RefusedFile as exc:
            self._skip(repr(rel), f"it is {exc.reason}")
        except Exception as exc:  # one bad file never stops a scan
            self._failed[rel] = (st.st_size, st.st_mtime_ns)
            self._skip(repr(rel), f"it could not be read ({exc.__class__.__name__}: {str(exc)[:200]})")
        return None

    def known_under(self, scopes: list[str]) -> dict[str, tuple[int, int]]:
        """The fingerprints of the indexed files at or under ``scopes`` (see ``scan_paths``)."""
        if "" in scopes:
            return self.known()
        with self._lock:
            if self._known is None:
                self._known = self.index.fingerprints()
            known = self._known
            found = {p: known[p] for p in scopes if p in known}
            folders = {p for p in scopes if p not in known}  # or new files: one pass over the index
            if folders:
                for path, fingerprint in known.items():
                    cut = path.rfind("/")
                    while cut > 0:
                        if path[:cut] in folders:
                            found[path] = fingerprint
                            break
                        cut = path.rfind("/", 0, cut)
            return found

    # --- the first index of a big folder, in the background (services/gallery_indexer.py) ---
    def survey(self, known: dict[str, tuple[int, int]]) -> tuple[list[tuple[str, int, int]], int, list[str]]:
        """Walk the folder without reading a file: (files to read as (path, size, mtime_ns),
        image files found, indexed paths gone). Disk only."""
        to_read: list[tuple[str, int, int]] = []
        seen: set[str] = set()
        writing = set(self._writing)
        for rel, st in walk_regular_files(self.root, IMAGE_SUFFIXES, self._skip):
            seen.add(rel)
            fingerprint = (st.st_size, st.st_mtime_ns)
            if rel not in writing and known.get(rel) != fingerprint and self._failed.get(rel) != fingerprint:
                to_read.append((rel, *fingerprint))
        return to_read, len(seen), [p for p in known if p not in seen and p not in writing]

    def read_paths(self, paths: list[tuple[str, int, int]], known: dict[str, tuple[int, int]]) -> ScanResult:
        """Read the files a ``survey`` found new or changed (those changed since are read as
        they are now). Disk only; ``apply`` indexes the result."""
        result = ScanResult(known_before=known)
        writing = set(self._writing)
        for path, _, _ in paths:
            for rel, st in walk_scope(self.root, path, IMAGE_SUFFIXES, self._skip) if path not in writing else ():
                row = self._read_or_skip(rel, st)
                if row is not None:
                    result.changed.append(row)
        return result

    def _skip(self, name: str, reason: str) -> None:
        """Warn once per entry (every scan passes over it again): ``name`` is already safe."""
        if name not in self._warned:
            self._warned.add(name)
            log.warning("gallery: skipped %s: %s", name, reason)

    def apply(self, result: ScanResult, announce: bool = True, batch: int = 2000) -> tuple[list[ImageRow], list[str]]:
        """Write a scan's findings to the index, dropping any the API changed meanwhile, and
        announce them on the gallery feed (``announce``)."""
        with self._changes:
            current = self._fingerprints_of([r.path for r in result.changed] + list(result.removed))
            writing = set(self._writing)
            changed = [
                r
                for r in result.changed
                if r.path not in writing
                and current.get(r.path) == result.known_before.get(r.path)
                and _fingerprint(_stat(self.root / r.path)) == (r.size, r.mtime_ns)  # not trashed since
            ]
            for row in changed:  # a favourite set while the scan read the file
                row.favorite = row.path in self.favorites
            removed = [
                p
                for p in result.removed
                if p in current and p not in writing and regular_file_stat(self.root, p) is None
            ]
            # another web instance sharing the index may have indexed or forgotten a file
            # (and announced it) already: only what this scan changed in the index is announced
            accepted: list[ImageRow] = []
            written: list[ImageRow] = []
            for start in range(0, len(changed), batch):
                accepted += self._upsert_each(changed[start : start + batch], written)
            deleted = self.index.delete_paths(removed) if removed else []
            self._remember(accepted, removed)
        if announce:
            for row in written:
                self.announce_added(row, replaced=row.path in result.known_before)
            for path in deleted:
                self._removed(image_id_for(path), path, "deleted")
        return written, deleted

    def _upsert_each(self, rows: list[ImageRow], written: list[ImageRow]) -> list[ImageRow]:
        """Index rows in one go; when that fails, one by one, skipping those the index refuses:
        one bad file never stops a reconcile. Returns the rows the index holds now; those it
        did not already hold as they are join ``written``."""
        try:
            written += self.index.upsert(rows, only_changed=True)
            return rows
        except Exception as exc:
            if len(rows) == 1:
                self._failed[rows[0].path] = (rows[0].size, rows[0].mtime_ns)
                reason = f"the index refused it ({exc.__class__.__name__}: {str(exc)[:200]})"
                self._skip(repr(rows[0].path), reason)
                return []
        return [row for one in rows for row in self._upsert_each([one], written)]

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
            data, _ = read_regular(path, self.root)
        except RefusedFile:
            raise  # not an image file of the gallery at all: never indexed
        except OSError:  # unreadable or too large: indexed as unreadable
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
        if isinstance(image, PixelImage):  # encoded here from pixels: nothing to decode again to trust
            fmt, (width, height) = "PNG", image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageRejected(f"the provider made an image of {width}x{height} pixels, over the limit")
        else:
            fmt, width, height = inspect_image(image.data)
        now = datetime.now(UTC)
        created_at = _iso(now)
        seed = image.seed
        atelier = {
            "atelier_version": __version__,
            "created_at": created_at,
            "job_id": ctx.job_id,
            "session": ctx.session,
            **({"client": ctx.client} if ctx.client else {}),
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
        infotext = build_infotext(request, image, width, height, extra)
        data = embed_metadata(image.data, fmt, infotext, atelier)
        day = f"{ctx.owner}/{day_folder(now)}" if ctx.owner else day_folder(now)
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
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            if not inside(self.root, self.root / folder):  # a day folder made a link to elsewhere
                raise RefusedFile("outside the gallery")
            path = write_new_file(self.root / folder, name, data)
        except BaseException:
            self._writing.difference_update(tried)
            raise
        final = path.relative_to(self.root).as_posix()
        self._writing.difference_update(t for t in tried if t != final)
        return path

    def add(self, row: ImageRow, announce: bool = False) -> None:
        """Index a row that ``write_image``, ``import_file`` or a restore wrote; with
        ``announce``, tell the gallery feed."""
        with self._changes:
            if row.favorite and row.path not in self.favorites:
                self.favorites.set(row.path, True)
            self.index.upsert([row])
            self._remember([row])
            self._writing.discard(row.path)
        if announce:
            self.announce_added(row)

    def import_file(self, data: bytes, original_name: str, owner: str | None = None) -> ImageRow:
        """Copy uploaded bytes, unchanged, into ``imported/<day>/`` (``<owner>/imported/<day>/``
        for an account); validated by the caller. Disk only; ``add`` indexes the returned row."""
        fmt, _, _ = inspect_image(data, "the upload is")
        stem = slugify(os.path.splitext(os.path.basename(original_name or ""))[0], 60)
        extension = EXTENSIONS[fmt]
        folder = f"imported/{day_folder(datetime.now(UTC))}"
        if owner:
            folder = f"{owner}/{folder}"
        path = self._write_new(folder, lambda n: stem + (f"-{n}" if n else "") + extension, data)
        rel = path.relative_to(self.root).as_posix()
        return self.read_file(path, rel, path.stat())

    # --- whose images are whose ------------------------------------------------------------
    def owner_of(self, path: str) -> str | None:
        """The account whose folder holds the image at ``path``; None: the studio's."""
        return folder_owner(path, self.user_names())

    def json(self, row: ImageRow) -> shapes.Image:
        """The public form of an image, with its owner."""
        return image_json(row, self.owner_of(row.path))

    def _announce(self, event: FeedEvent, path: str) -> None:
        """Send a gallery event to those who may see the image at ``path``: everyone following
        the feed without accounts; with accounts the admins, the owner, and every user when
        the image is in a shared board."""
        users = self.user_names()
        if not users:
            self.feed(event)
            return
        rooms = [GALLERY_ALL]
        owner = folder_owner(path, users)
        if owner:
            rooms.append(gallery_room(owner))
        if path in self.shared_paths():
            rooms.append(GALLERY_SHARED)
        self.feed(event, rooms)

    # --- changes through the API: each one announces itself on the gallery feed -------------
    def announce_added(
        self, row: ImageRow, *, replaced: bool | None = None, restored: bool | None = None, imported: bool | None = None
    ) -> None:
        """Tell the gallery feed an image is in (the job sink calls it after the job's own event)."""
        added = GalleryAdded(image=self.json(row), replaced=replaced, restored=restored, imported=imported)
        self._announce(added, row.path)

    def _removed(self, image_id: str, path: str, reason: Literal["deleted", "trashed"]) -> None:
        self._announce(GalleryRemoved(id=image_id, path=path, reason=reason), path)

    def import_upload(self, data: bytes, original_name: str, owner: str | None = None) -> ImageRow:
        """Copy an upload into the gallery (``owner``'s folder), index it and announce it (``imported``)."""
        row = self.run_blocking(self.import_file, data, original_name, owner)
        self.add(row)
        self.announce_added(row, imported=True)
        return row

    def set_favorite(self, image_id: str, favorite: bool) -> ImageRow | None:
        """Mark or unmark a favourite and announce it; None when there is no such image."""
        with self._changes:
            row = self.get(image_id)
            if row is None:
                return None
            self.favorites.set(row.path, favorite)
            self.index.set_favorite(row.id, favorite)
            row.favorite = favorite
        self._announce(GalleryUpdated(image=self.json(row)), row.path)
        return row

    def move_to_trash(self, ids: list[str]) -> tuple[list[str], list[str]]:
        """Move the images into the trash, forget and announce them. Returns (trashed ids,
        ids of no image)."""
        trashed, missing = [], []
        for image_id in ids:
            with self._changes:
                row = self.get(image_id)
                if row is not None:
                    self._move_to_trash(row)
            if row is None:
                missing.append(image_id)
            else:
                trashed.append(image_id)
                self._removed(row.id, row.path, "trashed")
        return trashed, missing

    def _move_to_trash(self, row: ImageRow) -> TrashEntry | None:
        """Forget the file, then move it into the trash; None if it was already gone. Under
        ``_changes``: a scan sees the file in place and indexed, or gone and forgotten. The
        index first: another web instance's watcher never finds the file gone while the
        shared index still holds it (it would announce a deletion by hand)."""
        self.index.delete_paths([row.path])
        try:
            entry = self.trash.move_in(row.id, row.path, row.favorite)
        except FileNotFoundError:
            entry = None
        except BaseException:
            self.index.upsert([row])  # not moved: still in the gallery
            raise
        if row.favorite:
            self.favorites.set(row.path, False)
        self._remember(forget=[row.path])
        return entry

    def restore(self, image_id: str) -> ImageRow:
        """Move the latest deletion of ``image_id`` back, index it and announce it (``restored``).
        Raises NotInTrash."""
        claimed: list[str] = []
        try:
            row = self.run_blocking(self._restore_file, image_id, claimed)
            self.add(row)
        finally:
            self._writing.difference_update(claimed)
        self.announce_added(row, restored=True)
        return row

    def _restore_file(self, image_id: str, claimed: list[str]) -> ImageRow:
        """Disk only: every name tried is claimed before the file appears under it, so the
        watcher never takes the restored file for one added by hand."""
        entry = self.trash.find(image_id)
        if entry is None:
            raise NotInTrash(image_id)

        def claim(rel: str) -> None:
            claimed.append(rel)
            self._writing.add(rel)

        try:
            rel = self.trash.restore(entry, claim)
        except RefusedFile:
            raise NotInTrash(image_id) from None
        try:
            row = self.read_file(self.root / rel, rel, os.stat(self.root / rel))
        except OSError:  # RefusedFile included
            raise NotInTrash(image_id) from None  # swapped under us: not the file that was trashed
        row.favorite = entry.favorite
        return row

    # --- read: only regular files inside the gallery --------------------------------------
    def open_image(self, relpath: str):
        """(binary file, stat) of the gallery image at ``relpath``, for serving. Raises
        RefusedFile (not a regular image file inside the gallery: answer as if missing),
        FileNotFoundError, PermissionError or another OSError."""
        return open_regular(self._image_path(relpath), self.root)

    def read_image(self, relpath: str) -> bytes:
        """The bytes of the gallery image at ``relpath``, at most ``MAX_FILE_BYTES`` of them;
        raises like ``open_image``, or FileTooLarge."""
        return read_regular(self._image_path(relpath), self.root)[0]

    def _image_path(self, relpath: str) -> Path:
        """Where an image path of the API points, or RefusedFile for one that names no gallery
        image (a NUL, ``..``, a wrong suffix: the safe read checks the file, not the name)."""
        if not valid_relpath(relpath) or os.path.splitext(relpath)[1].lower() not in IMAGE_SUFFIXES:
            raise RefusedFile("not a gallery image path")
        return self.root / relpath

    def page(
        self, limit: int, cursor: str | None, query: ImageQuery | None = None, metadata: bool = True
    ) -> tuple[list[ImageRow], str | None]:
        """``metadata=False``: the rows without their metadata (a listing does not show it)."""
        query = query or ImageQuery()
        after = decode_cursor(cursor) if cursor else None
        rows = self.index.select(query, limit + 1, after, metadata)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)

    def get(self, image_id: str) -> ImageRow | None:
        return self.index.get(image_id)

    def parameters(self, row: ImageRow) -> dict[str, Any] | None:
        """The generation parameters read from the file now (disk; run off the loop)."""
        try:
            data = self.read_image(row.path)
            with Image.open(io.BytesIO(data)) as im:
                params = extract_parameters(im)
        except Exception:
            return None
        return params.to_json() if params else None


def thumb_url(row: ImageRow, size: int) -> str:
    return f"/thumbs/{size}/{row.id}/{row.content_hash or '0'}.webp"


#: what urllib.parse.quote leaves as it is: such a path (Atelier's own names) is its own URL
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*")


def image_json(row: ImageRow, owner: str | None = None) -> shapes.Image:
    """The public form of an image (REST and events); ``owner``: ``Gallery.owner_of`` its path."""
    return {
        "id": row.id,
        "path": row.path,
        "url": "/images/" + (row.path if _URL_SAFE.fullmatch(row.path) else urllib.parse.quote(row.path)),
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
        "owner": owner,
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


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except (OSError, ValueError):
        return None


def _fingerprint(st: os.stat_result | None) -> tuple[int, int] | None:
    return (st.st_size, st.st_mtime_ns) if st else None


def _time_from_name(name: str) -> str | None:
    match = _NAME_TIME.match(name)
    if not match:
        return None
    try:
        when = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S-%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    return _iso(when)
