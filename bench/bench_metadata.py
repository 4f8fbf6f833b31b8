"""Reading an image's metadata: what every gallery scan, import and parse pays per file.

Two measures, each beside a baseline timed in the same run, interleaved:

1. An Atelier PNG of 1024x1024 (the offline renderer's), the whole parse
   (``read_file_metadata``), against the way it was read before: Pillow's
   ``PngImageFile.text``, which decodes every pixel to reach chunks after the image data.
2. Each of the 21 real files of other tools (``tests/fixtures/interop``): the whole parse,
   every reader tried in order, beside reading its chunks and EXIF alone (what any reader
   must do) and beside reading them the way it was done before (Pillow's ``text`` and
   ``getexif``, which decode a PNG's pixels).

Usage: python bench/bench_metadata.py [--runs 30]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from backend.providers.base import GenerationRequest, QuietContext  # noqa: E402
from backend.providers.offline import OfflineProvider  # noqa: E402
from backend.storage.image_params import read_file_metadata  # noqa: E402
from backend.storage.metadata import embed_metadata, read_exif, text_chunks  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "interop"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def atelier_png() -> bytes:
    request = GenerationRequest(
        prompt="a lighthouse on a cliff in a storm",
        styled_prompt="a lighthouse on a cliff in a storm",
        negative_prompt="",
        provider="offline",
        model="procedural-v1",
        style="none",
        aspect_ratio="1:1",
        width=1024,
        height=1024,
        n=1,
        seed=7,
    )
    image = next(iter(OfflineProvider({}).generate(request, QuietContext())))
    chunk = {"atelier_version": "bench", "request": request.to_json(), "seed": 7}
    return embed_metadata(image.data, "PNG", "a lighthouse\nSteps: 8, Seed: 7, Size: 1024x1024", chunk)


def parse(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as im:
        return read_file_metadata(im)


def pillow_text(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as im:
        return dict(im.text)  # type: ignore[attr-defined]


def pillow_chunks(data: bytes) -> object:
    """How the chunks were read before: Pillow's ``text`` and ``getexif`` (PNG: both decode
    the pixels to reach chunks after them)."""
    with Image.open(io.BytesIO(data)) as im:
        text = dict(getattr(im, "text", None) or {})
        exif = im.getexif()
        return text, dict(exif), dict(exif.get_ifd(0x8769))


def chunks_alone(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as im:
        return text_chunks(im), read_exif(im)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    print(f"Machine: {platform.node()}, Python {platform.python_version()}; run {date.today().isoformat()}.\n")
    data = atelier_png()
    ours, before = [], []
    for _ in range(3):  # interleaved, so a busy moment of the machine hits both
        ours.append(median_ms(lambda: parse(data), args.runs))
        before.append(median_ms(lambda: pillow_text(data), args.runs))
    a, b = statistics.median(ours), statistics.median(before)
    print("| file | Atelier: whole parse | baseline | ratio |")
    print("|---|---|---|---|")
    print(
        f"| Atelier PNG 1024×1024 ({len(data) // 1024} KB) | {a:.3f} ms "
        f"| Pillow `.text` (decodes the pixels; the way before): {b:.2f} ms | {b / a:.0f}× faster |"
    )
    cases = json.loads((FIXTURES / "manifest.json").read_text())["cases"]
    print()
    print(
        "| file | whole parse, every reader | its chunks and EXIF read now | read as before (Pillow) | before ÷ now |"
    )
    print("|---|---|---|---|---|")
    for case in cases:
        raw = (FIXTURES / case["file"]).read_bytes()
        ours, alone, pillow = [], [], []
        for _ in range(3):
            ours.append(median_ms(lambda raw=raw: parse(raw), args.runs))
            alone.append(median_ms(lambda raw=raw: chunks_alone(raw), args.runs))
            pillow.append(median_ms(lambda raw=raw: pillow_chunks(raw), args.runs))
        a, b, c = (statistics.median(x) for x in (ours, alone, pillow))
        name = Path(case["file"]).name
        print(f"| {name} ({len(raw) // 1024} KB) | {a:.3f} ms | {b:.3f} ms | {c:.3f} ms | {c / b:.1f}× |")


if __name__ == "__main__":
    main()
