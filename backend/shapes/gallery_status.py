"""The gallery's own state: its index being built, and how the folder is watched."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict


class IndexStatus(TypedDict):
    indexing: bool
    """true while the index of the folder is being built in the background after a start"""
    indexed: int
    """image files indexed so far (all of them once ``indexing`` is false)"""
    total: int | None
    """image files in the folder; null until the background pass has walked it"""
    started_at: str | None
    finished_at: str | None
    seconds: float | None
    """how long the last index pass took"""


class GalleryStatus(IndexStatus):
    watch: Literal["events", "poll"]
    """how changes made by hand are noticed: the operating system's file events, or polling"""
    watch_reason: str
    """why: the setting, the folder's file system type, or the failure that made the watcher fall back"""
    images: int
    """images in the index now (what listings answer with)"""
