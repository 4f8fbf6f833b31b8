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


def from_invokeai(data: dict[str, Any]) -> ImageParams:
    reader = ValueReader()
    model = data.get("model")
    return make_params(
        "invokeai",
        reader,
        data,
        prompt=reader.prompt("positive_prompt", data.get("positive_prompt")),
        negative_prompt=reader.prompt("negative_prompt", data.get("negative_prompt")),
        seed=reader.seed("seed", data.get("seed")),
        model=reader.text("model.name", model.get("name")) if isinstance(model, dict) else reader.text("model", model),
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


def from_dream(command: str) -> ImageParams:
    """``"a prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms``."""
    reader = ValueReader()
    line = command[:MAX_COMMAND_CHARS]
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
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
    return make_params(
        "invokeai-legacy",
        reader,
        {"Dream": command},
        prompt=reader.prompt("prompt", positive),
        negative_prompt=reader.prompt("negative prompt", negative),
        seed=reader.seed("-S", options.get("S")),
        steps=reader.steps("-s", options.get("s")),
        cfg_scale=reader.number("-C", options.get("C")),
        sampler=reader.text("-A", options.get("A")),
        width=reader.side("-W", options.get("W")),
        height=reader.side("-H", options.get("H")),
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
