"""A1111 "infotext": the ``parameters`` text A1111, Forge, Civitai and most readers use.

Three parts: the prompt (any number of lines), a ``Negative prompt:`` line (and the lines
after it), and one last line of ``Key: value`` pairs separated by commas, a value quoted
as a JSON string when it holds a comma, colon, quote or line break (as A1111 quotes).

Text is written as it is: non-ASCII, quotes, tabs, line feeds and carriage returns (a
prompt typed on Windows keeps its ``\r\n``); only the other C0 control characters, which
no reader shows and a PNG text chunk should not hold, become U+FFFD. Readers split lines on
``\n`` alone, so a ``\r`` stays in its line: A1111's own parser strips it at a line's end
(it strips every line), SD Prompt Reader, sd-parsers and sd-metadata keep it, and
:func:`parse_infotext` gives back exactly what :func:`format_infotext` was given.
"""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # all C0 but tab, LF and CR
#: ``Key: value`` of the infotext's last line. Keys are short and start at a word character:
#: bounding them, and no leading ``\s*``, keeps the scan linear (unbounded, a 40 KB line of
#: words or of spaces without a colon took 20 s)
_PARAM = re.compile(r'([\w][\w \-/]{0,63}?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


# --- A1111 infotext --------------------------------------------------------------------
def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:"\n\r') else text


def format_infotext(prompt: str, negative_prompt: str, params: dict[str, Any]) -> str:
    """A1111 infotext: prompt line(s), ``Negative prompt:`` line, ``Key: value, ...`` line."""
    lines = [_CONTROL.sub("\ufffd", prompt)]
    if negative_prompt:
        lines.append("Negative prompt: " + _CONTROL.sub("\ufffd", negative_prompt))
    lines.append(", ".join(f"{k}: {_quote(v)}" for k, v in params.items() if v is not None))
    return "\n".join(lines)


def parse_infotext(text: str) -> dict[str, Any]:
    """The prompt, negative prompt and ``Key: value`` parameters of A1111 infotext. What
    :func:`format_infotext` wrote comes back exactly, line breaks and carriage returns
    inside the prompts included; like A1111 and every other reader, the white space
    around each prompt is trimmed (the exact prompts are in Atelier's own JSON)."""
    lines = text.strip("\n").split("\n")
    params: dict[str, str] = {}
    last = lines[-1] if lines else ""
    pairs = _PARAM.findall(last)
    # a settings line has three pairs at least, as A1111 decides: a prompt line such as
    # "style: oil, mood: dark" stays the prompt
    if len(pairs) >= 3 or (pairs and last.strip().startswith(("Steps:", "Seed:"))):
        for key, value in pairs:
            if value.startswith('"'):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            params[key.strip()] = value.strip() if isinstance(value, str) else value
        lines = lines[:-1]
    prompt_lines, negative_lines, target = [], [], None
    for line in lines:
        if target is None and line.startswith("Negative prompt:"):
            target = negative_lines
            line = line[len("Negative prompt:") :].lstrip()
        (negative_lines if target is negative_lines else prompt_lines).append(line)
    return {
        "prompt": "\n".join(prompt_lines).strip(),
        "negative_prompt": "\n".join(negative_lines).strip(),
        "params": params,
    }
