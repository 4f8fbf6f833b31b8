"""ZIP export, streamed: the archive is produced while the files are read.

The standard library's ``zipfile`` writes to a sink it cannot seek, so each entry gets
a data descriptor and nothing is held back: memory stays at one batch of files however
large the export. Images are stored as they are (ZIP_STORED, never recompressed) under
their gallery paths; ``metadata.csv`` and ``metadata.json`` describe every image and list
the files that vanished before they could be read (skipped, never a broken archive).
Reading files and framing them runs in a worker thread; rows come from the index on the
caller's thread.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from backend.services.gallery import Gallery, image_json
from backend.storage.gallery_index import ImageQuery, ImageRow

BATCH_BYTES = 8 * 1024 * 1024
BATCH_FILES = 512
CSV_FIELDS = (
    "file",
    "id",
    "created_at",
    "prompt",
    "negative_prompt",
    "provider",
    "model",
    "style",
    "aspect_ratio",
    "seed",
    "width",
    "height",
    "format",
    "bytes",
    "favorite",
    "job_id",
    "session",
)


class _Sink:
    """A write-only stream that hands out what was written since the last ``take``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0

    def write(self, data: bytes) -> int:
        if data:  # an empty chunk would end a chunked HTTP response early
            self._parts.append(bytes(data))
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def take(self) -> list[bytes]:
        """The parts written since the last call, as written: file contents are never copied."""
        parts, self._parts = self._parts, []
        return parts


def export_filename(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("atelier-%Y%m%d-%H%M%S.zip")


def _zip_time(row: ImageRow) -> tuple[int, int, int, int, int, int]:
    try:
        when = datetime.fromisoformat(row.created_at.replace("Z", "+00:00"))
        return max(when.timetuple()[:6], (1980, 1, 1, 0, 0, 0))  # type: ignore[return-value]
    except ValueError:
        return time.gmtime()[:6]  # type: ignore[return-value]


class ZipExport:
    def __init__(self, gallery: Gallery, run_blocking: Callable[..., Any]) -> None:
        self.gallery = gallery
        self.run_blocking = run_blocking

    def stream(self, query: ImageQuery, description: dict[str, Any] | None = None) -> Iterator[bytes]:
        sink = _Sink()
        archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        csv_file = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")
        json_file = tempfile.TemporaryFile("w+", encoding="utf-8")
        skipped: list[dict[str, str]] = []
        try:
            writer = csv.DictWriter(csv_file, CSV_FIELDS)
            writer.writeheader()
            head = {"exported_at": datetime.now(UTC).isoformat(timespec="seconds"), "selection": description or {}}
            json_file.write(json.dumps(head)[:-1] + ', "images": [')
            state = {"count": 0}
            batch: list[ImageRow] = []
            size, batch_files = 0, 1  # the first file goes out alone: the first byte leaves at once
            for row in self.gallery.index.iterate(query):
                batch.append(row)
                size += row.size
                if size >= BATCH_BYTES or len(batch) >= batch_files:
                    yield from self.run_blocking(
                        self._write_batch, archive, sink, batch, writer, json_file, skipped, state
                    )
                    batch, size, batch_files = [], 0, BATCH_FILES
            if batch:
                yield from self.run_blocking(self._write_batch, archive, sink, batch, writer, json_file, skipped, state)
            json_file.write('], "skipped": ' + json.dumps(skipped) + f', "count": {state["count"]}}}')
            for name, handle in (("metadata.csv", csv_file), ("metadata.json", json_file)):
                yield from self._add_text(archive, sink, name, handle)
            archive.close()
            yield from sink.take()
        finally:
            csv_file.close()
            json_file.close()

    def _write_batch(self, archive, sink, rows, writer, json_file, skipped, state) -> list[bytes]:
        for row in rows:
            try:
                with open(self.gallery.root / row.path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                skipped.append({"path": row.path, "id": row.id, "reason": exc.strerror or exc.__class__.__name__})
                continue
            info = zipfile.ZipInfo(row.path, _zip_time(row))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
            image = image_json(row)
            writer.writerow({"file": row.path, **{k: image.get(k) for k in CSV_FIELDS[1:]}})
            entry = {**image, "metadata": row.metadata}
            json_file.write(("," if state["count"] else "") + "\n" + json.dumps(entry, ensure_ascii=False))
            state["count"] += 1
        return sink.take()

    def _add_text(self, archive, sink, name: str, handle) -> Iterator[bytes]:
        handle.flush()
        handle.seek(0)
        info = zipfile.ZipInfo(name, time.gmtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with archive.open(info, "w", force_zip64=True) as out:
            while piece := handle.read(1 << 20):
                out.write(piece.encode("utf-8"))
                yield from sink.take()
        yield from sink.take()


def selection_description(query: ImageQuery) -> dict[str, Any]:
    data = {k: v for k, v in vars(query).items() if v not in (None, {}, [])}
    data.pop("newest_first", None)
    if data.get("ids") and len(data["ids"]) > 50:
        data["ids"] = f"{len(data['ids'])} ids"
    return data
