"""InvokeAI: ``invokeai_metadata`` (3.x and later), and the older ``sd-metadata`` and
``Dream`` chunks (2.x)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from backend.storage.readers.base import (
    MAX_COMMAND_CHARS,
    Embedded,
    ImageParams,
    Reader,
    ValueReader,
    make_params,
    parse_json,
)


def _model_name(reader: ValueReader, model: Any) -> str | None:
    """InvokeAI 3 writes ``{"model_name": ...}``, 4 and later ``{"name": ..., "key": ...,
    "hash": ...}`` (key and hash are no names), 2 a plain string."""
    if isinstance(model, dict):
        for key in ("name", "model_name"):
            if key in model:
                return reader.text(f"model.{key}", model[key])
        return None
    return reader.text("model", model)


def from_invokeai(data: dict[str, Any]) -> ImageParams:
    reader = ValueReader()
    return make_params(
        "invokeai",
        reader,
        data,
        prompt=reader.prompt("positive_prompt", data.get("positive_prompt")),
        negative_prompt=reader.prompt("negative_prompt", data.get("negative_prompt")),
        seed=reader.seed("seed", data.get("seed")),
        model=_model_name(reader, data.get("model")),
        steps=reader.steps("steps", data.get("steps")),
        cfg_scale=reader.number("cfg_scale", data.get("cfg_scale")),
        sampler=reader.text("scheduler", data.get("scheduler")),
        width=reader.side("width", data.get("width")),
        height=reader.side("height", data.get("height")),
    )


def _split_negative(prompt: str) -> tuple[str, str]:
    """InvokeAI 2 kept the negative prompt in [brackets] inside the prompt."""
    negatives = re.findall(r"\[([^\]]*)\]", prompt)
    return re.sub(r"\s*\[[^\]]*\]", "", prompt).strip(), ", ".join(n.strip() for n in negatives)


def from_sd_metadata(data: dict[str, Any]) -> ImageParams:
    reader = ValueReader()
    image = reader.obj("image", data.get("image"))
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        parts = [p.get("prompt") if isinstance(p, dict) else p for p in prompt[:100]]
        prompt = " ".join(p for p in parts if isinstance(p, str))
    positive, negative = _split_negative(reader.prompt("image.prompt", prompt))
    model = data.get("model_weights") or data.get("model")
    return make_params(
        "invokeai-legacy",
        reader,
        data,
        prompt=positive,
        negative_prompt=negative,
        seed=reader.seed("image.seed", image.get("seed")),
        model=reader.text("model_weights", model),
        steps=reader.steps("image.steps", image.get("steps")),
        cfg_scale=reader.number("image.cfg_scale", image.get("cfg_scale")),
        sampler=reader.text("image.sampler", image.get("sampler")),
        width=reader.side("image.width", image.get("width")),
        height=reader.side("image.height", image.get("height")),
    )


#: the ``invoke>`` command's options (InvokeAI 2.x ``ldm/invoke/args.py``,
#: ``_create_dream_cmd_parser``): each spelling -> (what it sets, how many values it takes:
#: 0 a flag, 1 one value, -1 one or more)
_DREAM_OPTIONS: dict[str, tuple[str, int]] = {}
for _names, _dest, _count in (
    (("--prompt",), "prompt", 1),
    (("-s", "--steps"), "steps", 1),
    (("-S", "--seed"), "seed", 1),
    (("-n", "--iterations"), "iterations", 1),
    (("-W", "--width"), "width", 1),
    (("-H", "--height"), "height", 1),
    (("-C", "--cfg_scale"), "cfg_scale", 1),
    (("--threshold",), "threshold", 1),
    (("--perlin",), "perlin", 1),
    (("--fnformat",), "fnformat", 1),
    (("-g", "--grid", "--no-grid"), "grid", 0),
    (("-i", "--individual"), "individual", 0),
    (("-x", "--skip_normalize"), "skip_normalize", 0),
    (("-A", "-m", "--sampler"), "sampler", 1),
    (("-t", "--log_tokenization"), "log_tokenization", 0),
    (("-o", "--outdir"), "outdir", 1),
    (("--hires_fix",), "hires_fix", 0),
    (("--save_intermediates",), "save_intermediates", 1),
    (("-z", "--png_compression"), "png_compression", 1),
    (("--karras_max",), "karras_max", 1),
    (("-I", "--init_img"), "init_img", 1),
    (("-tm", "--text_mask"), "text_mask", -1),
    (("--init_color",), "init_color", 1),
    (("-T", "-fit", "--fit"), "fit", 0),
    (("-f", "--strength"), "strength", 1),
    (("-M", "--init_mask"), "init_mask", 1),
    (("--invert_mask",), "invert_mask", 0),
    (("-r", "--inpaint_replace"), "inpaint_replace", 1),
    (("-c", "--outcrop"), "outcrop", -1),
    (("--force_outpaint",), "force_outpaint", 0),
    (("--seam_size",), "seam_size", 1),
    (("--seam_blur",), "seam_blur", 1),
    (("--seam_strength",), "seam_strength", 1),
    (("--seam_steps",), "seam_steps", 1),
    (("--tile_size",), "tile_size", 1),
    (("--new_prompt",), "new_prompt", 1),
    (("-ft", "--facetool"), "facetool", 1),
    (("-G", "--facetool_strength", "--gfpgan_strength"), "facetool_strength", 1),
    (("-cf", "--codeformer_fidelity"), "codeformer_fidelity", 1),
    (("-U", "--upscale"), "upscale", -1),
    (("--save_original", "-save_orig"), "save_original", 0),
    (("--embiggen", "-embiggen"), "embiggen", -1),
    (("--embiggen_tiles", "-embiggen_tiles"), "embiggen_tiles", -1),
    (("--embiggen_strength", "-embiggen_strength"), "embiggen_strength", 1),
    (("--seamless",), "seamless", 0),
    (("--seamless_axes",), "seamless_axes", 1),
    (("-v", "--variation_amount"), "variation_amount", 1),
    (("-V", "--with_variations"), "with_variations", 1),
    (("--use_mps_noise",), "use_mps_noise", 0),
    (("-D", "--out_direction"), "out_direction", -1),
):
    for _name in _names:
        _DREAM_OPTIONS[_name] = (_dest, _count)
_MAX_DREAM_WORDS = 4_096
_NEGATIVE_NUMBER = re.compile(r"^-\d+(?:\.\d*)?$|^-\.\d+$")


def _is_option(word: str) -> bool:
    return word.startswith("-") and len(word) > 1 and not _NEGATIVE_NUMBER.match(word)


def _option(word: str) -> tuple[str, int, str | None] | None:
    """The option a word names: (what it sets, its value count, a value joined to it:
    ``-s50``, ``--steps=50``); None for a word that is no option of the command."""
    name, _, joined = word.partition("=") if word.startswith("--") else (word, "", "")
    if name in _DREAM_OPTIONS:
        dest, count = _DREAM_OPTIONS[name]
        return dest, count, joined or None
    # a short option with its value attached (argparse reads ``-s50`` as ``-s 50``): the
    # longest known spelling that starts the word
    for cut in (3, 2):
        if word[:cut] in _DREAM_OPTIONS and len(word) > cut:
            dest, count = _DREAM_OPTIONS[word[:cut]]
            if count:
                return dest, count, word[cut:]
    return None


def _dream_words(command: str) -> list[str]:
    line = command[:MAX_COMMAND_CHARS]
    try:
        # InvokeAI escapes apostrophes before splitting: a prompt's "don't" is no quote
        words = [word.replace("\\'", "'") for word in shlex.split(line.replace("'", "\\'"))]
    except ValueError:
        words = line.split()
    return words[:_MAX_DREAM_WORDS]


def from_dream(command: str) -> ImageParams:
    """``"a prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms -U 4 0.95``: the
    prompt is every word before the first option (as InvokeAI's own ``parse_cmd`` splits
    it); options are read by the command's own table, each with as many values as it takes,
    so no option or value ends up in the prompt."""
    reader = ValueReader()
    words = _dream_words(command)
    first = next((i for i, word in enumerate(words) if _is_option(word)), len(words))
    options: dict[str, Any] = {}
    i = first
    while i < len(words):
        found = _option(words[i])
        i += 1
        if found is None:
            continue  # an unknown option or a stray word: neither prompt nor a known value
        dest, count, joined = found
        values = [joined] if joined is not None else []
        if count == 1 and not values and i < len(words) and not _is_option(words[i]):
            values.append(words[i])
            i += 1
        elif count == -1:
            while i < len(words) and not _is_option(words[i]) and len(values) < 16:
                values.append(words[i])
                i += 1
        options[dest] = values[0] if count == 1 and values else values if count == -1 else True
    prompt = " ".join(words[:first])
    if isinstance(options.get("prompt"), str) and not prompt:
        prompt = options["prompt"]
    positive, negative = _split_negative(prompt)
    return make_params(
        "invokeai-legacy",
        reader,
        {"Dream": command},
        prompt=reader.prompt("prompt", positive),
        negative_prompt=reader.prompt("negative prompt", negative),
        seed=reader.seed("-S", options.get("seed")),
        steps=reader.steps("-s", options.get("steps")),
        cfg_scale=reader.number("-C", options.get("cfg_scale")),
        sampler=reader.text("-A", options.get("sampler")),
        width=reader.side("-W", options.get("width")),
        height=reader.side("-H", options.get("height")),
    )


def read_invokeai(found: Embedded) -> ImageParams | None:
    data = parse_json(found.text.get("invokeai_metadata"))
    return from_invokeai(data) if isinstance(data, dict) else None


def read_sd_metadata(found: Embedded) -> ImageParams | None:
    data = parse_json(found.text.get("sd-metadata"))
    return from_sd_metadata(data) if isinstance(data, dict) else None


def read_dream(found: Embedded) -> ImageParams | None:
    command = found.text.get("Dream")
    return from_dream(command) if isinstance(command, str) else None


READERS = (
    Reader("invokeai", 10, read_invokeai),
    Reader("invokeai-sd-metadata", 20, read_sd_metadata),
    Reader("invokeai-dream", 30, read_dream),
)
