"""NovelAI. PNG: tEXt chunks ``Title``, ``Description`` (the prompt), ``Software``
("NovelAI"), ``Source`` (the model and its hash, "NovelAI Diffusion V4.5 4BDE2A90"),
``Comment`` (JSON: ``prompt``, ``uc`` the negative prompt, ``steps``, ``scale``, ``seed``,
``sampler``, ``width``/``height``; from V4 on the prompts are in ``v4_prompt`` /
``v4_negative_prompt`` ``.caption.base_caption``). WebP (and JPEG): the same chunks as one
JSON object in the EXIF UserComment, and the prompt again in IFD0's ImageDescription after
four NUL bytes (the JSON's copy of it can be garbled: that one is preferred). Its stealth
PNG info carries the same object (see ``stealth``).

Layouts: d3x-at/sd-parsers ``parsers/_novelai.py``; enslo/sd-metadata
``parsers/novelai.ts`` and ``converters/novelai.ts``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from backend.storage.readers.base import (
    MAX_PROMPT_CHARS,
    Embedded,
    ImageParams,
    Reader,
    ValueReader,
    make_params,
    parse_json,
)

TAG_IMAGE_DESCRIPTION = 0x010E
_SOURCE = re.compile(r"^(.*?)\s+[0-9A-F]{8}$")


def _caption(reader: ValueReader, name: str, value: Any) -> str | None:
    """``v4_prompt.caption.base_caption``, when the file has it."""
    if value is None:
        return None
    caption = reader.obj(f"{name}.caption", reader.obj(name, value).get("caption"))
    return reader.text(f"{name}.caption.base_caption", caption.get("base_caption"), MAX_PROMPT_CHARS)


def from_novelai(chunks: Mapping[str, Any], size: tuple[int, int] | None = None) -> ImageParams:
    """NovelAI's chunks (PNG text, or the object of its UserComment / stealth payload)."""
    reader = ValueReader()
    comment = chunks.get("Comment")
    if isinstance(comment, str | bytes):
        comment = parse_json(comment)
        if comment is None:
            reader.note("Comment", "not JSON")
    data = reader.obj("Comment", comment)
    prompt = _caption(reader, "v4_prompt", data.get("v4_prompt"))
    if not prompt:
        prompt = reader.text("prompt", data.get("prompt"), MAX_PROMPT_CHARS)
    if not prompt:
        prompt = reader.text("Description", chunks.get("Description"), MAX_PROMPT_CHARS)
    negative = _caption(reader, "v4_negative_prompt", data.get("v4_negative_prompt"))
    if not negative:
        negative = reader.text("uc", data.get("uc"), MAX_PROMPT_CHARS)
    source = reader.text("Source", chunks.get("Source"))
    model = (match.group(1) if (match := _SOURCE.match(source)) else source) if source else None
    width, height = reader.side("width", data.get("width")), reader.side("height", data.get("height"))
    if (width is None or height is None) and size:
        width, height = size
    return make_params(
        "novelai",
        reader,
        {"chunks": dict(chunks), "Comment": comment},
        prompt=prompt or "",
        negative_prompt=negative or "",
        seed=reader.seed("seed", data.get("seed")),
        model=model or None,
        steps=reader.steps("steps", data.get("steps")),
        cfg_scale=reader.number("scale", data.get("scale")),
        sampler=reader.text("sampler", data.get("sampler")),
        width=width,
        height=height,
    )


def is_novelai(chunks: Mapping[str, Any]) -> bool:
    software = chunks.get("Software")
    return isinstance(software, str) and software.startswith("NovelAI") and "Comment" in chunks


def _description(found: Embedded) -> str | None:
    value = found.exif.get(TAG_IMAGE_DESCRIPTION)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.removeprefix("\0\0\0\0") if isinstance(value, str) else None


def read(found: Embedded) -> ImageParams | None:
    size = found.image.size
    if is_novelai(found.text):
        return from_novelai(found.text, size)
    if found.infotext and found.infotext.lstrip().startswith("{"):
        chunks = parse_json(found.infotext)
        if isinstance(chunks, dict) and is_novelai(chunks):
            description = _description(found)
            return from_novelai({**chunks, "Description": description} if description else chunks, size)
    return None


READER = Reader("novelai", 40, read)
