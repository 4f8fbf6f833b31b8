"""Other studios' real files, read by Atelier with exactly the values their own projects'
tests state (``tests/fixtures/interop/manifest.json``: origin repository, commit, path and
the test that states each value).

Three ways a person meets such a file, each checked against the truth:
- in-process, the parse itself (fast, and names the field that differs);
- ``POST /api/metadata/parse`` and ``POST /api/images/import`` through the real server,
  then ``GET /api/images/<id>`` and the file served back byte for byte;
- files dropped into the gallery folder by hand before the studio starts (the scan).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from backend.storage.image_params import parse_file_metadata
from tests.support.server import ServerProcess

FIXTURES = Path(__file__).parent / "fixtures" / "interop"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
CASES = {Path(case["file"]).name: case for case in MANIFEST["cases"]}
#: the manifest's names for the fields, as Atelier's parameters name them
FIELD = {"cfg": "cfg_scale"}
#: the fields the gallery index keeps, shown in listings and searched
INDEXED = ("prompt", "negative_prompt", "model", "seed")
#: what each file really is: Atelier says so in ``parameters.source``
SOURCE = {
    "sd-parsers__automatic1111_cropped.png": "a1111",
    "sd-parsers__automatic1111_cropped.jpg": "a1111",
    "sd-parsers__automatic1111_stealth.png": "a1111",
    "sd-parsers__fooocus1_cropped.png": "fooocus",
    "sd-parsers__img2img_cropped.png": "comfyui",
    "sd-parsers__night_evening_day_morning_cropped.png": "comfyui",
    "sd-parsers__invokeai_dream1.png": "invokeai-legacy",
    "sd-parsers__invokeai_sdmeta1.png": "invokeai-legacy",
    "sd-parsers__invokeai_imeta1.png": "invokeai",
    "sd-parsers__novelai1_cropped.png": "novelai",
    "sd-metadata__sd-webui.jpg": "a1111",
    "sd-metadata__forge-neo.webp": "forge-neo",
    "sd-metadata__comfyui.png": "comfyui",
    "sd-metadata__comfyui-anima.png": "comfyui",
    "sd-metadata__comfyui-saveimage-plus.webp": "comfyui",
    "sd-metadata__comfyui-comfy-image-saver.jpeg": "comfyui",  # A1111 text, Version: ComfyUI
    "sd-metadata__invokeai.png": "invokeai",
    "sd-metadata__swarmui.png": "swarmui",
    "sd-metadata__novelai-full.png": "novelai",
    "sd-metadata__stability-matrix.png": "stability-matrix",
    "sd-metadata__empty.png": None,
}


def shown_as_stated(case: dict[str, Any], name: str, shown: Any) -> Any:
    """``shown`` as the case's source states such a value. sd-parsers strips each prompt it
    reads (its ComfyUI parser: ``text.strip()``), so its tests state them stripped; Atelier
    shows the text exactly as the file holds it (sd-metadata's tests keep a ComfyUI prompt's
    trailing newline)."""
    stripped = case["origin"]["repo"] == "d3x-at/sd-parsers"
    if stripped and name in ("prompt", "negative_prompt") and isinstance(shown, str):
        return shown.strip()
    return shown


def differences(parameters: dict[str, Any] | None, case: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{field: (stated, shown)} for every stated value Atelier shows differently."""
    expect = case["expect"]
    if expect.get("found") is False:
        return {} if parameters is None else {"found": (False, parameters)}
    if parameters is None:
        return {"found": (True, None)}
    out = {}
    for name, stated in expect.items():
        if name == "prompts_all":  # tests/test_read_comfyui.py checks each area prompt is shown
            continue
        shown = shown_as_stated(case, name, parameters.get(FIELD.get(name, name)))
        if shown != stated:
            out[name] = (stated, shown)
    source = SOURCE[Path(case["file"]).name]
    if parameters.get("source") != source:
        out["source"] = (source, parameters.get("source"))
    return out


def test_the_fixtures_are_the_files_the_manifest_names():
    assert set(SOURCE) == set(CASES)
    for name, case in CASES.items():
        data = (FIXTURES / case["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == case["sha256"], name


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_file_is_read_with_exactly_its_stated_values(name):
    case = CASES[name]
    with Image.open(FIXTURES / case["file"]) as image:
        found = parse_file_metadata(image)
    parameters = found.parameters.to_json(raw=False) if found else None
    assert differences(parameters, case) == {}
    if parameters is not None:
        assert parameters["ignored"] == [], "a value of a real file was dropped"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("interop")
    # a person copied the other studios' files into the gallery folder before starting Atelier
    dropped = tmp / "gallery" / "from-other-studios"
    dropped.mkdir(parents=True)
    for case in CASES.values():
        shutil.copyfile(FIXTURES / case["file"], dropped / Path(case["file"]).name)
    proc = ServerProcess(tmp, "eventlet", ATELIER_MAX_UPLOAD_MB="20").start()
    yield proc
    proc.stop()


def _upload(srv, path: str, names: list[str]) -> requests.Response:
    files = [("files", (name, (FIXTURES / CASES[name]["file"]).read_bytes())) for name in names]
    return requests.post(srv.url + path, files=files, timeout=60)


def test_parse_endpoint_shows_the_stated_values(srv):
    wrong = {}
    for name in sorted(CASES):
        r = _upload(srv, "/api/metadata/parse", [name])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["found"] is (body["parameters"] is not None)
        if diff := differences(body["parameters"], CASES[name]):
            wrong[name] = diff
    assert wrong == {}


def _check_image(srv, name: str, image: dict[str, Any]) -> dict[str, Any]:
    """What differs between the stated values and the image as the studio shows it: its
    listing fields, ``GET /api/images/<id>`` and the bytes it serves."""
    case, wrong = CASES[name], {}
    r = requests.get(f"{srv.url}/api/images/{image['id']}", timeout=30)
    assert r.status_code == 200, r.text
    detail = r.json()
    if diff := differences(detail["parameters"], case):
        wrong["GET parameters"] = diff
    expect = case["expect"]
    if expect.get("found") is not False:
        listed = {f: shown_as_stated(case, f, detail["image"][f]) for f in INDEXED if f in expect}
        if diff := {f: (expect[f], v) for f, v in listed.items() if v != expect[f]}:
            wrong["listing"] = diff
    served = requests.get(srv.url + image["url"], timeout=30).content
    if hashlib.sha256(served).hexdigest() != case["sha256"]:
        wrong["bytes"] = "the file served is not the file imported"
    return wrong


def test_imported_files_keep_their_bytes_and_show_the_stated_values(srv):
    names = sorted(CASES)
    r = _upload(srv, "/api/images/import", names)
    assert r.status_code == 201, r.text
    images = r.json()["images"]
    assert len(images) == len(names)
    wrong = {name: diff for name, image in zip(names, images, strict=True) if (diff := _check_image(srv, name, image))}
    assert wrong == {}


def test_files_dropped_into_the_gallery_folder_show_the_stated_values(srv):
    r = requests.get(srv.url + "/api/images", params={"limit": 200}, timeout=30)
    assert r.status_code == 200, r.text
    by_name = {Path(i["path"]).name: i for i in r.json()["items"] if i["path"].startswith("from-other-studios/")}
    assert set(by_name) == set(CASES)
    wrong = {name: diff for name, image in by_name.items() if (diff := _check_image(srv, name, image))}
    assert wrong == {}
