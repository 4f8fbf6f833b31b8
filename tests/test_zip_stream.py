"""The streamed ZIP writer, read back by Python's zipfile and by Info-ZIP's unzip.

ZIP64 is exercised by lowering the writer's limits: the records written are the same a
4 GiB file or a 65,536-entry export produces, without writing gigabytes in a test.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from backend.storage import zip_stream
from backend.storage.zip_stream import ZipStream, dos_time

WHEN = (2026, 11, 21, 10, 30, 44)
FILES = {
    "2026-11-21/20261121-103044-123_offline_harbour.png": os.urandom(300_000),
    "2026-11-21/empty.png": b"",
    "2026-11-21/café 東京.jpg": os.urandom(1234),
}
TEXT = ("file,id\n" + "".join(f"x{i}.png,{i}\n" for i in range(50_000))).encode()


def build() -> bytes:
    archive = ZipStream()
    out: list[bytes] = []
    for name, data in FILES.items():
        out.extend(archive.stored(name, data, WHEN))
    out.extend(archive.deflated("metadata.csv", [TEXT[:100_000], TEXT[100_000:]], WHEN))
    out.append(archive.finish())
    body = b"".join(out)
    assert archive.written == len(body)
    return body


def check(body: bytes, tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.testzip() is None  # every CRC checked
        assert z.namelist() == [*FILES, "metadata.csv"]
        for name, data in FILES.items():
            info = z.getinfo(name)
            assert z.read(name) == data
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (2026, 11, 21, 10, 30, 44)
            assert (info.external_attr >> 16) & 0o777 == 0o644
        assert z.read("metadata.csv") == TEXT
        assert z.getinfo("metadata.csv").compress_type == zipfile.ZIP_DEFLATED
    if shutil.which("unzip"):
        path = tmp_path / "a.zip"
        path.write_bytes(body)
        tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "No errors detected" in tested.stdout


def test_an_archive_reads_back_byte_identical(tmp_path):
    check(build(), tmp_path)


def test_zip64_records_when_sizes_offsets_and_counts_need_them(tmp_path, monkeypatch):
    monkeypatch.setattr(zip_stream, "ZIP64_LIMIT", 1000)
    monkeypatch.setattr(zip_stream, "ZIP64_COUNT_LIMIT", 2)
    body = build()
    assert b"PK\x06\x06" in body and b"PK\x06\x07" in body  # ZIP64 end record and its locator
    check(body, tmp_path)


def test_no_zip64_records_in_a_small_archive():
    body = build()
    assert b"PK\x06\x06" not in body


@pytest.mark.parametrize(
    "when, expected",
    [((1970, 1, 1, 0, 0, 0), (1980, 1, 1, 0, 0, 0)), ((2107, 12, 31, 23, 59, 59), (2107, 12, 31, 23, 59, 58))],
)
def test_times_outside_the_format_are_clamped_not_wrapped(when, expected, tmp_path):
    archive = ZipStream()
    body = b"".join([*archive.stored("a.png", b"x", when), archive.finish()])
    assert dos_time(when) == dos_time(expected)
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.getinfo("a.png").date_time == expected
