"""Attacks on the metadata both ways (issue 12), each a defect found after the merge and a
test that failed before its fix:

- a JPEG's EXIF is one APP1 segment of at most 64 KB; with 4000-emoji prompts (the request
  limit) Atelier's JSON, which repeats the prompts, overflowed it and ``write_image``
  raised ``ValueError``: the generation or the social-format output was lost. Now the
  infotext alone is written and every reader, Atelier's own, still reads every field.
- letters and marks that Unicode calls default-ignorable (the Hangul fillers, the
  grapheme joiner, variation selectors) reached file names: invisible, a prompt of fillers
  named its file with a blank slug.
- the stealth PNG info reader decoded every pixel of every plain PNG (no metadata) that a
  scan, an import or the parse endpoint met, to look for a 15-byte signature: ~9 ms a
  1 Mpx file, ~130 ms a 16 Mpx one, against 0.04 ms to open it. Now the signature is
  read from the first rows of the first column only, and the pixels are decoded only
  when it is there; a lossy WebP without an alpha plane, whose low bits cannot carry
  anything, is not decoded at all (50 ms a noisy 1 Mpx file, before).
- JSON in a file was parsed whatever it held: 25 MB of tiny ComfyUI nodes cost 1.4 s and
  250 MB a file. Past 100,000 objects and arrays, a text is not parsed.
- text chunks after a PNG's image data were capped one by one, not together: 1000 zTXt
  bombs (an 8 MB file) inflated 8 GB, 140 s for one parse. Now 0.1 s.
- a social format was encoded to fit the platform's upload limit before the gallery
  embedded the metadata: the saved file could be over the limit by up to 64 KB (JPEG)
  or more (PNG, the prompts twice). Room is now left for it.
- text after a PNG's image data was never found past 4096 chunks, image data included
  (libpng's 8 KB chunks: 5000 in a 40 MB image); the stealth check gave up (and decoded
  the pixels) after 4096 chunks before the image data.
- a social output had no seed (its request had the source's, the image none): Atelier's
  parameters, the index and the file name said nothing where every reader, and an upscale
  of the same image, showed the seed.
- a JPEG tool output of a source with prompts of 10,000 emoji (an import) failed: even
  the infotext alone is over the 64 KB segment. The prompts are now cut to fit, marked.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin, WebPImagePlugin

from backend.providers.base import GeneratedImage
from backend.services.tools.social import QUALITIES, SocialProducer, encode_within, png_metadata_room
from backend.storage import metadata
from backend.storage.files import gallery_filename, slugify
from backend.storage.image_params import parse_file_metadata
from tests.test_metadata_written import (
    SEED,
    Ctx,
    a1111_png_info_text,
    assert_every_reader_reads,
    every_reader,
    generated,
    request,
    write,
)
from tests.test_read_other_tools import INFOTEXT, hide


# --- a JPEG's 64 KB APP1 segment ---------------------------------------------------------------
@pytest.mark.parametrize(
    "prompt, negative",
    [("🎨" * 4000, "😀" * 4000), ("山、夜明け\r\n" * 571 + "end", "ぼやけた" * 1000)],
    ids=["emoji", "cjk-crlf"],  # the second fitted before too: a guard on what the readers see
)
def test_prompts_at_the_limit_fit_a_jpeg_and_every_reader_reads_them(tmp_path: Path, prompt: str, negative: str):
    req = request(prompt, negative, model="sdxl-base-1.0")
    path = write(tmp_path, "JPEG", req, generated("JPEG", sampler="Euler", cfg_scale=5, steps=30))
    assert_every_reader_reads(path, {
        "prompt": prompt, "negative": negative, "steps": 30, "sampler": "Euler", "cfg": 5,
        "seed": SEED, "size": "64x48", "model": "sdxl-base-1.0",
    })  # fmt: skip
    with Image.open(path) as im:  # Atelier reads its own image back, to the character
        found = parse_file_metadata(im)
    p = found.parameters
    assert (p.prompt, p.negative_prompt, p.seed, p.steps, p.sampler, p.cfg_scale, p.model) == (
        prompt, negative, SEED, 30, "Euler", 5.0, "sdxl-base-1.0")  # fmt: skip


def test_the_json_is_kept_in_a_jpeg_whenever_it_fits(tmp_path: Path):
    path = write(tmp_path, "JPEG", request("a" * 4000, "b" * 4000), generated("JPEG"))
    with Image.open(path) as im:
        found = parse_file_metadata(im)
    assert found.parameters.source == "atelier" and found.job_id == "job-1"


# --- the stealth check of a plain PNG ------------------------------------------------------------
def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png_filtered(image: Image.Image) -> bytes:
    """``image`` (8-bit RGB or RGBA) as a PNG whose rows use each of the five PNG filters in
    turn (None, Sub, Up, Average, Paeth), written by hand as the PNG spec defines them."""
    channels = len(image.getbands())
    width, height = image.size
    raw = image.tobytes()
    stride = width * channels
    rows, above = [], bytes(stride)
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        kind = y % 5
        out = bytearray([kind])
        for i, x in enumerate(line):
            a = line[i - channels] if i >= channels else 0
            b = above[i]
            c = above[i - channels] if i >= channels else 0
            predicted = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            out.append((x - predicted) & 0xFF)
        rows.append(bytes(out))
        above = line

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if channels == 4 else 2, 0, 0, 0)
    data = zlib.compress(b"".join(rows))
    idat = b"".join(chunk(b"IDAT", data[i : i + 1000]) for i in range(0, len(data), 1000))  # several IDATs
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def noisy(mode: str, size: tuple[int, int]) -> Image.Image:
    rng = random.Random(5)
    return Image.frombytes(mode, size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * len(mode))))


@pytest.mark.parametrize(
    ("signature", "mode"),
    [("stealth_pnginfo", "RGBA"), ("stealth_pngcomp", "RGBA"), ("stealth_rgbinfo", "RGB"), ("stealth_rgbinfo", "RGBA")],
)
def test_stealth_info_of_a_tall_png_of_every_filter_is_read(signature: str, mode: str):
    """Tall enough (200 rows) that the signature lies in the first column alone, over rows
    of every filter, on noise: the first column is unfiltered right or nothing is found."""
    payload = INFOTEXT.encode()
    if signature.endswith("comp"):
        payload = gzip.compress(payload)
    with Image.open(io.BytesIO(hide(noisy(mode, (30, 200)), signature, payload))) as im:
        im.load()
        data = png_filtered(im)
    assert Image.open(io.BytesIO(data)).tobytes() == im.tobytes()  # the hand-made PNG is right
    with Image.open(io.BytesIO(data)) as im:
        found = parse_file_metadata(im)
    assert found is not None and found.parameters.source == "a1111"
    assert (found.parameters.prompt, found.parameters.seed, found.parameters.raw["stealth"]) == (
        "a circle", 2015833630, signature)  # fmt: skip


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_plain_png_is_not_decoded_to_look_for_stealth_info(mode: str):
    """A scan, an import and the parse endpoint read every file's metadata: a PNG without
    any is no longer decoded whole (9 ms a 1 Mpx file, 130 ms a 16 Mpx one, before)."""
    for data in (png_filtered(noisy(mode, (40, 300))), encoded_png(noisy(mode, (40, 300)))):
        with Image.open(io.BytesIO(data)) as im:
            assert parse_file_metadata(im) is None
            assert im.tile, "the pixels were decoded"
            assert im.tobytes() == Image.open(io.BytesIO(data)).tobytes()  # still loads right after


def encoded_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_pngs_the_first_rows_cannot_tell_are_decoded_as_before():
    """Interlaced, or short (the signature spans columns): the
    pixels are decoded as before, so nothing hidden there is missed."""
    image = noisy("RGBA", (30, 200))
    hidden = Image.open(io.BytesIO(hide(image.copy(), "stealth_pnginfo", INFOTEXT.encode())))
    buf = io.BytesIO()
    hidden.save(buf, "PNG", interlace=1)  # Pillow writes Adam7 when asked
    short = hide(noisy("RGBA", (64, 48)), "stealth_pnginfo", INFOTEXT.encode())
    for data in (buf.getvalue(), short):
        with Image.open(io.BytesIO(data)) as im:
            found = parse_file_metadata(im)
        assert found is not None and found.parameters.prompt == "a circle"


# --- invisible letters in file names -----------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        ("\u3164", "untitled"),  # HANGUL FILLER: a letter that shows as nothing
        ("\u115f\u1160 \uffa0", "untitled"),  # the other Hangul fillers
        ("red\u3164door", "red-door"),  # ... reads as a blank between words
        ("a\u034fb", "ab"),  # COMBINING GRAPHEME JOINER
        ("葛\U000e0100城", "葛城"),  # an ideographic variation selector
        ("heart\ufe0f", "heart"),  # VARIATION SELECTOR-16
        ("ᠠ\u180bᠡ", "ᠠᠡ"),  # a Mongolian free variation selector
    ],
)
def test_invisible_letters_and_marks_never_reach_a_file_name(prompt: str, slug: str):
    """Unicode's default-ignorable code points show as nothing: in a name, two files would
    look the same (and a prompt of fillers named a file with an invisible slug). The format
    characters among them (zero-width space, bidi controls) were already left out; these
    are letters (Lo) and marks (Mn), which the slug kept."""
    assert slugify(prompt, 60) == slug
    name = gallery_filename(datetime(2026, 1, 2, tzinfo=UTC), "offline", prompt, 7, ".png")
    assert not any(ch in name for ch in "\u3164\u115f\u1160\uffa0\u034f\ufe0f\u180b\U000e0100")


# --- the stealth check of a lossy WebP -----------------------------------------------------------
def webp(image: Image.Image, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "WEBP", **options)
    return buf.getvalue()


def test_a_lossy_webp_without_alpha_is_not_decoded_to_look_for_stealth_info(monkeypatch):
    """Its colours are coded lossily (subsampled YUV): no bit hidden in them survives, yet
    every such file met was decoded whole (50 ms a noisy 1 Mpx file, before)."""
    data = webp(noisy("RGB", (64, 64)), quality=90)
    assert data[12:16] == b"VP8 "
    decoded = []
    load = WebPImagePlugin.WebPImageFile.load

    def spy(self: WebPImagePlugin.WebPImageFile):  # Pillow's WebP keeps no tiles to look at
        decoded.append(self)
        return load(self)

    monkeypatch.setattr(WebPImagePlugin.WebPImageFile, "load", spy)
    with Image.open(io.BytesIO(data)) as im:
        assert parse_file_metadata(im) is None
    assert not decoded, "the pixels were decoded"


def test_stealth_info_in_the_lossless_alpha_of_a_lossy_webp_is_still_read():
    hidden = Image.open(io.BytesIO(hide(noisy("RGBA", (64, 64)), "stealth_pnginfo", INFOTEXT.encode())))
    data = webp(hidden, quality=90, alpha_quality=100, exact=True)
    assert b"ALPH" in data and b"VP8 " in data
    with Image.open(io.BytesIO(data)) as im:
        found = parse_file_metadata(im)
    assert found is not None and found.parameters.prompt == "a circle"


# --- JSON of a million tiny containers -----------------------------------------------------------
def _graph(extra_nodes: int) -> dict[str, object]:
    graph: dict[str, object] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "model.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lake", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 8, "steps": 20, "cfg": 7, "sampler_name": "euler", "scheduler": "normal", "denoise": 1,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}},
    }  # fmt: skip
    for n in range(extra_nodes):  # notes nobody links: what a hostile file pads a graph with
        graph[f"n{n}"] = {"class_type": "Note", "inputs": {"a": [], "b": {}}}
    return graph


def _comfy_png(graph: dict[str, object]) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_json_of_too_many_containers_is_not_parsed():
    """Parsing JSON costs per object and array, not per byte: 25 MB of tiny ComfyUI nodes
    (250,000) took 1.4 s and 250 MB for one file, on every scan; the readers of JSON
    infotext each parsed the same text again. Past 100,000 containers a text is not
    parsed (real graphs hold hundreds); below, the graph is read as ever."""
    with Image.open(io.BytesIO(_comfy_png(_graph(1000)))) as im:
        found = parse_file_metadata(im)
    assert found is not None and (found.parameters.source, found.parameters.prompt, found.parameters.seed) == (
        "comfyui", "a lake", 8)  # fmt: skip
    with Image.open(io.BytesIO(_comfy_png(_graph(40_000)))) as im:  # 120,000 containers
        assert parse_file_metadata(im) is None


# --- text chunks after the image data: a budget for all of them ---------------------------------
def test_compressed_text_after_the_image_data_inflates_a_bounded_total(monkeypatch):
    """Each zTXt/iTXt chunk after the image data was capped alone (8 MB once inflated), not
    all of them: 1000 chunks of 8 KB, an 8 MB file, inflated 8 GB (140 s for one parse).
    Now all the text there together is capped; the chunks before the cap are read."""
    cap = 64 * 1024  # the caps made small, so that the file before the fix stays quick
    monkeypatch.setattr(metadata, "MAX_TEXT_CHUNK", cap)
    monkeypatch.setattr(metadata, "MAX_TRAILING_TEXT", cap, raising=False)
    inflated = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args: object) -> None:
            self.inner = real(*args)

        def decompress(self, data: bytes, limit: int = 0) -> bytes:
            out = self.inner.decompress(data, limit)
            inflated.append(len(out))
            return out

        @property
        def unconsumed_tail(self) -> bytes:
            return self.inner.unconsumed_tail

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = zlib.compress(b"a" * cap, 9)
    infotext = "a lake\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 8x8"
    late = chunk(b"iTXt", b"parameters\0\x01\0\0\0" + zlib.compress(infotext.encode()))
    late += b"".join(chunk(b"zTXt", f"k{i}".encode() + b"\0\0" + bomb) for i in range(100))
    png = encoded_png(Image.new("RGB", (8, 8)))
    end = png.rindex(b"IEND") - 4
    monkeypatch.setattr(metadata.zlib, "decompressobj", Counting)
    with Image.open(io.BytesIO(png[:end] + late + png[end:])) as im:
        found = parse_file_metadata(im)
    assert found is not None and (found.parameters.prompt, found.parameters.seed) == ("a lake", 5)
    calls = 8  # _png_trailing runs a few times a parse (text, EXIF, the readers)
    assert sum(inflated) <= calls * 2 * cap, f"{sum(inflated)} bytes inflated"


# --- a social format's byte limit, metadata included ------------------------------------------------
@pytest.mark.parametrize("output", ["jpeg", "png"])
def test_a_social_output_with_its_metadata_is_within_the_platforms_limit(tmp_path: Path, output: str):
    """The social tool stepped JPEG quality down until the encoded image fitted the
    platform's upload limit, then the gallery embedded the metadata (up to 64 KB of EXIF,
    more in a PNG): the file saved, the one a user uploads, could be over the limit."""
    image = noisy("RGB", (400, 300))
    first = io.BytesIO()
    if output == "png":
        image.save(first, "PNG", compress_level=6)
    else:
        image.save(first, "JPEG", quality=QUALITIES[0], optimize=True, progressive=True)
    limit = first.tell() + 10  # the first try fits, by 10 bytes
    source = {"parameters": {"prompt": "🎨" * 9000, "negative_prompt": "\x01" * 9000, "seed": SEED, "steps": 30}}
    req = request("🎨" * 4000, "😀" * 4000, provider="local", model="social", steps=None, seed=None)
    data, encoding = encode_within(image, limit, output, png_metadata_room(req, source["parameters"]))
    extra = {"source": {"image_id": "x", "path": "a.png", "operation": "social", "platform": "youtube", **source}}
    fmt = encoding["format"].upper()
    path = write(tmp_path, fmt, req, GeneratedImage(0, data, None), extra)
    assert path.stat().st_size <= limit
    with Image.open(path) as im:
        assert parse_file_metadata(im).parameters.seed == SEED  # the metadata is all there


def test_a_png_social_output_leaves_room_for_exactly_what_it_will_carry(tmp_path: Path):
    """A PNG that fits with its metadata stays a PNG (the room is what this image's
    metadata takes, not a fixed worst case)."""
    image = noisy("RGB", (400, 300))
    first = io.BytesIO()
    image.save(first, "PNG", compress_level=6)
    parameters = {"prompt": "a lake", "negative_prompt": "", "seed": 5, "steps": 30}
    req = request("a lake", "", provider="local", model="social", steps=None, seed=None)
    room = png_metadata_room(req, parameters)
    data, encoding = encode_within(image, first.tell() + room, "png", room)
    assert encoding == {"format": "png"}
    extra = {"source": {"image_id": "x", "path": "a.png", "operation": "social", "parameters": parameters}}
    path = write(tmp_path, "PNG", req, GeneratedImage(0, data, None), extra)
    assert path.stat().st_size <= first.tell() + room


def test_a_png_with_many_chunks_before_its_image_data_is_not_decoded_for_stealth_info():
    """The first rows are read from where Pillow's decoder starts, not by walking every
    chunk before them (5000 unknown text chunks made the walk give up and decode)."""
    info = PngImagePlugin.PngInfo()
    for n in range(5000):
        info.add_text(f"k{n}", "v")
    buf = io.BytesIO()
    noisy("RGB", (40, 300)).save(buf, "PNG", pnginfo=info)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert parse_file_metadata(im) is None
        assert im.tile, "the pixels were decoded"


def test_text_after_many_image_data_chunks_is_read():
    """libpng writes the image data in 8 KB chunks: a 40 MB image has 5000 of them, and
    they counted among the 4096 chunks walked after the image data, so text after them
    (a tool that appends its chunks) was never read."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = encoded_png(noisy("RGB", (200, 200)))
    start, end = png.index(b"IDAT") - 4, png.rindex(b"IEND") - 4
    data, pos = b"", start
    while pos < end:  # the image data, whatever Pillow split it into, joined
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        data += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    split = b"".join(chunk(b"IDAT", data[i : i + 16]) for i in range(0, len(data), 16))
    assert split.count(b"IDAT") > 5000
    infotext = "a lake\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 200x200"
    text = chunk(b"tEXt", b"parameters\0" + infotext.encode())
    with Image.open(io.BytesIO(png[:start] + split + text + png[end:])) as im:
        found = parse_file_metadata(im)
        assert found is not None and (found.parameters.prompt, found.parameters.seed) == ("a lake", 5)
        assert im.tile, "the pixels were decoded"


# --- a social output's seed -------------------------------------------------------------------------
def test_a_social_output_keeps_its_sources_seed_like_an_upscale(tmp_path: Path):
    """The social tool's request carries the source's seed (as an upscale's does) and its
    infotext states it, but the image it made had none: Atelier's own parameters, the
    index and the file name of a social output had no seed while every other reader, and
    an upscale of the same image, showed it."""
    source = write(tmp_path / "a", "PNG", request("a lake", "fog"), generated("PNG", sampler="Euler", steps=30))
    producer = SocialProducer(lambda _source: source.read_bytes())
    tool = {
        "source": {"image_id": "x", "path": source.name},
        "options": {"crop": "center", "focal": None, "fill": "blur", "fill_color": "#000000"},
        "targets": ["instagram/post"],
    }
    req = request("a lake", "fog", provider="local", model="social", steps=None)  # seed: the source's
    [made] = list(producer.produce(tool, req, Ctx()))
    path = write(tmp_path / "b", "JPEG", req, made, made.extra)
    assert path.name.endswith(f"_{SEED}.jpg")
    with Image.open(path) as im:
        found = parse_file_metadata(im)
    assert (found.parameters.seed, found.parameters.steps, found.parameters.sampler) == (SEED, 30, "Euler")
    assert a1111_png_info_text(path).count(f"Seed: {SEED}") == 1


@pytest.mark.parametrize(
    ("prompt", "negative"),
    [("🎨" * 10_000, "😀" * 10_000), ("a lake, " + "🎨" * 17_000, ""), ("a lake", "😀" * 17_000)],
    ids=["both", "no-negative", "short-prompt"],
)
def test_a_jpeg_tool_output_of_a_source_with_huge_prompts_is_kept(tmp_path: Path, prompt: str, negative: str):
    """An imported image's prompts may hold 10,000 characters each: in emoji, the infotext
    alone is 80 KB, over a JPEG's 64 KB EXIF segment, and a social format of it failed
    ("the local provider failed unexpectedly (ValueError: metadata too large for a JPEG
    APP1 segment)", marked retryable). Now the image is kept: its prompts are cut to fit,
    each ending in "…" where cut, and every setting is exact."""
    src = {"prompt": prompt, "negative_prompt": negative, "seed": SEED, "steps": 30, "sampler": "Euler", "model": "m"}
    extra = {"source": {"image_id": "x", "path": "a.png", "operation": "social", "parameters": src}}
    req = request("a lake", provider="local", model="social")
    path = write(tmp_path, "JPEG", req, GeneratedImage(0, encoded_jpeg(), None), extra)
    for reader, got in every_reader(path).items():
        for shown, full in ((got["prompt"], prompt), (got["negative"], negative)):
            assert shown == full or (shown.endswith("…") and full.startswith(shown[:-1]) and len(shown) > 5000), reader
        assert (str(got["seed"]), str(got["steps"]), got["sampler"], got["model"]) == (str(SEED), "30", "Euler", "m")


def encoded_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()
