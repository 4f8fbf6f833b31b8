"""Atelier's images, made by the real server, as other tools read them (issue 12): an
offline generation (PNG), a provider that answers JPEG and one that answers WebP, the
Hugging Face provider (its local fake: steps and seed, no sampler), an upscale and a social
format of the offline image. Each file is read with sd-parsers, SD Prompt Reader, piexif
as A1111's PNG Info does, and sd-metadata's documented rules (see test_metadata_written.py),
and every field is compared with what was asked. A prompt of another script names its file
(``日本の山``), and that file is served, listed, exported and imported under its name.

Before the change: no reader but A1111 (and then only for PNG) read these files (no
Sampler, EXIF type BYTE), the upscale and social outputs had no Steps, no negative prompt
(the social JPEG no seed), the CR of the prompt was U+FFFD and the file was ``untitled``.
"""

from __future__ import annotations

import io
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any

import pytest

from backend.providers.offline import SAMPLER as OFFLINE_SAMPLER
from backend.services.tools.social import find_format
from tests.fakes.huggingface_api import FakeHuggingFace
from tests.fakes.stability_api import FakeStability
from tests.support import format_providers
from tests.support.cloud import FAST_SETTINGS
from tests.support.tools import run_tool
from tests.test_metadata_written import (
    a1111_png_info_text,
    assert_every_reader_reads,
    read_sd_parsers,
    read_sd_prompt_reader,
    sd_metadata_reads,
)

PROMPT = '日本の山, a lake at dawn, "still"\r\nsecond line'
NEGATIVE = "fog, blur\r\nnoise"
MODULES = "tests.support.providers,tests.support.format_providers"


@pytest.fixture
def srv(make_server):
    return make_server("eventlet", ATELIER_PROVIDER_MODULES=MODULES)


def _job(srv, **body) -> dict[str, Any]:
    job = srv.wait_job(srv.submit(**body)["id"])
    assert job["status"] == "succeeded", job.get("error")
    return job


def _path(srv, image: dict[str, Any]) -> Path:
    return srv.gallery / image["path"]


def test_generations_and_tool_outputs_are_read_exactly_by_every_reader(srv):
    job = _job(srv, prompt=PROMPT, negative_prompt=NEGATIVE, provider="offline", model="procedural-draft",
               aspect_ratio="1:1", seed=4_000_000_123)  # fmt: skip
    [image] = job["images"]
    offline = {"prompt": PROMPT, "negative": NEGATIVE, "steps": 8, "sampler": OFFLINE_SAMPLER, "cfg": None,
               "seed": 4_000_000_123, "model": "procedural-draft"}  # fmt: skip
    w, h = image["width"], image["height"]
    assert_every_reader_reads(_path(srv, image), {**offline, "size": f"{w}x{h}"})

    for model, suffix in (("jpeg-model", ".jpg"), ("webp-model", ".webp")):
        [made] = _job(srv, prompt=PROMPT, negative_prompt=NEGATIVE, provider="formats", model=model,
                      aspect_ratio="3:2", seed=42, steps=12)["images"]  # fmt: skip
        assert made["path"].endswith(suffix)
        assert_every_reader_reads(_path(srv, made), {
            "prompt": PROMPT, "negative": NEGATIVE, "steps": 12, "sampler": format_providers.SAMPLER,
            "cfg": format_providers.CFG_SCALE, "seed": 42, "size": "96x64", "model": model,
        })  # fmt: skip

    # an upscale (PNG) and a social format (JPEG) carry the offline image's parameters
    upscale = run_tool(srv, "/api/upscale", image_id=image["id"], mode="fast", scale=2)
    assert upscale["status"] == "succeeded", upscale.get("error")
    [big] = upscale["images"]
    assert_every_reader_reads(_path(srv, big), {**offline, "size": f"{2 * w}x{2 * h}"})
    assert "Tool: upscale fast" in a1111_png_info_text(_path(srv, big))

    social = run_tool(srv, "/api/social", image_id=image["id"], targets=["instagram/post"], crop="center")
    assert social["status"] == "succeeded", social.get("error")
    [post] = social["images"]
    fmt = find_format("instagram", "post")
    assert post["path"].endswith(".jpg")
    assert_every_reader_reads(_path(srv, post), {**offline, "size": f"{fmt.width}x{fmt.height}"})

    # a tool's output of a tool's output still names the first generation
    again = run_tool(srv, "/api/upscale", image_id=post["id"], mode="fast", scale=2)
    assert again["status"] == "succeeded", again.get("error")
    [bigger] = again["images"]
    assert_every_reader_reads(_path(srv, bigger), {**offline, "size": f"{2 * fmt.width}x{2 * fmt.height}"})


def test_a_provider_without_a_sampler_is_read_by_those_readers_that_need_none(make_server):
    """Hugging Face's inference API runs its own scheduler: steps and seed are true, the
    sampler is unknown and left out. A1111, SD Prompt Reader and sd-metadata read it;
    sd-parsers needs a ``Sampler:`` and reads nothing (the README's table says so)."""
    key = "hf_test_metadata_key"
    with FakeHuggingFace(key) as fake:
        srv = make_server("eventlet", HF_BASE_URL=fake.url, HF_TOKEN=key, **FAST_SETTINGS)
        model = "stabilityai/stable-diffusion-xl-base-1.0"
        [image] = _job(srv, prompt=PROMPT, negative_prompt=NEGATIVE, provider="huggingface", model=model,
                       aspect_ratio="1:1", seed=77, steps=9)["images"]  # fmt: skip
    path = _path(srv, image)
    size = f"{image['width']}x{image['height']}"
    expected = {"prompt": PROMPT, "negative": NEGATIVE, "steps": "9", "sampler": None, "cfg": None, "seed": "77",
                "size": size, "model": model}  # fmt: skip
    reader = read_sd_prompt_reader(path)
    assert {k: None if v is None else str(v) for k, v in reader.items()} == expected
    assert sd_metadata_reads(a1111_png_info_text(path)) == expected
    with pytest.raises(AssertionError, match="sd-parsers found no metadata"):
        read_sd_parsers(path)


def test_a_prompt_in_another_script_names_its_file_everywhere(srv):
    [image] = _job(srv, prompt="日本の山", provider="offline", model="procedural-draft", seed=5)["images"]
    name = image["path"].rsplit("/", 1)[-1]
    assert "_日本の山_5" in name and _path(srv, image).is_file()

    # served under its name (RFC 5987 in Content-Disposition), listed, exported
    r = srv.get(image["url"])
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert "filename*=UTF-8''" + urllib.parse.quote(name) in r.headers["Content-Disposition"]
    listed = srv.get("/api/images").json()["items"]
    assert image["path"] in {i["path"] for i in listed}
    r = srv.get("/api/export.zip", params={"job": image["job_id"]})
    assert r.status_code == 200
    assert image["path"] in zipfile.ZipFile(io.BytesIO(r.content)).namelist()

    # an upload keeps its name's letters too
    data = _path(srv, image).read_bytes()
    r = srv.post("/api/images/import", files={"file": ("富士山 の 写真.png", data, "image/png")})
    assert r.status_code == 201, r.text
    [imported] = r.json()["images"]
    assert imported["path"].rsplit("/", 1)[-1] == "富士山-の-写真.png"
    assert srv.get(imported["url"]).status_code == 200


def test_an_edit_carries_its_sources_parameters(make_server):
    """A Stability edit (its local fake): the output says what the source was made with, then
    the edit (``Tool``, ``Tool model``); the edit's own prompt is in Atelier's JSON."""
    key = "sk-test-metadata-stability"
    with FakeStability(key) as fake:
        srv = make_server("eventlet", STABILITY_BASE_URL=fake.url, STABILITY_API_KEY=key, **FAST_SETTINGS)
        [source] = _job(srv, prompt=PROMPT, negative_prompt=NEGATIVE, provider="offline", model="procedural-draft",
                        aspect_ratio="1:1", seed=31)["images"]  # fmt: skip
        job = run_tool(srv, "/api/edit", operation="search-replace", provider="stability", image_id=source["id"],
                       prompt="a cat", search_prompt="dog", seed=3)  # fmt: skip
        assert job["status"] == "succeeded", job.get("error")
    [edited] = job["images"]
    path = _path(srv, edited)
    assert_every_reader_reads(path, {
        "prompt": PROMPT, "negative": NEGATIVE, "steps": 8, "sampler": OFFLINE_SAMPLER, "cfg": None, "seed": 31,
        "model": "procedural-draft", "size": f"{edited['width']}x{edited['height']}",
    })  # fmt: skip
    text = a1111_png_info_text(path)
    assert (
        "Tool: search-replace" in text
        and "Tool provider: stability" in text
        and f"Source image: {source['path']}" in text
    )
