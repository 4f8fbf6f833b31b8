"""Generation metadata inside the image files, readable by other tools.

PNG: a ``parameters`` text chunk in A1111 infotext form (what A1111, Forge, Civitai and
SD Prompt Reader read) and an ``atelier`` chunk with the complete JSON. JPEG and WebP:
the infotext in EXIF UserComment (as A1111 writes it) and the JSON in EXIF MakerNote.
The chunks are inserted into the encoded bytes: pixels are never re-encoded.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from typing import Any

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TAG_EXIF_IFD = 0x8769
TAG_USER_COMMENT = 0x9286
TAG_MAKER_NOTE = 0x927C
OUR_KEYS = {"parameters", "atelier"}
MAX_ATELIER_JSON = 4 * 1024 * 1024  # bytes of the chunk read at all; ours are a few KB
MAX_JPEG_SEGMENT = 0xFFFF  # a JPEG APP1 segment's length field, itself included


# --- PNG ---------------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_text_chunk(key: str, value: str) -> bytes:
    try:  # tEXt when the text is Latin-1, like PngInfo.add_text; iTXt (UTF-8) otherwise
        return _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _png_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8"))


def _png_chunk_key(kind: bytes, data: bytes) -> str | None:
    if kind in (b"tEXt", b"iTXt", b"zTXt"):
        return data.split(b"\0", 1)[0].decode("latin-1")
    return None


def _embed_png(data: bytes, texts: dict[str, str]) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    out = [PNG_SIGNATURE]
    pos, inserted = len(PNG_SIGNATURE), False
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IDAT" and not inserted:
            out += [_png_text_chunk(k, v) for k, v in texts.items()]
            inserted = True
        if _png_chunk_key(kind, body) not in texts:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    if not inserted:
        raise ValueError("PNG without image data")
    return b"".join(out)


# --- EXIF (JPEG, WebP) -------------------------------------------------------------------
def user_comment_bytes(text: str) -> bytes:
    """EXIF UserComment as A1111 (piexif) writes it: UNICODE header, UTF-16 big-endian."""
    return b"UNICODE\0" + text.encode("utf-16-be")


def decode_user_comment(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    header, body = raw[:8], raw[8:]
    if header == b"UNICODE\0":
        # piexif writes big-endian; some tools write little-endian: pick the readable one
        be = body.decode("utf-16-be", "replace")
        le = body.decode("utf-16-le", "replace")
        return be if be.count("\ufffd") <= le.count("\ufffd") and be.isprintable() or "\n" in be else le
    if header.startswith(b"ASCII"):
        return body.decode("ascii", "replace")
    return raw.decode("utf-8", "replace").lstrip("\0")


#: TIFF field types: LONG (the Exif IFD's offset) and UNDEFINED, the type the EXIF spec gives
#: UserComment and MakerNote (piexif and A1111's PNG Info read nothing else: with BYTE, the
#: type Pillow picks for bytes, piexif returns a tuple and A1111 fails on ``.decode``)
_LONG, _UNDEFINED = 4, 7


def _exif_payload(infotext: str, atelier_json: str | None) -> bytes:
    """``Exif\0\0`` + a big-endian TIFF (as piexif writes it): IFD0 holding only the Exif
    IFD's offset, and the Exif IFD holding UserComment and MakerNote (when given) as UNDEFINED."""
    tags = {TAG_USER_COMMENT: user_comment_bytes(infotext)}
    if atelier_json is not None:
        tags[TAG_MAKER_NOTE] = atelier_json.encode("utf-8")
    entries = sorted(tags.items())
    ifd0_at = 8
    exif_ifd_at = ifd0_at + 2 + 12 + 4
    data_at = exif_ifd_at + 2 + 12 * len(entries) + 4
    ifd0 = struct.pack(">H", 1) + struct.pack(">HHII", TAG_EXIF_IFD, _LONG, 1, exif_ifd_at) + struct.pack(">I", 0)
    fields, values = [], []
    for tag, value in entries:  # tags in ascending order, as TIFF requires
        if len(value) <= 4:
            fields.append(struct.pack(">HHI", tag, _UNDEFINED, len(value)) + value.ljust(4, b"\0"))
        else:
            fields.append(struct.pack(">HHII", tag, _UNDEFINED, len(value), data_at))
            padded = value + b"\0" * (len(value) % 2)  # values start on a word boundary
            values.append(padded)
            data_at += len(padded)
    exif_ifd = struct.pack(">H", len(entries)) + b"".join(fields) + struct.pack(">I", 0)
    return b"Exif\0\0" + b"MM\0*" + struct.pack(">I", ifd0_at) + ifd0 + exif_ifd + b"".join(values)


def _embed_jpeg(data: bytes, exif: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG file")
    if len(exif) + 2 > MAX_JPEG_SEGMENT:
        raise ValueError("metadata too large for a JPEG APP1 segment")
    segments, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        is_exif = marker == 0xE1 and segment[4:10] == b"Exif\0\0"
        if not is_exif:
            segments.append((marker, segment))
        pos += 2 + length
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    # APP1 goes after APP0 (JFIF) when there is one, else first
    head = [s for m, s in segments if m == 0xE0]
    rest = [s for m, s in segments if m != 0xE0]
    return b"\xff\xd8" + b"".join(head) + app1 + b"".join(rest) + data[pos:]


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _embed_webp(data: bytes, exif: bytes, size: tuple[int, int], has_alpha: bool) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        chunks.append((kind, body))
        pos += 8 + length + (length % 2)
    chunks = [(k, b) for k, b in chunks if k != b"EXIF"]
    if chunks and chunks[0][0] == b"VP8X":
        flags = chunks[0][1][0] | 0x08
        chunks[0] = (b"VP8X", bytes([flags]) + chunks[0][1][1:])
    else:  # simple WebP: an extended header is needed to carry EXIF
        w, h = size
        flags = 0x08 | (0x10 if has_alpha else 0)
        vp8x = bytes([flags, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
        chunks.insert(0, (b"VP8X", vp8x))
    # EXIF belongs after the image data (and before XMP)
    xmp = [(k, b) for k, b in chunks if k == b"XMP "]
    chunks = [(k, b) for k, b in chunks if k != b"XMP "] + [(b"EXIF", exif[6:])] + xmp
    body = b"WEBP" + b"".join(_riff_chunk(k, b) for k, b in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- public ------------------------------------------------------------------------------
def embed_metadata(data: bytes, image_format: str, infotext: str, atelier: dict[str, Any]) -> bytes:
    """``data`` with the infotext and Atelier JSON embedded, pixels untouched."""
    atelier_json = json.dumps(atelier, ensure_ascii=False, separators=(",", ":"))
    if image_format == "PNG":
        return _embed_png(data, {"parameters": infotext, "atelier": atelier_json})
    exif = _exif_payload(infotext, atelier_json)
    if image_format == "JPEG":
        if len(exif) + 2 > MAX_JPEG_SEGMENT:
            # EXIF lives in one APP1 segment of at most 64 KB. Atelier's JSON repeats the
            # prompts (4000 emoji each fill it): the infotext alone, which every reader,
            # Atelier's included, reads the prompts and settings from, is what must fit
            exif = _exif_payload(infotext, None)
        return _embed_jpeg(data, exif)
    if image_format == "WEBP":
        with Image.open(io.BytesIO(data)) as im:
            return _embed_webp(data, exif, im.size, "A" in im.getbands())
    raise ValueError(f"cannot embed metadata in {image_format}")


def read_exif(image: Image.Image) -> tuple[dict[int, Any], dict[int, Any]]:
    """(IFD0 tags, Exif IFD tags) of an opened image; empty where it has none or they do not
    parse (a hostile EXIF block is only ever read, never trusted)."""
    try:
        if image.format == "PNG":  # Pillow's getexif decodes the pixels to look after them
            exif = Image.Exif()
            raw = image.info.get("exif") or _png_trailing(image)[1]
            if raw:
                exif.load(raw)
        else:
            exif = image.getexif()
        return dict(exif), dict(exif.get_ifd(TAG_EXIF_IFD))
    except Exception:
        return {}, {}


#: what Pillow keeps in ``info`` that is not a text chunk
_BINARY_INFO = frozenset(
    {"exif", "icc_profile", "xmp", "transparency", "dpi", "gamma", "chromaticity", "srgb", "aspect"}
)
MAX_TEXT_CHUNK = 2 * MAX_ATELIER_JSON  # bytes of one text chunk read, once inflated
MAX_TRAILING_CHUNKS = 4096  # chunks walked after the image data


def text_chunks(image: Image.Image) -> dict[str, Any]:
    """An opened image's text chunks, without decoding its pixels: what Pillow read before
    the image data (``info``) and, in a PNG, the tEXt / zTXt / iTXt chunks after it.
    (Pillow's ``PngImageFile.text`` decodes the whole image to reach those: 13 ms for a
    1024x1024 PNG, against a few seeks here; a gallery scan reads every file.)"""
    text = {k: v for k, v in image.info.items() if isinstance(v, str | bytes) and k not in _BINARY_INFO}
    if image.format == "PNG":
        for key, value in _png_trailing(image)[0].items():
            text.setdefault(key, value)
    return text


def _png_trailing(image: Image.Image) -> tuple[dict[str, str], bytes | None]:
    """(text chunks, eXIf chunk) after a PNG's first image data chunk, walked chunk by chunk
    from where Pillow's decoder would start; nothing for what is not a PNG chunk list."""
    fp, tile = getattr(image, "fp", None), getattr(image, "tile", None)
    if fp is None or not tile:  # decoded already: Pillow has read every chunk
        try:
            return dict(image.text), image.info.get("exif")  # type: ignore[attr-defined]
        except Exception:
            return {}, None
    found: dict[str, str] = {}
    exif: bytes | None = None
    try:
        fp.seek(tile[0][2] - 8)  # the header of the first IDAT chunk
        for _ in range(MAX_TRAILING_CHUNKS):
            head = fp.read(8)
            if len(head) < 8 or head[4:] == b"IEND":
                break
            (length,) = struct.unpack(">I", head[:4])
            kind = head[4:]
            if kind in (b"tEXt", b"zTXt", b"iTXt", b"eXIf") and length <= MAX_TEXT_CHUNK:
                body = fp.read(length)
                if kind == b"eXIf":
                    exif = exif or body
                elif (chunk := _decode_text_chunk(kind, body)) is not None:
                    found.setdefault(*chunk)
                fp.seek(4, io.SEEK_CUR)  # the CRC
            else:
                fp.seek(length + 4, io.SEEK_CUR)
    except (OSError, ValueError, struct.error):
        pass  # a truncated or broken file: the chunks read so far
    return found, exif


def _inflate_text(data: bytes) -> bytes | None:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_TEXT_CHUNK)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else out


def _decode_text_chunk(kind: bytes, data: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt, zTXt or iTXt chunk as the PNG spec defines them, or None."""
    key, sep, rest = data.partition(b"\0")
    if not sep or not key:
        return None
    name = key.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        value = _inflate_text(rest[1:]) if rest[:1] == b"\0" else None
        return None if value is None else (name, value.decode("latin-1"))
    if len(rest) < 2:  # iTXt: compression flag and method, language, translated keyword, text
        return None
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) < 3:
        return None
    value = _inflate_text(parts[2]) if compressed and method == 0 else None if compressed else parts[2]
    if value is None:
        return None
    try:
        return name, value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_embedded(image: Image.Image) -> tuple[str | None, dict[str, Any] | None]:
    """(infotext, Atelier JSON) from an opened image, whichever are present. The JSON is
    any object a file holds (anyone can write the chunk): parse it with
    ``image_params.parse_atelier`` before trusting a value in it."""
    infotext: str | None = None
    raw_json: Any = None
    text = text_chunks(image)
    if text:
        infotext, raw_json = text.get("parameters"), text.get("atelier")
    if not isinstance(infotext, str):
        infotext = None
    if infotext is None or raw_json is None:
        _, ifd = read_exif(image)
        comment, maker_note = ifd.get(TAG_USER_COMMENT), ifd.get(TAG_MAKER_NOTE)
        if infotext is None and isinstance(comment, bytes | str):  # a hostile EXIF may hold any type
            infotext = decode_user_comment(comment)
        if raw_json is None:
            raw_json = maker_note
    atelier = None
    if isinstance(raw_json, str | bytes) and raw_json and len(raw_json) <= MAX_ATELIER_JSON:
        try:
            parsed = json.loads(raw_json)
            atelier = parsed if isinstance(parsed, dict) and "atelier_version" in parsed else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            atelier = None
    return infotext, atelier
