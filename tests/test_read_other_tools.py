"""Other tools' files read with exactly their values: the real files of
``tests/fixtures/interop`` (ComfyUI graphs aside: tests/test_read_comfyui*), and a file
built in each documented format no real file here has (the source of each layout is named
at its builder). In process: parsing logic only.

Before these readers, the code failed them: NovelAI (PNG and WebP), stealth PNG info, HF
Space, TensorArt, Ruined Fooocus and Civitai's model were not read at all (None, or the raw
JSON as the prompt); InvokeAI 3's ``model_name`` was missed; the Dream command's ``-cf 0.75
-U 4 0.95`` ended up in the prompt; Stability Matrix was read as ComfyUI with half its
prompt; ``CFG Scale`` (comfy-image-saver) was missed; every source was ``a1111``, ``forge``
or ``comfyui`` whatever wrote the file; a seed out of 0..2^64-1 was dropped without a trace.
(Checked: with the readers' code of the commit before, 63 of these fail. Those that pass
there are guards: the A1111 / Fooocus / SwarmUI / InvokeAI 5 files that were read right
already, and the hostile stealth and prompt-with-braces cases, which pin that the new code
stays bounded and leaves what is no metadata alone.)
"""

from __future__ import annotations

import gzip
import io
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from backend.storage import image_params
from backend.storage.image_params import parse_file_metadata
from backend.storage.metadata import TAG_EXIF_IFD, TAG_USER_COMMENT, user_comment_bytes
from backend.storage.readers import stealth
from backend.storage.readers.base import MAX_PROMPT_CHARS, MAX_SEED, MAX_TEXT_CHARS, Embedded, ImageParams
from backend.storage.readers.invokeai import from_dream

INTEROP = Path(__file__).parent / "fixtures" / "interop"
MANIFEST = json.loads((INTEROP / "manifest.json").read_text())["cases"]
FIELDS = {"cfg": "cfg_scale"}

#: the tool each real file really is, as ``ImageParams.source`` names it
SOURCES = {
    "files/sd-parsers__automatic1111_cropped.png": "a1111",
    "files/sd-parsers__automatic1111_cropped.jpg": "a1111",
    "files/sd-parsers__automatic1111_stealth.png": "a1111",
    "files/sd-parsers__fooocus1_cropped.png": "fooocus",
    "files/sd-parsers__invokeai_dream1.png": "invokeai-legacy",
    "files/sd-parsers__invokeai_sdmeta1.png": "invokeai-legacy",
    "files/sd-parsers__invokeai_imeta1.png": "invokeai",
    "files/sd-parsers__novelai1_cropped.png": "novelai",
    "files/sd-metadata__sd-webui.jpg": "a1111",
    "files/sd-metadata__forge-neo.webp": "forge-neo",
    "files/sd-metadata__comfyui-comfy-image-saver.jpeg": "comfyui",
    "files/sd-metadata__invokeai.png": "invokeai",
    "files/sd-metadata__swarmui.png": "swarmui",
    "files/sd-metadata__novelai-full.png": "novelai",
    "files/sd-metadata__stability-matrix.png": "stability-matrix",
    "files/sd-metadata__empty.png": None,
}
CASES = [case for case in MANIFEST if case["file"] in SOURCES]


def read(data: bytes) -> ImageParams | None:
    with Image.open(io.BytesIO(data)) as im:
        found = parse_file_metadata(im)
    return found.parameters if found else None


def read_file(name: str):
    with Image.open(INTEROP / name) as im:
        return parse_file_metadata(im)


def test_every_non_comfyui_case_of_the_manifest_is_covered():
    others = {c["file"] for c in MANIFEST if "ComfyUI" not in c["tool"] or "A1111" in c["tool"]}
    assert others == set(SOURCES)


@pytest.mark.parametrize("case", CASES, ids=[c["file"].split("__")[-1] for c in CASES])
def test_each_real_file_is_read_with_exactly_its_stated_values(case):
    found = read_file(case["file"])
    if case["expect"].get("found") is False:
        assert found is None
        return
    assert found is not None
    params = found.parameters
    got = {name: getattr(params, FIELDS.get(name, name)) for name in case["expect"]}
    assert got == case["expect"]
    assert params.source == SOURCES[case["file"]]
    assert params.ignored == ()
    # the values the index keeps are those values too
    assert found.metadata["parameters"]["prompt"] == params.prompt


def test_a_fooocus_seed_above_2_53_is_exact_in_the_index_json_too():
    found = read_file("files/sd-parsers__fooocus1_cropped.png")
    assert found.parameters.seed == 6952411511246973023
    assert found.metadata["parameters"]["seed"] == 6952411511246973023
    # and as text, which a JavaScript client (numbers exact only to 2^53) shows exactly
    assert found.metadata["parameters"]["seed_text"] == "6952411511246973023"


# --- seeds ---------------------------------------------------------------------------------
def png(texts: dict[str, str], size=(16, 16), mode="RGB") -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.new(mode, size, (90, 120, 200, 255)[: len(mode)]).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def hf_space(seed: Any) -> bytes:
    return png({"parameters": json.dumps({"prompt": "a fox", "resolution": "512 x 512", "seed": seed})})


@pytest.mark.parametrize(
    ("seed", "text"),
    [
        (2**64, "18446744073709551616"),
        (2**70, str(2**70)),
        (-1, "-1"),
        (10**200, str(10**200)),
        ("123456789012345678901234567890", "123456789012345678901234567890"),
        ("-5", "-5"),
        (1e30, "1e+30"),
        (6.952411511246973e18, "6.952411511246973e+18"),  # in range, but no longer exact
        (1.5, "1.5"),
    ],
)
def test_a_seed_out_of_range_is_null_and_kept_as_text(seed, text):
    params = read(hf_space(seed))
    assert params is not None and params.prompt == "a fox"
    assert params.seed is None
    assert params.seed_text == text
    assert params.to_json()["seed_text"] == text
    assert any(note.startswith("seed:") for note in params.ignored)
    json.dumps(params.to_json(), allow_nan=False)


@pytest.mark.parametrize("seed", [MAX_SEED, str(MAX_SEED), 2**63 + 1, "6952411511246973023", 0])
def test_a_seed_in_range_is_exact_whatever_its_type(seed):
    params = read(hf_space(seed))
    assert params.seed == int(seed) and type(params.seed) is int
    assert params.seed_text is None and params.to_json()["seed_text"] == str(int(seed))


@pytest.mark.parametrize("seed", ["nan", "inf", "abc", [1], {"a": 1}, True, "9" * 5000])
def test_a_seed_that_is_no_number_is_dropped_without_text(seed):
    params = read(hf_space(seed))
    assert params.seed is None and params.seed_text is None
    assert any(note.startswith("seed:") for note in params.ignored)


def test_an_infotext_seed_of_2_64_is_kept_as_text_in_the_index_json():
    with Image.open(io.BytesIO(png({"parameters": f"a fox\nSteps: 20, Seed: {2**64}, Size: 8x8"}))) as im:
        found = parse_file_metadata(im)
    assert found.parameters.seed is None
    assert found.metadata["parameters"]["seed_text"] == str(2**64)


# --- A1111 infotext and the tools that write it ---------------------------------------------
def infotext_params(text: str) -> ImageParams:
    params = read(png({"parameters": text}))
    assert params is not None
    return params


def test_civitai_infotext_keeps_its_resources_whole_and_names_the_checkpoint():
    # Civitai's generator writes its resources as unquoted JSON on the settings line
    # (a real line, as Civitai's "Copy generation data" gives it; layout seen in
    # enslo/sd-metadata detect.ts and in tools that import Civitai downloads)
    text = (
        "a lighthouse, dusk\nNegative prompt: blurry\n"
        "Steps: 25, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 894409639, Size: 832x1216, Clip skip: 2, "
        "Created Date: 2024-09-23T06:17:42.9952795Z, Civitai resources: "
        '[{"type":"checkpoint","modelVersionId":128078,"modelName":"SD XL, base","modelVersionName":"v1.0"},'
        '{"type":"lora","weight":0.85,"modelVersionId":210432,"modelName":"Double Exposure"}], '
        'Civitai metadata: {"remixOfId": 5}'
    )
    params = infotext_params(text)
    assert (params.source, params.model, params.prompt, params.negative_prompt) == (
        "civitai",
        "SD XL, base",
        "a lighthouse, dusk",
        "blurry",
    )
    assert (params.steps, params.sampler, params.cfg_scale, params.seed) == (25, "DPM++ 2M Karras", 7.0, 894409639)
    assert (params.width, params.height) == (832, 1216)
    assert params.raw["params"]["Civitai resources"][1]["weight"] == 0.85
    assert params.raw["params"]["Created Date"] == "2024-09-23T06:17:42.9952795Z"


def test_sdnext_infotext_is_named_sdnext():
    # SD.Next writes A1111 infotext with ``App: SD.Next`` (vladmandic/automatic, and
    # enslo/sd-metadata detect.ts)
    text = (
        "a cat\nSteps: 20, Seed: 7, Sampler: Euler a, CFG scale: 6, Size: 512x768, Model: sdxl, "
        "App: SD.Next, Version: 3c1f2ce"
    )
    params = infotext_params(text)
    assert (params.source, params.model, params.steps, params.cfg_scale, params.width) == (
        "sdnext",
        "sdxl",
        20,
        6.0,
        512,
    )


@pytest.mark.parametrize(
    ("version", "source"),
    [
        ("v1.10.1", "a1111"),
        ("f2.0.1v1.10.1-previous-664-gd557aef9", "forge"),
        ("neo", "forge-neo"),
        ("classic", "forge-classic"),
        ("f1.0.0v2-v1.10.1RC-latest-1184-g1a6fc4f6", "reforge"),
        ("ComfyUI", "comfyui"),
        ("Fooocus v2.5.5", "fooocus"),
    ],
)
def test_the_infotext_version_names_the_tool(version, source):
    assert infotext_params(f"a cat\nSteps: 20, Seed: 7, Version: {version}").source == source


def test_infotext_keys_are_read_in_any_case():
    params = infotext_params("a cat\nSTEPS: 20, cfg scale: 6.5, SEED: 7, size: 64x32, MODEL: m, sampler: Euler")
    assert (params.steps, params.cfg_scale, params.seed, params.width, params.height) == (20, 6.5, 7, 64, 32)
    assert (params.model, params.sampler) == ("m", "Euler")


def test_a_prompt_with_braces_and_no_settings_line_is_left_alone():
    for text in ('a {red|blue} cat, Model: {"x": 1}', 'a cat\nwearing: {"a": 1}, more: [1, 2]\nSteps: 20, Seed: 1'):
        assert infotext_params(text).prompt == text.removesuffix("\nSteps: 20, Seed: 1")


# --- InvokeAI ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "name"),
    [
        ({"model_name": "juggernautXL", "base_model": "sdxl", "model_type": "main"}, "juggernautXL"),  # 3.x
        ({"key": "9a8b", "hash": "blake3:00ff", "name": "waiIllustrious", "base": "sdxl"}, "waiIllustrious"),  # 4/5
        ({"key": "9a8b", "hash": "blake3:00ff"}, None),  # a key and a hash are no name
        ("stable-diffusion-1.5", "stable-diffusion-1.5"),
    ],
)
def test_invokeai_models_of_every_version(model, name):
    meta = {"positive_prompt": "a cat", "seed": 1, "model": model}
    assert read(png({"invokeai_metadata": json.dumps(meta)})).model == name


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('"a cat [dog]" -s 50 -S 42 -W 512 -H 768 -C 7.5 -A k_lms', ("a cat", "dog", 50, 42, 512, 768, 7.5, "k_lms")),
        ('"a cat" -G 0.9 -cf 0.75 -U 4 0.95 -s 30', ("a cat", "", 30, None, None, None, None, None)),
        (
            '"a cat" --steps 40 --seed=9 --cfg_scale 5 --seamless --hires_fix -T',
            ("a cat", "", 40, 9, None, None, 5.0, None),
        ),
        ("a cat -s50 -S7 -W640 -H448 -mk_euler", ("a cat", "", 50, 7, 640, 448, None, "k_euler")),
        (
            '"a cat" -c top 64 bottom 128 -ft codeformer -v 0.1 -V 1:0.5,2:0.3 -n 4 -g',
            ("a cat", "", None, None, None, None, None, None),
        ),
        (
            '"don\'t stop" -s 20 --embiggen 2.5 0.75 0.25 --embiggen_tiles 1 3 5',
            ("don't stop", "", 20, None, None, None, None, None),
        ),
        ('"a cat" -U 2 -s 10', ("a cat", "", 10, None, None, None, None, None)),
    ],
)
def test_dream_options_never_end_up_in_the_prompt(command, expected):
    params = from_dream(command)
    got = (params.prompt, params.negative_prompt, params.steps, params.seed, params.width, params.height)
    assert (*got, params.cfg_scale, params.sampler) == expected


# --- NovelAI -------------------------------------------------------------------------------
NOVELAI_COMMENT = {
    "prompt": "1girl, snow",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.0,
    "seed": 2043807047,
    "sampler": "k_euler_ancestral",
    "noise_schedule": "karras",
    "v4_prompt": {"caption": {"base_caption": "1girl, snow, テスト", "char_captions": []}},
    "v4_negative_prompt": {"caption": {"base_caption": "lowres", "char_captions": []}},
    "uc": "old negative",
}


def novelai_webp(comment: dict[str, Any], description: str = "1girl, snow, テスト") -> bytes:
    """NovelAI's WebP layout (enslo/sd-metadata converters/novelai.ts, which reads NovelAI's
    own WebP files): IFD0 ImageDescription = four NULs + the prompt; Exif UserComment = one
    JSON object of its PNG chunks, ``Comment`` a JSON string in it."""
    chunks = {
        "Comment": json.dumps(comment),
        "Description": description,
        "Generation time": "1.5",
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V4.5 4BDE2A90",
        "Title": "NovelAI generated image",
    }
    exif = Image.Exif()
    exif[0x010E] = "\0\0\0\0" + description
    exif[TAG_EXIF_IFD] = {TAG_USER_COMMENT: user_comment_bytes(json.dumps(chunks))}
    buf = io.BytesIO()
    Image.new("RGB", (64, 96), (1, 2, 3)).save(buf, "WEBP", exif=exif.tobytes(), lossless=True)
    return buf.getvalue()


def test_novelai_webp_is_read_from_its_exif():
    params = read(novelai_webp(NOVELAI_COMMENT))
    assert params is not None and params.source == "novelai"
    assert (params.prompt, params.negative_prompt) == ("1girl, snow, テスト", "lowres")
    assert (params.seed, params.steps, params.cfg_scale, params.sampler) == (2043807047, 28, 5.0, "k_euler_ancestral")
    assert (params.width, params.height, params.model) == (832, 1216, "NovelAI Diffusion V4.5")


def test_novelai_png_without_v4_or_size_takes_the_legacy_prompt_and_the_image_size():
    comment = {"prompt": "a cat", "uc": "lowres", "steps": 20, "scale": 6, "seed": 3, "sampler": "k_euler"}
    params = read(
        png(
            {"Software": "NovelAI", "Source": "Stable Diffusion 1D44365E", "Comment": json.dumps(comment)},
            size=(24, 40),
        )
    )
    assert (params.prompt, params.negative_prompt, params.model) == ("a cat", "lowres", "Stable Diffusion")
    assert (params.width, params.height) == (24, 40)


@pytest.mark.parametrize(
    "comment",
    [
        "not json",
        "[1, 2]",
        "5",
        json.dumps({"seed": "x", "steps": [], "scale": "nan", "v4_prompt": 5, "uc": 7, "width": -3, "sampler": {}}),
        json.dumps({"v4_prompt": {"caption": [1]}, "v4_negative_prompt": {"caption": {"base_caption": 9}}}),
        json.dumps({"seed": 2**70, "scale": 1e400 if False else 1e308, "steps": 10**30}),
        "[" * 100_000,
    ],
)
def test_novelai_comment_of_the_wrong_types_never_raises(comment):
    params = read(png({"Software": "NovelAI", "Description": "fallback prompt", "Comment": comment}))
    assert params is not None and params.source == "novelai"
    assert params.prompt == "fallback prompt"
    assert params.seed is None or 0 <= params.seed <= MAX_SEED
    assert params.steps is None and params.sampler is None
    json.dumps(params.to_json(), allow_nan=False)


# --- Stability Matrix, TensorArt, HF Space, Ruined Fooocus ---------------------------------
def comfy_graph(loader: str, ckpt: str) -> dict[str, Any]:
    """A plain text-to-image graph: loader -> KSampler -> VAEDecode -> SaveImage."""
    return {
        "4": {"class_type": loader, "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 768, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "graph prompt", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "graph negative", "clip": ["4", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1234,
                "steps": 25,
                "cfg": 6.5,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
    }


def test_tensorart_takes_prompts_and_model_from_generation_data():
    # TensorArt's layout: enslo/sd-metadata parsers/tensorart.ts and its tests (a
    # ``generation_data`` JSON chunk, NUL-terminated, beside a ComfyUI ``prompt`` graph whose
    # loader, ECHOCheckpointLoaderSimple, names the model by an id)
    data = {
        "prompt": "a red fox",
        "negativePrompt": "lowres",
        "baseModel": {"modelFileName": "fox-xl.safetensors", "hash": "AB12"},
    }
    graph = comfy_graph("ECHOCheckpointLoaderSimple", "EMS-314159-EMS")
    params = read(png({"generation_data": json.dumps(data) + "\0\0\0", "prompt": json.dumps(graph)}))
    assert params.source == "tensorart"
    assert (params.prompt, params.negative_prompt, params.model) == ("a red fox", "lowres", "fox-xl.safetensors")
    assert (params.seed, params.steps, params.cfg_scale, params.sampler) == (1234, 25, 6.5, "dpmpp_2m")
    assert (params.width, params.height) == (768, 512)


def test_stability_matrix_without_a_graph_reads_its_json():
    data = {
        "PositivePrompt": "a\r\nb",
        "NegativePrompt": "c",
        "Seed": 5,
        "Steps": 9,
        "CfgScale": 4,
        "Sampler": "Euler",
        "Width": 640,
        "Height": 384,
        "ModelName": "m.safetensors",
    }
    params = read(png({"parameters-json": json.dumps(data), "smproj": "{}"}))
    assert params.source == "stability-matrix"
    assert (params.prompt, params.negative_prompt, params.seed, params.steps, params.cfg_scale) == (
        "a\r\nb",
        "c",
        5,
        9,
        4.0,
    )
    assert (params.sampler, params.width, params.height, params.model) == ("Euler", 640, 384, "m.safetensors")


def test_hf_space_json_is_read_not_taken_as_the_prompt():
    # A Gradio + diffusers Space's ``parameters`` JSON (enslo/sd-metadata parsers/hf-space.ts)
    data = {
        "prompt": "a castle, 日本",
        "negative_prompt": "lowres",
        "resolution": "832 x 1216",
        "guidance_scale": 7,
        "num_inference_steps": 28,
        "style_preset": "(None)",
        "seed": 1234567890,
        "sampler": "Euler a",
        "Model": "Animagine XL 4.0",
        "Model hash": "6327eca98b",
        "use_upscaler": None,
    }
    params = read(png({"parameters": json.dumps(data)}))
    assert params.source == "hf-space"
    assert (params.prompt, params.negative_prompt, params.seed, params.steps, params.cfg_scale) == (
        "a castle, 日本",
        "lowres",
        1234567890,
        28,
        7.0,
    )
    assert (params.sampler, params.model, params.width, params.height) == ("Euler a", "Animagine XL 4.0", 832, 1216)


def test_ruined_fooocus_json_is_read():
    # Ruined Fooocus's ``parameters`` JSON (enslo/sd-metadata parsers/ruined-fooocus.ts)
    data = {
        "software": "RuinedFooocus",
        "Prompt": "  a cat  ",
        "Negative": " dog ",
        "steps": 30,
        "cfg": 7.5,
        "width": 1152,
        "height": 896,
        "seed": 6952411511246973023,
        "sampler_name": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "base_model_name": "sd_xl_base_1.0.safetensors",
    }
    params = read(png({"parameters": json.dumps(data)}))
    assert params.source == "ruined-fooocus"
    assert (params.prompt, params.negative_prompt, params.seed, params.steps, params.cfg_scale) == (
        "a cat",
        "dog",
        6952411511246973023,
        30,
        7.5,
    )
    assert (params.sampler, params.model, params.width, params.height) == (
        "dpmpp_2m_sde_gpu",
        "sd_xl_base_1.0.safetensors",
        1152,
        896,
    )


# --- stealth PNG info ----------------------------------------------------------------------
def hide(image: Image.Image, signature: str, payload: bytes, length_bits: int | None = None) -> bytes:
    """The stealth PNG info layout (ashen-sensored/sd_webui_stealth_pnginfo): signature,
    32-bit big-endian payload length in bits, payload; in the lowest bit of alpha (or of
    R, G, B), column by column, most significant bit first."""
    data = (
        signature.encode() + (length_bits if length_bits is not None else len(payload) * 8).to_bytes(4, "big") + payload
    )
    bits = [(byte >> (7 - i)) & 1 for byte in data for i in range(8)]
    rgb = signature.startswith("stealth_rgb")
    pixels = image.load()
    w, h = image.size
    per_pixel = 3 if rgb else 1
    assert len(bits) <= w * h * per_pixel
    for n in range(0, len(bits), per_pixel):
        x, y = divmod(n // per_pixel, h)
        px = list(pixels[x, y])
        for k, bit in enumerate(bits[n : n + per_pixel]):
            channel = k if rgb else 3
            px[channel] = (px[channel] & ~1) | bit
        pixels[x, y] = tuple(px)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


INFOTEXT = (
    "a circle\nNegative prompt: a square\n"
    "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 2015833630, Size: 64x64, Model: rv51"
)


@pytest.mark.parametrize(
    ("signature", "mode"),
    [("stealth_pnginfo", "RGBA"), ("stealth_pngcomp", "RGBA"), ("stealth_rgbinfo", "RGB"), ("stealth_rgbcomp", "RGBA")],
)
def test_stealth_info_of_every_kind_is_read(signature, mode):
    payload = INFOTEXT.encode()
    if signature.endswith("comp"):
        payload = gzip.compress(payload)
    params = read(hide(Image.new(mode, (64, 48), (200, 100, 50, 255)[: len(mode)]), signature, payload))
    assert params is not None
    assert (params.prompt, params.negative_prompt, params.seed, params.model) == (
        "a circle",
        "a square",
        2015833630,
        "rv51",
    )
    assert params.raw["stealth"] == signature


def test_stealth_info_in_a_lossless_webp_is_read():
    image = Image.open(
        io.BytesIO(hide(Image.new("RGBA", (64, 48), (7, 7, 7, 255)), "stealth_pnginfo", INFOTEXT.encode()))
    )
    buf = io.BytesIO()
    image.save(buf, "WEBP", lossless=True, exact=True)
    params = read(buf.getvalue())
    assert params is not None and (params.prompt, params.seed) == ("a circle", 2015833630)


def test_novelai_stealth_payload_is_read_as_novelai():
    chunks = {
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V3 7BCCAA2C",
        "Description": "a cat",
        "Comment": json.dumps({"steps": 28, "seed": 9, "scale": 5, "uc": "lowres", "sampler": "k_euler"}),
    }
    params = read(
        hide(Image.new("RGBA", (40, 40), (9, 9, 9, 255)), "stealth_pngcomp", gzip.compress(json.dumps(chunks).encode()))
    )
    assert (params.source, params.prompt, params.negative_prompt, params.seed, params.model) == (
        "novelai",
        "a cat",
        "lowres",
        9,
        "NovelAI Diffusion V3",
    )


def test_stealth_is_not_read_when_the_file_has_text_metadata():
    image = Image.new("RGBA", (64, 48), (1, 1, 1, 255))
    data = hide(image, "stealth_pnginfo", b"hidden prompt\nSteps: 3, Seed: 1")
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", "visible prompt\nSteps: 9, Seed: 2")
        buf = io.BytesIO()
        im.save(buf, "PNG", pnginfo=info)
    assert read(buf.getvalue()).prompt == "visible prompt"


def _bomb() -> bytes:
    return gzip.compress(b"\0" * (16 << 20), 9)  # 16 MiB of zeros in about 16 KiB


@pytest.mark.parametrize(
    ("signature", "payload", "length_bits"),
    [
        ("stealth_pnginfo", b"x", 0xFFFFFFF8),  # a length far past the image's bits
        ("stealth_pnginfo", b"x", 7),  # not whole bytes
        ("stealth_pngcomp", b"not gzip at all", None),
        ("stealth_pnginfo", b"\xff\xfe\xfd", None),  # not UTF-8
        ("stealth_pngcomp", None, None),  # a gzip bomb
    ],
)
def test_hostile_stealth_payloads_are_no_metadata(signature, payload, length_bits):
    side = 400 if payload is None else 32
    image = Image.new("RGBA", (side, side), (5, 5, 5, 255))
    params = read(hide(image, signature, _bomb() if payload is None else payload, length_bits))
    assert params is None


def test_garbage_low_bits_are_no_metadata():
    rng = random.Random(7)
    image = Image.frombytes("RGBA", (64, 64), bytes(rng.randrange(256) for _ in range(64 * 64 * 4)))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    assert read(buf.getvalue()) is None


def test_an_image_above_the_pixel_cap_is_not_decoded(monkeypatch):
    data = hide(Image.new("RGBA", (64, 48), (1, 1, 1, 255)), "stealth_pnginfo", INFOTEXT.encode())
    assert read(data) is not None
    monkeypatch.setattr(stealth, "MAX_PIXELS", 64 * 48 - 1)
    assert read(data) is None


def test_a_truncated_png_never_raises():
    data = hide(Image.new("RGBA", (64, 48), (1, 1, 1, 255)), "stealth_pnginfo", INFOTEXT.encode())
    with Image.open(io.BytesIO(data[: len(data) // 2])) as im:
        assert stealth.read(Embedded(im)) is None
    with Image.open(io.BytesIO(data[: len(data) // 2])) as im:
        assert image_params.read_file_metadata(im) is None


# --- anything in these tools' chunks -------------------------------------------------------
_leaves = st.one_of(
    st.sampled_from([None, True, -1, 2**64, 10**30, 1e308, math.inf, math.nan, "", "1e30", "\ud800", "x" * 20_000]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
_values = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=16), children, max_size=6),
    max_leaves=24,
)
_keys = {
    "Comment": [
        "prompt",
        "uc",
        "steps",
        "scale",
        "seed",
        "sampler",
        "width",
        "height",
        "v4_prompt",
        "v4_negative_prompt",
    ],
    "generation_data": ["prompt", "negativePrompt", "baseModel"],
    "parameters-json": [
        "PositivePrompt",
        "NegativePrompt",
        "Seed",
        "Steps",
        "CfgScale",
        "Sampler",
        "Width",
        "Height",
        "ModelName",
    ],
    "parameters": [
        "prompt",
        "negative_prompt",
        "resolution",
        "seed",
        "Model",
        "software",
        "Prompt",
        "Negative",
        "cfg",
        "width",
    ],
}


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(chunk=st.sampled_from(sorted(_keys)), data=st.data())
def test_any_json_in_these_tools_chunks_reads_to_bounded_values(chunk, data):
    keys = _keys[chunk]
    value = data.draw(st.fixed_dictionaries({}, optional=dict.fromkeys(keys, _values)))
    if chunk == "parameters":
        value = {
            **value,
            **data.draw(st.sampled_from([{"software": "RuinedFooocus"}, {"resolution": "8 x 8", "prompt": "p"}])),
        }
    texts = {chunk: json.dumps(value)}
    if chunk == "Comment":
        texts["Software"] = "NovelAI"
    try:
        file = png(texts, size=(4, 4))
    except UnicodeEncodeError:  # Pillow cannot write it: nobody can hand it to us
        return
    params = read(file)
    assert params is not None
    assert params.seed is None or (type(params.seed) is int and 0 <= params.seed <= MAX_SEED)
    assert len(params.prompt) <= MAX_PROMPT_CHARS and len(params.negative_prompt) <= MAX_PROMPT_CHARS
    for name in ("model", "sampler"):
        assert getattr(params, name) is None or len(getattr(params, name)) <= MAX_TEXT_CHARS
    assert params.cfg_scale is None or math.isfinite(params.cfg_scale)
    json.dumps(params.to_json(), allow_nan=False)
