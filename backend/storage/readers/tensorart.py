"""TensorArt: a ``generation_data`` chunk (JSON, often followed by NUL characters) with the
prompts and the checkpoint (``baseModel.modelFileName``), and a ComfyUI graph in ``prompt``
for the rest. The graph's loader is TensorArt's own (``ECHOCheckpointLoaderSimple``, naming
the model by an id), so the model comes from ``generation_data``. Tried before ComfyUI.

Layout: enslo/sd-metadata ``packages/core/src/parsers/tensorart.ts`` and its tests."""

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


def from_tensorart(data: dict[str, Any], graph: ImageParams | None) -> ImageParams:
    reader = ValueReader()
    base_model = reader.obj("baseModel", data.get("baseModel"))
    return over(
        graph,
        "tensorart",
        reader,
        {"generation_data": data, "prompt": graph.raw if graph else None},
        prompt=reader.text("prompt", data.get("prompt"), MAX_PROMPT_CHARS),
        negative_prompt=reader.text("negativePrompt", data.get("negativePrompt"), MAX_PROMPT_CHARS),
        model=reader.text("baseModel.modelFileName", base_model.get("modelFileName")),
    )


def read(found: Embedded) -> ImageParams | None:
    text = found.text.get("generation_data")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return None
    data = parse_json(text.rstrip("\0"))
    if not isinstance(data, dict):
        return None
    comfyui = reader_named("comfyui")
    graph = comfyui.read(found) if comfyui is not None and "prompt" in found.text else None
    return from_tensorart(data, graph)


READER = Reader("tensorart", 50, read)
