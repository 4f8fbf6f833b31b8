"""Social formats: one image cut for several platforms in one job.

Crop modes: ``smart`` slides the largest window of the target's shape over an interest
map (edges of a downscaled grey copy) and keeps the window holding the most, so a subject
off-centre stays in frame; ``center``; ``focal`` centres the window on a point (0..1);
``fit`` shows the whole image on a blurred (or solid) fill. JPEG quality steps down until
the file is under the platform's byte limit. The safe-zone overlay is drawn on previews,
and on exports only when ``overlay`` is true.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageOps

from backend.providers.base import GeneratedImage, GenerationContext, GenerationRequest, ProviderError
from backend.providers.registry import ProviderRegistry
from backend.services.schema import Field, Shape
from backend.services.tools.base import ToolContext, ToolJob
from backend.services.tools.common import (
    LOCAL,
    SOURCE_FIELDS,
    SourceFinder,
    SourceReader,
    ToolImage,
    ToolProducer,
    check_fields,
    open_image,
    read,
    source_parameters,
    tool_request,
)
from backend.services.validation import SESSION, ValidationError

FORMATS_FILE = Path(__file__).resolve().parents[2] / "data" / "social_formats.json"
CROPS = ("smart", "center", "fit", "focal")
FILLS = ("blur", "solid")
OUTPUT_FORMATS = ("jpeg", "png")
MAX_TARGETS = 24
QUALITIES = (92, 86, 80, 74, 68, 62, 56, 50, 44, 38, 32)
ANALYSIS_SIDE = 256
COLOUR_PATTERN = r"^#[0-9a-fA-F]{6}$"


@dataclass(frozen=True)
class SocialFormat:
    platform: str
    format: str
    label: str
    width: int
    height: int
    safe_zone: dict[str, float]
    max_bytes: int

    @property
    def id(self) -> str:
        return f"{self.platform}/{self.format}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "platform": self.platform,
            "format": self.format,
            "label": self.label,
            "width": self.width,
            "height": self.height,
            "safe_zone": self.safe_zone,
            "max_bytes": self.max_bytes,
        }


@functools.cache
def load_formats() -> dict[str, dict[str, Any]]:
    """platform -> {label, max_bytes, formats: {id: SocialFormat}} from the data file."""
    raw = json.loads(FORMATS_FILE.read_text(encoding="utf-8"))["platforms"]
    return {
        pid: {
            "label": p["label"],
            "max_bytes": p["max_bytes"],
            "formats": {
                fid: SocialFormat(pid, fid, f["label"], f["width"], f["height"], f["safe_zone"], p["max_bytes"])
                for fid, f in p["formats"].items()
            },
        }
        for pid, p in raw.items()
    }


def formats_json() -> list[dict[str, Any]]:
    return [
        {
            "id": pid,
            "label": p["label"],
            "max_bytes": p["max_bytes"],
            "formats": [f.to_json() for f in p["formats"].values()],
        }
        for pid, p in load_formats().items()
    ]


def find_format(platform: Any, fmt: Any, where: str = "") -> SocialFormat:
    formats = load_formats()
    if platform is None or platform == "":
        raise ValidationError(f"{where}platform", f"platform is required; known: {', '.join(formats)}")
    # a JSON object or list is no name (and unhashable: `in` would raise): unknown, not a 500
    if not isinstance(platform, str) or platform not in formats:
        raise ValidationError(f"{where}platform", f"unknown platform {platform!r}; known: {', '.join(formats)}")
    known = formats[platform]["formats"]
    if fmt is None or fmt == "":
        raise ValidationError(f"{where}format", f"format is required; known: {', '.join(known)}")
    if not isinstance(fmt, str) or fmt not in known:
        raise ValidationError(f"{where}format", f"{platform} has no format {fmt!r}; known: {', '.join(known)}")
    return known[fmt]


def _format_ids() -> list[str]:
    return [f.id for p in load_formats().values() for f in p["formats"].values()]


def _format_names() -> list[str]:
    return list(dict.fromkeys(name for p in load_formats().values() for name in p["formats"]))


CROP = Field("crop", "string", "smart: keep the busiest part; center; focal: centre on `focal`; fit: all on a fill",
             nullable=True, default="smart", enum=CROPS)  # fmt: skip
FILL = Field("fill", "string", "fit: what shows around the image", nullable=True, default="blur", enum=FILLS)
FILL_COLOR = Field("fill_color", "string", "fit with fill solid: the colour", nullable=True, default="#000000",
                   pattern=COLOUR_PATTERN, message="fill_color must be a colour like #1a2b3c")  # fmt: skip
#: a point of the image, each axis 0..1 from the left / top (focal.x, focal.y in errors)
FOCAL_X = Field("focal.x", "number", minimum=0, maximum=1, message="focal.x must be a number between 0 and 1")
FOCAL_Y = Field("focal.y", "number", minimum=0, maximum=1, message="focal.y must be a number between 0 and 1")
FOCAL = Field(
    "focal",
    "object",
    "crop focal: the point to keep in the middle, {x, y} each 0..1",
    nullable=True,
    extra={"properties": {"x": FOCAL_X.json_schema(), "y": FOCAL_Y.json_schema()}, "required": ["x", "y"]},
)
TARGETS = Field(
    "targets",
    "array",
    "'platform/format' (GET /api/social/formats) or {platform, format}; one image each",
    required=True,
    min_items=1,
    max_items=MAX_TARGETS,
    extra={
        "items": {
            "anyOf": [
                {"type": "string", "enum": _format_ids()},
                {
                    "type": "object",
                    "properties": {
                        "platform": {"type": "string", "enum": list(load_formats())},
                        "format": {"type": "string", "enum": _format_names()},
                    },
                    "required": ["platform", "format"],
                },
            ]
        }
    },
)
#: The body of POST /api/social: read by build_social and by the OpenAPI document.
SOCIAL_REQUEST = Shape(
    (
        *SOURCE_FIELDS,
        TARGETS,
        CROP,
        FOCAL,
        FILL,
        FILL_COLOR,
        Field(
            "output_format",
            "string",
            "png falls back to JPEG over the platform's byte limit",
            nullable=True,
            default="jpeg",
            enum=OUTPUT_FORMATS,
        ),  # fmt: skip
        Field("overlay", "boolean", "draw the safe zone on the exported images", nullable=True, default=False),
        SESSION,
    ),
    description="A social-formats job: one image cut for several platforms.",
)
#: The query of GET /api/social/preview: read by the view and by the OpenAPI document.
PREVIEW_QUERY = (
    Field("image_id", "string", "a gallery image", required=True),
    Field("platform", "string", required=True, enum=lambda env: list(load_formats())),
    Field("format", "string", "a format of that platform", required=True, enum=lambda env: _format_names()),
    *(replace(f, nullable=False) for f in (CROP, FILL, FILL_COLOR)),  # a query value is never null
    Field("focal_x", "number", "crop focal: 0..1 from the left (with focal_y)", minimum=0, maximum=1),
    Field("focal_y", "number", "crop focal: 0..1 from the top (with focal_x)", minimum=0, maximum=1),
)


def parse_target(value: Any, i: int) -> SocialFormat:
    where = f"targets[{i}]."
    if isinstance(value, str) and "/" in value:
        platform, fmt = value.split("/", 1)
    elif isinstance(value, dict):
        platform, fmt = value.get("platform"), value.get("format")
    else:
        raise ValidationError(f"targets[{i}]", "each target is 'platform/format' or {platform, format}")
    return find_format(platform, fmt, where)


def parse_focal(value: Any, name: str = "focal") -> tuple[float, float]:
    if not isinstance(value, dict):
        raise ValidationError(name, f"{name} must be {{x, y}} with each between 0 and 1")
    point = []
    for axis in (FOCAL_X, FOCAL_Y):
        v = value.get(axis.name.split(".")[1])
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise axis.fail("", v)
        point.append(float(axis.check_bounds(v)))
    return point[0], point[1]


@dataclass(frozen=True)
class CropOptions:
    crop: str = "smart"
    focal: tuple[float, float] | None = None
    fill: str = "blur"
    fill_color: str = "#000000"

    def to_json(self) -> dict[str, Any]:
        return {"crop": self.crop, "focal": list(self.focal) if self.focal else None, "fill": self.fill,
                "fill_color": self.fill_color}  # fmt: skip


def parse_options(body: dict[str, Any]) -> CropOptions:
    crop = read(body, CROP)
    focal = None
    if crop == "focal" or body.get("focal") is not None:
        if body.get("focal") is None:
            raise ValidationError("focal", "crop focal needs focal {x, y} (0..1)")
        focal = parse_focal(body.get("focal"))
    return CropOptions(crop, focal, read(body, FILL), read(body, FILL_COLOR))


def build_social(body: Any, sources: SourceFinder) -> ToolJob:
    """The social-formats job of a body, or ValidationError naming the field."""
    body = check_fields(body, SOCIAL_REQUEST)
    session = read(body, SESSION)
    targets = body.get("targets")
    if not isinstance(targets, list) or len(targets) < (TARGETS.min_items or 1):
        raise ValidationError("targets", "targets must list at least one 'platform/format'")
    if len(targets) > MAX_TARGETS:
        raise ValidationError("targets", f"at most {MAX_TARGETS} targets in one job")
    formats = [parse_target(t, i) for i, t in enumerate(targets)]
    options = parse_options(body)
    output = read(body, SOCIAL_REQUEST["output_format"])
    overlay = read(body, SOCIAL_REQUEST["overlay"])
    source = sources.source(body)
    tool = {
        "source": source.to_json(),
        "targets": [f.id for f in formats],
        "options": options.to_json(),
        "output_format": output,
        "overlay": overlay,
    }
    first = formats[0]
    prompt = source.prompt or f"social formats of {source.path}"
    request = tool_request(prompt, LOCAL, "social", first.width, first.height, len(formats), source.seed)
    return ToolJob(request, tool, session)


# --- the image work ------------------------------------------------------------------
def interest_map(image: Image.Image) -> Image.Image:
    """Where the detail is: edge strength of a small grey copy (border cleared)."""
    small = image.convert("L")
    small.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE), Image.Resampling.BILINEAR)
    edges = small.filter(ImageFilter.FIND_EDGES).filter(ImageFilter.BoxBlur(1))
    draw = ImageDraw.Draw(edges)
    draw.rectangle((0, 0, edges.width - 1, edges.height - 1), outline=0, width=2)  # filter artefacts at the rim
    return edges


def _best_offset(profile: list[float], window: int) -> int:
    """Start of the window of ``window`` cells with the largest sum; ties go to the centre."""
    if window >= len(profile):
        return 0
    total = sum(profile[:window])
    best, best_at = total, 0
    centre = (len(profile) - window) / 2
    for start in range(1, len(profile) - window + 1):
        total += profile[start + window - 1] - profile[start - 1]
        if total > best + 1e-9 or (abs(total - best) <= 1e-9 and abs(start - centre) < abs(best_at - centre)):
            best, best_at = total, start
    return best_at


def crop_box(image: Image.Image, width: int, height: int, options: CropOptions) -> tuple[int, int, int, int]:
    """The largest box of the target's shape, placed by the crop mode."""
    W, H = image.size
    target = width / height
    if W / H > target:
        bw, bh = max(1, round(H * target)), H
    else:
        bw, bh = W, max(1, round(W / target))
    if options.crop == "focal" and options.focal:
        cx, cy = options.focal[0] * W, options.focal[1] * H
        x, y = cx - bw / 2, cy - bh / 2
    elif options.crop == "smart":
        interest = interest_map(image)
        sx, sy = interest.width / W, interest.height / H
        data = interest.load()
        if bw < W:
            cols = [sum(data[i, j] for j in range(interest.height)) for i in range(interest.width)]
            x, y = _best_offset(cols, max(1, round(bw * sx))) / sx, 0.0
        else:
            rows = [sum(data[i, j] for i in range(interest.width)) for j in range(interest.height)]
            x, y = 0.0, _best_offset(rows, max(1, round(bh * sy))) / sy
    else:
        x, y = (W - bw) / 2, (H - bh) / 2
    x = int(round(min(max(x, 0), W - bw)))
    y = int(round(min(max(y, 0), H - bh)))
    return x, y, x + bw, y + bh


def render(image: Image.Image, fmt: SocialFormat, options: CropOptions) -> Image.Image:
    """The image at exactly the format's size, cut or fitted as the options say."""
    size = (fmt.width, fmt.height)
    if options.crop == "fit":
        if options.fill == "solid":
            canvas = Image.new("RGB", size, options.fill_color)
        else:
            cover = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.BILINEAR)
            canvas = cover.filter(ImageFilter.GaussianBlur(max(8, min(size) // 25)))
        inner = ImageOps.contain(image, size, Image.Resampling.LANCZOS)
        at = ((size[0] - inner.width) // 2, (size[1] - inner.height) // 2)
        canvas.paste(inner.convert("RGB"), at, inner if inner.mode == "RGBA" else None)
        return canvas
    box = crop_box(image, fmt.width, fmt.height, options)
    return image.crop(box).resize(size, Image.Resampling.LANCZOS).convert("RGB")


def draw_safe_zone(image: Image.Image, zone: dict[str, float]) -> Image.Image:
    """Shade the margins the platform's UI covers and outline the safe area."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    W, H = base.size
    left, right = round(zone["left"] * W), W - round(zone["right"] * W)
    top, bottom = round(zone["top"] * H), H - round(zone["bottom"] * H)
    shade = (220, 40, 60, 90)
    draw.rectangle((0, 0, W, top), fill=shade)
    draw.rectangle((0, bottom, W, H), fill=shade)
    draw.rectangle((0, top, left, bottom), fill=shade)
    draw.rectangle((right, top, W, bottom), fill=shade)
    draw.rectangle((left, top, right - 1, bottom - 1), outline=(255, 255, 255, 220), width=max(2, W // 400))
    return Image.alpha_composite(base, layer).convert("RGB")


#: bytes the gallery adds to a JPEG when it embeds the metadata (storage.metadata): its
#: EXIF is one APP1 segment, 64 KB at most
JPEG_METADATA_ROOM = 0xFFFF + 2


def png_metadata_room(request: GenerationRequest, parameters: dict[str, Any]) -> int:
    """Bytes the gallery may add to a PNG when it embeds the metadata: the source's
    parameters in the infotext and in the JSON, the request in the JSON, and the rest
    (ids, times, the tool's settings: a few KB)."""
    texts = json.dumps([request.to_json(), parameters], ensure_ascii=False).encode("utf-8")
    return 2 * len(texts) + 16 * 1024


def encode_within(
    image: Image.Image, max_bytes: int, output: str, png_room: int = 64 * 1024
) -> tuple[bytes, dict[str, Any]]:
    """PNG when asked and small enough, else JPEG stepped down in quality until it fits,
    with room left for the metadata the gallery embeds (the file saved is the one a user
    uploads: it is what must be within the platform's limit)."""
    if output == "png":
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=6)
        if buf.tell() <= max_bytes - png_room:
            return buf.getvalue(), {"format": "png"}
    for quality in QUALITIES:
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="JPEG", quality=quality, optimize=True, progressive=True)
        if buf.tell() <= max_bytes - JPEG_METADATA_ROOM:
            return buf.getvalue(), {"format": "jpeg", "quality": quality}
    raise ProviderError(
        "invalid_request", f"the image cannot be made smaller than {max_bytes:,} bytes even at JPEG quality "
        f"{QUALITIES[-1]}", retryable=False
    )  # fmt: skip


def preview(image: Image.Image, fmt: SocialFormat, options: CropOptions, side: int = 540) -> bytes:
    """A small JPEG of the cut with the safe zone drawn on it (never saved anywhere)."""
    scale = min(1.0, side / max(fmt.width, fmt.height))
    small = SocialFormat(fmt.platform, fmt.format, fmt.label, max(1, round(fmt.width * scale)),
                         max(1, round(fmt.height * scale)), fmt.safe_zone, fmt.max_bytes)  # fmt: skip
    work = image.copy()
    work.thumbnail((max(small.width, small.height) * 3, max(small.width, small.height) * 3))
    out = draw_safe_zone(render(work, small, options), fmt.safe_zone)
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=82)
    return buf.getvalue()


class SocialTool:
    """The social-formats tool: POST /api/social."""

    kind = "social"
    label = "Social"
    summary = "Cut a gallery image for social platforms"
    description = "Free and needs no provider (with ATELIER_REDIS_URL: a worker serving `local`)."
    request = SOCIAL_REQUEST

    def build(self, body: Any, ctx: ToolContext) -> ToolJob:
        return build_social(body, ctx.sources)

    def estimate(self, job: ToolJob, registry: ProviderRegistry) -> float | None:
        return 0.0

    def producer(self, registry: ProviderRegistry, read_source: SourceReader) -> ToolProducer:
        return SocialProducer(read_source)


class SocialProducer:
    def __init__(self, read_source: SourceReader) -> None:
        self.read_source = read_source

    def cpu_bound(self, tool: dict[str, Any]) -> bool:
        return True

    def produce(
        self, tool: dict[str, Any], request: GenerationRequest, ctx: GenerationContext
    ) -> Iterator[GeneratedImage]:
        source = tool["source"]
        original = self.read_source(source)
        image = open_image(original)
        parameters = source_parameters(original)
        o = tool["options"]
        options = CropOptions(o["crop"], tuple(o["focal"]) if o.get("focal") else None, o["fill"], o["fill_color"])
        total = len(tool["targets"])
        for index, target in enumerate(tool["targets"]):
            ctx.raise_if_cancelled()
            platform, name = target.split("/", 1)
            fmt = find_format(platform, name)
            ctx.step(index, 0, 1, f"{fmt.platform} {fmt.label} ({index + 1} of {total})")
            out = render(image, fmt, options)
            if tool.get("overlay"):
                out = draw_safe_zone(out, fmt.safe_zone)
            room = png_metadata_room(request, parameters)
            data, encoding = encode_within(out, fmt.max_bytes, tool.get("output_format", "jpeg"), room)
            ctx.step(index, 1, 1, f"{fmt.platform} {fmt.label} done")
            yield ToolImage(
                index=index,
                data=data,
                seed=request.seed,  # the source's, as an upscale's: the file's infotext states it
                extra={
                    "source": {
                        **source,
                        "operation": "social",
                        "platform": fmt.platform,
                        "format": fmt.format,
                        **parameters,
                    },
                    "tool": {
                        "kind": "social",
                        **options.to_json(),
                        "overlay": bool(tool.get("overlay")),
                        "safe_zone": fmt.safe_zone,
                        "max_bytes": fmt.max_bytes,
                        **encoding,
                    },
                },
            )
