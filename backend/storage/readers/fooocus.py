"""Fooocus: its JSON scheme in the ``parameters`` chunk (``fooocus_scheme: fooocus``).
Fooocus's A1111 scheme is read by the A1111 reader."""

from __future__ import annotations

from typing import Any

from backend.storage.readers.base import Embedded, ImageParams, Reader, ValueReader, make_params, parse_json, parse_size


def from_fooocus(data: dict[str, Any]) -> ImageParams:
    reader = ValueReader()
    width, height = parse_size(data.get("resolution"))
    return make_params(
        "fooocus",
        reader,
        data,
        prompt=reader.prompt("prompt", data.get("prompt")),
        negative_prompt=reader.prompt("negative_prompt", data.get("negative_prompt")),
        seed=reader.seed("seed", data.get("seed")),
        model=reader.text("base_model", data.get("base_model")),
        steps=reader.steps("steps", data.get("steps")),
        cfg_scale=reader.number("guidance_scale", data.get("guidance_scale")),
        sampler=reader.text("sampler", data.get("sampler")),
        width=width,
        height=height,
    )


def read(found: Embedded) -> ImageParams | None:
    data = parse_json(found.infotext) if found.infotext and found.infotext.lstrip().startswith("{") else None
    if isinstance(data, dict) and (found.text.get("fooocus_scheme") == "fooocus" or "base_model" in data):
        return from_fooocus(data)
    return None


READER = Reader("fooocus", 200, read)
