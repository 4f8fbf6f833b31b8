"""What every tool shares: its producer contract, source images, encoding helpers."""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from PIL import Image, ImageOps

from backend.providers.base import ASPECT_RATIOS, GeneratedImage, GenerationContext, GenerationRequest, ProviderError
from backend.services.gallery import Gallery, ImageRejected, inspect_image
from backend.services.schema import Field, Shape
from backend.services.validation import ValidationError
from backend.storage.files import EXTENSIONS, RefusedFile
from backend.storage.gallery_index import ImageRow
from backend.storage.image_params import read_file_metadata
from backend.storage.metadata import read_embedded
from backend.storage.readers.a1111 import from_infotext
from backend.storage.readers.base import ImageParams

#: the provider id of tool jobs done on this machine (upscale fast, social formats)
LOCAL = "local"
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
MAX_TOOL_PIXELS = 16_777_216  # 4096 x 4096: local tools' output limit
#: the fields naming a tool request's image (SourceFinder.source reads them)
SOURCE_FIELDS = (
    Field("image_id", "string", "the gallery image to work on (or give `image`)", nullable=True),
    Field(
        "image",
        "string",
        "instead of image_id: a PNG, JPEG or WebP as a data: URL (or bare base64); imported into the gallery "
        "once the request is accepted (a refused request writes nothing)",
        nullable=True,
    ),
)


@dataclass
class ToolImage(GeneratedImage):
    """An image a tool made; ``extra`` goes into its gallery metadata (e.g. its source)."""

    extra: dict[str, Any] = field(default_factory=dict)


class ToolProducer(Protocol):
    """Makes a tool job's images; called in the job's worker like a provider's generate."""

    def cpu_bound(self, tool: dict[str, Any]) -> bool:
        """True when the work is local CPU work, run in a real thread."""

    def produce(
        self, tool: dict[str, Any], request: GenerationRequest, ctx: GenerationContext
    ) -> Iterator[GeneratedImage]: ...


@dataclass(frozen=True)
class Source:
    """A gallery image a tool works on, as found when the job was submitted."""

    image_id: str
    path: str
    width: int
    height: int
    format: str
    prompt: str
    seed: int | None

    def to_json(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "path": self.path}


#: EXIF orientations that show the stored image turned a quarter: its shown sides are swapped
QUARTER_TURNS = (5, 6, 7, 8)


def turned_a_quarter(file: BinaryIO) -> bool:
    """Whether the image's EXIF orientation turns it a quarter when shown (only the header is read)."""
    try:
        with Image.open(file) as im:
            raw = im.info.get("exif")  # set by the header of a JPEG, WebP or PNG (eXIf before IDAT)
            if not raw:
                return False
            exif = Image.Exif()
            exif.load(raw)
            return exif.get(0x0112) in QUARTER_TURNS
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False  # unreadable: the job says so when it opens the file


def shown_size(width: int, height: int, turned: bool) -> tuple[int, int]:
    """The sides as the image is shown (and as open_image hands it to a tool)."""
    return (height, width) if turned else (width, height)


def source_from_row(row: ImageRow, turned: bool = False) -> Source:
    width, height = shown_size(row.width or 0, row.height or 0, turned)
    return Source(row.id, row.path, width, height, row.format or "", row.prompt or "", row.seed)


def _turned_on_disk(gallery: Gallery, row: ImageRow) -> bool:
    try:
        file, _ = gallery.open_image(row.path)  # only a regular file inside the gallery
    except (RefusedFile, OSError):
        return False
    with file:
        return turned_a_quarter(file)


def find_source(
    gallery: Gallery, body: dict[str, Any], name: str = "image_id", visible: Callable[[str], bool] | None = None
) -> Source:
    """The gallery image ``body[name]`` names, or a 422 naming the field. ``visible(path)``:
    whether the caller may see it (one it may not is answered as one that does not exist)."""
    image_id = body.get(name)
    if not isinstance(image_id, str) or not image_id:
        raise ValidationError(name, f"{name} must be the id of a gallery image")
    row = gallery.get(image_id)
    if row is None or (visible is not None and not visible(row.path)):
        raise ValidationError(name, f"no gallery image with id {image_id!r}")
    if not row.readable or not row.width or not row.height or row.format not in EXTENSIONS:
        raise ValidationError(name, f"the image {row.path} is not a readable PNG, JPEG or WebP")
    # the index holds the stored sides; a tool works on the image turned upright (open_image)
    return source_from_row(row, _turned_on_disk(gallery, row))


#: the id of an uploaded source image that is not in the gallery yet (see SourceFinder)
PENDING_UPLOAD = "pending-upload"


class SourceFinder:
    """Finds a tool request's source images while it is validated.

    An uploaded image (``image``, a data: URL) is decoded and checked in memory only: its
    Source is pending and ``upload`` holds its bytes. The route imports it into the gallery
    once every check (fields, sizes, mask, budget) has passed, so a refused request writes
    nothing, then builds the request again from the imported image."""

    def __init__(self, gallery: Gallery, visible: Callable[[str], bool] | None = None) -> None:
        self.gallery = gallery
        self.visible = visible  # the caller may see the image at this path (accounts)
        self.upload: bytes | None = None

    def source(self, body: dict[str, Any]) -> Source:
        """The image a body works on: ``image_id`` or its upload ``image``, never both (which
        one was meant cannot be guessed, and dropping one silently changes the request)."""
        if body.get("image") is not None and body.get("image_id") is not None:
            raise ValidationError("image", "send image (an upload) or image_id (a gallery image), not both")
        if body.get("image") is not None:
            data, fmt, width, height = decode_image(body["image"], "image")
            self.upload = data
            return Source(PENDING_UPLOAD, "the uploaded image", width, height, fmt, "", None)
        return find_source(self.gallery, body, visible=self.visible)

    def find(self, image_id: Any, name: str) -> Source:
        """Another gallery image the request reads (a reference), or a 422 naming ``name``."""
        return find_source(self.gallery, {name: image_id}, name, self.visible)


def decode_data_url(value: Any, name: str) -> bytes:
    """Bytes of ``data:image/...;base64,...`` (or bare base64), or a 422 naming ``name``."""
    return decode_image(value, name)[0]


def decode_image(value: Any, name: str) -> tuple[bytes, str, int, int]:
    """(bytes, format, width, height as shown) of a data: URL (or bare base64) of a PNG, JPEG or
    WebP image that decodes in full, or a 422 naming ``name``."""
    if not isinstance(value, str) or not value:
        raise ValidationError(name, f"{name} must be a data: URL of a PNG, JPEG or WebP image")
    text = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(name, f"{name} is not valid base64 image data") from None
    try:
        fmt, width, height = inspect_image(data, f"{name} is")
    except ImageRejected as exc:
        raise ValidationError(name, str(exc)) from None
    return (data, fmt, *shown_size(width, height, turned_a_quarter(io.BytesIO(data))))


#: How a tool producer gets the bytes of a source image (``{"image_id", "path"}``) when its
#: job runs: from the gallery in the studio's own process (:func:`gallery_reader`), over HTTP
#: from the studio on a worker. A source that is gone raises :func:`source_gone`'s error.
SourceReader = Callable[[dict[str, Any]], bytes]


def source_gone(source: dict[str, Any]) -> ProviderError:
    """The error of a job whose source image went away between submit and run."""
    return ProviderError(
        "invalid_request",
        f"the source image {source['path']} (id {source['image_id']}) was deleted before this job ran",
        retryable=False,
    )


def tool_sources(tool: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every gallery image a tool request reads: its source, then its references."""
    if not tool or not isinstance(tool.get("source"), dict):
        return []
    return [tool["source"], *(r for r in tool.get("references") or [] if isinstance(r, dict))]


def read_source(gallery: Gallery, source: dict[str, Any]) -> bytes:
    """The source file's bytes at run time; a job whose source is gone fails saying so."""
    try:
        return gallery.read_image(source["path"])
    except OSError:  # gone, or no longer a regular file inside the gallery
        raise source_gone(source) from None


def gallery_reader(gallery: Gallery) -> SourceReader:
    """The SourceReader of the process that holds the gallery."""
    return lambda source: read_source(gallery, source)


#: the source's generation parameters a tool output carries on (``extra.source.parameters``)
SOURCE_PARAMETERS = ("prompt", "negative_prompt", "steps", "sampler", "cfg_scale", "seed", "model")


def source_parameters(data: bytes) -> dict[str, Any]:
    """``{"parameters": ...}``, the generation parameters of a tool's source image from its
    own metadata, for the tool's output to carry on in ``extra.source`` (as A1111's extras
    tab does); ``{}`` when it has none (the key is left out, not null). Typed and bounded
    (the readers'), since a source's metadata is hostile input. For Atelier's own files the
    ``parameters`` text is read: it has the sampler and CFG scale, and the prompts as the
    model got them (styled)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            infotext, atelier = read_embedded(im)
            params: ImageParams | None
            if atelier is not None and infotext:
                params = from_infotext(infotext)
            else:
                found = read_file_metadata(im)
                params = found.parameters if found else None
    except Exception:  # unreadable metadata: the output is written without the source's
        return {}
    if params is None:
        return {}
    values = {name: getattr(params, name) for name in SOURCE_PARAMETERS}
    return {"parameters": values} if any(v not in (None, "") for v in values.values()) else {}


def open_image(data: bytes) -> Image.Image:
    """The image upright (EXIF orientation applied) and in RGB or RGBA."""
    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    alpha = im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info)
    return im.convert("RGBA" if alpha else "RGB")


def encode(image: Image.Image, fmt: str = "PNG", quality: int = 92) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buf, format="JPEG", quality=quality, optimize=True, progressive=True)
    else:
        image.save(buf, format=fmt, **({"compress_level": 6} if fmt == "PNG" else {}))
    return buf.getvalue()


def nearest_ratio(width: int, height: int) -> str:
    import math

    target = math.log(width / height)
    return min(ASPECT_RATIOS, key=lambda r: abs(math.log(ASPECT_RATIOS[r]) - target))


def tool_request(
    prompt: str, provider: str, model: str, width: int, height: int, n: int = 1, seed: int | None = None, **kw: Any
) -> GenerationRequest:
    """The GenerationRequest of a tool job: what the gallery and the job list show."""
    return GenerationRequest(
        prompt=prompt,
        styled_prompt=kw.pop("styled_prompt", prompt),
        negative_prompt=kw.pop("negative_prompt", ""),
        user_negative_prompt=kw.pop("user_negative_prompt", ""),
        provider=provider,
        model=model,
        style="none",
        aspect_ratio=nearest_ratio(width, height),
        width=width,
        height=height,
        n=n,
        seed=seed,
        **kw,
    )


def integer(body: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(name, f"{name} must be a whole number")
    return value


def number(body: dict[str, Any], name: str, default: float | None = None) -> float | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(name, f"{name} must be a number")
    return float(value)


def text(body: dict[str, Any], name: str, default: str = "") -> str:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValidationError(name, f"{name} must be a string")
    return value


def read(body: dict[str, Any], fld: Field) -> Any:
    """The body's value of a declared field: its type (in the tools' words), then its declared
    bounds, pattern and allowed values. Absent, null and "" mean the field's default."""
    if fld.type == "string":
        value: Any = text(body, fld.name)
    elif fld.type == "integer":
        value = integer(body, fld.name)
    elif fld.type == "number":
        value = number(body, fld.name)
    else:
        value = fld.check_type(body.get(fld.name))
    if value is None or value == "":
        if fld.required:  # not fld.fail: its message is about a wrong value, this one is missing
            raise ValidationError(fld.name, f"{fld.name} is required")
        return fld.default
    return fld.check_bounds(value)


def check_fields(body: Any, shape: Shape) -> dict[str, Any]:
    """The body as a dict with only the declared fields, else a 422 naming the first unknown one."""
    return shape.check_object(body)
