"""Style presets, in the A1111 ``styles.csv`` convention.

Each style is a positive template with a ``{prompt}`` placeholder and a negative prompt.
All styles but ``none`` also add a base negative that keeps common defects away.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from backend import shapes

STYLES_FILE = Path(__file__).resolve().parent.parent / "data" / "styles.csv"
BASE_NEGATIVE = "low quality, blurry, worst quality, distorted, watermark, signature"


@dataclass(frozen=True)
class Style:
    name: str
    label: str
    description: str
    prompt: str
    negative_prompt: str

    def apply(self, prompt: str, negative_prompt: str) -> tuple[str, str]:
        """(styled prompt, effective negative prompt) for what the person typed."""
        if "{prompt}" in self.prompt:
            styled = self.prompt.replace("{prompt}", prompt)
        else:  # A1111: a template without the placeholder is appended
            styled = f"{prompt}, {self.prompt}" if self.prompt else prompt
        negatives = [negative_prompt.strip(), self.negative_prompt]
        if self.name != "none":
            negatives.append(BASE_NEGATIVE)
        return styled, ", ".join(n for n in negatives if n)

    def to_json(self) -> shapes.Style:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
        }


@lru_cache(maxsize=1)
def load_styles() -> dict[str, Style]:
    with STYLES_FILE.open(newline="", encoding="utf-8") as f:
        return {row["name"]: Style(**row) for row in csv.DictReader(f)}
