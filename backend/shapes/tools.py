"""What the studio tools offer: the registered tools, edit operations and social formats."""

from __future__ import annotations

from typing_extensions import TypedDict


class ToolInfo(TypedDict):
    kind: str
    """the job kind"""
    label: str
    path: str
    """where its jobs are submitted (POST)"""
    summary: str


class Tools(TypedDict):
    tools: list[ToolInfo]


class EditProvider(TypedDict):
    id: str
    label: str
    available: bool
    reason: str | None
    fields: list[str]
    limits: dict[str, int]
    price_per_image: float | None


class EditOperation(TypedDict):
    id: str
    description: str
    fields: list[str]
    providers: list[EditProvider]


class EditOperations(TypedDict):
    operations: list[EditOperation]


class SafeZone(TypedDict):
    """Fractions kept clear of the UI."""

    top: float
    bottom: float
    left: float
    right: float


class SocialFormat(TypedDict):
    id: str
    """platform/format, for targets"""
    platform: str
    format: str
    label: str
    width: int
    height: int
    safe_zone: SafeZone
    max_bytes: int


class SocialPlatform(TypedDict):
    id: str
    label: str
    max_bytes: int
    formats: list[SocialFormat]


class SocialFormats(TypedDict):
    platforms: list[SocialPlatform]
