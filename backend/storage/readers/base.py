"""What every reader of another tool's metadata shares: the typed, bounded values it
produces (:class:`ImageParams`), the :class:`ValueReader` that turns what a file says into
them, and :class:`Embedded`, what a file carries, read once for all readers.

A file's metadata is hostile input: anyone can write any chunk. A reader never raises on
what a file holds: a value of the wrong type or out of range is dropped and named in
``ignored`` (the note on the image); seeds are exact whole numbers (never via float);
strings are capped and free of NUL and lone surrogates (SQLite cannot store them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image

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
#: digits of a whole number read exactly (Python refuses to turn longer digit strings into
#: ints); a seed of more digits is no seed anyone means
MAX_WHOLE_DIGITS = 1_000
_UNSAFE_CHARS = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates
_WHOLE = re.compile(rf"[+-]?\d{{1,{MAX_WHOLE_DIGITS}}}(?:\.0*)?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?")
_SEED_RULE = "not a whole number in 0..2^64-1"


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
        # above 2^53 a float no longer holds every whole number: the file's seed is lost
        return int(value) if math.isfinite(value) and value.is_integer() and abs(value) < 2**53 else None
    if isinstance(value, str) and len(value) <= MAX_WHOLE_DIGITS + 64 and _WHOLE.fullmatch(text := value.strip()):
        return int(text.split(".", 1)[0])
    return None


def number_text(value: Any) -> str | None:
    """A number as the file wrote it (an int, a finite float, a numeric string), as text;
    None for anything else. Kept where the number itself could not be (a seed out of range)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value.bit_length() <= MAX_WHOLE_DIGITS * 3 else None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str) and len(text := value.strip()) <= MAX_WHOLE_DIGITS and _NUMBER.fullmatch(text):
        return text
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


class ValueReader:
    """Reads one file's values into typed, bounded ones and notes each it had to ignore."""

    def __init__(self) -> None:
        self.ignored: list[str] = []
        self.bad: set[str] = set()  # the names of the ignored values
        #: a seed the file wrote that is a number but not one in 0..2^64-1 (or not exact), as
        #: the file wrote it: kept in the metadata while ``seed`` is None
        self.seed_text: str | None = None

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
        seed = self.whole(name, value, 0, MAX_SEED, _SEED_RULE)
        if seed is None and name in self.bad and self.seed_text is None:
            self.seed_text = number_text(value)
        return seed

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
    #: the seed as the file wrote it, when it is a number out of 0..2^64-1 (``seed`` is None);
    #: ``to_json`` gives every seed as text too
    seed_text: str | None = None

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
        # exact for every client: JavaScript numbers hold whole numbers exactly only to 2^53
        out["seed_text"] = (
            self.seed_text if self.seed_text is not None else None if self.seed is None else str(self.seed)
        )
        if raw:
            out["raw"] = bounded_json(self.raw)
        return out


@dataclass(frozen=True)
class Embedded:
    """What one opened file carries, read once and handed to every reader: its text chunks
    (PNG tEXt / iTXt / zTXt, and what Pillow keeps in ``info``), the A1111 infotext found in
    a ``parameters`` chunk or the EXIF UserComment, and the EXIF tags of IFD0 and of the
    Exif IFD. ``image`` is there for readers that look at pixels (stealth PNG info)."""

    image: Image.Image
    text: Mapping[str, Any] = field(default_factory=dict)
    infotext: str | None = None
    exif: Mapping[int, Any] = field(default_factory=dict)
    exif_ifd: Mapping[int, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reader:
    """One tool's reader: ``read`` answers None when the file is not that tool's. Readers
    are tried by ``order`` (lowest first), so a file that looks like two tools' (SwarmUI
    writes a ComfyUI graph too) is read by the one it really is."""

    name: str
    order: int
    read: Callable[[Embedded], ImageParams | None]


def make_params(source: str, reader: ValueReader, raw: Any, **values: Any) -> ImageParams:
    values.setdefault("seed_text", reader.seed_text)
    return ImageParams(source, raw=raw, ignored=tuple(reader.ignored), **values)


#: objects and arrays one JSON text may open to be parsed at all. Parsing costs per
#: container, not per byte: 25 MB of tiny ComfyUI nodes took 1.4 s and 250 MB, and the
#: readers of JSON infotext parse the same text in turn. Real graphs hold a few hundred
#: (the interop files: 360 at most; a workflow of 1000 nodes about 30,000); long strings
#: (base64 images in a graph) cost little and are not counted
MAX_JSON_CONTAINERS = 100_000


def parse_json(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    if value.count("{") + value.count("[") > MAX_JSON_CONTAINERS:  # a few ms for 30 MB
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def parse_size(text: Any) -> tuple[int | None, int | None]:
    match = re.match(r"^\s*\(?\s*(\d{1,7})\s*[x,×]\s*(\d{1,7})", text if isinstance(text, str) else "")
    if not match:
        return None, None
    width, height = int(match.group(1)), int(match.group(2))
    return (width, height) if 0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE else (None, None)


def reader_named(name: str) -> Reader | None:
    """Another tool's reader, for a tool whose files carry that tool's metadata too
    (Stability Matrix and TensorArt write a ComfyUI graph)."""
    from backend.storage.readers import all_readers  # the package imports this module: late

    return next((r for r in all_readers() if r.name == name), None)


def over(params: ImageParams | None, source: str, reader: ValueReader, raw: Any, **values: Any) -> ImageParams:
    """``params`` (another reader's answer, or nothing) as ``source``'s, each of ``values``
    that the file gave (not None, not empty) in place of the other reader's."""
    base = params or ImageParams(source)
    given = {name: value for name, value in values.items() if value is not None and value != ""}
    if "seed" not in given and reader.seed_text is not None and base.seed is None:
        given["seed_text"] = reader.seed_text
    return replace(base, source=source, raw=raw, ignored=(*reader.ignored, *base.ignored)[:MAX_NOTES], **given)
