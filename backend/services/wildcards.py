"""Wildcard prompts in the syntax of the Dynamic Prompts extension, so existing wildcard
collections work: ``{red|blue|green}`` picks one alternative (nested, and weighted as
``{2::red|blue}``, and several at once as ``{2$$a|b|c}``), ``__name__`` picks a line of ``<wildcards folder>/name.txt``
(``__folder/name__`` for nested folders; ``#`` comments and blank lines ignored), and a
backslash makes a ``{``, ``}``, ``|``, ``_`` or ``\\`` after it literal (``\\{``).

Every choice comes from a random generator seeded with the image's seed, so the same
template and seed give the same prompt. Everything is bounded: nesting depth, the
includes of files, the work and the length of the result; a file must be UTF-8 text under
:data:`MAX_FILE_BYTES` and inside the folder (``..`` and symlinks out are refused).
Every problem is a :class:`WildcardError` naming it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

#: how deep ``{`` may nest and ``__name__`` files include others
MAX_DEPTH = 20
#: the bytes of one wildcard file
MAX_FILE_BYTES = 1024 * 1024
#: the characters of one resolved prompt
MAX_RESULT_CHARS = 4000
#: the nodes one expansion may visit (a bound on the work of deeply including files)
MAX_STEPS = 100_000
#: the prompts one preview may ask for
MAX_EXPANSIONS = 100
MAX_SEED = 2**32 - 1

#: ``{2$$``, ``{1-3$$``, ``{2$$ and $$``: how many options to pick, and what joins them
_SEVERAL = re.compile(r"(\d{1,3})(?:-(\d{1,3}))?\$\$(?:([^${}|]{0,20})\$\$)?")
_WEIGHT = re.compile(r"\s*(\d{1,6}(?:\.\d{1,6})?)::")
#: what a backslash makes literal; any other backslash is text (A1111's ``\(`` stays as typed)
_ESCAPABLE = frozenset("{}|_\\")
_ESCAPE = re.compile(r"\\[{}|_\\]")
#: what may stand between ``__`` and ``__``: anything else there is text (``__init__`` is a
#: name, ``window.__x=1><y.__`` in a prompt is not)
_NAME = re.compile(r"[\w\-./]+\Z")
_NAME_PART = re.compile(r"^\w[\w.\-]{0,99}$")


class WildcardError(Exception):
    """A template that cannot be expanded; ``message`` names the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Variants:
    options: tuple[tuple[float, tuple[Node, ...]], ...]
    #: ``{2$$a|b|c}`` picks 2 different options, ``{1-3$$...}`` 1 to 3, joined by ``separator``
    #: (``{2$$ and $$a|b|c}``); a plain ``{a|b}`` picks one
    pick: tuple[int, int] = (1, 1)
    separator: str = ", "


@dataclass(frozen=True)
class Wildcard:
    name: str


Node = Text | Variants | Wildcard


def parse(template: str) -> tuple[Node, ...]:
    """The template's nodes; WildcardError for unbalanced braces or nesting past MAX_DEPTH."""
    nodes, end = _parse_sequence(template, 0, 0, top=True)
    if end < len(template):  # a "}" with no "{"
        raise WildcardError(f"unbalanced braces: '}}' at character {end + 1} closes no '{{'")
    return nodes


def _parse_sequence(s: str, i: int, depth: int, top: bool) -> tuple[tuple[Node, ...], int]:
    """Nodes from ``i`` up to a ``|`` or ``}`` of this level (not consumed) or the end."""
    nodes: list[Node] = []
    text: list[str] = []

    def flush() -> None:
        if text:
            nodes.append(Text("".join(text)))
            text.clear()

    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in _ESCAPABLE:
            text.append(s[i + 1])
            i += 2
        elif c == "{":
            flush()
            if depth + 1 > MAX_DEPTH:
                raise WildcardError(f"braces nest deeper than {MAX_DEPTH} levels")
            variants, i = _parse_variants(s, i + 1, depth + 1)
            nodes.append(variants)
        elif c == "}" or (c == "|" and not top):
            break
        elif c == "_" and s.startswith("__", i):
            close = s.find("__", i + 2)
            name = s[i + 2 : close] if close > i + 2 else ""
            if _NAME.match(name):
                flush()
                nodes.append(Wildcard(name))
                i = close + 2
            else:
                text.append("__")
                i += 2
        else:
            text.append(c)
            i += 1
    flush()
    return tuple(nodes), i


def _parse_variants(s: str, i: int, depth: int) -> tuple[Variants, int]:
    start = i - 1
    options: list[tuple[float, tuple[Node, ...]]] = []
    pick, separator = (1, 1), ", "
    several = _SEVERAL.match(s, i)
    if several:
        low = int(several.group(1))
        high = int(several.group(2)) if several.group(2) is not None else low
        if low > high:
            raise WildcardError(f"the alternatives at character {start + 1} pick {low}-{high}: the range is backwards")
        pick = (low, high)
        separator = several.group(3) if several.group(3) is not None else separator
        i = several.end()
    while True:
        weight = 1.0
        found = _WEIGHT.match(s, i)
        if found:
            weight = float(found.group(1))
            i = found.end()
        nodes, i = _parse_sequence(s, i, depth, top=False)
        options.append((weight, nodes))
        if i >= len(s):
            raise WildcardError(f"unbalanced braces: the '{{' at character {start + 1} is never closed")
        if s[i] == "}":
            break
        i += 1  # the "|"
    if options and sum(w for w, _ in options) <= 0:
        raise WildcardError(f"the alternatives at character {start + 1} all have weight 0")
    return Variants(tuple(options), pick, separator), i + 1


class WildcardFiles:
    """The ``__name__`` files of one folder, read when used and kept while unchanged."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, tuple[tuple[int, int], tuple[tuple[Node, ...], ...]]] = {}

    def options(self, name: str) -> tuple[tuple[Node, ...], ...]:
        """The parsed lines of ``name``; WildcardError when it is unknown, outside the
        folder, too large, not UTF-8 text or holds a bad line."""
        parts = name.split("/")
        if any(not _NAME_PART.match(p) or p.strip(".") == "" for p in parts) or len(parts) > 10:
            raise WildcardError(
                f"wildcard __{name}__ is not a name inside the wildcards folder "
                "(letters, digits, '_', '-', '.' and '/' between folders)"
            )
        root = self.root.resolve()
        path = root.joinpath(*parts[:-1], parts[-1] + ".txt")
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            missing = f"unknown wildcard __{name}__: there is no {name}.txt in the wildcards folder"
            raise WildcardError(missing) from None
        if not real.is_relative_to(root):
            raise WildcardError(f"wildcard __{name}__ leads outside the wildcards folder")
        try:
            st = real.stat()
            if not real.is_file():
                raise WildcardError(f"wildcard __{name}__ is not a file")
            if st.st_size > MAX_FILE_BYTES:
                raise WildcardError(
                    f"wildcard file {name}.txt is {st.st_size / 1048576:.1f} MB; "
                    f"the limit is {MAX_FILE_BYTES // 1048576} MB"
                )
            key = (st.st_mtime_ns, st.st_size)
            cached = self._cache.get(name)
            if cached and cached[0] == key:
                return cached[1]
            with open(real, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise WildcardError(f"wildcard file {name}.txt cannot be read ({exc.strerror or exc})") from None
        if len(data) > MAX_FILE_BYTES:
            raise WildcardError(f"wildcard file {name}.txt is over {MAX_FILE_BYTES // 1048576} MB")
        if b"\x00" in data:
            raise WildcardError(f"wildcard file {name}.txt is binary, not UTF-8 text")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise WildcardError(f"wildcard file {name}.txt is not UTF-8 text") from None
        lines = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                lines.append(parse(line))
            except WildcardError as exc:
                raise WildcardError(f"{name}.txt line {number}: {exc.message}") from None
        if not lines:
            raise WildcardError(f"wildcard file {name}.txt has no options")
        options = tuple(lines)
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[name] = (key, options)
        return options


class _Expansion:
    def __init__(self, files: WildcardFiles | None, seed: int) -> None:
        self.files = files
        # seeded with bytes, which Python mixes through SHA-512: seeds 11, 12, 13 (the
        # images of one job) choose independently, where small integers would correlate
        self.rng = random.Random(b"atelier-wildcards:" + seed.to_bytes(8, "big"))
        self.out: list[str] = []
        self.length = 0
        self.steps = 0

    def run(self, nodes: tuple[Node, ...], stack: tuple[str, ...]) -> None:
        for node in nodes:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise WildcardError(f"the template takes more than {MAX_STEPS} steps to expand")
            if isinstance(node, Text):
                self.length += len(node.text)
                if self.length > MAX_RESULT_CHARS:
                    raise WildcardError(f"the expanded prompt is longer than {MAX_RESULT_CHARS} characters")
                self.out.append(node.text)
            elif isinstance(node, Variants) and node.pick == (1, 1):
                weights = [w for w, _ in node.options]
                chosen = self.rng.choices(range(len(node.options)), weights=weights)[0]
                self.run(node.options[chosen][1], stack)
            elif isinstance(node, Variants):
                usable = [n for w, n in node.options if w > 0]
                low, high = (min(b, len(usable)) for b in node.pick)
                for k, chosen_nodes in enumerate(self.rng.sample(usable, self.rng.randint(low, high))):
                    if k:
                        self.run((Text(node.separator),), stack)
                    self.run(chosen_nodes, stack)
            else:
                if node.name in stack:
                    chain = " → ".join(f"__{n}__" for n in (*stack, node.name))
                    raise WildcardError(f"wildcard recursion: {chain}")
                if len(stack) >= MAX_DEPTH:
                    raise WildcardError(f"wildcards include each other deeper than {MAX_DEPTH} levels")
                if self.files is None:
                    raise WildcardError(f"unknown wildcard __{node.name}__: no wildcards folder is set")
                options = self.files.options(node.name)
                self.run(options[self.rng.randrange(len(options))], (*stack, node.name))


def expand(template: str, seed: int, files: WildcardFiles | None) -> str:
    """The prompt ``template`` gives with ``seed``; WildcardError naming a problem."""
    nodes = parse(template)
    expansion = _Expansion(files, seed % (MAX_SEED + 1))
    expansion.run(nodes, ())
    return "".join(expansion.out)


def has_syntax(template: str) -> bool:
    """Whether the template has anything to expand (braces, ``__name__`` or escapes)."""
    return "{" in template or "}" in template or "__" in template or _ESCAPE.search(template) is not None


def expand_many(template: str, seed: int, n: int, files: WildcardFiles | None) -> list[str]:
    """The prompts of images 0..n-1 (image i uses seed + i)."""
    return [expand(template, (seed + i) % (MAX_SEED + 1), files) for i in range(n)]
