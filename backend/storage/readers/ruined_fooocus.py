"""Ruined Fooocus: its JSON in the ``parameters`` chunk (or the EXIF UserComment), marked
``"software": "RuinedFooocus"``: ``Prompt``, ``Negative``, ``steps``, ``cfg``, ``width``,
``height``, ``seed``, ``sampler_name``, ``base_model_name``. Layout: enslo/sd-metadata
``packages/core/src/parsers/ruined-fooocus.ts``. Tried before Fooocus's reader."""

from __future__ import annotations

from typing import Any

from backend.storage.readers.base import Embedded, ImageParams, Reader, ValueReader, make_params, parse_json


def from_ruined_fooocus(data: dict[str, Any]) -> ImageParams:
    reader = ValueReader()
    return make_params(
        "ruined-fooocus",
        reader,
        data,
        prompt=reader.prompt("Prompt", data.get("Prompt")).strip(),
        negative_prompt=reader.prompt("Negative", data.get("Negative")).strip(),
        seed=reader.seed("seed", data.get("seed")),
        model=reader.text("base_model_name", data.get("base_model_name")),
        steps=reader.steps("steps", data.get("steps")),
        cfg_scale=reader.number("cfg", data.get("cfg")),
        sampler=reader.text("sampler_name", data.get("sampler_name")),
        width=reader.side("width", data.get("width")),
        height=reader.side("height", data.get("height")),
    )


def read(found: Embedded) -> ImageParams | None:
    data = parse_json(found.infotext) if found.infotext and found.infotext.lstrip().startswith("{") else None
    if isinstance(data, dict) and data.get("software") == "RuinedFooocus":
        return from_ruined_fooocus(data)
    return None


READER = Reader("ruined-fooocus", 190, read)
