"""Generation parameters read from an image, whichever tool wrote them.

Every reader returns the same normalised shape (``source``, ``prompt``,
``negative_prompt``, ``seed``, ``model``, ``steps``, ``cfg_scale``, ``sampler``,
``width``, ``height``) plus ``raw``: what the tool itself wrote, for the UI to show.
Known writers: Atelier, A1111 / Forge infotext (PNG text or EXIF UserComment), ComfyUI
``prompt`` / ``workflow``, InvokeAI ``invokeai_metadata`` (and the older ``sd-metadata``
and ``Dream``), Fooocus (``fooocus_scheme``), SwarmUI ``sui_image_params``.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from PIL import Image

from backend.storage.metadata import TAG_EXIF_IFD, TAG_USER_COMMENT, decode_user_comment, parse_infotext, read_embedded

FIELDS = ("prompt", "negative_prompt", "seed", "model", "steps", "cfg_scale", "sampler", "width", "height")


def _num(value: Any, kind: type = int) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(value) if kind is float else int(float(value))
    except (TypeError, ValueError):
        return None


def _result(source: str, raw: Any, **values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"source": source}
    for name in FIELDS:
        out[name] = values.get(name)
    out["prompt"] = out["prompt"] or ""
    out["negative_prompt"] = out["negative_prompt"] or ""
    out["raw"] = raw
    return out


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _size(text: Any) -> tuple[int | None, int | None]:
    match = re.match(r"^\s*\(?\s*(\d+)\s*[x,×]\s*(\d+)", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


# --- each tool ---------------------------------------------------------------------------
def from_atelier(atelier: dict[str, Any]) -> dict[str, Any]:
    request = atelier.get("request") or {}
    return _result(
        "atelier",
        atelier,
        prompt=request.get("prompt"),
        negative_prompt=request.get("negative_prompt"),
        seed=atelier.get("seed"),
        model=atelier.get("model") or request.get("model"),
        steps=request.get("steps"),
        width=atelier.get("width"),
        height=atelier.get("height"),
    )


def from_infotext(text: str) -> dict[str, Any]:
    parsed = parse_infotext(text)
    params = parsed["params"]
    width, height = _size(params.get("Size"))
    version = str(params.get("Version", ""))
    source = "fooocus" if "fooocus" in version.lower() else "forge" if version.startswith("f") else "a1111"
    return _result(
        source,
        {"parameters": text, "params": params},
        prompt=parsed["prompt"],
        negative_prompt=parsed["negative_prompt"],
        seed=_num(params.get("Seed")),
        model=params.get("Model"),
        steps=_num(params.get("Steps")),
        cfg_scale=_num(params.get("CFG scale"), float),
        sampler=params.get("Sampler"),
        width=width,
        height=height,
    )


def from_swarmui(data: dict[str, Any]) -> dict[str, Any]:
    p = data.get("sui_image_params") or {}
    return _result(
        "swarmui",
        data,
        prompt=p.get("prompt"),
        negative_prompt=p.get("negativeprompt"),
        seed=_num(p.get("seed")),
        model=p.get("model"),
        steps=_num(p.get("steps")),
        cfg_scale=_num(p.get("cfgscale"), float),
        sampler=p.get("sampler"),
        width=_num(p.get("width")),
        height=_num(p.get("height")),
    )


def from_fooocus(data: dict[str, Any]) -> dict[str, Any]:
    width, height = _size(data.get("resolution"))
    return _result(
        "fooocus",
        data,
        prompt=data.get("prompt"),
        negative_prompt=data.get("negative_prompt"),
        seed=_num(data.get("seed")),
        model=data.get("base_model"),
        steps=_num(data.get("steps")),
        cfg_scale=_num(data.get("guidance_scale"), float),
        sampler=data.get("sampler"),
        width=width,
        height=height,
    )


def from_invokeai(data: dict[str, Any]) -> dict[str, Any]:
    model = data.get("model")
    return _result(
        "invokeai",
        data,
        prompt=data.get("positive_prompt"),
        negative_prompt=data.get("negative_prompt"),
        seed=_num(data.get("seed")),
        model=model.get("name") if isinstance(model, dict) else model,
        steps=_num(data.get("steps")),
        cfg_scale=_num(data.get("cfg_scale"), float),
        sampler=data.get("scheduler"),
        width=_num(data.get("width")),
        height=_num(data.get("height")),
    )


def _split_negative(prompt: str) -> tuple[str, str]:
    """InvokeAI 2 kept the negative prompt in [brackets] inside the prompt."""
    negatives = re.findall(r"\[([^\]]*)\]", prompt)
    return re.sub(r"\s*\[[^\]]*\]", "", prompt).strip(), ", ".join(n.strip() for n in negatives)


def from_sd_metadata(data: dict[str, Any]) -> dict[str, Any]:
    image = data.get("image") or {}
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(str(p.get("prompt", "")) if isinstance(p, dict) else str(p) for p in prompt)
    positive, negative = _split_negative(str(prompt or ""))
    return _result(
        "invokeai-legacy",
        data,
        prompt=positive,
        negative_prompt=negative,
        seed=_num(image.get("seed")),
        model=data.get("model_weights") or data.get("model"),
        steps=_num(image.get("steps")),
        cfg_scale=_num(image.get("cfg_scale"), float),
        sampler=image.get("sampler"),
        width=_num(image.get("width")),
        height=_num(image.get("height")),
    )


def from_dream(command: str) -> dict[str, Any]:
    """``"a prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms``."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    options: dict[str, str] = {}
    prompt_words: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if re.match(r"^-[A-Za-z]$", word) and i + 1 < len(words):
            options[word[1]] = words[i + 1]
            i += 2
            continue
        prompt_words.append(word)
        i += 1
    positive, negative = _split_negative(" ".join(prompt_words))
    return _result(
        "invokeai-legacy",
        {"Dream": command},
        prompt=positive,
        negative_prompt=negative,
        seed=_num(options.get("S")),
        steps=_num(options.get("s")),
        cfg_scale=_num(options.get("C"), float),
        sampler=options.get("A"),
        width=_num(options.get("W")),
        height=_num(options.get("H")),
    )


def from_comfyui(prompt_graph: Any, workflow: Any) -> dict[str, Any]:
    """Follow the sampler's positive / negative inputs to their text encoders."""
    graph = prompt_graph if isinstance(prompt_graph, dict) else {}
    nodes = {k: v for k, v in graph.items() if isinstance(v, dict)}

    def text_of(ref: Any, depth: int = 0) -> str | None:
        if not (isinstance(ref, list) and ref and depth < 8):
            return None
        node = nodes.get(str(ref[0])) or {}
        inputs = node.get("inputs") or {}
        for key in ("text", "text_g", "prompt", "positive"):
            value = inputs.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, list):
                return text_of(value, depth + 1)
        for key in ("conditioning", "conditioning_1"):
            if key in inputs:
                return text_of(inputs[key], depth + 1)
        return None

    values: dict[str, Any] = {}
    sampler = next((n for n in nodes.values() if "sampler" in str(n.get("class_type", "")).lower()), None)
    if sampler:
        inputs = sampler.get("inputs") or {}
        values.update(
            prompt=text_of(inputs.get("positive")),
            negative_prompt=text_of(inputs.get("negative")),
            seed=_num(inputs.get("seed", inputs.get("noise_seed"))),
            steps=_num(inputs.get("steps")),
            cfg_scale=_num(inputs.get("cfg"), float),
            sampler=inputs.get("sampler_name"),
        )
    if not values.get("prompt"):
        texts = [n["inputs"]["text"] for n in nodes.values() if isinstance((n.get("inputs") or {}).get("text"), str)]
        values["prompt"] = texts[0] if texts else ""
    for node in nodes.values():
        inputs = node.get("inputs") or {}
        if isinstance(inputs.get("ckpt_name"), str):
            values["model"] = inputs["ckpt_name"]
        if "latent" in str(node.get("class_type", "")).lower():
            values.setdefault("width", _num(inputs.get("width")))
            values.setdefault("height", _num(inputs.get("height")))
    return _result("comfyui", {"prompt": prompt_graph, "workflow": workflow}, **values)


# --- public ------------------------------------------------------------------------------
def extract_parameters(image: Image.Image) -> dict[str, Any] | None:
    """The generation parameters in an opened image, or None when it carries none."""
    text: dict[str, Any] = dict(getattr(image, "text", None) or {})
    if not text:
        # Pillow keeps PNG/WebP text in ``info`` for some formats
        text = {k: v for k, v in image.info.items() if isinstance(v, str | bytes) and k not in ("exif", "icc_profile")}
    infotext, atelier = read_embedded(image)
    if atelier:
        return from_atelier(atelier)

    if "invokeai_metadata" in text and isinstance(data := _json(text["invokeai_metadata"]), dict):
        return from_invokeai(data)
    if "sd-metadata" in text and isinstance(data := _json(text["sd-metadata"]), dict):
        return from_sd_metadata(data)
    if isinstance(text.get("Dream"), str):
        return from_dream(text["Dream"])
    if "prompt" in text and isinstance(graph := _json(text["prompt"]), dict):
        return from_comfyui(graph, _json(text.get("workflow")))

    parameters = text.get("parameters")
    if parameters is None:
        try:
            ifd = image.getexif().get_ifd(TAG_EXIF_IFD)
            if TAG_USER_COMMENT in ifd:
                parameters = decode_user_comment(ifd[TAG_USER_COMMENT])
        except Exception:
            parameters = None
    if isinstance(parameters, bytes):
        parameters = parameters.decode("utf-8", "replace")
    if isinstance(parameters, str) and parameters.strip():
        data = _json(parameters) if parameters.lstrip().startswith("{") else None
        if isinstance(data, dict) and "sui_image_params" in data:
            return from_swarmui(data)
        if isinstance(data, dict) and (text.get("fooocus_scheme") == "fooocus" or "base_model" in data):
            return from_fooocus(data)
        result = from_infotext(parameters)
        if text.get("fooocus_scheme"):
            result["source"] = "fooocus"
        return result
    if infotext:
        return from_infotext(infotext)
    return None
