"""What the studio offers besides providers: health, styles, aspect ratios, templates."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict


class QueueSnapshot(TypedDict):
    queued: list[str | None]
    """job ids in queue order; with accounts, a member sees null for each job of someone else"""
    running: list[str | None]


class Health(TypedDict):
    status: Literal["ok"]
    version: str
    async_mode: str
    default_provider: str
    queue: QueueSnapshot


class Style(TypedDict):
    name: str
    label: str
    description: str
    prompt: str
    negative_prompt: str


class Styles(TypedDict):
    styles: list[Style]


class AspectRatio(TypedDict):
    id: str
    ratio: float


class AspectRatios(TypedDict):
    aspect_ratios: list[AspectRatio]


class Template(TypedDict):
    id: str
    name: str
    description: str
    prompt: str
    """with {subject} to fill in"""
    tags: list[str]
    provider: str
    model: str
    style: str
    aspect_ratio: str
    social_target: str | None
    width: int | None
    """null: its model is not installed"""
    height: int | None
    available: bool


class Templates(TypedDict):
    templates: list[Template]
