"""ComfyUI: the API-format graph in the ``prompt`` chunk (and the UI ``workflow``)."""

from __future__ import annotations

from typing import Any

from backend.storage.readers.base import (
    MAX_PROMPT_CHARS,
    MAX_TEXT_CHARS,
    Embedded,
    ImageParams,
    Reader,
    ValueReader,
    clean_text,
    make_params,
    parse_json,
)


def from_comfyui(prompt_graph: Any, workflow: Any) -> ImageParams:
    """Follow the sampler's positive / negative inputs to their text encoders."""
    reader = ValueReader()
    graph = prompt_graph if isinstance(prompt_graph, dict) else {}
    nodes = {k: v for k, v in graph.items() if isinstance(v, dict)}

    def inputs_of(node: Any) -> dict[str, Any]:
        inputs = node.get("inputs") if isinstance(node, dict) else None
        return inputs if isinstance(inputs, dict) else {}

    def text_of(ref: Any, depth: int = 0) -> Any:
        if not (isinstance(ref, list) and ref and depth < 8 and isinstance(ref[0], str | int)):
            return None
        inputs = inputs_of(nodes.get(str(ref[0])))
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
    sampler = next((n for n in nodes.values() if "sampler" in str(n.get("class_type", ""))[:200].lower()), None)
    if sampler:
        inputs = inputs_of(sampler)
        values.update(
            prompt=reader.prompt("positive", text_of(inputs.get("positive"))),
            negative_prompt=reader.prompt("negative", text_of(inputs.get("negative"))),
            seed=reader.seed("seed", inputs.get("seed", inputs.get("noise_seed"))),
            steps=reader.steps("steps", inputs.get("steps")),
            cfg_scale=reader.number("cfg", inputs.get("cfg")),
            sampler=reader.text("sampler_name", inputs.get("sampler_name")),
        )
    if not values.get("prompt"):
        texts = [t for n in nodes.values() if isinstance(t := inputs_of(n).get("text"), str)]
        values["prompt"] = clean_text(texts[0], MAX_PROMPT_CHARS) if texts else ""
    for node in nodes.values():
        inputs = inputs_of(node)
        if isinstance(inputs.get("ckpt_name"), str):
            values["model"] = clean_text(inputs["ckpt_name"], MAX_TEXT_CHARS)
        if "latent" in str(node.get("class_type", ""))[:200].lower() and "width" not in values:
            values["width"] = reader.side("width", inputs.get("width"))
            values["height"] = reader.side("height", inputs.get("height"))
    return make_params("comfyui", reader, {"prompt": prompt_graph, "workflow": workflow}, **values)


def read(found: Embedded) -> ImageParams | None:
    graph = parse_json(found.text.get("prompt")) if "prompt" in found.text else None
    return from_comfyui(graph, parse_json(found.text.get("workflow"))) if isinstance(graph, dict) else None


READER = Reader("comfyui", 500, read)
