"""SwarmUI: ``sui_image_params`` JSON in the ``parameters`` chunk. SwarmUI also writes a
ComfyUI graph, so this reader comes before ComfyUI's."""

from __future__ import annotations

from typing import Any

from backend.storage.readers.base import Embedded, ImageParams, Reader, ValueReader, make_params, parse_json


def from_swarmui(data: dict[str, Any]) -> ImageParams:
    reader = ValueReader()
    p = reader.obj("sui_image_params", data.get("sui_image_params"))
    return make_params(
        "swarmui",
        reader,
        data,
        prompt=reader.prompt("prompt", p.get("prompt")),
        negative_prompt=reader.prompt("negativeprompt", p.get("negativeprompt")),
        seed=reader.seed("seed", p.get("seed")),
        model=reader.text("model", p.get("model")),
        steps=reader.steps("steps", p.get("steps")),
        cfg_scale=reader.number("cfgscale", p.get("cfgscale")),
        sampler=reader.text("sampler", p.get("sampler")),
        width=reader.side("width", p.get("width")),
        height=reader.side("height", p.get("height")),
    )


def read(found: Embedded) -> ImageParams | None:
    data = parse_json(found.infotext) if found.infotext and found.infotext.lstrip().startswith("{") else None
    return from_swarmui(data) if isinstance(data, dict) and "sui_image_params" in data else None


READER = Reader("swarmui", 100, read)
