"""The grid image of a finished matrix: its cells' images in rows and columns, with labels.

The first axis runs across (columns), the second down (rows); a third axis makes one
block per value, stacked top to bottom, each under its own title. A cell without an
image (failed, cancelled, skipped) is a grey tile that says so. Labels use Pillow's
default font at a readable size. Pure CPU work on bytes: run it off the event loop.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

TILE = 256
GAP = 8
LABEL_SIZE = 22
TITLE_SIZE = 26
HEADER = 44  # the column labels' band
ROW_LABEL = 220  # the row labels' band
BLOCK_TITLE = 52
MARGIN = 16
BACKGROUND = (250, 250, 247)
INK = (24, 24, 27)
MUTED = (113, 113, 122)
EMPTY = (228, 228, 231)
MAX_TILES = 1000


@dataclass(frozen=True)
class GridAxis:
    field: str
    labels: Sequence[str]


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _tile(data: bytes | None, note: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    tile = Image.new("RGB", (TILE, TILE), EMPTY)
    if data is not None:
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.draft("RGB", (TILE, TILE))
                picture = im.convert("RGB")
            scale = min(TILE / picture.width, TILE / picture.height)  # small images grow to fill the tile
            size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
            picture = picture.resize(size, Image.Resampling.LANCZOS)
            tile.paste(picture, ((TILE - picture.width) // 2, (TILE - picture.height) // 2))
            return tile
        except Exception:
            note = note or "unreadable"
    draw = ImageDraw.Draw(tile)
    draw.text((TILE / 2, TILE / 2), _fit(draw, note or "no image", font, TILE - 16), fill=MUTED, font=font, anchor="mm")
    return tile


def render_grid(
    axes: Sequence[GridAxis],
    images: Mapping[tuple[int, ...], bytes | None],
    notes: Mapping[tuple[int, ...], str],
) -> bytes:
    """A PNG of the grid. ``images`` and ``notes`` are keyed by a cell's coords (one index
    per axis); ``notes`` says what a cell without an image is (e.g. "failed")."""
    if not 1 <= len(axes) <= 3:
        raise ValueError("a grid has one to three axes")
    cols = axes[0]
    rows = axes[1] if len(axes) > 1 else None
    blocks = axes[2] if len(axes) > 2 else None
    n_cols, n_rows, n_blocks = len(cols.labels), len(rows.labels) if rows else 1, len(blocks.labels) if blocks else 1
    if n_cols * n_rows * n_blocks > MAX_TILES:
        raise ValueError("too many cells for one grid")
    font = ImageFont.load_default(size=LABEL_SIZE)
    title_font = ImageFont.load_default(size=TITLE_SIZE)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widest = max((measure.textlength(str(label), font=font) for label in rows.labels), default=0) if rows else 0
    left = int(min(ROW_LABEL, widest + 28)) if rows else 0
    block_h = (BLOCK_TITLE if blocks else 0) + HEADER + n_rows * (TILE + GAP)
    width = MARGIN * 2 + left + n_cols * (TILE + GAP)
    title_h = BLOCK_TITLE
    height = MARGIN * 2 + title_h + n_blocks * block_h
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    heading = f"columns: {cols.field}" + (f"   rows: {rows.field}" if rows else "")
    heading += f"   blocks: {blocks.field}" if blocks else ""
    draw.text(
        (MARGIN, MARGIN + title_h / 2),
        _fit(draw, heading, title_font, width - 2 * MARGIN),
        fill=INK,
        font=title_font,
        anchor="lm",
    )
    for b in range(n_blocks):
        top = MARGIN + title_h + b * block_h
        if blocks:
            label = f"{blocks.field} = {blocks.labels[b]}"
            draw.text(
                (MARGIN, top + BLOCK_TITLE / 2),
                _fit(draw, label, title_font, width - 2 * MARGIN),
                fill=INK,
                font=title_font,
                anchor="lm",
            )
            draw.line((MARGIN, top + BLOCK_TITLE - 6, width - MARGIN, top + BLOCK_TITLE - 6), fill=MUTED, width=1)
            top += BLOCK_TITLE
        for c in range(n_cols):
            x = MARGIN + left + c * (TILE + GAP)
            text = _fit(draw, str(cols.labels[c]), font, TILE - 4)
            draw.text((x + TILE / 2, top + HEADER / 2), text, fill=INK, font=font, anchor="mm")
        for r in range(n_rows):
            y = top + HEADER + r * (TILE + GAP)
            if rows:
                text = _fit(draw, str(rows.labels[r]), font, left - 12)
                draw.text((MARGIN + left - 12, y + TILE / 2), text, fill=INK, font=font, anchor="rm")
            for c in range(n_cols):
                coords = tuple(i for i, axis in ((c, cols), (r, rows), (b, blocks)) if axis is not None)
                x = MARGIN + left + c * (TILE + GAP)
                canvas.paste(_tile(images.get(coords), notes.get(coords, ""), font), (x, y))
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()
