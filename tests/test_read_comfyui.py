"""ComfyUI graphs read by following links from the saved image back to its sampler, model,
prompts, seed and size, through the custom nodes people use; the graph found wherever
ComfyUI's save nodes put it (PNG chunk, WebP/JPEG EXIF layouts). In-process: this is
parsing logic.

Before this change the reader took the first node whose type contains "sampler" (so
KSamplerSelect in SamplerCustomAdvanced graphs), the last ``ckpt_name`` anywhere, one branch
of combined conditioning, no link into a custom node, and only the PNG ``prompt`` chunk:
each test named after one of those fails on that code (checked with ``git stash``). The
hostile graphs also ran there without raising; they guard the new, deeper walks.

The manifest's values for the two sd-parsers files come from sd-parsers, which strips each
prompt (``text.strip()`` in its ComfyUI parser); the graph holds ``"watermark, text\\n"``.
Atelier keeps prompts exactly as written (sd-metadata's truth keeps ComfyUI's trailing
``\\n``), so those two are compared with the trailing newline removed and, separately,
with the graph's exact text.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from backend.storage.image_params import parse_file_metadata
from backend.storage.readers.base import Embedded
from backend.storage.readers.comfyui import MAX_VISITS, from_comfyui, read

FIXTURES = Path(__file__).parent / "fixtures" / "interop"
CASES = {Path(c["file"]).name: c for c in json.loads((FIXTURES / "manifest.json").read_text("utf-8"))["cases"]}
FIELD = {"cfg": "cfg_scale"}
COMFY_FILES = [
    "sd-parsers__img2img_cropped.png",
    "sd-parsers__night_evening_day_morning_cropped.png",
    "sd-metadata__comfyui.png",
    "sd-metadata__comfyui-anima.png",
    "sd-metadata__comfyui-saveimage-plus.webp",
]
STRIPPED_BY_SD_PARSERS = {"sd-parsers__img2img_cropped.png"}


def parameters_of(path: Path | io.BytesIO) -> dict[str, Any] | None:
    with Image.open(path) as image:
        found = parse_file_metadata(image)
    return found.parameters.to_json(raw=False) if found else None


# --- the real files ------------------------------------------------------------------------
@pytest.mark.parametrize("name", COMFY_FILES)
def test_each_comfyui_file_is_read_with_its_stated_values(name):
    case = CASES[name]
    shown = parameters_of(FIXTURES / case["file"])
    assert shown is not None and shown["source"] == "comfyui"
    for field, stated in case["expect"].items():
        if field == "prompts_all":
            continue
        value = shown[FIELD.get(field, field)]
        if name in STRIPPED_BY_SD_PARSERS and field in ("prompt", "negative_prompt"):
            value = value.rstrip("\n")
        assert value == stated, field
    assert shown["ignored"] == []


def test_img2img_prompts_are_exactly_the_graphs_and_it_has_no_size():
    shown = parameters_of(FIXTURES / "files/sd-parsers__img2img_cropped.png")
    assert shown["prompt"] == "photograph of victorian woman with wings, sky clouds, meadow grass\n"
    assert shown["negative_prompt"] == "watermark, text\n"
    assert shown["width"] is None and shown["height"] is None  # LoadImage -> VAEEncode


def test_two_samplers_the_first_pass_and_every_area_prompt_are_read():
    case = CASES["sd-parsers__night_evening_day_morning_cropped.png"]
    shown = parameters_of(FIXTURES / case["file"])
    # sampler 3 (Anything-V3.0), not the hires pass 24 (AbyssOrangeMix2_hard, 1088x1920)
    assert (shown["model"], shown["seed"], shown["width"], shown["height"]) == (
        "Anything-V3.0.ckpt",
        335608130539327,
        704,
        1280,
    )
    lines = [line for line in shown["prompt"].split("\n") if line]
    assert sorted(lines) == sorted(case["expect"]["prompts_all"])
    assert "AbyssOrangeMix" not in json.dumps(shown) and "realistic:1.2" not in shown["prompt"]


def test_sampler_custom_advanced_file_reads_guider_noise_scheduler_and_unet():
    shown = parameters_of(FIXTURES / "files/sd-metadata__comfyui-anima.png")
    assert shown["seed"] == 662066908990052  # RandomNoise.noise_seed
    assert shown["cfg_scale"] == 5.0  # CFGGuider.cfg
    assert shown["steps"] == 24  # BasicScheduler.steps of the first pass (the hires pass has 14)
    assert shown["sampler"] == "euler"  # KSamplerSelect.sampler_name
    assert shown["model"] == "anima-preview.safetensors"  # UNETLoader through ModelSamplingAuraFlow
    assert shown["negative_prompt"] == "bad quality, worst quality, worst detail, sketch, censor, \n"


def test_swarmui_stays_swarmui_and_the_a1111_text_jpeg_is_read_as_its_text():
    assert parameters_of(FIXTURES / "files/sd-metadata__swarmui.png")["source"] == "swarmui"
    # comfy-image-saver writes A1111 text (no graph) that names ComfyUI as its Version
    saver = parameters_of(FIXTURES / "files/sd-metadata__comfyui-comfy-image-saver.jpeg")
    assert saver["source"] == "comfyui" and saver["cfg_scale"] == 8.0


# --- small graphs: the standard nodes --------------------------------------------------------
def L(node: str, slot: int = 0) -> list:  # noqa: N802 - reads like the graph's own links
    return [node, slot]


def n(kind: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": kind, "inputs": inputs}


def base_graph(**sampler: Any) -> dict[str, Any]:
    """A text-to-image graph: checkpoint, two encoders, empty latent, KSampler, decode, save."""
    ksampler = dict(
        seed=11,
        steps=20,
        cfg=7.0,
        sampler_name="euler",
        scheduler="normal",
        denoise=1.0,
        model=L("4"),
        positive=L("6"),
        negative=L("7"),
        latent_image=L("5"),
    )
    ksampler.update(sampler)
    return {
        "3": n("KSampler", **ksampler),
        "4": n("CheckpointLoaderSimple", ckpt_name="base.safetensors"),
        "5": n("EmptyLatentImage", width=832, height=1216, batch_size=1),
        "6": n("CLIPTextEncode", text="a red fox\n", clip=L("4", 1)),
        "7": n("CLIPTextEncode", text="blurry", clip=L("4", 1)),
        "8": n("VAEDecode", samples=L("3"), vae=L("4", 2)),
        "9": n("SaveImage", filename_prefix="ComfyUI", images=L("8")),
    }


def read_graph(graph: dict[str, Any]) -> dict[str, Any]:
    return from_comfyui(graph, None).to_json(raw=False)


def test_a_plain_graph_is_read_exactly():
    shown = read_graph(base_graph())
    assert shown == {
        "source": "comfyui",
        "prompt": "a red fox\n",
        "negative_prompt": "blurry",
        "seed": 11,
        "seed_text": "11",
        "model": "base.safetensors",
        "steps": 20,
        "cfg_scale": 7.0,
        "sampler": "euler",
        "width": 832,
        "height": 1216,
        "ignored": [],
    }


def test_the_model_is_the_loader_feeding_the_sampler_not_the_last_loader():
    graph = base_graph(model=L("30"))
    graph["30"] = n("LoraLoader", lora_name="detail.safetensors", strength_model=1.0, model=L("31"), clip=L("4", 1))
    graph["31"] = n("UNETLoader", unet_name="flux1-dev.safetensors", weight_dtype="default")
    graph["99"] = n("CheckpointLoaderSimple", ckpt_name="unused-refiner.safetensors")  # not on the sampler's path
    assert read_graph(graph)["model"] == "flux1-dev.safetensors"


def test_the_saved_images_sampler_is_read_not_the_first_sampler_like_node():
    graph = base_graph()
    # a sampler of another, unsaved branch, listed first, and a KSamplerSelect
    graph = {
        "1": n("KSamplerSelect", sampler_name="heun"),
        "2": n(
            "KSampler",
            seed=999,
            steps=5,
            cfg=1.0,
            sampler_name="lcm",
            model=L("4"),
            positive=L("7"),
            negative=L("7"),
            latent_image=L("5"),
        ),  # fmt: skip
        **graph,
    }
    shown = read_graph(graph)
    assert (shown["seed"], shown["steps"], shown["sampler"], shown["prompt"]) == (11, 20, "euler", "a red fox\n")


def test_a_hires_pass_reports_the_first_pass_and_its_size():
    graph = base_graph()
    graph["20"] = n("LatentUpscaleBy", upscale_method="nearest-exact", scale_by=1.5, samples=L("3"))
    graph["21"] = n(
        "KSampler", seed=22, steps=8, cfg=5.0, sampler_name="dpmpp_2m", denoise=0.5, model=L("40"),
        positive=L("6"), negative=L("7"), latent_image=L("20"),
    )  # fmt: skip
    graph["40"] = n("CheckpointLoaderSimple", ckpt_name="hires.safetensors")
    graph["8"] = n("VAEDecode", samples=L("21"), vae=L("4", 2))
    shown = read_graph(graph)
    assert (shown["seed"], shown["steps"], shown["model"], shown["width"]) == (11, 20, "base.safetensors", 832)


def test_save_nodes_win_over_previews_then_the_lowest_id():
    graph = {
        # another branch, listed first: its own sampler, shown by a preview with a lower id
        "51": n(
            "KSampler", seed=5, steps=4, cfg=1.0, sampler_name="lcm", model=L("4"), positive=L("7"),
            negative=L("7"), latent_image=L("5"),
        ),
        "50": n("VAEDecode", samples=L("51"), vae=L("4", 2)),
        "2": n("PreviewImage", images=L("50")),
        "100": n("SaveImage", images=L("50")),  # a second save node, but a higher id than 9
        **base_graph(),
    }  # fmt: skip
    assert read_graph(graph)["seed"] == 11


def test_every_branch_of_combined_conditioning_is_read_in_graph_order():
    graph = base_graph(positive=L("10"))
    graph["10"] = n("ConditioningCombine", conditioning_1=L("11"), conditioning_2=L("12"))
    graph["11"] = n("ConditioningSetArea", width=512, height=512, x=0, y=0, strength=1.0, conditioning=L("6"))
    graph["12"] = n("ConditioningConcat", conditioning_to=L("13"), conditioning_from=L("14"))
    graph["13"] = n("CLIPTextEncode", text="snowy hills", clip=L("4", 1))
    graph["14"] = n("CLIPTextEncode", text="a red fox\n", clip=L("4", 1))  # the same text once
    assert read_graph(graph)["prompt"] == "a red fox\nsnowy hills"


def test_sdxl_encoders_give_both_texts_once():
    graph = base_graph()
    graph["6"] = n("CLIPTextEncodeSDXL", width=1024, height=1024, text_g="a castle", text_l="a castle", clip=L("4", 1))
    graph["7"] = n("CLIPTextEncodeSDXL", text_g="blurry", text_l="lowres", clip=L("4", 1))
    shown = read_graph(graph)
    assert (shown["prompt"], shown["negative_prompt"]) == ("a castle", "blurry\nlowres")


def test_controlnet_conditioning_is_followed_per_side_and_a_zeroed_negative_is_empty():
    graph = base_graph(positive=L("30", 0), negative=L("31"))
    graph["30"] = n("ControlNetApplyAdvanced", positive=L("6"), negative=L("7"), control_net=L("32"), image=L("33"))
    graph["31"] = n("ConditioningZeroOut", conditioning=L("6"))
    shown = read_graph(graph)
    assert (shown["prompt"], shown["negative_prompt"]) == ("a red fox\n", "")
    graph = base_graph(positive=L("30", 0), negative=L("30", 1))
    graph["30"] = n("ControlNetApplyAdvanced", positive=L("6"), negative=L("7"), control_net=L("32"), image=L("33"))
    assert read_graph(graph)["negative_prompt"] == "blurry"


def sampler_custom_advanced(guider: dict[str, Any]) -> dict[str, Any]:
    return {
        "1": n("UNETLoader", unet_name="flux1-schnell.safetensors", weight_dtype="fp8_e4m3fn"),
        "2": n("CLIPTextEncode", text="neon street at night", clip=L("9")),
        "3": n("CLIPTextEncode", text="daylight", clip=L("9")),
        "4": n("RandomNoise", noise_seed=123456789012345),
        "5": n("KSamplerSelect", sampler_name="euler"),
        "6": n("BasicScheduler", scheduler="simple", steps=4, denoise=1.0, model=L("1")),
        "7": guider,
        "8": n("EmptySD3LatentImage", width=1344, height=768, batch_size=1),
        "10": n(
            "SamplerCustomAdvanced", noise=L("4"), guider=L("7"), sampler=L("5"), sigmas=L("6"), latent_image=L("8")
        ),
        "11": n("VAEDecode", samples=L("10"), vae=L("12")),
        "13": n("SaveImage", images=L("11")),
    }


def test_sampler_custom_advanced_with_cfg_guider():
    shown = read_graph(sampler_custom_advanced(n("CFGGuider", cfg=3.5, model=L("1"), positive=L("2"), negative=L("3"))))
    assert shown == {
        "source": "comfyui",
        "prompt": "neon street at night",
        "negative_prompt": "daylight",
        "seed": 123456789012345,
        "seed_text": "123456789012345",
        "model": "flux1-schnell.safetensors",
        "steps": 4,
        "cfg_scale": 3.5,
        "sampler": "euler",
        "width": 1344,
        "height": 768,
        "ignored": [],
    }


def test_sampler_custom_advanced_with_basic_guider_has_no_cfg_or_negative():
    shown = read_graph(sampler_custom_advanced(n("BasicGuider", model=L("1"), conditioning=L("2"))))
    assert (shown["prompt"], shown["negative_prompt"], shown["cfg_scale"]) == ("neon street at night", "", None)
    assert shown["model"] == "flux1-schnell.safetensors" and shown["steps"] == 4


def test_sampler_custom():
    graph = base_graph()
    graph["3"] = n(
        "SamplerCustom", add_noise=True, noise_seed=31, cfg=6.0, model=L("4"), positive=L("6"), negative=L("7"),
        sampler=L("40"), sigmas=L("41"), latent_image=L("5"),
    )  # fmt: skip
    graph["40"] = n("KSamplerSelect", sampler_name="dpmpp_2m")
    graph["41"] = n("KarrasScheduler", steps=30, sigma_max=14.6, sigma_min=0.03, rho=7.0)
    shown = read_graph(graph)
    assert (shown["seed"], shown["steps"], shown["cfg_scale"], shown["sampler"]) == (31, 30, 6.0, "dpmpp_2m")


def test_a_size_stated_as_dimensions_text_is_read():
    graph = base_graph()
    graph["5"] = n("SDXL Empty Latent Image (rgthree)", dimensions="1216 x 832   (landscape)", batch_size=1)
    assert (read_graph(graph)["width"], read_graph(graph)["height"]) == (1216, 832)


# --- small graphs: custom nodes whose inputs are plain values ---------------------------------
def test_cr_seed_node():
    graph = base_graph(seed=L("40"))
    graph["40"] = n("CR Seed", seed=6952411511246973023)
    assert read_graph(graph)["seed"] == 6952411511246973023


def test_primitive_and_text_box_nodes():
    graph = base_graph(steps=L("41"), cfg=L("42"), sampler_name=L("43"))
    graph["6"] = n("CLIPTextEncode", text=L("40"), clip=L("4", 1))
    graph["7"] = n("CLIPTextEncode", text=L("44"), clip=L("4", 1))
    graph["40"] = n("Text Multiline", text="a lighthouse\n")
    graph["41"] = n("PrimitiveInt", value=28)
    graph["42"] = n("PrimitiveFloat", value=4.5)
    graph["43"] = n("PrimitiveString", value="dpmpp_2m_sde")
    graph["44"] = n("String Literal", string="fog")
    shown = read_graph(graph)
    assert (shown["prompt"], shown["negative_prompt"]) == ("a lighthouse\n", "fog")
    assert (shown["steps"], shown["cfg_scale"], shown["sampler"]) == (28, 4.5, "dpmpp_2m_sde")


def test_string_concatenate_node():
    graph = base_graph()
    graph["6"] = n("CLIPTextEncode", text=L("40"), clip=L("4", 1))
    graph["40"] = n("StringConcatenate", string_a="a red fox", string_b="in snow", delimiter=", ")
    assert read_graph(graph)["prompt"] == "a red fox, in snow"


def test_switch_nodes_follow_the_selected_input():
    graph = base_graph(seed=L("50"), model=L("60"), positive=L("70"))
    graph["6"] = n("CLIPTextEncode", text=L("40"), clip=L("4", 1))
    graph["40"] = n("CR Text Input Switch", Input=2, text1=L("41"), text2=L("42"))
    graph["41"] = n("Text Multiline", text="not this")
    graph["42"] = n("Text Multiline", text="this one")
    graph["50"] = n("ImpactSwitch", select=L("51"), sel_mode=False, input1=L("52"), input2=L("53"))
    graph["51"] = n("PrimitiveInt", value=1)  # the selector itself from a link
    graph["52"] = n("CR Seed", seed=5150)
    graph["53"] = n("CR Seed", seed=1)
    graph["60"] = n("Switch any [Crystools]", boolean=False, on_true=L("4"), on_false=L("61"))
    graph["61"] = n("CheckpointLoaderSimple", ckpt_name="chosen.safetensors")
    graph["70"] = n("CR Conditioning Input Switch", Input=1, conditioning1=L("6"), conditioning2=L("7"))
    shown = read_graph(graph)
    assert (shown["prompt"], shown["seed"], shown["model"]) == ("this one", 5150, "chosen.safetensors")


def test_efficiency_nodes_loader_and_sampler():
    graph = {
        "1": n(
            "Efficient Loader", ckpt_name="dreamshaper_8.safetensors", positive="a cabin\n", negative="people",
            empty_latent_width=640, empty_latent_height=896, batch_size=1,
        ),
        "2": n(
            "KSampler (Efficient)", seed=44, steps=25, cfg=6.5, sampler_name="dpmpp_2m", model=L("1"),
            positive=L("1", 1), negative=L("1", 2), latent_image=L("1", 3), optional_vae=L("1", 4),
        ),
        "3": n("SaveImage", images=L("2", 5)),
    }  # fmt: skip
    shown = read_graph(graph)
    assert (shown["prompt"], shown["negative_prompt"], shown["model"]) == (
        "a cabin\n",
        "people",
        "dreamshaper_8.safetensors",
    )
    assert (shown["seed"], shown["width"], shown["height"]) == (44, 640, 896)


# --- hostile graphs: never raise, always finish (bounded walks) -------------------------------
def test_cycles_everywhere_end():
    graph = base_graph(positive=L("10"), model=L("20"), latent_image=L("30"), seed=L("40"))
    graph["10"] = n("ConditioningCombine", conditioning_1=L("11"), conditioning_2=L("6"))
    graph["11"] = n("ConditioningCombine", conditioning_1=L("10"), conditioning_2=L("11"))
    graph["20"] = n("LoraLoader", model=L("21"))
    graph["21"] = n("LoraLoader", model=L("20"))
    graph["30"] = n("LatentUpscale", samples=L("31"))
    graph["31"] = n("VAEEncode", pixels=L("30"))
    graph["40"] = n("ImpactSwitch", select=1, input1=L("40"))  # a switch selecting itself
    graph["7"] = n("CLIPTextEncode", text=L("41"), clip=L("4", 1))
    graph["41"] = n("ImpactSwitch", select=L("41"), input1=L("41"), value=L("41"))  # its own selector too
    graph["8"] = n("VAEDecode", samples=L("3"), image=L("8"))
    shown = read_graph(graph)
    assert shown["prompt"] == "a red fox\n" and shown["model"] is None and shown["seed"] is None
    assert shown["width"] is None and shown["negative_prompt"] == ""


def test_ten_thousand_nodes_in_chains_and_outputs_end():
    size = 10_000
    graph = base_graph(model=L("lora0"), positive=L("c0"))
    for i in range(size):
        graph[f"lora{i}"] = n("LoraLoader", model=L(f"lora{i + 1}"))
        graph[f"c{i}"] = n("ConditioningCombine", conditioning_1=L(f"c{i + 1}"), conditioning_2=L("6"))
        graph[f"out{i}"] = n("PreviewImage", images=L(f"missing{i}"))
    graph[f"lora{size}"] = n("CheckpointLoaderSimple", ckpt_name="deep.safetensors")
    shown = read_graph(graph)
    assert shown["model"] is None  # past the depth bound: left out, not searched for ever
    assert shown["prompt"] == "a red fox\n" and shown["seed"] == 11


def test_a_diamond_of_shared_branches_is_visited_once_per_node():
    graph = base_graph(positive=L("d0"))
    for i in range(40):  # 2^40 paths, 40 nodes
        graph[f"d{i}"] = n("ConditioningCombine", conditioning_1=L(f"d{i + 1}"), conditioning_2=L(f"d{i + 1}"))
    graph["d40"] = n("CLIPTextEncode", text="deep", clip=L("4", 1))
    assert read_graph(graph)["prompt"] == "deep"


def test_a_graph_that_exhausts_the_visit_budget_still_answers():
    graph = base_graph()
    for i in range(MAX_VISITS + 10):  # more save nodes than the walk may visit, none leading anywhere
        graph[f"{i:06d}save"] = n("SaveImage", images=L(f"gone{i}"))
    assert read_graph(graph)["source"] == "comfyui"


def test_links_to_missing_nodes_and_wrong_types_are_dropped():
    graph = base_graph(positive=L("404"), negative=["7"], model=L("4", "x"), latent_image=L("5"))
    graph["4"] = n("CheckpointLoaderSimple", ckpt_name=["not", "text"])
    graph["5"] = n("EmptyLatentImage", width="wide", height=-3)
    graph["7"] = "not a node"
    graph["8"] = {"class_type": 12, "inputs": [1, 2]}
    graph["9"] = n("SaveImage", images=L("3"))
    shown = read_graph(graph)
    assert (shown["prompt"], shown["negative_prompt"], shown["model"]) == ("", "", None)
    assert shown["width"] is None and shown["height"] is None
    assert any(note.startswith("width") for note in shown["ignored"])
    assert any(note.startswith("height") for note in shown["ignored"])


@pytest.mark.parametrize(
    ("seed", "expected", "noted"),
    [
        ("280823642470253", 280823642470253, False),  # a seed written as a string
        (2**64, None, True),  # above 2^64 - 1
        (10**30, None, True),
        (-1, None, True),
        (1.5, None, True),
        (True, None, True),
        ({"seed": 1}, None, True),
    ],
)
def test_seeds_of_any_type_are_exact_or_dropped_and_named(seed, expected, noted):
    shown = read_graph(base_graph(seed=seed))
    assert shown["seed"] == expected
    assert any(note.startswith("seed") for note in shown["ignored"]) is noted


def test_wrong_types_in_every_value_never_raise():
    bad_values = [None, True, -1, 1e308, "x" * 20_000, [], {}, ["3", 0], ["3"], [None, None], [[], 0], ["9", True]]
    for bad in bad_values:
        for field in ("seed", "steps", "cfg", "sampler_name", "model", "positive", "negative", "latent_image"):
            read_graph(base_graph(**{field: bad}))
        read_graph({"3": bad, "9": n("SaveImage", images=bad)})


# --- where the graph is: PNG chunk and the save nodes' EXIF layouts ----------------------------
GRAPH = base_graph()
WORKFLOW = {"nodes": [], "links": []}


def saved(fmt: str, exif: Image.Exif) -> dict[str, Any] | None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (40, 80, 120)).save(buf, fmt, exif=exif.tobytes())
    buf.seek(0)
    return parameters_of(buf)


def test_comfyui_animated_webp_layout_make_and_model():
    exif = Image.Exif()
    exif[0x010F] = "workflow:" + json.dumps(WORKFLOW)
    exif[0x0110] = "prompt:" + json.dumps(GRAPH)
    shown = saved("WEBP", exif)
    assert shown["source"] == "comfyui" and shown["prompt"] == "a red fox\n" and shown["seed"] == 11


def test_save_image_extended_layout_jpeg():
    exif = Image.Exif()
    exif[0x010E] = "Workflow: " + json.dumps(WORKFLOW)
    exif[0x010F] = "Prompt: " + json.dumps(GRAPH)
    shown = saved("JPEG", exif)
    assert shown["source"] == "comfyui" and shown["model"] == "base.safetensors"


def test_save_img_adv_layout_bare_graph_in_make_before_its_a1111_text():
    # Saveaswebp / SaveImgAdv: the graph as plain JSON in Make, the UI workflow in
    # ImageDescription, optionally an A1111 rendering in the Exif UserComment: the graph wins
    exif = Image.Exif()
    exif[0x010F] = json.dumps(GRAPH)
    exif[0x010E] = json.dumps(WORKFLOW)
    exif[0x8769] = {0x9286: b"UNICODE\0" + "a red fox\nSteps: 20, Seed: 11".encode("utf-16-be")}
    shown = saved("WEBP", exif)
    assert (shown["source"], shown["width"], shown["sampler"]) == ("comfyui", 832, "euler")


def test_saveimage_plus_layout_ifd0_user_comment_json():
    exif = Image.Exif()
    exif[0x9286] = json.dumps({"prompt": GRAPH, "workflow": WORKFLOW})
    assert saved("WEBP", exif)["negative_prompt"] == "blurry"


def test_exif_ifd_user_comment_with_the_graph_itself():
    exif = Image.Exif()
    exif[0x8769] = {0x9286: b"UNICODE\0" + json.dumps(GRAPH).encode("utf-16-be")}
    shown = saved("JPEG", exif)
    assert shown["source"] == "comfyui" and shown["steps"] == 20


@pytest.mark.parametrize(
    "text",
    ["prompt:{", "Prompt: {}", "workflow:[1,", "prompt:" + json.dumps({"1": {"inputs": {}}}), "{}", "\0\0{"],
)
def test_exif_that_is_not_a_graph_is_not_comfyui(text):
    found = Embedded(Image.new("RGB", (4, 4)), {}, None, {0x0110: text, 0x9286: text}, {0x9286: text.encode()})
    assert read(found) is None


def test_a_prompt_chunk_that_is_not_a_graph_is_not_comfyui():
    image = Image.new("RGB", (4, 4))
    assert read(Embedded(image, {"prompt": "a cat on a mat"})) is None
    assert read(Embedded(image, {"prompt": json.dumps({"3": "x"})})) is None
    assert read(Embedded(image, {"prompt": json.dumps(GRAPH).encode()})).seed == 11  # bytes, as some readers keep it
