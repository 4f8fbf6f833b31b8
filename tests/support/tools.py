"""Helpers for the studio tool tests: real source images and job round trips."""

from __future__ import annotations

import base64
import io
import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def off_centre_subject(size=(1600, 900), centre=(1390, 450), radius=150) -> tuple[bytes, tuple[int, int, int, int]]:
    """A flat sky-blue field with one busy subject (a striped, speckled disc) near the
    right edge: PNG bytes and the subject's bounding box."""
    rng = random.Random(7)
    image = Image.new("RGB", size, (140, 180, 215))
    subject = Image.new("RGB", (radius * 2, radius * 2), (200, 60, 40))
    draw = ImageDraw.Draw(subject)
    for i in range(0, radius * 2, 12):
        draw.rectangle((i, 0, i + 5, radius * 2), fill=(250, 220, 60))
    for _ in range(900):
        x, y = rng.randrange(radius * 2), rng.randrange(radius * 2)
        draw.point((x, y), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    mask = Image.new("L", subject.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, radius * 2 - 1, radius * 2 - 1), fill=255)
    box = (centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius)
    image.paste(subject, box[:2], mask)
    return png(image), box


def gradient(size=(256, 192)) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    return png(image)


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def mask_png(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """Black (keep) with a white (change) rectangle."""
    image = Image.new("L", size, 0)
    ImageDraw.Draw(image).rectangle(box, fill=255)
    return png(image)


def import_image(srv, data: bytes, name: str = "source.png") -> dict:
    r = srv.post("/api/images/import", files={"file": (name, data, "image/png")})
    assert r.status_code == 201, r.text
    return r.json()["images"][0]


def run_tool(srv, route: str, **body) -> dict:
    r = srv.post(route, json=body)
    assert r.status_code == 202, r.text
    return srv.wait_job(r.json()["job"]["id"])


def error_of(srv, route: str, **body) -> tuple[int, dict]:
    r = srv.post(route, json=body)
    return r.status_code, r.json().get("error", {})


def gallery_metadata(gallery: Path, image: dict[str, Any]) -> dict[str, Any]:
    """The Atelier metadata embedded in a gallery image's file."""
    from backend.storage.metadata import read_embedded

    with Image.open(gallery / image["path"]) as im:
        return read_embedded(im)[1]


def check_social_outputs(
    gallery: Path, targets: list[str], images: list[dict[str, Any]], source: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each social output meets its format (exact size, byte limit) and names its source;
    returns their metadata for the caller's own checks."""
    from backend.services.tools.social import find_format

    found = []
    for target, image in zip(targets, images, strict=True):
        fmt = find_format(*target.split("/"))
        path = gallery / image["path"]
        assert path.stat().st_size <= fmt.max_bytes, target
        with Image.open(path) as im:
            assert im.size == (fmt.width, fmt.height), target
        atelier = gallery_metadata(gallery, image)
        assert atelier["source"] == {
            "image_id": source["id"],
            "path": source["path"],
            "operation": "social",
            "platform": fmt.platform,
            "format": fmt.format,
        }
        assert atelier["tool"]["safe_zone"] == fmt.safe_zone, target
        found.append(atelier)
    return found
