"""File names are safe and sortable; metadata survives any prompt; writes are atomic."""

from __future__ import annotations

import io
import json
import os
import threading
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from backend.providers.base import GeneratedImage, GenerationRequest, settings
from backend.services.gallery import Gallery, ImageRejected, SaveContext
from backend.storage.files import gallery_filename, write_new_file
from backend.storage.gallery_index import GalleryIndex, ImageQuery, ImageRow
from backend.storage.infotext import parse_infotext
from backend.storage.metadata import embed_metadata, read_embedded
from tests.support.providers import tiny_png

HOSTILE = [
    "../../etc/passwd",
    "a/b\\c/../d",
    "nul\x00byte",
    "emoji 🌋🌊 party",
    "right-to-left \u202eevil\u202c עברית",
    "x" * 10_000,
    "   ",
    "CON",
    "名前のない画像",
]
WHEN = datetime(2026, 11, 21, 14, 32, 5, 42000, tzinfo=UTC)


@pytest.mark.parametrize("prompt", HOSTILE)
def test_file_names_are_short_and_safe_and_stay_in_the_folder(prompt):
    name = gallery_filename(WHEN, "offline", prompt, 1234, ".png")
    assert name.startswith("20261121-143205-042_offline_") and name.endswith("_1234.png")
    assert len(name.encode()) <= 120 and name == unicodedata.normalize("NFC", name)
    # letters and digits of any script, '-', '_' and the extension's dot: nothing else
    assert all(c in "-_." or unicodedata.category(c)[0] in "LNM" for c in name)
    assert "/" not in name and "\\" not in name and ".." not in name and "\x00" not in name


def test_names_sort_in_time_order():
    names = [
        gallery_filename(WHEN + timedelta(milliseconds=ms), "p", "z", 1, ".png") for ms in (0, 5, 999, 1000, 60000)
    ]
    assert names == sorted(names)


def test_example_name():
    assert gallery_filename(WHEN, "offline", "Serene mountain lake!", 1234, ".png") == (
        "20261121-143205-042_offline_serene-mountain-lake_1234.png"
    )


def _request(prompt: str) -> GenerationRequest:
    return GenerationRequest(
        prompt=prompt,
        styled_prompt=prompt,
        negative_prompt="",
        provider="offline",
        model="m",
        style="none",
        aspect_ratio="1:1",
        width=64,
        height=64,
        n=1,
        seed=5,
    )


@pytest.mark.parametrize("prompt", HOSTILE)
def test_the_whole_prompt_is_kept_in_the_metadata(tmp_path, prompt):
    gallery = Gallery(tmp_path, GalleryIndex(tmp_path / ".atelier" / "index.sqlite3"))
    row = gallery.write_image(_request(prompt), GeneratedImage(0, tiny_png(), 5), SaveContext("j1", None, "t", None))
    path = tmp_path / row.path
    assert path.resolve().parent.parent == tmp_path.resolve()
    with Image.open(path) as im:
        infotext, atelier = read_embedded(im)
        assert json.loads(im.text["atelier"])["request"]["prompt"] == prompt
    assert atelier["request"]["prompt"] == prompt
    assert parse_infotext(infotext)["params"]["Seed"] == "5"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_metadata_round_trips_in_every_format_without_touching_pixels(fmt):
    buf = io.BytesIO()
    Image.new("RGB", (32, 16), (12, 34, 56)).save(buf, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    original = Image.open(io.BytesIO(buf.getvalue()))
    data = embed_metadata(buf.getvalue(), fmt, "a prompt\nSteps: 4, Seed: 9", {"atelier_version": "t", "x": "🌋"})
    with Image.open(io.BytesIO(data)) as im:
        assert im.tobytes() == original.tobytes()
        infotext, atelier = read_embedded(im)
    assert infotext == "a prompt\nSteps: 4, Seed: 9" and atelier == {"atelier_version": "t", "x": "🌋"}


def test_infotext_parses_like_a1111():
    parsed = parse_infotext(
        "a castle, sunset\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 123, "
        'Size: 512x768, Model: "my, model"'
    )
    assert parsed["prompt"] == "a castle, sunset" and parsed["negative_prompt"] == "blurry"
    assert parsed["params"] == {
        "Steps": "20",
        "Sampler": "Euler a",
        "CFG scale": "7",
        "Seed": "123",
        "Size": "512x768",
        "Model": "my, model",
    }


def test_not_an_image_is_rejected_before_anything_is_written(tmp_path):
    gallery = Gallery(tmp_path, GalleryIndex(tmp_path / ".atelier" / "i.sqlite3"))
    for data in (b"", b"GIF89a....", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, tiny_png()[:-30]):
        with pytest.raises(ImageRejected):
            gallery.write_image(_request("p"), GeneratedImage(0, data, 1), SaveContext("j", None, "t", None))
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and ".atelier" not in p.parts]


def test_a_decompression_bomb_is_rejected(tmp_path):
    buf = io.BytesIO()
    Image.new("1", (40_000, 40_000)).save(buf, "PNG")  # ~200 KB claiming 1.6 gigapixels
    gallery = Gallery(tmp_path, GalleryIndex(tmp_path / ".atelier" / "i.sqlite3"))
    with pytest.raises(ImageRejected, match="over the limit|too large"):
        gallery.write_image(_request("p"), GeneratedImage(0, buf.getvalue(), 1), SaveContext("j", None, "t", None))


def test_write_never_overwrites_and_leaves_no_temp_file(tmp_path):
    first = write_new_file(tmp_path, lambda n: f"same{n or ''}.png", b"one")
    second = write_new_file(tmp_path, lambda n: f"same{n or ''}.png", b"two")
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two" and first != second
    assert sorted(os.listdir(tmp_path)) == ["same.png", "same1.png"]


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(OSError):  # the final name cannot be created: the temp file must go too
        write_new_file(tmp_path, lambda n: "missing-folder/x.png", b"data")
    assert list(Path(tmp_path).iterdir()) == []


def test_rows_written_while_the_index_file_is_recreated_are_never_lost(tmp_path):
    """The index file is deleted under a running server and written back (VACUUM INTO,
    reopen) while jobs keep indexing images: every row written must be in the new file."""
    path = tmp_path / ".atelier" / "index.sqlite3"
    index = GalleryIndex(path)
    written: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            rel = f"2026-01-01/{n:06d}.png"
            index.upsert(
                [
                    ImageRow(
                        id=f"id{n}",
                        path=rel,
                        size=1,
                        mtime_ns=n,
                        created_at="2026-01-01T00:00:00Z",
                        readable=True,
                        prompt=f"row {n}",
                    )
                ]
            )
            written.append(rel)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(60):
            target = len(written) + 5
            while len(written) < target:  # some writes between each deletion and the next
                pass
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(f"{path}{suffix}"):
                    os.unlink(f"{path}{suffix}")
            assert index.file_missing()
            assert index.recreate()
    finally:
        stop.set()
        thread.join()
    assert set(index.fingerprints()) == set(written)
    assert index.total(ImageQuery()) == len(written)
    reopened = GalleryIndex(path)  # and what is on disk, not only in the open connection
    assert set(reopened.fingerprints()) == set(written)


@pytest.mark.parametrize(
    "text, prompt, params",
    [
        ("portrait, style: oil, mood: dark", "portrait, style: oil, mood: dark", {}),
        ("a cat\nstyle: oil, mood: dark", "a cat\nstyle: oil, mood: dark", {}),
        ("a cat\nSteps: 20, Sampler: Euler, Seed: 5", "a cat", {"Steps": "20", "Sampler": "Euler", "Seed": "5"}),
        ("a cat\nSeed: 5", "a cat", {"Seed": "5"}),
    ],
)
def test_a_prompt_line_with_colons_is_not_taken_for_the_settings_line(text, prompt, params):
    """A1111 takes the last line as settings only with three ``Key: value`` pairs (or one
    starting the line with Steps/Seed); with two, the prompt was lost."""
    parsed = parse_infotext(text)
    assert (parsed["prompt"], parsed["params"]) == (prompt, params)


def test_atelier_images_show_how_they_were_made_and_tool_outputs_how_their_source_was(tmp_path):
    """The sampler, CFG scale and steps a provider states are in Atelier's own chunk; the
    parameters of an Atelier image (GET, the lightbox) show them, and a tool's output shows
    those of its source (its ``source.parameters``). Before, both were null."""
    gallery = Gallery(tmp_path, GalleryIndex(tmp_path / ".atelier" / "index.sqlite3"))
    made = settings(sampler="EulerDiscreteScheduler", cfg_scale=3.5, steps=12)
    row = gallery.write_image(
        _request("a lake"), GeneratedImage(0, tiny_png(), 5, made), SaveContext("j", None, "t", None)
    )
    origin = {"prompt": "a lake", "sampler": "Euler a", "cfg_scale": 7.0, "steps": 30, "seed": 5, "model": "m"}
    extra = {"source": {"image_id": "x", "path": row.path, "operation": "upscale", "parameters": origin}}
    tool = gallery.write_image(
        _request("a lake"), GeneratedImage(0, tiny_png(), 5), SaveContext("k", None, "t", None), extra
    )
    shown = [gallery.parameters(r) for r in (row, tool)]
    assert [(p["sampler"], p["cfg_scale"], p["steps"]) for p in shown] == [
        ("EulerDiscreteScheduler", 3.5, 12),
        ("Euler a", 7.0, 30),
    ]
