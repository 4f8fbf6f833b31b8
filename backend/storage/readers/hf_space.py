"""Hugging Face Spaces (Gradio + diffusers apps): their parameters as a JSON object in the
``parameters`` chunk (or the EXIF UserComment): ``prompt``, ``negative_prompt``,
``resolution`` ("832 x 1216"), ``guidance_scale``, ``num_inference_steps``, ``seed``,
``sampler``, ``Model``. Layout: enslo/sd-metadata ``packages/core/src/parsers/hf-space.ts``."""

from __future__ import annotations

from typing import Any

from backend.storage.readers.base import Embedded, ImageParams, Reader, ValueReader, make_params, parse_json, parse_size

#: keys that tell a Space's JSON from any other JSON holding a ``prompt``
_MARKERS = ("resolution", "num_inference_steps", "guidance_scale", "Model")


def from_hf_space(data: dict[str, Any]) -> ImageParams:
    reader = ValueReader()
    width, height = parse_size(data.get("resolution"))
    return make_params(
        "hf-space",
        reader,
        data,
        prompt=reader.prompt("prompt", data.get("prompt")),
        negative_prompt=reader.prompt("negative_prompt", data.get("negative_prompt")),
        seed=reader.seed("seed", data.get("seed")),
        model=reader.text("Model", data.get("Model")),
        steps=reader.steps("num_inference_steps", data.get("num_inference_steps")),
        cfg_scale=reader.number("guidance_scale", data.get("guidance_scale")),
        sampler=reader.text("sampler", data.get("sampler")),
        width=width if width is not None else reader.side("width", data.get("width")),
        height=height if height is not None else reader.side("height", data.get("height")),
    )


def read(found: Embedded) -> ImageParams | None:
    data = parse_json(found.infotext) if found.infotext and found.infotext.lstrip().startswith("{") else None
    if isinstance(data, dict) and "prompt" in data and any(key in data for key in _MARKERS):
        return from_hf_space(data)
    return None


READER = Reader("hf-space", 210, read)
