"""Boards over HTTP: list, make, rename, share, choose a cover, delete; add and take out images.

A member sees their own boards and the shared ones (an admin every board); another's
private board is not found (404), and a shared board the caller does not own is read-only
(403). The images of a board are listed and exported with ``?board=<id>`` on
``GET /api/images`` and ``GET /api/export.zip``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, jsonify

from backend.services.boards import (
    MAX_NAME,
    VISIBILITIES,
    BoardNotFound,
    BoardReadOnly,
    ImageNotFound,
    check_name,
    check_visibility,
)
from backend.services.gallery_query import ID_PATTERN
from backend.services.schema import Field, Shape, ValidationError
from backend.storage.boards import BoardRecord
from backend.web.context import json_body, no_body, principal, studio
from backend.web.errors import ApiError
from backend.web.openapi import Reply, api_route

bp = Blueprint("boards", __name__, url_prefix="/api/boards")

TAGS = ("boards",)
MAX_IDS = 1000
BOARD_ID = Field("board_id", "string", "the board's id")
_NAME = Field("name", "string", "what the board is called", min_length=1, max_length=MAX_NAME)
_VISIBILITY = Field(
    "visibility",
    "string",
    "private: its owner (and admins) only; shared: every user sees it, only its owner changes it",
    enum=VISIBILITIES,
    message="visibility must be private or shared",
)
NEW_BOARD = Shape((replace(_NAME, required=True), replace(_VISIBILITY, default="private")))
BOARD_PATCH = Shape(
    (
        _NAME,
        _VISIBILITY,
        Field("cover_id", "string", "an image of the board shown for it; null: none", nullable=True),
    )
)
_ID_ITEM = Field("ids", "string", "an image id", pattern=ID_PATTERN, message="ids must be a list of image ids")
BOARD_IMAGES = Shape(
    (
        Field(
            "ids",
            "array",
            "image ids",
            required=True,
            min_items=1,
            max_items=MAX_IDS,
            items=_ID_ITEM,
            message=f"ids must be a list of 1 to {MAX_IDS} image ids",
        ),
    )
)
_NEW = {"board_id": "$response.body#/board/id"}
LINKS = {"images": ("boards.add_images.post", _NEW), "update": ("boards.update_board.patch", _NEW)}


def _json(board: BoardRecord) -> Any:
    return studio().boards.board_json(board, principal())


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no board with this id")


def _read_only() -> ApiError:
    return ApiError(403, "forbidden", "this board is shared with you read-only; only its owner changes it")


@bp.get("")
@api_route("Boards: your own and the shared ones (admins: all)", responses={200: "Boards"}, tags=TAGS)
def list_boards():
    viewer = principal()
    return jsonify({"boards": [studio().boards.board_json(b, viewer) for b in studio().boards.list(viewer)]})


@bp.post("")
@api_route(
    "Make a board",
    body=NEW_BOARD,
    responses={201: Reply("BoardEnvelope", "The board", links=LINKS)},
    errors=(400, 413, 422),
    tags=TAGS,
)
def create_board():
    body = NEW_BOARD.check_object(json_body())
    name = check_name(body.get("name"))
    visibility = check_visibility(body.get("visibility") or "private")
    board = studio().boards.create(principal(), name, visibility)
    return jsonify({"board": _json(board)}), 201


@bp.patch("/<board_id>")
@api_route(
    "Rename a board, share or unshare it, choose its cover",
    path=(BOARD_ID,),
    body=BOARD_PATCH,
    responses={200: "BoardEnvelope"},
    errors=(400, 403, 404, 413, 422),
    tags=TAGS,
)
def update_board(board_id: str):
    body = BOARD_PATCH.check_object(json_body())
    name = check_name(body["name"]) if "name" in body else None
    visibility = check_visibility(body["visibility"]) if "visibility" in body else None
    cover: Any = False
    if "cover_id" in body:
        cover = body["cover_id"]
        if cover is not None and (not isinstance(cover, str) or not 1 <= len(cover) <= 64):
            raise ValidationError("cover_id", "cover_id must be the id of an image in this board, or null")
    try:
        board = studio().boards.update(principal(), board_id, name, visibility, cover)
    except BoardNotFound:
        raise _not_found() from None
    except BoardReadOnly:
        raise _read_only() from None
    return jsonify({"board": _json(board)})


@bp.delete("/<board_id>")
@api_route(
    "Delete a board (its images stay in the gallery)",
    path=(BOARD_ID,),
    responses={204: Reply(None, "Deleted")},
    errors=(403, 404),
    tags=TAGS,
)
def delete_board(board_id: str):
    no_body()
    try:
        studio().boards.delete(principal(), board_id)
    except BoardNotFound:
        raise _not_found() from None
    except BoardReadOnly:
        raise _read_only() from None
    return "", 204


def _ids() -> list[str]:
    body = BOARD_IMAGES.check_object(json_body())
    ids = body.get("ids")
    if ids is None:
        raise BOARD_IMAGES["ids"].fail("")
    return list(dict.fromkeys(BOARD_IMAGES["ids"].check(ids)))


@bp.post("/<board_id>/images")
@api_route(
    "Add images to a board",
    description="Images you may see; an id of none (or of another's image) is a 404 and nothing is added.",
    path=(BOARD_ID,),
    body=BOARD_IMAGES,
    responses={200: "BoardEnvelope"},
    errors=(400, 403, 404, 413, 422),
    tags=TAGS,
)
def add_images(board_id: str):
    ids = _ids()
    try:
        board = studio().boards.add_images(principal(), board_id, ids)
    except BoardNotFound:
        raise _not_found() from None
    except BoardReadOnly:
        raise _read_only() from None
    except ImageNotFound as exc:
        raise ApiError(404, "not_found", f"no image with id {exc.image_id!r}", "ids") from None
    return jsonify({"board": _json(board)})


@bp.delete("/<board_id>/images")
@api_route(
    "Take images out of a board (they stay in the gallery)",
    path=(BOARD_ID,),
    body=BOARD_IMAGES,
    responses={200: "BoardEnvelope"},
    errors=(400, 403, 404, 413, 422),
    tags=TAGS,
)
def remove_images(board_id: str):
    ids = _ids()
    try:
        board = studio().boards.remove_images(principal(), board_id, ids)
    except BoardNotFound:
        raise _not_found() from None
    except BoardReadOnly:
        raise _read_only() from None
    return jsonify({"board": _json(board)})
