"""Thumbnails: WebP, 256 or 512 px on the long side, cached on disk by content hash.

A thumbnail is named by the hash of the image's bytes, so its URL never has to change
meaning (immutable caching) and identical files share one. Made on first request in a
worker thread, written atomically; a cache entry that is missing, truncated or does not
decode is made again. An image that cannot be read gets a placeholder, never a broken
response. Sources and cache entries are read through ``read_regular``: a FIFO, a device or
a link to outside in their place is never opened for reading.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

from backend.storage.files import inside, open_regular, read_regular

SIZES = (256, 512)
QUALITY = 80
THUMBS_DIR = ".atelier/thumbs"
MAX_THUMB_BYTES = 16 * 1024 * 1024  # a 512 px WebP is a few tens of KB


class ThumbnailCache:
    def __init__(self, gallery_root: Path) -> None:
        self.root = gallery_root
        self.folder = gallery_root / THUMBS_DIR
        self._verified: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) seen decoding
        self._lock = threading.Lock()
        self._placeholders: dict[int, bytes] = {}

    def path_for(self, content_hash: str, size: int) -> Path:
        return self.folder / str(size) / content_hash[:2] / f"{content_hash}.webp"

    def cached(self, content_hash: str, size: int) -> Path | None:
        """The cache entry when it is known good, cheap enough for the event loop; None
        when it must be (re)checked or made with ``ensure`` in a worker thread."""
        path = self.path_for(content_hash, size)
        try:
            st = os.stat(path)
        except OSError:
            return None
        with self._lock:
            return path if self._verified.get(str(path)) == (st.st_size, st.st_mtime_ns) else None

    def open(self, path: Path):
        """(binary file, stat) of a cache entry ``cached`` or ``ensure`` returned, for serving;
        raises OSError when it is not a regular file in the cache (any more)."""
        return open_regular(path, self.root, hidden_ok=True)

    def ensure(self, read_source: Callable[[], bytes], content_hash: str, size: int) -> Path | None:
        """Blocking: a good cache entry for the image ``read_source`` reads, made if needed;
        None if the source cannot be read as an image."""
        path = self.path_for(content_hash, size)
        if self._valid_webp(path):
            self._mark(path)
            return path
        try:
            with Image.open(io.BytesIO(read_source())) as im:
                if im.width * im.height > 64_000_000:
                    return None
                im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
                im.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
                if im.mode not in ("RGB", "RGBA"):
                    im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
                buf = io.BytesIO()
                im.save(buf, "WEBP", quality=QUALITY, method=4)
        except Exception:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        if not inside(self.root, path.parent):  # a cache folder made a link to elsewhere: write nothing there
            return None
        tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
        self._mark(path)
        return path

    def _mark(self, path: Path) -> None:
        try:
            st = os.stat(path)
        except OSError:
            return
        with self._lock:
            self._verified[str(path)] = (st.st_size, st.st_mtime_ns)

    def placeholder(self, size: int) -> bytes:
        """A grey tile with a cross: what an unreadable image looks like."""
        if size not in self._placeholders:
            im = Image.new("RGB", (size, size), (70, 70, 76))
            draw = ImageDraw.Draw(im)
            draw.line(
                (size // 3, size // 3, 2 * size // 3, 2 * size // 3), fill=(200, 80, 80), width=max(2, size // 32)
            )
            draw.line(
                (2 * size // 3, size // 3, size // 3, 2 * size // 3), fill=(200, 80, 80), width=max(2, size // 32)
            )
            buf = io.BytesIO()
            im.save(buf, "WEBP", quality=60)
            self._placeholders[size] = buf.getvalue()
        return self._placeholders[size]

    def _valid_webp(self, path: Path) -> bool:
        """A whole RIFF/WEBP file that Pillow decodes."""
        try:
            data, _ = read_regular(path, self.root, MAX_THUMB_BYTES, hidden_ok=True)
        except OSError:
            return False
        return _whole_webp(data)


def _whole_webp(data: bytes) -> bool:
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    if struct.unpack("<I", data[4:8])[0] + 8 != len(data):
        return False
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception:
        return False
    return True
