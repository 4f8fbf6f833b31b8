"""A1111 / Forge infotext (a PNG ``parameters`` chunk or the EXIF UserComment), and the
tools that write it too (Fooocus in its A1111 mode, Forge). The fallback reader: tried last."""

from __future__ import annotations

from dataclasses import replace

from backend.storage.infotext import parse_infotext
from backend.storage.readers.base import Embedded, ImageParams, Reader, ValueReader, make_params, parse_size


def from_infotext(text: str) -> ImageParams:
    reader = ValueReader()
    parsed = parse_infotext(text)
    params = parsed["params"]
    width, height = parse_size(params.get("Size"))
    version = params.get("Version") if isinstance(params.get("Version"), str) else ""
    source = "fooocus" if "fooocus" in version.lower() else "forge" if version.startswith("f") else "a1111"
    return make_params(
        source,
        reader,
        {"parameters": text, "params": params},
        prompt=reader.prompt("prompt", parsed["prompt"]),
        negative_prompt=reader.prompt("negative_prompt", parsed["negative_prompt"]),
        seed=reader.seed("Seed", params.get("Seed")),
        model=reader.text("Model", params.get("Model")),
        steps=reader.steps("Steps", params.get("Steps")),
        cfg_scale=reader.number("CFG scale", params.get("CFG scale")),
        sampler=reader.text("Sampler", params.get("Sampler")),
        width=width,
        height=height,
    )


def read(found: Embedded) -> ImageParams | None:
    text = found.infotext
    if not text or not text.strip() or text.lstrip().startswith("{"):
        return None
    result = from_infotext(text)
    return replace(result, source="fooocus") if found.text.get("fooocus_scheme") else result


READER = Reader("a1111", 900, read)
