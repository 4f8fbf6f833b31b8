"""Stealth PNG info (the sd-webui-stealth-pnginfo extension, NovelAI): metadata hidden in
the lowest bit of each pixel's alpha (``stealth_pnginfo`` / ``stealth_pngcomp``) or of its
R, G and B (``stealth_rgbinfo`` / ``stealth_rgbcomp``), read column by column (every row of
column 0, then column 1 ...), most significant bit first: the 15-byte signature, the
payload's length in bits (32-bit big-endian), the payload (gzip for ``*comp``). The payload
is A1111 infotext, or NovelAI's chunks as one JSON object.

Tried last, and only on PNG and WebP files in which no other reader found anything: it
decodes pixels. Bounded: the image's pixel count, the payload's length and what gzip may
inflate to are capped; a file that breaks any of it carries no stealth info.

Layout: ashen-sensored/sd_webui_stealth_pnginfo; enslo/sd-metadata ``readers/stealth.ts``.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import replace

from PIL import Image

from backend.storage.readers import a1111, novelai
from backend.storage.readers.base import Embedded, ImageParams, Reader, parse_json

MAX_PIXELS = 40_000_000  # a 6000 x 6000 image; above, the pixels are not decoded for this
MAX_PAYLOAD_BYTES = 1 << 20  # as hidden (gzip'd or not)
MAX_TEXT_BYTES = 1 << 20  # once inflated
_SIGNATURE_BYTES = 15
_MODES = {  # signature -> (channels read, gzip'd)
    "stealth_pnginfo": ("A", False),
    "stealth_pngcomp": ("A", True),
    "stealth_rgbinfo": ("RGB", False),
    "stealth_rgbcomp": ("RGB", True),
}
#: a pixel byte -> its lowest bit as an ASCII digit: ``int(bits, 2)`` then packs them
_LOW_BIT = bytes(0x30 + (i & 1) for i in range(256))


class _Bits:
    """The lowest bits of ``bands`` of ``image``, column by column, read on demand (only
    the columns needed are copied)."""

    def __init__(self, image: Image.Image, bands: str) -> None:
        self.image = image
        self.bands = bands
        self.per_pixel = len(bands)
        self.height = image.height
        self.capacity = image.width * image.height * self.per_pixel

    def take(self, start: int, count: int) -> bytes | None:
        """``count`` bytes from bit ``start``; None past the image's end."""
        end = start + count * 8
        if count <= 0 or end > self.capacity:
            return None
        per_column = self.height * self.per_pixel
        first, last = start // per_column, math.ceil(end / per_column)
        columns = self.image.crop((first, 0, last, self.height)).transpose(Image.Transpose.TRANSPOSE)
        if self.bands == "A":
            raw = columns.getchannel("A").tobytes()
        else:
            raw = columns.convert("RGB").tobytes()
        offset = start - first * per_column
        bits = raw[offset : offset + count * 8].translate(_LOW_BIT)
        return int(bits, 2).to_bytes(count, "big")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {2: 3, 6: 4}  # colour type -> channels: 8-bit RGB and RGBA only
_HEAD_BITS = (_SIGNATURE_BYTES + 4) * 8
MAX_IDAT_CHUNKS = 4096  # chunks walked for the first rows; beyond, the pixels are decoded


def _png_heads(image: Image.Image) -> dict[str, bytes] | None:
    """{bands: the signature and length bytes hidden in them} of a plain 8-bit,
    non-interlaced RGB(A) PNG, read from the first rows of its first column without
    decoding the rest; None when the file is another kind or this cannot tell (then the
    pixels are decoded). A column-0 pixel unfilters from the one above it alone: its left
    neighbours are zero for every PNG filter, so Paeth's predictor is the pixel above."""
    fp = getattr(image, "fp", None)
    if fp is None or image.format != "PNG":
        return None
    try:
        where = fp.tell()
    except (OSError, ValueError):
        return None
    try:
        fp.seek(0)
        head = fp.read(33)
        if len(head) < 33 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
            return None
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
        channels = _PNG_CHANNELS.get(colour)
        if depth != 8 or interlace or channels is None or width <= 0:
            return None
        bands = ("A", "RGB") if channels == 4 else ("RGB",)
        rows = max(math.ceil(_HEAD_BITS / len(b)) for b in bands)
        if rows > height:
            return None  # the head spans columns: small enough to decode
        stride = 1 + width * channels
        want = rows * stride
        raw, inflater = bytearray(), zlib.decompressobj()
        tile = getattr(image, "tile", None)
        # from the first image data chunk, where Pillow's decoder starts (else the header's end)
        fp.seek(tile[0][2] - 8 if tile and tile[0][2] >= 41 else 33)
        for _ in range(MAX_IDAT_CHUNKS):
            chunk = fp.read(8)
            if len(chunk) < 8:
                return None
            (length,) = struct.unpack(">I", chunk[:4])
            if chunk[4:] == b"IEND":
                return None
            if chunk[4:] != b"IDAT":
                fp.seek(length + 4, io.SEEK_CUR)
                continue
            raw += inflater.decompress(fp.read(length), want - len(raw))
            fp.seek(4, io.SEEK_CUR)
            if len(raw) >= want:
                break
        else:
            return None
    except (OSError, ValueError, struct.error, zlib.error):
        return None
    finally:
        try:
            fp.seek(where)
        except (OSError, ValueError):
            pass
    above = [0] * channels
    pixels = []
    for row in range(rows):
        kind = raw[row * stride]
        at = row * stride + 1
        pixel = raw[at : at + channels]
        if kind == 3:  # Average: half the pixel above (the left one is zero)
            above = [(p + a // 2) & 0xFF for p, a in zip(pixel, above, strict=True)]
        elif kind in (2, 4):  # Up, Paeth: the pixel above
            above = [(p + a) & 0xFF for p, a in zip(pixel, above, strict=True)]
        elif kind in (0, 1):  # None, Sub: the pixel as it is
            above = list(pixel)
        else:
            return None
        pixels.append(above)
    heads = {}
    for b in bands:
        picked = [3] if b == "A" else [0, 1, 2]
        bits = "".join(str(px[i] & 1) for px in pixels for i in picked)[:_HEAD_BITS]
        heads[b] = int(bits, 2).to_bytes(_HEAD_BITS // 8, "big")
    return heads


def _lossy_webp_without_alpha(image: Image.Image) -> bool:
    """True for a WebP whose pixels are all lossy (VP8, no alpha plane): its lowest bits
    are the encoder's noise (colour is coded as subsampled YUV), so nothing hidden in them
    survives, and decoding them (tens of ms a megapixel) would find nothing."""
    fp = getattr(image, "fp", None)
    if fp is None or image.format != "WEBP":
        return False
    try:
        where = fp.tell()
    except (OSError, ValueError):
        return False
    kinds: set[bytes] = set()
    try:
        fp.seek(0)
        if fp.read(12)[8:] != b"WEBP":
            return False
        for _ in range(64):  # a still image has a handful of chunks
            head = fp.read(8)
            if len(head) < 8:
                break
            kinds.add(head[:4])
            (length,) = struct.unpack("<I", head[4:])
            fp.seek(length + (length & 1), io.SEEK_CUR)
    except (OSError, ValueError, struct.error):
        return False
    finally:
        try:
            fp.seek(where)
        except (OSError, ValueError):
            pass
    return b"VP8 " in kinds and not kinds & {b"VP8L", b"ALPH", b"ANIM", b"ANMF"}


def _inflate(payload: bytes) -> bytes | None:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(payload, MAX_TEXT_BYTES)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else out  # more than the cap: a bomb, or not ours


def extract(image: Image.Image) -> tuple[str, str] | None:
    """(signature, payload text) hidden in ``image``'s pixels, or None."""
    if image.width * image.height > MAX_PIXELS or image.width <= 0 or image.height <= 0:
        return None
    modes = ("A", "RGB") if image.mode == "RGBA" else ("RGB",) if image.mode == "RGB" else ()
    if modes and _lossy_webp_without_alpha(image):
        return None
    heads = _png_heads(image) if modes else None
    if heads is not None and not any(
        _MODES.get(h[:_SIGNATURE_BYTES].decode("latin-1"), ("",))[0] == b for b, h in heads.items()
    ):
        return None  # no signature in the first column: the pixels are never decoded
    for bands in modes:
        bits = _Bits(image, bands)
        head = bits.take(0, _SIGNATURE_BYTES + 4)
        if head is None:
            continue
        signature = head[:_SIGNATURE_BYTES].decode("latin-1")
        if _MODES.get(signature, ("", False))[0] != bands:
            continue
        length = int.from_bytes(head[_SIGNATURE_BYTES:], "big")
        if length == 0 or length % 8 or length // 8 > MAX_PAYLOAD_BYTES:
            return None
        payload = bits.take(len(head) * 8, length // 8)
        if payload is None:
            return None
        if _MODES[signature][1]:
            payload = _inflate(payload)
        if payload is None or len(payload) > MAX_TEXT_BYTES:
            return None
        try:
            return signature, payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def read(found: Embedded) -> ImageParams | None:
    image = found.image
    if found.infotext or image.format not in ("PNG", "WEBP"):
        return None
    try:
        hidden = extract(image)
    except Exception:  # a truncated or broken image: no stealth info to read
        return None
    if hidden is None:
        return None
    signature, text = hidden
    chunks = parse_json(text) if text.lstrip().startswith("{") else None
    if isinstance(chunks, dict):
        if not novelai.is_novelai(chunks):
            return None
        params = novelai.from_novelai(chunks, image.size)
    elif text.strip():
        params = a1111.from_infotext(text)
    else:
        return None
    return replace(params, raw={"stealth": signature, **(params.raw if isinstance(params.raw, dict) else {})})


READER = Reader("stealth", 950, read)
