"""The gallery's answers: an image, pages of them, its details, trash and imports."""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict


class Image(TypedDict):
    """One image of the gallery."""

    id: str
    path: str
    """relative to the gallery folder"""
    url: str
    thumb_url: str
    thumb_512_url: str
    width: int | None
    height: int | None
    format: str | None
    bytes: int
    readable: bool
    favorite: bool
    prompt: str
    negative_prompt: str
    style: str | None
    aspect_ratio: str | None
    provider: str | None
    model: str | None
    seed: int | None
    job_id: str | None
    session: str | None
    created_at: str
    owner: str | None
    """whose image it is: the account whose folder holds it; null without accounts and for top-level files"""


class ImagePage(TypedDict):
    items: list[Image]
    next_cursor: str | None
    total: int


class ImageEnvelope(TypedDict):
    image: Image


class Parameters(TypedDict):
    """Generation parameters read from a file, the same fields whichever tool wrote them."""

    source: str
    """the tool that wrote them: atelier, a1111, comfyui, invokeai, …"""
    prompt: str
    negative_prompt: str
    seed: int | None
    seed_text: str | None
    """the seed in decimal, exact (a JavaScript number is not above 2^53); a seed the file
    wrote out of 0..2^64-1 is only here (``seed`` is null)"""
    model: str | None
    steps: int | None
    cfg_scale: float | None
    sampler: str | None
    width: int | None
    height: int | None
    raw: NotRequired[Any]
    """what the tool itself wrote, for the UI to show (bounded in depth and size)"""
    ignored: list[str]
    """each value of the file's metadata that was dropped (wrong type, out of range), and why"""


class ImageDetail(TypedDict):
    image: Image
    metadata: dict[str, Any] | None
    parameters: Parameters | None


class Deleted(TypedDict):
    deleted: list[str]
    not_found: NotRequired[list[str]]
    restorable_days: int


class TrashItem(TypedDict):
    id: str
    path: str
    deleted_at: float
    purge_at: float


class Trash(TypedDict):
    items: list[TrashItem]


class ParsedMetadata(TypedDict):
    file: str
    format: str | None
    width: int
    height: int
    found: bool
    parameters: Parameters | None


class Imported(TypedDict):
    images: list[Image]
