"""The gallery over HTTP: the listing, one image, and the files themselves."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request, send_file

from backend.services.gallery import image_json
from backend.web.context import int_arg, studio
from backend.web.errors import ApiError

bp = Blueprint("images", __name__)

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


@bp.get("/api/images")
def list_images():
    limit = int_arg("limit", 50, 1, 200)
    rows, next_cursor = studio().gallery.page(limit, request.args.get("cursor") or None)
    return jsonify({"items": [image_json(r) for r in rows], "next_cursor": next_cursor})


@bp.get("/api/images/<image_id>")
def get_image(image_id: str):
    row = studio().gallery.get(image_id)
    if row is None:
        raise ApiError(404, "not_found", "no image with this id")
    return jsonify({"image": image_json(row), "metadata": row.metadata})


@bp.get("/images/<path:relpath>")
def image_file(relpath: str):
    path = studio().gallery.resolve(relpath)
    if path is None:
        abort(404)
    response = send_file(path, mimetype=MIME[path.suffix.lower()], conditional=True, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
