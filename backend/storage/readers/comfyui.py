"""ComfyUI: the API-format graph (``prompt``) that ComfyUI and its save nodes embed.

Where the graph is (:func:`find_graph`):

- PNG: the ``prompt`` text chunk (and ``workflow``, the UI graph, kept as raw only);
- WebP/JPEG from ComfyUI's own animated-WebP node: IFD0 Model (0x0110) ``prompt:{...}`` and
  Make (0x010F) ``workflow:{...}``, further keys below 0x010F;
- save-image-extended: IFD0 Make ``Prompt: {...}`` and ImageDescription ``Workflow: {...}``;
- SaveImage+ and the like: a UserComment (IFD0 or Exif IFD) holding one JSON object
  ``{"prompt": ..., "workflow": ...}``, or the API graph itself.

How it is read (:func:`from_comfyui`), by following links, never by a node's position:

1. The saved image: a node with an ``images`` input that is a link and that no node
   consumes. Several: save nodes before preview nodes, then the lowest id (numeric ids by
   number). None, or none leads to a sampler: the lowest-id sampler.
2. From it back through decoders and upscalers to the sampler that made its latents, and
   from that sampler's latent input on to an earlier sampler, if any: the values are the
   first pass's (what A1111 reports for a hires fix, and what the tools' own tests state:
   a hires pass's steps and its upscaled size are not the generation's).
3. From that sampler: seed (``seed``/``noise_seed`` or RandomNoise), steps (or the sigmas'
   scheduler), cfg (or CFGGuider), sampler (or KSamplerSelect), the model (through LoRA
   and model-patch nodes to the loader's file name), the prompts (through every branch
   of combined, concatenated and area conditioning), and the size of the latent it
   started from (left out when it came from a loaded image).
4. Any link may go into a custom node: a switch follows its selected input; a node with
   plain values (CR Seed, text boxes, primitives) gives the value of the kind asked.

Prompts are exact (trailing newlines kept). Several branches are joined in graph order,
each starting on its own line, identical texts once. A ConditioningZeroOut branch adds
nothing (it is the "no negative" of Flux graphs).

Every walk is bounded (a visit budget per file, a depth, visited sets): a graph from a
file may be huge, cyclic, link to missing nodes or hold any type anywhere.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from backend.storage.metadata import decode_user_comment
from backend.storage.readers.base import (
    MAX_TEXT_CHARS,
    Embedded,
    ImageParams,
    Reader,
    ValueReader,
    make_params,
    parse_json,
    parse_size,
)

MAX_VISITS = 20_000  # node look-ups per file, all walks together
MAX_DEPTH = 48  # links followed in one value or conditioning chain
MAX_INPUTS = 64  # inputs of one node scanned by name (a hostile node may have millions)
MAX_TEXTS = 32  # prompt branches joined
MAX_SAMPLER_HOPS = 16  # samplers chained by their latents (hires passes, refiners)
MAX_GRAPH_CHARS = 32_000_000  # a graph's JSON text; larger is not parsed

#: IFD0 tags ComfyUI save nodes write a ``key:{json}`` into: ImageDescription, Make, Model,
#: Copyright, the animated-WebP node's further keys, and UserComment (some write it in IFD0)
_IFD0_TAGS = (0x0110, 0x010F, 0x010E, 0x010D, 0x8298, 0x9286)
_USER_COMMENT = 0x9286
_LABEL = re.compile(r"([A-Za-z_]{1,32}):\s*(?=[{\[])")
_NUMBERED = re.compile(r"(.*?)_?(\d{1,4})")

#: inputs that carry the image or latent a node works on, tried first
_IMAGE_INPUTS = ("images", "image", "samples", "latent_image", "latent", "pixels", "latents")
#: link inputs that never carry the image (the walk from the saved image does not follow them)
_NOT_IMAGE = ("model", "clip", "vae", "cond", "positive", "negative", "mask", "noise", "guider", "sampler", "sigma")
_TEXT_INPUTS = ("text", "text_g", "text_l", "clip_l", "t5xxl", "prompt", "string")
_MODEL_NAMES = ("ckpt_name", "unet_name", "model_name", "gguf_name", "base_ckpt_name")
_WIDTH = ("width", "empty_latent_width")
_HEIGHT = ("height", "empty_latent_height")
_DIMENSIONS = ("dimensions", "resolution", "size", "aspect_ratio")
#: a switch's selector input, and the boolean switches' two inputs
_SELECTORS = ("select", "Input", "input", "index", "selection", "select_index", "choice", "boolean", "switch")
_BOOL_PAIRS = (("on_true", "on_false"), ("true", "false"), ("input_true", "input_false"), ("if_true", "if_false"))
#: the names a custom node's plain value goes by, per kind
_GENERIC = {
    "int": ("value", "int", "number", "seed", "INT"),
    "float": ("value", "float", "number", "FLOAT"),
    "text": ("text", "string", "value", "prompt", "STRING"),
}


def _is_link(value: Any) -> bool:
    """``[node id, output slot]``, as the API format writes a link."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
    )


def _of_kind(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "text":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) or isinstance(value, str) and _is_decimal(value.strip())
    return isinstance(value, int | float)


def _is_decimal(text: str, digits: int = 40) -> bool:
    return text.isascii() and text.isdecimal() and len(text) <= digits


def _id_order(node_id: str) -> tuple[int, int, str]:
    """Numeric ids by number (``9`` before ``32``), then the others by name."""
    return (0, int(node_id), "") if _is_decimal(node_id, 18) else (1, 0, node_id)


class _Graph:
    """The API graph's nodes, and bounded walks over their links."""

    def __init__(self, graph: Mapping[Any, Any]) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        for node_id, node in graph.items():
            if isinstance(node, dict):
                self.nodes[str(node_id)[:MAX_TEXT_CHARS]] = node
        self.visits = MAX_VISITS

    # --- nodes -------------------------------------------------------------------------
    def get(self, node_id: Any) -> dict[str, Any] | None:
        if self.visits <= 0:
            return None
        self.visits -= 1
        return self.nodes.get(str(node_id))

    @staticmethod
    def inputs(node: dict[str, Any] | None) -> dict[str, Any]:
        inputs = node.get("inputs") if node else None
        return inputs if isinstance(inputs, dict) else {}

    @staticmethod
    def kind(node: dict[str, Any] | None) -> str:
        kind = node.get("class_type") if node else None
        return kind[:MAX_TEXT_CHARS] if isinstance(kind, str) else ""

    def switch(self, inputs: dict[str, Any], depth: int = 0) -> tuple[bool, Any]:
        """(True, the chosen input) when ``inputs`` are a switch's, else (False, None)."""
        for key in _SELECTORS:
            if key not in inputs:
                continue
            chosen = inputs[key]
            if _is_link(chosen):
                chosen = self.value(chosen, "int", (), depth + 1)
            if isinstance(chosen, bool):
                for yes, no in _BOOL_PAIRS:
                    if yes in inputs or no in inputs:
                        return True, inputs.get(yes if chosen else no)
            elif isinstance(chosen, int) or isinstance(chosen, str) and _is_decimal(chosen, 4):
                number = int(chosen)
                for name in itertools.islice(inputs, MAX_INPUTS):
                    match = _NUMBERED.fullmatch(name)
                    if match and name != key and int(match.group(2)) == number:
                        return True, inputs[name]
        return False, None

    def resolve(self, link: Any, depth: int = 0) -> tuple[str, dict[str, Any]] | None:
        """The node a link points to, through switches: (its id, its node)."""
        for _ in range(MAX_DEPTH - depth):
            if not _is_link(link):
                return None
            node = self.get(link[0])
            if node is None:
                return None
            is_switch, chosen = self.switch(self.inputs(node), depth)
            if not is_switch:
                return str(link[0]), node
            link = chosen
        return None

    # --- plain values --------------------------------------------------------------------
    def value(self, raw: Any, kind: str, names: tuple[str, ...], depth: int = 0) -> Any:
        """A plain value: ``raw`` itself, or where it is a link, the first input of the node
        it points to (``names`` first, then the generic names of ``kind``) that is, or
        leads to, a value of ``kind``. What is found at the end of a link has the kind;
        a plain ``raw`` is returned as is, for the ValueReader to judge."""
        if not _is_link(raw):
            return raw
        if depth >= MAX_DEPTH:
            return None
        found = self.resolve(raw, depth)
        if found is None:
            return None
        inputs = self.inputs(found[1])
        for name in dict.fromkeys(names + _GENERIC[kind]):
            if name not in inputs:
                continue
            item = inputs[name]
            if _is_link(item):
                item = self.value(item, kind, names, depth + 1)
            if item is not None and _of_kind(item, kind):
                return item
        if kind == "text":
            return self._joined_text(inputs, depth)
        return None

    def _joined_text(self, inputs: dict[str, Any], depth: int) -> str | None:
        """String concatenation nodes (core StringConcatenate, WAS Text Concatenate):
        ``string_a``/``text_a``... joined by their ``delimiter``."""
        parts = []
        for name in itertools.islice(inputs, MAX_INPUTS):
            if re.fullmatch(r"(string|text)_[a-z]", name):
                part = self.value(inputs[name], "text", (), depth + 1)
                if isinstance(part, str) and part:
                    parts.append(part)
        if not parts:
            return None
        delimiter = inputs.get("delimiter")
        return (delimiter if isinstance(delimiter, str) else "").join(parts)

    def first(self, inputs: dict[str, Any], kind: str, names: tuple[str, ...]) -> Any:
        """The first of ``names`` that ``inputs`` has, as a value of ``kind``."""
        for name in names:
            if name in inputs and (found := self.value(inputs[name], kind, names)) is not None:
                return found
        return None

    # --- the image's path back to its sampler ------------------------------------------
    @staticmethod
    def is_sampler(node: dict[str, Any]) -> bool:
        """A node that turns a latent into a new one from conditioning or a guider: KSampler
        and its advanced, custom and efficiency-pack kinds (not KSamplerSelect)."""
        inputs = _Graph.inputs(node)
        has_latent = any(_is_link(inputs.get(k)) for k in ("latent_image", "latent", "samples"))
        return has_latent and any(_is_link(inputs.get(k)) for k in ("positive", "guider"))

    @staticmethod
    def image_links(inputs: dict[str, Any]) -> Iterator[Any]:
        """The inputs that may carry the image or latent, known names first."""
        for name in _IMAGE_INPUTS:
            if _is_link(inputs.get(name)):
                yield inputs[name]
        for name, item in itertools.islice(inputs.items(), MAX_INPUTS):
            lowered = name.lower()
            if name not in _IMAGE_INPUTS and _is_link(item) and not any(w in lowered for w in _NOT_IMAGE):
                yield item

    def sampler_before(self, link: Any) -> str | None:
        """The first sampler found walking back from ``link`` along images and latents."""
        stack, seen = [link], set()
        while stack and self.visits > 0:
            found = self.resolve(stack.pop())
            if found is None or found[0] in seen:
                continue
            node_id, node = found
            seen.add(node_id)
            if self.is_sampler(node):
                return node_id
            stack.extend(reversed(list(self.image_links(self.inputs(node)))))
        return None

    def first_pass(self, sampler_id: str) -> str:
        """The first sampler of a chain of passes (a hires fix's, a refiner's)."""
        seen = {sampler_id}
        for _ in range(MAX_SAMPLER_HOPS):
            inputs = self.inputs(self.nodes.get(sampler_id))
            latent = next((inputs[k] for k in ("latent_image", "latent", "samples") if _is_link(inputs.get(k))), None)
            earlier = self.sampler_before(latent)
            if earlier is None or earlier in seen:
                break
            seen.add(earlier)
            sampler_id = earlier
        return sampler_id

    def saved_image_sampler(self) -> str | None:
        """The sampler behind the saved image (see the module's docstring for the choice)."""
        consumed: set[str] = set()
        for node in self.nodes.values():
            for item in self.inputs(node).values():
                if _is_link(item):
                    consumed.add(str(item[0]))
        outputs = []
        for node_id, node in self.nodes.items():
            inputs, kind = self.inputs(node), self.kind(node).lower()
            saves = "save" in kind
            images = inputs.get("images", inputs.get("image") if saves or "preview" in kind else None)
            if node_id not in consumed and _is_link(images):
                outputs.append((not saves, _id_order(node_id), images))
        for *_, images in sorted(outputs, key=lambda o: o[:2]):
            if (found := self.sampler_before(images)) is not None:
                return self.first_pass(found)
        samplers = sorted((i for i, n in self.nodes.items() if self.is_sampler(n)), key=_id_order)
        return self.first_pass(samplers[0]) if samplers else None

    # --- what feeds the sampler -----------------------------------------------------------
    def texts(self, link: Any, role: str) -> list[str]:
        """Every prompt text on the conditioning that reaches ``link``, in graph order."""
        out: list[str] = []
        self._collect_texts(link, role, out, set(), 0)
        return list(dict.fromkeys(t for t in out if t))[:MAX_TEXTS]

    def _collect_texts(self, link: Any, role: str, out: list[str], seen: set[str], depth: int) -> None:
        if depth >= MAX_DEPTH or len(out) >= MAX_TEXTS or (found := self.resolve(link, depth)) is None:
            return
        node_id, node = found
        if node_id in seen or self.kind(node) == "ConditioningZeroOut":
            return
        seen.add(node_id)
        inputs = self.inputs(node)
        # a node that carries both sides (ControlNetApplyAdvanced, Efficient Loader)
        if role in inputs:
            own = inputs[role]
            if isinstance(own, str):
                out.append(own)
            elif _is_link(own):
                self._collect_texts(own, role, out, seen, depth + 1)
            return
        texts = [self.value(inputs[k], "text", (), depth + 1) for k in _TEXT_INPUTS if k in inputs]
        texts = [t for t in texts if isinstance(t, str)]
        if texts:  # an encoder: its other links are the CLIP model
            out.extend(texts)
            return
        for name, item in itertools.islice(inputs.items(), MAX_INPUTS):
            if "cond" in name.lower() and _is_link(item):
                self._collect_texts(item, role, out, seen, depth + 1)

    def model_name(self, link: Any) -> Any:
        """The file name of the loader at the end of a model link, through LoRA loaders and
        model-patch nodes (each passes its ``model`` input on)."""
        seen: set[str] = set()
        for depth in range(MAX_DEPTH):
            found = self.resolve(link, depth)
            if found is None or found[0] in seen:
                return None
            seen.add(found[0])
            inputs = self.inputs(found[1])
            name = self.first(inputs, "text", _MODEL_NAMES)
            if isinstance(name, dict) and isinstance(name.get("content"), str):
                name = name["content"]  # pysssss' loaders: {"content": file name, "image": preview}
            if name is not None:
                return name
            link = inputs.get("model")
            if not _is_link(link):  # a merge: model1, model2...
                link = next((v for k, v in itertools.islice(inputs.items(), MAX_INPUTS) if "model" in k), None)
        return None

    def size(self, link: Any) -> tuple[Any, Any]:
        """The width and height of the latent a sampler started from: the first node back
        along the latent that states a size. Not known (None, None) where it came from a
        loaded image or an upscale by a factor or a model."""
        seen: set[str] = set()
        for depth in range(MAX_DEPTH):
            found = self.resolve(link, depth)
            if found is None or found[0] in seen or self.is_sampler(found[1]):
                return None, None
            seen.add(found[0])
            inputs = self.inputs(found[1])
            width, height = self.first(inputs, "int", _WIDTH), self.first(inputs, "int", _HEIGHT)
            if width is not None or height is not None:
                return width, height
            for name in _DIMENSIONS:
                if isinstance(text := inputs.get(name), str) and (parsed := parse_size(text)) != (None, None):
                    return parsed
            if any(k in inputs for k in ("scale_by", "upscale_model", "upscale_by")):
                return None, None
            link = next(iter(self.image_links(inputs)), None)
        return None, None


def _join(texts: list[str]) -> str:
    """Branches joined, each on its own line; one branch exactly as written."""
    joined = ""
    for text in texts:
        if joined and not joined.endswith("\n"):
            joined += "\n"
        joined += text
    return joined


def _side(reader: ValueReader, name: str, value: Any) -> int | None:
    # 0 is ComfyUI's "keep the aspect ratio" in a scale node: not a size, not a bad value
    return None if value == 0 and not isinstance(value, bool) else reader.side(name, value)


def from_comfyui(prompt_graph: Any, workflow: Any) -> ImageParams:
    """The generation parameters of the image an API-format graph saved (see the module)."""
    reader = ValueReader()
    graph = _Graph(prompt_graph if isinstance(prompt_graph, dict) else {})
    values: dict[str, Any] = {}
    sampler_id = graph.saved_image_sampler()
    if sampler_id is not None:
        inputs = graph.inputs(graph.nodes.get(sampler_id))
        guider = graph.resolve(inputs.get("guider"))
        g = graph.inputs(guider[1]) if guider else {}
        sigmas = graph.resolve(inputs.get("sigmas"))
        s = graph.inputs(sigmas[1]) if sigmas else {}

        seed = graph.first(inputs, "int", ("seed", "noise_seed"))
        if seed is None and "noise" in inputs:
            seed = graph.value(inputs["noise"], "int", ("noise_seed", "seed"))
        steps = graph.first(inputs, "int", ("steps",))
        if steps is None and "sigmas" in inputs:
            steps = graph.value(inputs["sigmas"], "int", ("steps", "sigmas"))
        cfg = graph.first(inputs, "float", ("cfg",))
        if cfg is None:
            cfg = graph.first(g, "float", ("cfg", "cfg_conds"))
        sampler = graph.first(inputs, "text", ("sampler_name",))
        if sampler is None and "sampler" in inputs:
            sampler = graph.value(inputs["sampler"], "text", ("sampler_name",))
        sides = {"positive": (inputs, "positive"), "negative": (inputs, "negative")}
        if "positive" not in inputs:
            key = next((k for k in ("positive", "conditioning", "cond1") if k in g), "positive")
            sides["positive"] = (g, key)
        if "negative" not in inputs:
            sides["negative"] = (g, "negative")
        prompts = {}
        for role, (holder, key) in sides.items():
            item = holder.get(key)
            prompts[role] = _join(graph.texts(item, role)) if _is_link(item) else item
        model_link = next((d["model"] for d in (inputs, g, s) if _is_link(d.get("model"))), None)
        latent = next((inputs[k] for k in ("latent_image", "latent", "samples") if k in inputs), None)
        width, height = graph.size(latent)

        values.update(
            prompt=reader.prompt("positive", prompts["positive"]),
            negative_prompt=reader.prompt("negative", prompts["negative"]),
            seed=reader.seed("seed", seed),
            steps=reader.steps("steps", steps),
            cfg_scale=reader.number("cfg", cfg),
            sampler=reader.text("sampler_name", sampler),
            model=reader.text("model", graph.model_name(model_link)),
            width=_side(reader, "width", width),
            height=_side(reader, "height", height),
        )
    return make_params("comfyui", reader, {"prompt": prompt_graph, "workflow": workflow}, **values)


# --- where the graph is ------------------------------------------------------------------
def _exif_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return decode_user_comment(value[: MAX_GRAPH_CHARS * 2])
    return value if isinstance(value, str) else None


def _json(text: Any) -> Any:
    """Parsed JSON from a chunk or tag's text (bytes as UTF-8); None if not JSON or too big."""
    return parse_json(text) if isinstance(text, str | bytes) and len(text) <= MAX_GRAPH_CHARS else None


def _is_graph(value: Any) -> bool:
    """An API graph: an object with at least one node (an object with a ``class_type``)."""
    if not isinstance(value, dict):
        return False
    nodes = itertools.islice(value.values(), MAX_VISITS)
    return any(isinstance(n, dict) and isinstance(n.get("class_type"), str) for n in nodes)


def _from_exif(found: Embedded) -> tuple[Any, Any]:
    """(prompt graph, workflow) from the EXIF layouts of ComfyUI's save nodes."""
    labelled: dict[str, Any] = {}
    candidates = [found.exif.get(tag) for tag in _IFD0_TAGS] + [found.exif_ifd.get(_USER_COMMENT)]
    for raw in candidates:
        text = _exif_text(raw)
        if not text:
            continue
        text = text.lstrip("\0 \t\r\n")
        if label := _LABEL.match(text):  # ``prompt:{...}``, ``Workflow: {...}``
            labelled.setdefault(label.group(1).lower(), _json(text[label.end() :]))
        elif text.startswith("{") and isinstance(data := _json(text), dict):
            if _is_graph(data):  # the API graph on its own
                labelled.setdefault("prompt", data)
            for key in ("prompt", "workflow"):  # SaveImage+: {"prompt": ..., "workflow": ...}
                if key in data:
                    item = data[key]
                    labelled.setdefault(key, _json(item) if isinstance(item, str) else item)
    return labelled.get("prompt"), labelled.get("workflow")


def find_graph(found: Embedded) -> tuple[Any, Any]:
    """(prompt graph, workflow) wherever the file keeps them; the graph None if not found."""
    if _is_graph(graph := _json(found.text.get("prompt"))):
        return graph, _json(found.text.get("workflow"))
    graph, workflow = _from_exif(found)
    return (graph, workflow) if _is_graph(graph) else (None, None)


def read(found: Embedded) -> ImageParams | None:
    graph, workflow = find_graph(found)
    return from_comfyui(graph, workflow) if graph is not None else None


READER = Reader("comfyui", 500, read)
