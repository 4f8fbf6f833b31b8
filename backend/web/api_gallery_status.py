"""GET /api/gallery/status: the index being built in the background, and how the folder is watched."""

from __future__ import annotations

from flask import Blueprint, jsonify

from backend import shapes
from backend.web.context import studio
from backend.web.openapi import api_route

bp = Blueprint("gallery_status", __name__, url_prefix="/api")


@bp.get("/gallery/status")
@api_route(
    "The gallery's index (being built in the background after a start?) and how its folder is watched",
    responses={200: "GalleryStatus"},
    tags=("images",),
)
def gallery_status():
    s = studio()
    choice = s.watcher.choice
    answer: shapes.GalleryStatus = {
        **s.indexer.status(),
        "watch": "events" if choice.mode == "events" else "poll",
        "watch_reason": choice.reason,
        "images": s.gallery.index.count(),
    }
    return jsonify(answer)
