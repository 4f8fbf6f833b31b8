"""Boards: named collections of images, private or shared with every user."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict


class Board(TypedDict):
    """A named collection of images."""

    id: str
    name: str
    visibility: Literal["private", "shared"]
    """private: its owner (and admins) only; shared: every user sees it, only its owner changes it"""
    owner: str | None
    """the account that made it; null without accounts"""
    cover_id: str | None
    """the image shown for it; null: none chosen"""
    count: int
    """the images in it that the caller may see"""
    created_at: str
    writable: bool
    """whether the caller may rename, share, delete it and change its images"""


class BoardEnvelope(TypedDict):
    board: Board


class Boards(TypedDict):
    boards: list[Board]
    """the caller's own boards and the shared ones (admins: every board), oldest first"""
