"""The gallery over HTTP: listing and search, one image, favourites, trash, thumbnails
and the files themselves."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from backend.services.boards import BoardNotFound
from backend.services.gallery import NotInTrash, thumb_url
from backend.services.gallery_query import CURSOR, FILTERS, LIMIT, SELECTION, SELECTION_BY_NAME, build_query
from backend.services.ownership import owner_filter
from backend.services.schema import Field, Shape
from backend.services.styles import load_styles
from backend.services.thumbnails import SIZES
from backend.services.validation import ValidationError
from backend.storage.files import RefusedFile
from backend.storage.gallery_index import ImageRow
from backend.web.context import int_arg, json_body, principal, studio
from backend.web.errors import ApiError
from backend.web.openapi import Reply, api_route

bp = Blueprint("images", __name__)

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
IMMUTABLE = "public, max-age=31536000, immutable"
MAX_BULK = 1000
_UNSAFE_IN_HEADER = re.compile(r'[\x00-\x1f\x7f"\\]')


def known_values(name: str, s: Any = None) -> set[str]:
    """Values a provider / style filter may take: what the studio offers or the index holds."""
    s = s or studio()
    if name == "provider":
        return set(s.registry.ids()) | s.gallery.index.distinct("provider")
    return set(load_styles()) | {"none"} | s.gallery.index.distinct("style")


def _with_known_values(field: Field) -> Field:
    if field.name in ("provider", "style"):
        return replace(field, enum=lambda s, name=field.name: sorted(known_values(name, s)))
    return field


#: the selection parameters as the document shows them (provider/style enums from the studio)
SELECTION_PARAMS = tuple(_with_known_values(f) for f in SELECTION)
IMAGE_ID = Field("image_id", "string", "the image's id")
FAVORITE_PATCH = Shape((Field("favorite", "boolean", "mark or unmark as a favourite", required=True),))
IDS_ITEM = Field("ids", "string", "an image id", message="ids must be a non-empty list of image ids")
BULK_DELETE = Shape(
    (
        Field(
            "ids",
            "array",
            "image ids",
            required=True,
            min_items=1,
            max_items=MAX_BULK,
            items=IDS_ITEM,
            message="ids must be a non-empty list of image ids",
        ),
    ),
    additional=True,
)
TAGS = ("images",)


def listing_query(allowed: tuple[str, ...] | None = None):
    """The selection of a listing or an export, narrowed to a board (``board``) and to what
    the caller may see: another's board is not found (404), another's images are not there."""
    kwargs = {"allowed": allowed} if allowed else {}
    query = build_query(request.args, known_values, **kwargs)
    s, viewer = studio(), principal()
    board = SELECTION_BY_NAME["board"].check_bounds(request.args.get("board") or None)
    if board is not None:
        try:
            s.boards.select(query, viewer, board)
        except BoardNotFound:
            raise ApiError(404, "not_found", "no board with this id", "board") from None
    return s.boards.scope(query, viewer)


@bp.get("/api/images")
@api_route(
    "List and search the gallery",
    query=(LIMIT, CURSOR, *SELECTION_PARAMS),
    responses={200: "ImagePage"},
    errors=(404, 422),
    tags=TAGS,
)
def list_images():
    limit = int_arg(LIMIT)
    query = listing_query()
    gallery = studio().gallery
    rows, next_cursor = gallery.page(limit, request.args.get("cursor") or None, query, metadata=False)
    body = {"items": [gallery.json(r) for r in rows], "next_cursor": next_cursor, "total": gallery.index.total(query)}
    # the bytes jsonify writes (compact, ASCII), in half its time for a page of 1,000
    return Response(json.dumps(body, separators=(",", ":")) + "\n", mimetype="application/json")


NDJSON = "application/x-ndjson"
_NDJSON_BATCH = 500  # lines per chunk written: one index batch


@bp.get("/api/images.ndjson")
@api_route(
    "The whole listing, streamed: one image (as in ImagePage's items) per line",
    query=SELECTION_PARAMS,
    responses={
        200: Reply(
            {"type": "string"},
            "Newline-delimited JSON, one Image object per line, in the listing's order; "
            "X-Total-Count: how many matched when the stream began",
            NDJSON,
            headers={"X-Total-Count": {"schema": {"type": "integer", "minimum": 0}}},
        )
    },
    errors=(404, 422),
    tags=TAGS,
)
def list_images_ndjson():
    query = listing_query(allowed=FILTERS)
    gallery = studio().gallery
    index = gallery.index
    total = index.total(query)

    def lines() -> Iterator[bytes]:
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        batch: list[str] = []
        for row in index.iterate(query, _NDJSON_BATCH, metadata=False):  # keyset batches: exact under adds and deletes
            batch.append(encode(gallery.json(row)))
            if len(batch) >= _NDJSON_BATCH:
                yield ("\n".join(batch) + "\n").encode("utf-8")
                batch = []
        if batch:
            yield ("\n".join(batch) + "\n").encode("utf-8")

    response = Response(lines(), mimetype=NDJSON)
    response.headers["X-Total-Count"] = str(total)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _image_or_404(image_id: str) -> ImageRow:
    """The image, when the caller may see it; 404 as for none otherwise."""
    row = studio().boards.visible_image(principal(), image_id)
    if row is None:
        raise ApiError(404, "not_found", "no image with this id")
    return row


def _own_image_or_refuse(image_id: str) -> None:
    """Refuse a change to an image the caller may not change: 404 when it cannot see it,
    403 when it sees it through a shared board (sight, not ownership)."""
    s, viewer = studio(), principal()
    if s.boards.own_image(viewer, image_id) is None:
        _image_or_404(image_id)
        raise ApiError(403, "forbidden", "only its owner may change this image")


@bp.get("/api/images/<image_id>")
@api_route(
    "One image, its metadata and the parameters in its file",
    path=(IMAGE_ID,),
    responses={200: "ImageDetail"},
    errors=(404,),
    tags=TAGS,
)
def get_image(image_id: str):
    row = _image_or_404(image_id)
    s = studio()
    parameters = s.runtime.run_blocking(s.gallery.parameters, row)
    return jsonify({"image": s.gallery.json(row), "metadata": row.metadata, "parameters": parameters})


@bp.patch("/api/images/<image_id>")
@api_route(
    "Mark or unmark a favourite",
    path=(IMAGE_ID,),
    body=FAVORITE_PATCH,
    responses={200: "ImageEnvelope"},
    errors=(400, 404, 413, 422),
    tags=TAGS,
)
def update_image(image_id: str):
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationError("body", "the body must be a JSON object")
    unknown = set(body) - FAVORITE_PATCH.names
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationError(name, f"{name} cannot be changed; only favorite can")
    if FAVORITE_PATCH["favorite"].check_type(body.get("favorite")) is None:
        raise ValidationError("favorite", "favorite must be true or false")
    _own_image_or_refuse(image_id)
    row = studio().gallery.set_favorite(image_id, body["favorite"])
    if row is None:
        raise ApiError(404, "not_found", "no image with this id")
    return jsonify({"image": studio().gallery.json(row)})


@bp.delete("/api/images/<image_id>")
@api_route("Move an image to the trash", path=(IMAGE_ID,), responses={200: "Deleted"}, errors=(403, 404), tags=TAGS)
def delete_image(image_id: str):
    _own_image_or_refuse(image_id)
    deleted, _ = studio().gallery.move_to_trash([image_id])
    if not deleted:
        raise ApiError(404, "not_found", "no image with this id")
    return jsonify({"deleted": deleted, "restorable_days": studio().settings.trash_days})


@bp.post("/api/images/delete")
@api_route(
    "Move many images to the trash",
    body=BULK_DELETE,
    responses={200: "Deleted"},
    errors=(400, 413, 422),
    tags=TAGS,
)
def delete_images():
    body = json_body()
    field = BULK_DELETE["ids"]
    ids = body.get("ids") if isinstance(body, dict) else None
    if ids is None:
        raise field.fail("")
    if isinstance(ids, list) and len(ids) > MAX_BULK:
        raise ValidationError("ids", f"at most {MAX_BULK} ids at a time")
    field.check(ids)
    s, viewer = studio(), principal()
    wanted = list(dict.fromkeys(ids))
    mine = [i for i in wanted if s.boards.own_image(viewer, i) is not None]  # another's: as if none
    deleted, missing = s.gallery.move_to_trash(mine)
    missing += [i for i in wanted if i not in set(mine)]
    return jsonify({"deleted": deleted, "not_found": missing, "restorable_days": studio().settings.trash_days})


@bp.post("/api/images/<image_id>/restore")
@api_route(
    "Restore an image from the trash", path=(IMAGE_ID,), responses={200: "ImageEnvelope"}, errors=(404,), tags=TAGS
)
def restore_image(image_id: str):
    s = studio()
    entry = s.gallery.trash.find(image_id) if owner_filter(principal()) is not None else None
    if entry is not None and not _own_path(entry.path):
        raise ApiError(404, "not_found", "no image with this id in the trash")
    try:
        return jsonify({"image": s.gallery.json(s.gallery.restore(image_id))})
    except NotInTrash:
        raise ApiError(404, "not_found", "no image with this id in the trash") from None


@bp.get("/api/trash")
@api_route("What the trash holds", responses={200: "Trash"}, tags=TAGS)
def list_trash():
    s = studio()
    entries = [e for e in s.runtime.run_blocking(s.gallery.trash.entries) if _own_path(e.path)]
    days = s.settings.trash_days
    return jsonify(
        {
            "items": [
                {"id": e.id, "path": e.path, "deleted_at": e.deleted_at, "purge_at": e.deleted_at + days * 86400}
                for e in entries
            ]
        }
    )


def _own_path(path: str) -> bool:
    """Is the gallery path in the caller's own folder (an admin: any)?"""
    own = owner_filter(principal())
    return own is None or (bool(own) and path.startswith(own + "/"))


@bp.get("/thumbs/<int:size>/<image_id>/<hash_>.webp")
def thumbnail(size: int, image_id: str, hash_: str):
    if size not in SIZES:
        abort(404)
    s = studio()
    row = s.boards.visible_image(principal(), image_id)
    if row is None:
        abort(404)
    if hash_ != (row.content_hash or "0"):
        # the file changed since that URL was handed out: send the current one, uncached
        response = redirect(request.script_root + thumb_url(row, size), 302)  # under ATELIER_BASE_PATH too
        response.headers["Cache-Control"] = "no-store"
        return response
    etag = f"{hash_}-{size}"
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        cache = s.thumbnails
        path = cache.cached(hash_, size) if row.content_hash else None
        if path is None and row.content_hash:
            path = s.runtime.run_blocking(cache.ensure, lambda: s.gallery.read_image(row.path), hash_, size)
        try:
            f, st = cache.open(path) if path else (None, None)
        except OSError:
            f = None
        if f is None:
            response = Response(cache.placeholder(size), mimetype="image/webp")
            response.headers["Cache-Control"] = "no-cache"
            response.set_etag(etag)
            return response
        response = send_file(f, mimetype="image/webp", conditional=False, etag=False, max_age=None)
        response.content_length = st.st_size  # a file, not a path: Werkzeug does not know its length
    response.set_etag(etag)
    response.headers["Cache-Control"] = IMMUTABLE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/images/<path:relpath>")
def image_file(relpath: str):
    """The file itself, when it is a regular file inside the gallery: read through the
    descriptor that was checked, so nothing swapped in after the check is served. Another
    member's file is not found, as a missing one."""
    if not studio().boards.image_visible(principal(), relpath):
        abort(404)
    try:
        f, st = studio().gallery.open_image(relpath)
    except (RefusedFile, FileNotFoundError, NotADirectoryError):
        abort(404)
    except PermissionError:
        raise ApiError(403, "forbidden", "the server may not read this image file") from None
    except OSError:
        raise ApiError(404, "not_found", "this image file cannot be read") from None
    # the name goes into Content-Disposition: a hand-made file name with a control character
    # or a quote must neither break the header (Werkzeug raises: a 500) nor end it early
    name = _UNSAFE_IN_HEADER.sub("_", relpath.rsplit("/", 1)[-1])
    suffix = os.path.splitext(relpath)[1].lower()
    etag = f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"
    response = send_file(
        f,
        mimetype=MIME[suffix],
        conditional=False,
        max_age=3600,
        download_name=name,
        last_modified=st.st_mtime,
        etag=etag,
    )
    # given a file rather than a path, Werkzeug knows no length: give it the descriptor's,
    # so that Content-Length, 304 and Range requests work as they did
    response.content_length = st.st_size
    try:
        response = response.make_conditional(request.environ, accept_ranges=True, complete_length=st.st_size)
    except RequestedRangeNotSatisfiable:
        f.close()
        raise
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
