"""Generation parameters read from an image, whichever tool wrote them, parsed at the boundary.

A file's metadata is hostile input: anyone can write any chunk, Atelier's own included.
Everything here turns what a file says into typed, bounded values and never raises: a
value of the wrong type or out of range is dropped and named in ``ignored`` (the note on
the image), seeds are exact whole numbers in 0..2^64-1 or None, strings are capped and
free of lone surrogates (SQLite cannot store them), and the raw JSON kept for the UI is
copied with bounded depth, size and finite numbers only. Inside Atelier, trust the types.

Known writers: Atelier, A1111 / Forge infotext (PNG text or EXIF UserComment), ComfyUI
``prompt`` / ``workflow``, InvokeAI ``invokeai_metadata`` (and the older ``sd-metadata``
and ``Dream``), Fooocus (``fooocus_scheme``), SwarmUI ``sui_image_params``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shlex
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from backend.storage.metadata import parse_infotext, read_embedded

MAX_SEED = 2**64 - 1
MAX_PROMPT_CHARS = 10_000  # prompts, negative prompts
MAX_TEXT_CHARS = 200  # model, sampler, provider, style, ids
MAX_SIDE = 1_000_000  # pixels; far above any image this studio can open
MAX_STEPS = 100_000
MAX_COUNT = 10_000  # a request's n, an image's index
MAX_CFG = 1_000.0
MAX_RAW_DEPTH = 32
MAX_RAW_NODES = 20_000
MAX_RAW_CHARS = 1_000_000
MAX_COMMAND_CHARS = 65_536  # an InvokeAI ``Dream`` command line
MAX_NOTES = 32
_UNSAFE_CHARS = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates
_WHOLE = re.compile(r"[+-]?\d{1,40}(?:\.0*)?")
_SEED_RULE = "not a whole number in 0..2^64-1"

log = logging.getLogger(__name__)


# --- typed, bounded values ---------------------------------------------------------------
def clean_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, NUL and lone surrogates replaced."""
    return _UNSAFE_CHARS.sub("\ufffd", text[:limit])


def _whole(value: Any) -> int | None:
    """An exact whole number from an int, an integral float or a decimal string; never via
    float for strings (a 64-bit seed does not fit in one)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and abs(value) < 2**53 else None
    if isinstance(value, str) and _WHOLE.fullmatch(text := value.strip()):
        return int(text.split(".", 1)[0])
    return None


def _real(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) < 2**64 else None
    if isinstance(value, float):
        number = value
    elif isinstance(value, str) and len(value) <= 40:
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


class _Budget:
    def __init__(self) -> None:
        self.nodes = MAX_RAW_NODES
        self.chars = MAX_RAW_CHARS

    def take(self, chars: int = 0) -> bool:
        self.nodes -= 1
        self.chars -= chars
        return self.nodes >= 0 and self.chars >= 0


def bounded_json(value: Any, budget: _Budget | None = None, depth: int = 0) -> Any:
    """A copy of parsed JSON safe to store and to answer with: finite numbers, capped
    strings, bounded depth and size (what does not fit becomes null or is left out)."""
    budget = budget or _Budget()
    if isinstance(value, str):
        text = clean_text(value, max(0, min(MAX_PROMPT_CHARS, budget.chars)))
        return text if budget.take(len(text)) else None
    if not budget.take():
        return None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SEED else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_RAW_DEPTH:
        return None
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if budget.nodes <= 0 or budget.chars <= 0:
                break
            name = clean_text(str(key), MAX_TEXT_CHARS)
            budget.chars -= len(name)
            out[name] = bounded_json(item, budget, depth + 1)
        return out
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            if budget.nodes <= 0 or budget.chars <= 0:
                break
            items.append(bounded_json(item, budget, depth + 1))
        return items
    return None


class _Reader:
    """Reads one file's values into typed, bounded ones and notes each it had to ignore."""

    def __init__(self) -> None:
        self.ignored: list[str] = []
        self.bad: set[str] = set()  # the names of the ignored values

    def note(self, name: str, why: str) -> None:
        self.bad.add(name)
        if len(self.ignored) < MAX_NOTES:
            self.ignored.append(f"{clean_text(name, MAX_TEXT_CHARS)}: {why}")

    def text(self, name: str, value: Any, limit: int = MAX_TEXT_CHARS) -> str | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            self.note(name, "not text")
            return None
        return clean_text(value, limit)

    def prompt(self, name: str, value: Any) -> str:
        return self.text(name, value, MAX_PROMPT_CHARS) or ""

    def whole(self, name: str, value: Any, lowest: int, highest: int, rule: str | None = None) -> int | None:
        if value is None or value == "":
            return None
        number = _whole(value)
        if number is None or not lowest <= number <= highest:
            self.note(name, rule or f"not a whole number in {lowest}..{highest}")
            return None
        return number

    def seed(self, name: str, value: Any) -> int | None:
        return self.whole(name, value, 0, MAX_SEED, _SEED_RULE)

    def side(self, name: str, value: Any) -> int | None:
        return self.whole(name, value, 1, MAX_SIDE)

    def steps(self, name: str, value: Any) -> int | None:
        return self.whole(name, value, 0, MAX_STEPS)

    def number(self, name: str, value: Any, lowest: float = -MAX_CFG, highest: float = MAX_CFG) -> float | None:
        if value is None or value == "":
            return None
        number = _real(value)
        if number is None or not lowest <= number <= highest:
            self.note(name, f"not a number in {lowest:g}..{highest:g}")
            return None
        return number

    def obj(self, name: str, value: Any) -> dict[str, Any]:
        """A JSON object found inside the metadata; anything else counts as empty."""
        if isinstance(value, dict):
            return value
        if value is not None:
            self.note(name, "not an object")
        return {}


# --- the parsed shapes ---------------------------------------------------------------------
@dataclass(frozen=True)
class ImageParams:
    """An image's generation parameters, whichever tool wrote them; every value typed and
    bounded. ``raw`` is what the tool wrote, as parsed (``to_json`` bounds it: only answers
    show it, so a scan does not pay for copying a large workflow); ``ignored`` names each
    value that was dropped for its type or range."""

    source: str
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    model: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    sampler: str | None = None
    width: int | None = None
    height: int | None = None
    raw: Any = None
    ignored: tuple[str, ...] = ()

    def to_json(self, raw: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "model": self.model,
            "steps": self.steps,
            "cfg_scale": self.cfg_scale,
            "sampler": self.sampler,
            "width": self.width,
            "height": self.height,
            "ignored": list(self.ignored),
        }
        if raw:
            out["raw"] = bounded_json(self.raw)
        return out


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


def _params(source: str, reader: _Reader, raw: Any, **values: Any) -> ImageParams:
    return ImageParams(source, raw=raw, ignored=tuple(reader.ignored), **values)


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def _size(text: Any) -> tuple[int | None, int | None]:
    match = re.match(r"^\s*\(?\s*(\d{1,7})\s*[x,×]\s*(\d{1,7})", text if isinstance(text, str) else "")
    if not match:
        return None, None
    width, height = int(match.group(1)), int(match.group(2))
    return (width, height) if 0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE else (None, None)


# --- Atelier's own chunk -------------------------------------------------------------------
#: the keys of Atelier's chunk (and of its ``request``) that are read into typed values
_ATELIER_TEXT = ("job_id", "session", "provider", "model", "atelier_version")
_REQUEST_PROMPTS = ("prompt", "styled_prompt", "negative_prompt", "effective_negative_prompt")
_REQUEST_TEXT = ("provider", "model", "style", "aspect_ratio", "quality")


def _created_at(reader: _Reader, value: Any) -> str | None:
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
    reader = _Reader()
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

    metadata = bounded_json(chunk)
    metadata.pop("ignored", None)  # ours to write
    _put_typed(metadata, chunk, typed, reader.bad, "")
    if "request" in reader.bad:
        metadata.pop("request", None)
    elif isinstance(metadata.get("request"), dict):
        _put_typed(metadata["request"], request, fields, reader.bad, "request.")
    if reader.ignored:
        metadata["ignored"] = list(reader.ignored)

    parameters = ImageParams(
        "atelier",
        prompt=fields["prompt"] or "",
        negative_prompt=fields["negative_prompt"] or "",
        seed=typed["seed"],
        model=typed["model"] or fields["model"],
        steps=fields["steps"],
        width=typed["width"],
        height=typed["height"],
        raw=metadata,
        ignored=tuple(reader.ignored),
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


def _put_typed(kept: dict[str, Any], read: dict[str, Any], typed: dict[str, Any], bad: set[str], prefix: str) -> None:
    """In the kept JSON: each value that was read, as its typed value; each ignored one, gone."""
    for name, value in typed.items():
        if prefix + name in bad:
            kept.pop(name, None)
        elif name in read:
            kept[name] = value


# --- each other tool ---------------------------------------------------------------------
def from_infotext(text: str) -> ImageParams:
    reader = _Reader()
    parsed = parse_infotext(text)
    params = parsed["params"]
    width, height = _size(params.get("Size"))
    version = params.get("Version") if isinstance(params.get("Version"), str) else ""
    source = "fooocus" if "fooocus" in version.lower() else "forge" if version.startswith("f") else "a1111"
    return _params(
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


def from_swarmui(data: dict[str, Any]) -> ImageParams:
    reader = _Reader()
    p = reader.obj("sui_image_params", data.get("sui_image_params"))
    return _params(
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


def from_fooocus(data: dict[str, Any]) -> ImageParams:
    reader = _Reader()
    width, height = _size(data.get("resolution"))
    return _params(
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


def from_invokeai(data: dict[str, Any]) -> ImageParams:
    reader = _Reader()
    model = data.get("model")
    return _params(
        "invokeai",
        reader,
        data,
        prompt=reader.prompt("positive_prompt", data.get("positive_prompt")),
        negative_prompt=reader.prompt("negative_prompt", data.get("negative_prompt")),
        seed=reader.seed("seed", data.get("seed")),
        model=reader.text("model.name", model.get("name")) if isinstance(model, dict) else reader.text("model", model),
        steps=reader.steps("steps", data.get("steps")),
        cfg_scale=reader.number("cfg_scale", data.get("cfg_scale")),
        sampler=reader.text("scheduler", data.get("scheduler")),
        width=reader.side("width", data.get("width")),
        height=reader.side("height", data.get("height")),
    )


def _split_negative(prompt: str) -> tuple[str, str]:
    """InvokeAI 2 kept the negative prompt in [brackets] inside the prompt."""
    negatives = re.findall(r"\[([^\]]*)\]", prompt)
    return re.sub(r"\s*\[[^\]]*\]", "", prompt).strip(), ", ".join(n.strip() for n in negatives)


def from_sd_metadata(data: dict[str, Any]) -> ImageParams:
    reader = _Reader()
    image = reader.obj("image", data.get("image"))
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        parts = [p.get("prompt") if isinstance(p, dict) else p for p in prompt[:100]]
        prompt = " ".join(p for p in parts if isinstance(p, str))
    positive, negative = _split_negative(reader.prompt("image.prompt", prompt))
    model = data.get("model_weights") or data.get("model")
    return _params(
        "invokeai-legacy",
        reader,
        data,
        prompt=positive,
        negative_prompt=negative,
        seed=reader.seed("image.seed", image.get("seed")),
        model=reader.text("model_weights", model),
        steps=reader.steps("image.steps", image.get("steps")),
        cfg_scale=reader.number("image.cfg_scale", image.get("cfg_scale")),
        sampler=reader.text("image.sampler", image.get("sampler")),
        width=reader.side("image.width", image.get("width")),
        height=reader.side("image.height", image.get("height")),
    )


def from_dream(command: str) -> ImageParams:
    """``"a prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms``."""
    reader = _Reader()
    line = command[:MAX_COMMAND_CHARS]
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    options: dict[str, str] = {}
    prompt_words: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if re.match(r"^-[A-Za-z]$", word) and i + 1 < len(words):
            options[word[1]] = words[i + 1]
            i += 2
            continue
        prompt_words.append(word)
        i += 1
    positive, negative = _split_negative(" ".join(prompt_words))
    return _params(
        "invokeai-legacy",
        reader,
        {"Dream": command},
        prompt=reader.prompt("prompt", positive),
        negative_prompt=reader.prompt("negative prompt", negative),
        seed=reader.seed("-S", options.get("S")),
        steps=reader.steps("-s", options.get("s")),
        cfg_scale=reader.number("-C", options.get("C")),
        sampler=reader.text("-A", options.get("A")),
        width=reader.side("-W", options.get("W")),
        height=reader.side("-H", options.get("H")),
    )


def from_comfyui(prompt_graph: Any, workflow: Any) -> ImageParams:
    """Follow the sampler's positive / negative inputs to their text encoders."""
    reader = _Reader()
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
    return _params("comfyui", reader, {"prompt": prompt_graph, "workflow": workflow}, **values)


# --- public ------------------------------------------------------------------------------
def _text_chunks(image: Image.Image) -> dict[str, Any]:
    text: dict[str, Any] = dict(getattr(image, "text", None) or {})
    if not text:
        # Pillow keeps PNG/WebP text in ``info`` for some formats
        text = {k: v for k, v in image.info.items() if isinstance(v, str | bytes) and k not in ("exif", "icc_profile")}
    return text


def _other_tool(image: Image.Image, infotext: str | None) -> ImageParams | None:
    text = _text_chunks(image)
    if "invokeai_metadata" in text and isinstance(data := _json(text["invokeai_metadata"]), dict):
        return from_invokeai(data)
    if "sd-metadata" in text and isinstance(data := _json(text["sd-metadata"]), dict):
        return from_sd_metadata(data)
    if isinstance(text.get("Dream"), str):
        return from_dream(text["Dream"])
    if "prompt" in text and isinstance(graph := _json(text["prompt"]), dict):
        return from_comfyui(graph, _json(text.get("workflow")))

    parameters = text.get("parameters")
    if parameters is None:
        parameters = infotext  # read_embedded already decoded the EXIF UserComment: not parsed twice
    if isinstance(parameters, bytes):
        parameters = parameters.decode("utf-8", "replace")
    if isinstance(parameters, str) and parameters.strip():
        data = _json(parameters) if parameters.lstrip().startswith("{") else None
        if isinstance(data, dict) and "sui_image_params" in data:
            return from_swarmui(data)
        if isinstance(data, dict) and (text.get("fooocus_scheme") == "fooocus" or "base_model" in data):
            return from_fooocus(data)
        result = from_infotext(parameters)
        return replace(result, source="fooocus") if text.get("fooocus_scheme") else result
    if infotext:
        return from_infotext(infotext)
    return None


def parse_file_metadata(image: Image.Image) -> FileMetadata | None:
    """What an opened image's metadata says, for the index; None when it carries none.
    Raises on nothing a file can contain (the tests feed it hostile values); callers use
    :func:`read_file_metadata`, which also survives a bug here."""
    infotext, atelier = read_embedded(image)
    if atelier is not None:
        return parse_atelier(atelier)
    params = _other_tool(image, infotext)
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
