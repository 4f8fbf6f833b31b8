"""A ZIP archive written front to back as byte chunks, for streaming over HTTP.

Why not ``zipfile``: on a sink it cannot seek, ``zipfile`` gives every entry a data
descriptor and computes the CRC-32 itself with zlib's, a byte at a time through its own
buffers. An export already holds each image whole in memory, so here the CRC (ISA-L's,
several times faster than zlib's on this kind of CPU) is known before the entry's header
and a stored entry is just header + the file's own bytes, never copied. Text entries of
unknown length (the metadata files) are deflated with a data descriptor.

ZIP64 fields are written only where a size, an offset or the entry count needs them, as
APPNOTE 6.3.x section 4.5.3 describes, so small archives stay readable everywhere.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from isal.isal_zlib import crc32

ZIP64_LIMIT = 0xFFFFFFFF  # a size or offset at or above this needs ZIP64 fields
ZIP64_COUNT_LIMIT = 0xFFFF  # so does an entry count
_IN_ZIP64 = 0xFFFFFFFF  # what a 32-bit field holds when the value is in the ZIP64 record
_COUNT_IN_ZIP64 = 0xFFFF
_STORED, _DEFLATED = 0, 8
_UTF8_NAME = 0x0800  # general purpose flag bit 11: the name is UTF-8
_DESCRIPTOR = 0x0008  # bit 3: CRC and sizes follow the data
_MADE_BY = (3 << 8) | 45  # Unix, spec 4.5
_FILE_MODE = 0o100644 << 16  # a regular file, rw-r--r--

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_DESCRIPTOR64 = struct.Struct("<IIQQ")
_EOCD64 = struct.Struct("<IQHHIIQQQQ")
_EOCD64_LOCATOR = struct.Struct("<IIQI")
_EOCD = struct.Struct("<IHHHHIIH")

When = tuple[int, int, int, int, int, int]  # year, month, day, hour, minute, second


def dos_time(when: When) -> tuple[int, int]:
    """(time, date) in MS-DOS form, clamped to the years it can hold (1980-2107)."""
    year, month, day, hour, minute, second = min(max(when, (1980, 1, 1, 0, 0, 0)), (2107, 12, 31, 23, 59, 59))
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


@dataclass
class _Entry:
    name: bytes
    method: int
    flags: int
    time: int
    date: int
    crc: int
    compressed: int
    size: int
    offset: int


def _narrow(value: int, limit: int, marker: int) -> int:
    """The value for a 32- or 16-bit field: itself, or the marker that says "see ZIP64"."""
    return marker if value >= limit else value


class ZipStream:
    """Produces an archive entry by entry; every method returns the bytes to send next."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._offset = 0

    @property
    def written(self) -> int:
        return self._offset

    def stored(self, name: str, data: bytes, when: When) -> list[bytes]:
        """An entry stored as is: its header and ``data`` itself (not a copy)."""
        size = len(data)
        entry = self._entry(name, _STORED, 0, when, crc32(data), size, size)
        extra = b""
        if size >= ZIP64_LIMIT:
            extra = struct.pack("<HHQQ", 1, 16, size, size)
        header = self._local_header(entry, extra, sizes=(_IN_ZIP64, _IN_ZIP64) if extra else (size, size))
        self._offset += len(header) + size
        return [header, data]

    def deflated(self, name: str, pieces: Iterable[bytes], when: When) -> Iterator[bytes]:
        """An entry of unknown length, compressed as it comes; CRC and sizes follow it."""
        entry = self._entry(name, _DEFLATED, _DESCRIPTOR, when, 0, 0, 0)
        # a ZIP64 extra in the local header says the descriptor's sizes are 8 bytes long
        header = self._local_header(entry, struct.pack("<HHQQ", 1, 16, 0, 0), sizes=(_IN_ZIP64, _IN_ZIP64))
        self._offset += len(header)
        yield header
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        crc = size = compressed = 0
        for piece in pieces:
            crc = crc32(piece, crc)
            size += len(piece)
            out = compressor.compress(piece)
            if out:
                compressed += len(out)
                yield out
        out = compressor.flush()
        compressed += len(out)
        entry.crc, entry.size, entry.compressed = crc, size, compressed
        descriptor = _DESCRIPTOR64.pack(0x08074B50, crc, compressed, size)
        self._offset += compressed + len(descriptor)
        yield out + descriptor

    def finish(self) -> bytes:
        """The central directory and its end records: the archive's last bytes."""
        start = self._offset
        parts = [self._central_header(e) for e in self._entries]
        directory = b"".join(parts)
        count = len(self._entries)
        end = b""
        if count >= ZIP64_COUNT_LIMIT or start >= ZIP64_LIMIT or len(directory) >= ZIP64_LIMIT:
            zip64_at = start + len(directory)
            end += _EOCD64.pack(0x06064B50, 44, _MADE_BY, 45, 0, 0, count, count, len(directory), start)
            end += _EOCD64_LOCATOR.pack(0x07064B50, 0, zip64_at, 1)
        end += _EOCD.pack(
            0x06054B50,
            0,
            0,
            _narrow(count, ZIP64_COUNT_LIMIT, _COUNT_IN_ZIP64),
            _narrow(count, ZIP64_COUNT_LIMIT, _COUNT_IN_ZIP64),
            _narrow(len(directory), ZIP64_LIMIT, _IN_ZIP64),
            _narrow(start, ZIP64_LIMIT, _IN_ZIP64),
            0,
        )
        self._offset += len(directory) + len(end)
        return directory + end

    # --- records ---------------------------------------------------------------------------
    def _entry(self, name: str, method: int, flags: int, when: When, crc: int, compressed: int, size: int) -> _Entry:
        clock, date = dos_time(when)
        encoded = name.encode("utf-8")
        flags |= _UTF8_NAME if not encoded.isascii() else 0
        entry = _Entry(encoded, method, flags, clock, date, crc, compressed, size, self._offset)
        self._entries.append(entry)
        return entry

    def _local_header(self, e: _Entry, extra: bytes, sizes: tuple[int, int]) -> bytes:
        version = 45 if extra else 20
        crc = 0 if e.flags & _DESCRIPTOR else e.crc
        compressed, size = sizes
        fixed = _LOCAL.pack(
            0x04034B50, version, e.flags, e.method, e.time, e.date, crc, compressed, size, len(e.name), len(extra)
        )
        return fixed + e.name + extra

    def _central_header(self, e: _Entry) -> bytes:
        # ZIP64 extra: only the fields that do not fit, in this order (APPNOTE 4.5.3)
        wide = [v for v in (e.size, e.compressed, e.offset) if v >= ZIP64_LIMIT]
        size, compressed, offset = (_narrow(v, ZIP64_LIMIT, _IN_ZIP64) for v in (e.size, e.compressed, e.offset))
        extra = struct.pack(f"<HH{len(wide)}Q", 1, 8 * len(wide), *wide) if wide else b""
        version = 45 if wide or e.flags & _DESCRIPTOR else 20
        fixed = _CENTRAL.pack(
            0x02014B50,
            _MADE_BY,
            version,
            e.flags,
            e.method,
            e.time,
            e.date,
            e.crc,
            compressed,
            size,
            len(e.name),
            len(extra),
            0,
            0,
            0,
            _FILE_MODE,
            offset,
        )
        return fixed + e.name + extra
