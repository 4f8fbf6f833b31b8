"""Atelier's own images as other tools read them (issue 12, "Atelier's own files, read by
others"), in process: the bytes ``Gallery.write_image`` writes, read by the real readers
installed from PyPI (requirements-readers.txt): sd-parsers, SD Prompt Reader, and piexif
the way A1111's PNG Info reads a JPEG/WebP. sd-metadata (a TypeScript library, not
installable here) is checked against its documented format (``sd_metadata_reads``).

Each of these failed before the change: the EXIF tags were TIFF type 1 (piexif gave a
tuple: A1111 failed on ``.decode``, SD Prompt Reader said "format error"); no ``Sampler``
nor ``CFG scale`` was written (sd-parsers found nothing); a carriage return became U+FFFD;
``日本の山`` got the file name slug ``untitled``. The real-server checks (generations of
several providers, upscale and social outputs) are in test_metadata_written_server.py.
"""

from __future__ import annotations

import io
import json
import re
import struct
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import piexif
import piexif.helper
import pytest
from PIL import Image
from sd_parsers import ParserManager
from sd_prompt_reader.image_data_reader import ImageDataReader

from backend import __version__
from backend.providers.base import GeneratedImage, GenerationRequest, settings
from backend.services.gallery import Gallery, SaveContext
from backend.services.tools.common import source_parameters
from backend.storage.files import MAX_NAME_BYTES, gallery_filename, slugify
from backend.storage.gallery_index import GalleryIndex
from backend.storage.image_params import parse_file_metadata
from backend.storage.infotext import format_infotext, parse_infotext
from backend.storage.metadata import embed_metadata, read_embedded

FORMATS = ("PNG", "JPEG", "WEBP")
SEED = 6952411511246973023  # a 64-bit seed (Fooocus makes such): written exactly
# (prompt, negative prompt): non-ASCII, commas, quotes, line feeds, carriage returns
TEXTS = {
    "non-ascii": ("日本の山、夜明け — café, Ωμέγα", "ぼやけた, été"),
    "commas": ("a castle, sunset, 8k, (masterpiece:1.2)", "blurry, low quality, jpeg artifacts"),
    "quotes": ("a sign that says \"OPEN\", 'single'", 'no "text"'),
    "newlines": ("first line\nsecond line", "bad hands\nbad feet"),
    "crlf": ("first line\r\nsecond line", "bad hands\r\nbad feet"),
}


# --- the readers, each as a user would run it ------------------------------------------------
#: every image sd-parsers has read, kept alive: it caches the last image's EXIF UserComment
#: by ``id(image)`` (extractors/_jpeg_usercomment.py), and a freed image's id is reused by the
#: next one, which then reads as the previous file (seen in CI: a WebP read as the JPEG before)
_READ_BY_SD_PARSERS: list[Image.Image] = []


def read_sd_parsers(path: Path) -> dict[str, Any]:
    image = Image.open(io.BytesIO(path.read_bytes()))
    _READ_BY_SD_PARSERS.append(image)
    info = ParserManager().parse(image)
    assert info is not None, f"sd-parsers found no metadata in {path.name}"
    sampler = info.samplers[0]
    return {
        "prompt": info.full_prompt,
        "negative": info.full_negative_prompt,
        "steps": sampler.parameters.get("steps"),
        "sampler": sampler.name,
        "cfg": sampler.parameters.get("cfg_scale"),
        "seed": sampler.parameters.get("seed"),
        "size": info.metadata.get("Size"),
        "model": sampler.model.name if sampler.model else None,
    }


def read_sd_prompt_reader(path: Path) -> dict[str, Any]:
    reader = ImageDataReader(str(path))
    assert reader.status.name == "READ_SUCCESS", f"SD Prompt Reader: {reader.status.name} on {path.name}"
    assert reader.tool == "A1111 webUI"
    p = reader.parameter
    return {
        "prompt": reader.positive,
        "negative": reader.negative,
        "steps": p["steps"],
        "sampler": p["sampler"],
        "cfg": p["cfg"],
        "seed": p["seed"],
        "size": p["size"],
        "model": p["model"],
    }


def a1111_png_info_text(path: Path) -> str:
    """The infotext exactly as A1111's PNG Info gets it: the ``parameters`` chunk of a PNG;
    for a JPEG/WebP, ``piexif.load`` of the EXIF, UserComment, ``UserComment.load``."""
    with Image.open(path) as im:
        if im.format == "PNG":
            return im.info["parameters"]
        exif = piexif.load(im.info["exif"])
        return piexif.helper.UserComment.load(exif["Exif"][piexif.ExifIFD.UserComment])


def sd_metadata_reads(text: str) -> dict[str, Any] | None:
    """What sd-metadata (github enslo/sd-metadata) makes of an A1111 ``parameters`` text (a
    PNG's ``parameters`` chunk, a JPEG/WebP's EXIF UserComment), by its documented rules
    (src/parsers/detect.ts, src/parsers/index.ts, src/parsers/a1111.ts): a text with
    ``Steps:`` and ``Sampler:`` is detected as ``sd-webui``, any other is still parsed as
    A1111 first (unless its ``Version`` is ComfyUI's or it is SwarmUI's). The prompt is what
    comes before the first ``Negative prompt:``; the settings line starts at the line break
    before the first ``Steps:``, so without ``Steps:`` no setting is read at all (the line
    lands in the prompt or the negative prompt): None here. Its pairs are ``Key: value`` up
    to the next ``, Key:``; older releases also required ``Size``."""
    version = re.search(r"Version:\s*([^\s,]+)", text)
    if (version and version[1] == "ComfyUI") or "sui_image_params" in text or "swarm_version" in text:
        return None
    if "Steps:" not in text:
        return None  # no settings line: nothing but a prompt
    negative_at, steps_at = text.find("Negative prompt:"), text.find("Steps:")
    settings_at = text.rfind("\n", 0, steps_at)
    prompt = text[: negative_at if negative_at >= 0 else settings_at].strip()
    negative = text[negative_at + len("Negative prompt:") : settings_at].strip() if negative_at >= 0 else ""
    pairs = dict(
        (k.strip(), v.strip())
        for k, v in re.findall(
            r"([A-Za-z][A-Za-z0-9 ]*?):\s*([^,]+?)(?=,\s*[A-Za-z][A-Za-z0-9 ]*?:|$)", text[settings_at:].strip()
        )  # fmt: skip
    )
    if "Size" not in pairs:
        return None
    return {
        "prompt": prompt,
        "negative": negative,
        "steps": pairs.get("Steps"),
        "sampler": pairs.get("Sampler"),
        "cfg": pairs.get("CFG scale"),
        "seed": pairs.get("Seed"),
        "size": pairs.get("Size"),
        "model": pairs.get("Model"),
    }


def a1111_reads(text: str) -> dict[str, Any] | None:
    """What A1111's own ``parse_generation_parameters`` (modules/infotext_utils.py) makes of
    the text, by its documented rules: the last line is the settings line when it holds at
    least three ``Key: value`` pairs (a value may be a JSON-quoted string); every other line
    is stripped (so a CR before a line break is dropped: the one change A1111 makes), and the
    lines from the first ``Negative prompt:`` on are the negative prompt."""
    *lines, last = text.strip().split("\n")
    pairs = re.findall(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)', last)
    if len(pairs) < 3:
        return None
    prompt: list[str] = []
    negative: list[str] = []
    for line in (line.strip() for line in lines):
        if line.startswith("Negative prompt:") and not negative:
            negative.append(line[16:].strip())
        else:
            (negative if negative else prompt).append(line)
    values = {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}
    return {
        "prompt": "\n".join(prompt),
        "negative": "\n".join(negative),
        **{k: values.get(n) for k, n in (("steps", "Steps"), ("sampler", "Sampler"), ("cfg", "CFG scale"),
                                         ("seed", "Seed"), ("size", "Size"), ("model", "Model"))},
    }  # fmt: skip


def as_a1111_shows(text: str) -> str:
    """A prompt as A1111 shows it: each line stripped (see ``a1111_reads``)."""
    return "\n".join(line.strip() for line in text.split("\n"))


def sd_metadata_user_comment_is_big_endian(comment: bytes) -> bool:
    """sd-metadata (src/readers/exif.ts) reads a UNICODE UserComment as little-endian when its
    first code unit looks like ASCII in LE (a non-zero byte, then zero), else big-endian."""
    body = comment[8:]
    return not (len(body) >= 2 and body[0] != 0 and body[1] == 0)


def every_reader(path: Path) -> dict[str, dict[str, Any]]:
    found = {"sd-parsers": read_sd_parsers(path), "sd-prompt-reader": read_sd_prompt_reader(path)}
    text = a1111_png_info_text(path)
    found["sd-metadata"] = sd_metadata_reads(text)
    found["a1111"] = a1111_reads(text)
    parsed = parse_infotext(text)  # Atelier's own parser: exact
    p = parsed["params"]
    found["atelier"] = {
        "prompt": parsed["prompt"],
        "negative": parsed["negative_prompt"],
        **{k: p.get(n) for k, n in (("steps", "Steps"), ("sampler", "Sampler"), ("cfg", "CFG scale"),
                                    ("seed", "Seed"), ("size", "Size"), ("model", "Model"))},
    }  # fmt: skip
    return found


def assert_every_reader_reads(path: Path, expected: dict[str, Any]) -> None:
    want = {k: None if v is None else str(v) for k, v in expected.items()}
    for reader, got in every_reader(path).items():
        assert got is not None, f"{reader} did not recognise {path.name}"
        if reader == "a1111":
            want_here = {**want, "prompt": as_a1111_shows(want["prompt"]), "negative": as_a1111_shows(want["negative"])}
        else:
            want_here = want
        assert {k: None if v is None else str(v) for k, v in got.items()} == want_here, reader


# --- writing, in process ----------------------------------------------------------------
def encoded(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (20, 90, 160)).save(buf, fmt)
    return buf.getvalue()


def request(prompt: str, negative: str = "", **kw: Any) -> GenerationRequest:
    fields: dict[str, Any] = dict(
        prompt=prompt,
        styled_prompt=prompt,
        negative_prompt=negative,
        user_negative_prompt=negative,
        provider="formats",
        model="sdxl-base, v1.0",
        style="none",
        aspect_ratio="4:3",
        width=64,
        height=48,
        n=1,
        seed=SEED,
        steps=20,
    )
    fields.update(kw)
    return GenerationRequest(**fields)


def write(tmp_path: Path, fmt: str, req: GenerationRequest, image: GeneratedImage, extra=None) -> Path:
    gallery = Gallery(tmp_path, GalleryIndex(tmp_path / ".atelier" / "index.sqlite3"))
    row = gallery.write_image(req, image, SaveContext("job-1", None, "t", None), extra)
    return tmp_path / row.path


def generated(fmt: str, seed: int | None = SEED, **stated: Any) -> GeneratedImage:
    return GeneratedImage(0, encoded(fmt), seed, settings(**stated) if stated else {})


class Ctx:
    """A GenerationContext that records nothing and never cancels."""

    cancelled = False

    def raise_if_cancelled(self) -> None:
        pass

    def status(self, message: str) -> None:
        pass

    def step(self, *args: Any) -> None:
        pass

    def preview(self, *args: Any) -> None:
        pass


# --- the EXIF container -------------------------------------------------------------------
def exif_ifd_types(data: bytes) -> dict[int, int]:
    """tag -> TIFF type of the Exif IFD in ``Exif\\0\\0`` + TIFF bytes, parsed by hand."""
    tiff = data[6:] if data.startswith(b"Exif\0\0") else data
    order = {b"MM": ">", b"II": "<"}[tiff[:2]]
    (ifd0,) = struct.unpack(order + "I", tiff[4:8])
    entries = lambda at: [struct.unpack(order + "HHII", tiff[at + 2 + 12 * i : at + 14 + 12 * i])  # noqa: E731
                          for i in range(struct.unpack(order + "H", tiff[at : at + 2])[0])]  # fmt: skip
    exif_at = next(value for tag, _, _, value in entries(ifd0) if tag == 0x8769)
    return {tag: kind for tag, kind, _, _ in entries(exif_at)}


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_user_comment_and_maker_note_are_undefined_as_the_exif_spec_says(fmt):
    data = embed_metadata(encoded(fmt), fmt, "a prompt\nSteps: 2, Sampler: x, Seed: 1", {"atelier_version": "t"})
    with Image.open(io.BytesIO(data)) as im:
        raw = im.info["exif"]
    assert exif_ifd_types(raw) == {0x9286: 7, 0x927C: 7}  # UNDEFINED, not BYTE (1)
    exif = piexif.load(raw)["Exif"]
    assert isinstance(exif[piexif.ExifIFD.UserComment], bytes) and isinstance(exif[piexif.ExifIFD.MakerNote], bytes)
    with Image.open(io.BytesIO(data)) as im:  # and Atelier still reads its own file
        assert read_embedded(im) == ("a prompt\nSteps: 2, Sampler: x, Seed: 1", {"atelier_version": "t"})


@pytest.mark.parametrize("fmt", FORMATS)
def test_a1111_png_info_gets_the_infotext_exactly(tmp_path, fmt):
    req = request("日本の山, a lake", "blurry")
    path = write(tmp_path, fmt, req, generated(fmt, sampler="DPMSolverMultistepScheduler", cfg_scale=7.0, steps=20))
    assert a1111_png_info_text(path) == (
        "日本の山, a lake\nNegative prompt: blurry\n"
        f"Steps: 20, Sampler: DPMSolverMultistepScheduler, CFG scale: 7, Seed: {SEED}, Size: 64x48, "
        'Model: "sdxl-base, v1.0", Aspect ratio: "4:3", Provider: formats, Version: Atelier ' + __version__
    )


# --- every field, every text, every format --------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(TEXTS))
def test_every_reader_reads_every_field_of_any_text(tmp_path, fmt, case):
    prompt, negative = TEXTS[case]
    req = request(prompt, negative, model="sdxl-base-1.0")
    path = write(tmp_path, fmt, req, generated(fmt, sampler="EulerAncestralDiscreteScheduler", cfg_scale=6.5, steps=20))
    assert_every_reader_reads(path, {
        "prompt": prompt, "negative": negative, "steps": 20, "sampler": "EulerAncestralDiscreteScheduler",
        "cfg": 6.5, "seed": SEED, "size": "64x48", "model": "sdxl-base-1.0",
    })  # fmt: skip
    if fmt != "PNG":
        with Image.open(path) as im:
            comment = piexif.load(im.info["exif"])["Exif"][piexif.ExifIFD.UserComment]
        assert sd_metadata_user_comment_is_big_endian(comment)
    with Image.open(path) as im:  # Atelier reads back what it wrote, to the character
        found = parse_file_metadata(im)
    assert found.parameters.prompt == prompt and found.parameters.negative_prompt == negative
    assert found.parameters.seed == SEED


def test_a_carriage_return_is_kept_not_replaced():
    text = format_infotext("first line\r\nsecond line", "a\rb", {"Steps": 2, "Sampler": "x", "Seed": 1})
    assert "\ufffd" not in text and text.startswith("first line\r\nsecond line\nNegative prompt: a\rb\n")
    parsed = parse_infotext(text)
    assert (parsed["prompt"], parsed["negative_prompt"]) == ("first line\r\nsecond line", "a\rb")
    # a value holding a CR is quoted (as one with a line feed), so the settings stay one line
    assert parse_infotext(format_infotext("p", "", {"Steps": 2, "Note": "x\ry", "Seed": 1}))["params"]["Note"] == "x\ry"


def test_a_provider_without_sampler_or_guidance_writes_neither(tmp_path):
    """Nothing untrue: a provider that states no steps, sampler or CFG (a remote API such as
    OpenAI's, Gemini, Stability, EvoLink) gets none. What each reader then shows is what the
    README's table says: A1111 and Atelier read every field written; SD Prompt Reader and
    sd-metadata find the settings line by ``Steps:``, so without it SD Prompt Reader shows
    the whole text as the prompt and sd-metadata reports no Size; sd-parsers needs ``Sampler:``."""
    path = write(tmp_path, "PNG", request("a fox", "rain", steps=None), generated("PNG"))
    text = a1111_png_info_text(path)
    assert "Sampler:" not in text and "CFG scale:" not in text and "Steps:" not in text
    assert f"Seed: {SEED}" in text and "Size: 64x48" in text
    parsed = every_reader_we_can(path)
    assert parsed["atelier"]["prompt"] == "a fox" and parsed["atelier"]["seed"] == str(SEED)
    assert parsed["sd-prompt-reader"]["prompt"] == "a fox" and parsed["sd-prompt-reader"]["negative"].startswith(
        "rain\n"
    )
    assert parsed["sd-metadata"] is None and parsed["sd-parsers"] is None


def every_reader_we_can(path: Path) -> dict[str, Any]:
    """Like ``every_reader``, a reader that does not recognise the file giving None."""
    try:
        sd_parsers = read_sd_parsers(path)
    except AssertionError:
        sd_parsers = None
    reader = ImageDataReader(str(path))
    text = a1111_png_info_text(path)
    parsed = parse_infotext(text)
    return {
        "sd-parsers": sd_parsers,
        "sd-prompt-reader": {"prompt": reader.positive, "negative": reader.negative, **reader.parameter},
        "sd-metadata": sd_metadata_reads(text),
        "atelier": {
            "prompt": parsed["prompt"],
            "negative": parsed["negative_prompt"],
            "seed": parsed["params"].get("Seed"),
        },
    }


def test_the_offline_renderer_names_its_method_as_the_sampler(tmp_path):
    from backend.providers.offline import SAMPLER, OfflineProvider

    provider = OfflineProvider({})

    req = request("a lake at night, stars", "fog", provider="offline", model="procedural-draft", steps=8, seed=7,
                  width=64, height=64)  # fmt: skip
    [image] = list(provider.generate(req, Ctx()))
    path = write(tmp_path, "PNG", req, image)
    assert_every_reader_reads(path, {
        "prompt": "a lake at night, stars", "negative": "fog", "steps": 8, "sampler": SAMPLER, "cfg": None,
        "seed": 7, "size": "64x64", "model": "procedural-draft",
    })  # fmt: skip


def test_a_diffusers_image_names_the_scheduler_the_pipeline_ran(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from backend.providers.diffusers_local import DiffusersProvider
    from tests.support.tiny_diffusers import TINY_SIZES, save_tiny_models

    models = save_tiny_models(tmp_path / "models", ("sd",))
    cache = tmp_path / "cache"
    cache.mkdir()
    provider = DiffusersProvider({"ATELIER_DIFFUSERS_MODELS_DIR": str(models), "HF_HUB_CACHE": str(cache)})
    [model] = [m for m in provider.models() if m.source]

    width, height = TINY_SIZES["sd"]["1:1"]
    req = request("a red cat", provider="diffusers", model=model.id, steps=2, seed=11, width=width, height=height)
    [image] = list(provider.generate(req, Ctx()))
    [config] = models.glob("*/scheduler/scheduler_config.json")
    scheduler = json.loads(config.read_text())["_class_name"]  # what the pipeline loads
    path = write(tmp_path / "gallery", "PNG", req, image)
    # sd-turbo runs without guidance (guidance 0): no CFG scale is written
    assert_every_reader_reads(path, {
        "prompt": "a red cat", "negative": "", "steps": 2, "sampler": scheduler, "cfg": None,
        "seed": 11, "size": f"{width}x{height}", "model": model.id,
    })  # fmt: skip


# --- a tool's output carries its source's parameters ------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_tool_output_carries_its_sources_parameters(tmp_path, fmt):
    source_req = request('a red door, "old"', "rust")
    source = write(tmp_path / "a", "PNG", source_req, generated("PNG", sampler="DDIMScheduler", cfg_scale=5, steps=30))
    origin = source_parameters(source.read_bytes())
    assert origin["parameters"] == {
        "prompt": 'a red door, "old"', "negative_prompt": "rust", "steps": 30, "sampler": "DDIMScheduler",
        "cfg_scale": 5.0, "seed": SEED, "model": "sdxl-base, v1.0",
    }  # fmt: skip
    # the tool's own request has no steps, no sampler: its output still says all of the source's
    tool_req = request("a red door", provider="local", model="upscale-fast-2x", steps=None, seed=None)
    extra = {"source": {"image_id": "x", "path": "2026/a.png", "operation": "upscale", "mode": "fast", **origin}}
    out = write(tmp_path / "b", fmt, tool_req, GeneratedImage(0, encoded(fmt, (128, 96)), None), extra)
    text = a1111_png_info_text(out)
    assert "Tool: upscale fast" in text and "Tool model: upscale-fast-2x" in text and "Source image: 2026/a.png" in text
    for reader, got in every_reader(out).items():
        assert got is not None, reader
        assert (got["prompt"], got["negative"]) == ('a red door, "old"', "rust"), reader
        assert (str(got["steps"]), got["sampler"], str(got["seed"]), got["size"]) == (
            "30", "DDIMScheduler", str(SEED), "128x96"), reader  # fmt: skip
        assert str(got["cfg"]) in ("5", "5.0"), reader


def test_a_source_with_hostile_or_no_metadata_gives_no_parameters():
    assert source_parameters(encoded("PNG")) == {}
    assert source_parameters(b"not an image") == {}
    bad = embed_metadata(encoded("PNG"), "PNG", "x\nSteps: many, Seed: -3", {"atelier_version": 5, "request": []})
    nothing_but_the_prompt = dict.fromkeys(("steps", "sampler", "cfg_scale", "seed", "model"))
    assert source_parameters(bad) == {"parameters": {"prompt": "x", "negative_prompt": "", **nothing_but_the_prompt}}


# --- file names ------------------------------------------------------------------------------------
WHEN = datetime(2026, 11, 21, 14, 32, 5, 42000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        ("日本の山", "日本の山"),
        ("Serene mountain lake!", "serene-mountain-lake"),
        ("Café au lait", "café-au-lait"),
        ("Cafe\u0301", "café"),  # NFC: one é, however it was typed
        ("नमस्ते दुनिया", "नमस्ते-दुनिया"),  # the vowel signs stay with their letters
        ("Привет, мир", "привет-мир"),
        ("مرحبا بالعالم", "مرحبا-بالعالم"),
        ("٣ قطط", "٣-قطط"),  # digits of any script
        ("🌋 🌊 !!", "untitled"),  # no letter or digit at all
        ("   ", "untitled"),
        ("CON", "con_"),  # Windows device names are reserved with any extension
        ("lpt1", "lpt1_"),
        ('a/b\\c:d*e?f"g<h>i|j.', "a-b-c-d-e-f-g-h-i-j"),
    ],
)
def test_slugs_keep_letters_and_digits_of_every_script(prompt, slug):
    assert slugify(prompt) == slug


def test_names_are_capped_by_bytes_without_splitting_a_character():
    for prompt in ("日本の山" * 40, "é" * 200, "नमस्ते" * 40, "a" * 500, "word " * 100):
        name = gallery_filename(WHEN, "offline", prompt, 2**64 - 1, ".webp", 999)
        assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
        assert name == unicodedata.normalize("NFC", name)
        slug = name.split("_")[2]
        assert slug and slugify(prompt, 500).startswith(slug)
        assert not name.endswith((".", " ")) and not re.search(r'[<>:"/\\|?*\x00-\x1f]', name)
    assert gallery_filename(WHEN, "offline", "日本の山", 7, ".png") == "20261121-143205-042_offline_日本の山_7.png"


def test_a_cut_never_leaves_a_letter_without_its_marks():
    # "स्ते" is a letter, a virama, a letter and a vowel sign: cut by bytes, then back to a whole letter
    for limit in range(1, 40):
        slug = slugify("नमस्ते" * 5, limit)
        assert len(slug.encode()) <= limit or slug == "untitled"
        assert slug == "untitled" or not unicodedata.category(slug[0]).startswith("M")
        whole = "नमस्ते" * 5
        assert slug == "untitled" or (whole.startswith(slug) and not unicodedata.category(whole[len(slug)])[0] == "M")


def test_source_parameters_of_the_wrong_types_are_left_out(tmp_path):
    """A tool's source parameters may come back from a worker as any JSON: never a crash,
    never a value of the wrong type in the infotext."""
    hostile = {"prompt": 5, "negative_prompt": ["x"], "steps": "many", "sampler": {"a": 1}, "cfg_scale": "7",
               "seed": True, "model": None}  # fmt: skip
    extra = {"source": {"image_id": "x", "path": "a.png", "operation": "upscale", "parameters": hostile}}
    req = request("tool prompt", provider="local", model="upscale-fast-2x", steps=None, seed=None)
    out = write(tmp_path, "PNG", req, GeneratedImage(0, encoded("PNG"), None), extra)
    text = a1111_png_info_text(out)
    assert text.startswith("\nSize: 64x48, Tool provider: local, Tool model: upscale-fast-2x, Source image: a.png")
