"""Generation parameters read from an image, whichever tool wrote them, parsed at the boundary.

A file's metadata is hostile input: anyone can write any chunk, Atelier's own included.
Atelier's chunk is parsed here (:func:`parse_atelier`); every other tool's by its reader in
``backend/storage/readers/`` (one module per tool, tried in their declared order). All of
them turn what a file says into typed, bounded values and never raise: a value of the
wrong type or out of range is dropped and named in ``ignored`` (the note on the image),
and the raw JSON kept for the UI is copied with bounded depth, size and finite numbers
only. Inside Atelier, trust the types.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from backend.storage.metadata import read_embedded, read_exif, text_chunks
from backend.storage.readers import all_readers
from backend.storage.readers.base import (
    MAX_CFG,
    MAX_COUNT,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_TEXT_CHARS,
    Embedded,
    ImageParams,
    ValueReader,
    bounded_json,
)

__all__ = ["MAX_PROMPT_CHARS", "MAX_SEED", "MAX_TEXT_CHARS", "FileMetadata", "ImageParams", "parse_atelier"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileMetadata:
    """What a file's metadata gives the gallery index: its columns and the JSON it keeps
    (``metadata``: Atelier's chunk, or the normalised parameters of another tool, with the
    ignored values named under ``ignored``)."""

    parameters: ImageParams
    created_at: str | None = None
    style: str | None = None
    aspect_ratio: str | None = None
    provider: str | None = None
    job_id: str | None = None
    session: str | None = None
    metadata: dict[str, Any] | None = None


# --- Atelier's own chunk -------------------------------------------------------------------
#: the keys of Atelier's chunk (and of its ``request``) that are read into typed values
_ATELIER_TEXT = ("job_id", "session", "provider", "model", "atelier_version", "client")
_REQUEST_PROMPTS = ("prompt", "styled_prompt", "negative_prompt", "effective_negative_prompt")
_REQUEST_TEXT = ("provider", "model", "style", "aspect_ratio", "quality")


def _created_at(reader: ValueReader, value: Any) -> str | None:
    """An ISO 8601 time as the index orders by it (UTC, milliseconds, ``Z``)."""
    if isinstance(value, str) and len(value) <= 64:
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            when = None
        if when is not None:
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
            try:
                return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            except (OverflowError, ValueError):
                pass
    reader.note("created_at", "not an ISO 8601 time")
    return None


def parse_atelier(chunk: dict[str, Any]) -> FileMetadata:
    """Atelier's chunk (as read from a file: any JSON object) as typed, bounded values.
    ``metadata`` is the chunk as bounded JSON, the typed values in place of what the file
    wrote and the ignored ones left out, named under ``ignored``."""
    reader = ValueReader()
    typed: dict[str, Any] = {name: reader.text(name, chunk.get(name)) for name in _ATELIER_TEXT}
    typed["seed"] = reader.seed("seed", chunk.get("seed"))
    typed["width"] = reader.side("width", chunk.get("width"))
    typed["height"] = reader.side("height", chunk.get("height"))
    typed["index"] = reader.whole("index", chunk.get("index"), 0, MAX_COUNT)
    if "created_at" in chunk:
        typed["created_at"] = _created_at(reader, chunk["created_at"])
    request = reader.obj("request", chunk.get("request"))
    fields = {name: reader.text(f"request.{name}", request.get(name), MAX_PROMPT_CHARS) for name in _REQUEST_PROMPTS}
    fields.update({name: reader.text(f"request.{name}", request.get(name)) for name in _REQUEST_TEXT})
    fields["seed"] = reader.seed("request.seed", request.get("seed"))
    fields["steps"] = reader.steps("request.steps", request.get("steps"))
    fields["width"] = reader.side("request.width", request.get("width"))
    fields["height"] = reader.side("request.height", request.get("height"))
    fields["n"] = reader.whole("request.n", request.get("n"), 0, MAX_COUNT)
    # how the image was made, as its provider stated it; a tool's output: as its source was made
    made_at, made = _how_made(reader, chunk)

    metadata = bounded_json(chunk)
    metadata.pop("ignored", None)  # ours to write
    _put_typed(metadata, chunk, typed, reader.bad, "")
    if "request" in reader.bad:
        metadata.pop("request", None)
    elif isinstance(metadata.get("request"), dict):
        _put_typed(metadata["request"], request, fields, reader.bad, "request.")
    kept = _dig(metadata, made_at[:-1])
    if isinstance(kept, dict) and isinstance(kept.get(made_at[-1]), dict):
        _put_typed(kept[made_at[-1]], _dig(chunk, made_at), made, reader.bad, ".".join(made_at) + ".")
    if reader.ignored:
        metadata["ignored"] = list(reader.ignored)

    parameters = ImageParams(
        "atelier",
        prompt=fields["prompt"] or "",
        negative_prompt=fields["negative_prompt"] or "",
        seed=typed["seed"],
        model=typed["model"] or fields["model"],
        steps=made["steps"] or fields["steps"],
        cfg_scale=made["cfg_scale"],
        sampler=made["sampler"],
        width=typed["width"],
        height=typed["height"],
        raw=metadata,
        ignored=tuple(reader.ignored),
        seed_text=reader.seed_text,
    )
    return FileMetadata(
        parameters,
        created_at=typed.get("created_at"),
        style=fields["style"],
        aspect_ratio=fields["aspect_ratio"],
        provider=typed["provider"] or fields["provider"],
        job_id=typed["job_id"],
        session=typed["session"],
        metadata=metadata,
    )


#: where Atelier's chunk says how an image was made: what its provider stated
#: (``providers.base.settings``); for a tool's output, its source's parameters
_MADE_AT = (("provider_metadata", "settings"), ("source", "parameters"))


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _how_made(reader: ValueReader, chunk: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(where in the chunk, {sampler, cfg_scale, steps}) of the first place that says."""
    path = next((p for p in _MADE_AT if _dig(chunk, p) is not None), _MADE_AT[0])
    found = reader.obj(".".join(path), _dig(chunk, path))
    name = ".".join(path) + "."
    return path, {
        "sampler": reader.text(name + "sampler", found.get("sampler")),
        "cfg_scale": reader.number(name + "cfg_scale", found.get("cfg_scale"), 0.0, MAX_CFG),
        "steps": reader.steps(name + "steps", found.get("steps")),
    }


def _put_typed(kept: dict[str, Any], read: dict[str, Any], typed: dict[str, Any], bad: set[str], prefix: str) -> None:
    """In the kept JSON: each value that was read, as its typed value; each ignored one, gone."""
    for name, value in typed.items():
        if prefix + name in bad:
            kept.pop(name, None)
        elif name in read:
            kept[name] = value


# --- every other tool ---------------------------------------------------------------------
def embedded(image: Image.Image, infotext: str | None) -> Embedded:
    """What ``image`` carries, for the readers; ``infotext`` is what read_embedded found
    (the ``parameters`` chunk or the EXIF UserComment, already decoded: not parsed twice)."""
    exif, exif_ifd = read_exif(image)
    return Embedded(image, text_chunks(image), infotext, exif, exif_ifd)


def other_tool(found: Embedded) -> ImageParams | None:
    """The first reader, in order, that recognises the file."""
    for reader in all_readers():
        params = reader.read(found)
        if params is not None:
            return params
    return None


def parse_file_metadata(image: Image.Image) -> FileMetadata | None:
    """What an opened image's metadata says, for the index; None when it carries none.
    Raises on nothing a file can contain (the tests feed it hostile values); callers use
    :func:`read_file_metadata`, which also survives a bug here."""
    infotext, atelier = read_embedded(image)
    if atelier is not None:
        return parse_atelier(atelier)
    params = other_tool(embedded(image, infotext))
    if params is None:
        return None
    kept: dict[str, Any] = {"source": params.source, "parameters": params.to_json(raw=False)}
    if params.ignored:
        kept["ignored"] = list(params.ignored)
    return FileMetadata(params, metadata=kept)


def read_file_metadata(image: Image.Image) -> FileMetadata | None:
    """:func:`parse_file_metadata`, or None (logged) if reading failed: a reader's bug must
    not make a file unreadable, an import fail or a scan stop."""
    try:
        return parse_file_metadata(image)
    except Exception as exc:
        log.warning("image metadata: could not be read (%s); the image is kept without it", type(exc).__name__)
        return None


def extract_parameters(image: Image.Image) -> ImageParams | None:
    """The generation parameters in an opened image, or None when it carries none."""
    found = read_file_metadata(image)
    return found.parameters if found else None
