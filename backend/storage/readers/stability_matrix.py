"""Stability Matrix: a ``parameters-json`` chunk (its own JSON: the prompts exactly as
typed, ``\\r\\n`` and non-Latin text included), an ``smproj`` chunk (the project), a ComfyUI
graph in ``prompt`` (the sampler's own names) and A1111 ``parameters`` (UTF-8 written into
a Latin-1 tEXt chunk, so non-Latin text is garbled there: not read). Tried before ComfyUI."""

from __future__ import annotations

from typing import Any

from backend.storage.readers.base import (
    MAX_PROMPT_CHARS,
    Embedded,
    ImageParams,
    Reader,
    ValueReader,
    over,
    parse_json,
    reader_named,
)


def from_stability_matrix(data: dict[str, Any], graph: ImageParams | None) -> ImageParams:
    """``parameters-json`` over what the ComfyUI graph says: its prompts and model are the
    ones typed; the graph names the sampler as ComfyUI does (``euler_ancestral``, where the
    JSON has a display name, ``Euler Ancestral Karras``)."""
    reader = ValueReader()
    values: dict[str, Any] = {
        "prompt": reader.text("PositivePrompt", data.get("PositivePrompt"), MAX_PROMPT_CHARS),
        "negative_prompt": reader.text("NegativePrompt", data.get("NegativePrompt"), MAX_PROMPT_CHARS),
        "model": reader.text("ModelName", data.get("ModelName")),
    }
    fallback = {
        "seed": reader.seed("Seed", data.get("Seed")),
        "steps": reader.steps("Steps", data.get("Steps")),
        "cfg_scale": reader.number("CfgScale", data.get("CfgScale")),
        "sampler": reader.text("Sampler", data.get("Sampler")),
        "width": reader.side("Width", data.get("Width")),
        "height": reader.side("Height", data.get("Height")),
    }
    for name, value in fallback.items():
        if graph is None or getattr(graph, name) is None:
            values[name] = value
    raw = {"parameters-json": data, "prompt": graph.raw if graph else None}
    return over(graph, "stability-matrix", reader, raw, **values)


def read(found: Embedded) -> ImageParams | None:
    if "parameters-json" not in found.text and "smproj" not in found.text:
        return None
    data = parse_json(found.text.get("parameters-json"))
    comfyui = reader_named("comfyui")
    graph = comfyui.read(found) if comfyui is not None and "prompt" in found.text else None
    if not isinstance(data, dict):
        return None if graph is None else over(graph, "stability-matrix", ValueReader(), graph.raw)
    return from_stability_matrix(data, graph)


READER = Reader("stability-matrix", 60, read)
