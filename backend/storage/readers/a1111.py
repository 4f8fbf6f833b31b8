"""A1111 / Forge infotext (a PNG ``parameters`` chunk or the EXIF UserComment), and every
tool that writes it too, named by what the text says of itself: Forge and its forks
(``Version: f…`` / ``neo`` / ``classic``), SD.Next (``App: SD.Next``), Civitai's generator
(``Civitai resources: [...]``), ComfyUI save nodes (``Version: ComfyUI``), Fooocus in its
A1111 mode. The fallback reader: tried last (stealth PNG info aside).

Tools differ in details A1111's own parser forgives: key case (comfy-image-saver writes
``CFG Scale``), and values that are JSON written unquoted on the settings line (Civitai's
``Civitai resources: [{...}, ...]``, A1111's ``Hashes: {...}``), whose commas would split
them into nonsense keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from backend.storage.infotext import parse_infotext
from backend.storage.readers.base import Embedded, ImageParams, Reader, ValueReader, make_params, parse_size

#: ``Key: `` followed by a JSON array or object on the settings line
_JSON_VALUE = re.compile(r"(?:^|,\s*)([\w][\w \-/]{0,63}?):\s*(?=[\[{])")
#: a settings line starts with one of these (a prompt line holding ``{...}`` is left alone)
_SETTINGS_LINE = re.compile(r"\s*(?:Steps|Seed|Sampler|Size|CFG scale|Model):", re.IGNORECASE)
_MAX_JSON_VALUES = 16
_DECODER = json.JSONDecoder()


def _lift_json_values(text: str) -> tuple[str, dict[str, Any]]:
    """``text`` with each ``Key: <JSON>`` of its settings line taken out, and those values
    parsed. Only the last line, and only when it is a settings line: a prompt is left alone."""
    head, newline, last = text.strip("\n").rpartition("\n")
    if not _SETTINGS_LINE.match(last):
        return text, {}
    lifted: dict[str, Any] = {}
    kept: list[str] = []
    pos = 0
    for _ in range(_MAX_JSON_VALUES):
        match = _JSON_VALUE.search(last, pos)
        if match is None:
            break
        try:
            value, end = _DECODER.raw_decode(last, match.end())
        except (ValueError, RecursionError):
            pos = match.end()
            continue
        lifted[match.group(1).strip()] = value
        kept.append(last[pos : match.start()])
        pos = end
    if not lifted:
        return text, {}
    kept.append(last[pos:])
    line = ", ".join(part.strip(" ,") for part in kept if part.strip(" ,"))
    return head + newline + line, lifted


def _source(params: dict[str, Any]) -> str:
    """The tool that wrote the infotext, from what it says of itself."""
    version = params.get("version") if isinstance(params.get("version"), str) else ""
    app = params.get("app") if isinstance(params.get("app"), str) else ""
    if "sd.next" in app.lower():
        return "sdnext"
    if "civitai resources" in params or "civitai metadata" in params:
        return "civitai"
    if "fooocus" in version.lower():
        return "fooocus"
    if version == "ComfyUI":
        return "comfyui"
    if version == "classic":
        return "forge-classic"
    if version.startswith("neo"):
        return "forge-neo"
    if re.match(r"f\d+\.\d+(?:\.\d+)?v\d+-v", version) or re.match(r"f\d+\.\d+(?:\.\d+)?-v", version):
        return "reforge"
    if version.startswith("f"):
        return "forge"
    return "a1111"


def _civitai_checkpoint(reader: ValueReader, resources: Any) -> str | None:
    """The checkpoint's name in Civitai's resource list (its model, which the infotext
    written by Civitai's generator does not name otherwise)."""
    if not isinstance(resources, list):
        return None
    for item in resources[:100]:
        if isinstance(item, dict) and item.get("type") == "checkpoint":
            return reader.text("Civitai resources.modelName", item.get("modelName"))
    return None


def from_infotext(text: str) -> ImageParams:
    reader = ValueReader()
    lifted_text, lifted = _lift_json_values(text)
    parsed = parse_infotext(lifted_text)
    params: dict[str, Any] = {**parsed["params"], **lifted}
    # tools differ in case (``CFG Scale``): the first spelling of each key wins
    keys: dict[str, Any] = {}
    for key, value in params.items():
        keys.setdefault(key.lower(), value)
    width, height = parse_size(keys.get("size"))
    source = _source(keys)
    model = reader.text("Model", keys.get("model"))
    if model is None and source == "civitai":
        model = _civitai_checkpoint(reader, keys.get("civitai resources"))
    return make_params(
        source,
        reader,
        {"parameters": text, "params": params},
        prompt=reader.prompt("prompt", parsed["prompt"]),
        negative_prompt=reader.prompt("negative_prompt", parsed["negative_prompt"]),
        seed=reader.seed("Seed", keys.get("seed")),
        model=model,
        steps=reader.steps("Steps", keys.get("steps")),
        cfg_scale=reader.number("CFG scale", keys.get("cfg scale")),
        sampler=reader.text("Sampler", keys.get("sampler")),
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
