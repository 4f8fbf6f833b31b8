"""Images in and out of the gallery: ZIP export, metadata parsing and import of uploads.

Uploads are the only requests allowed past the 1 MB body limit of the JSON API: these
routes raise it to ATELIER_MAX_UPLOAD_MB for their own request.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Response, jsonify, request
from PIL import Image
from werkzeug.exceptions import RequestEntityTooLarge

from backend.services.export import export_filename, selection_description
from backend.services.gallery import ImageRejected, inspect_image
from backend.services.gallery_query import FILTERS, ID_PATTERN
from backend.services.schema import Field, Shape, ValidationError
from backend.storage.gallery_index import ImageQuery
from backend.storage.image_params import extract_parameters
from backend.web.api_images import SELECTION_PARAMS, listing_query
from backend.web.context import json_body, principal, studio
from backend.web.errors import ApiError
from backend.web.openapi import Reply, api_route

bp = Blueprint("gallery_io", __name__)

MULTIPART_OVERHEAD = 64 * 1024
MAX_FILES = 100
TAGS = ("gallery",)
_IMAGE_FILE = Field("file", "string", "a PNG, JPEG or WebP file", format="binary")
#: the multipart form of both upload routes; ``files`` is the same as ``file``, repeated
UPLOAD_FORM = (
    _IMAGE_FILE,
    Field("files", "array", f"more image files (at most {MAX_FILES} in all)", items=_IMAGE_FILE, max_items=MAX_FILES),
)
UPLOAD_ERRORS = (413, 422)
_FIRST = {"image_id": "$response.body#/images/0/id"}
IMPORTED_LINKS = {
    "get": ("images.get_image.get", _FIRST),
    "favorite": ("images.update_image.patch", _FIRST),
    "delete": ("images.delete_image.delete", _FIRST),
    "restore": ("images.restore_image.post", _FIRST),
}


@bp.get("/api/export.zip")
@api_route(
    "A ZIP of the selected images with metadata.csv and metadata.json",
    query=SELECTION_PARAMS,
    responses={200: Reply({"type": "string", "format": "binary"}, "The ZIP, streamed", "application/zip")},
    errors=(404, 422),
    tags=TAGS,
)
def export_zip():
    query = listing_query(allowed=FILTERS)
    return _zip_response(studio().export.stream(query, selection_description(query)))


#: ids one POST export may list: 50,000 of Atelier's 16-character ids fit the 1 MB JSON body limit
MAX_EXPORT_IDS = 50_000
EXPORT_IDS = Shape(
    (
        Field(
            "ids",
            "array",
            f"the images, in the order the ZIP lists them (1 to {MAX_EXPORT_IDS:,}; repeats are kept once); "
            "ids not in the gallery are skipped and listed in metadata.json's not_found",
            required=True,
            min_items=1,
            max_items=MAX_EXPORT_IDS,
            items=Field("ids", "string", "an image id", pattern=ID_PATTERN, message="every id must be an image id"),
            message=lambda v: (
                "ids is empty: an empty selection exports nothing"
                if v == []
                else f"ids must be a list of 1 to {MAX_EXPORT_IDS:,} image ids"
            ),
        ),
    ),
    description="A selection of images by id",
)


@bp.post("/api/export.zip")
@api_route(
    "A ZIP of the images listed by id, in that order, with metadata.csv and metadata.json",
    body=EXPORT_IDS,
    responses={
        200: Reply(
            {"type": "string", "format": "binary"},
            "The ZIP, streamed; X-Not-Found-Count: how many of the ids were not in the gallery",
            "application/zip",
            headers={"X-Not-Found-Count": {"schema": {"type": "integer", "minimum": 0}}},
        )
    },
    errors=(400, 404, 413, 422),
    tags=TAGS,
)
def export_zip_by_ids():
    body = EXPORT_IDS.check_object(json_body())
    field = EXPORT_IDS["ids"]
    raw = body.get("ids")
    if raw is None:
        raise field.fail("")
    if not isinstance(raw, list):
        raise ValidationError("ids", f"ids must be a list of 1 to {MAX_EXPORT_IDS:,} image ids")
    ids = list(dict.fromkeys(field.check(raw)))
    s = studio()
    visible = s.boards.scope(ImageQuery(), principal())  # another's image is as unknown as none
    missing = s.export.missing(ids, visible)
    if len(missing) == len(ids):
        raise ApiError(404, "not_found", "none of these ids is an image in the gallery", "ids")
    description = {"ids": f"{len(ids)} ids" if len(ids) > 50 else ids}
    response = _zip_response(s.export.stream_ids(ids, description, visible))
    response.headers["X-Not-Found-Count"] = str(len(missing))
    return response


def _zip_response(chunks) -> Response:
    response = Response(chunks, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{export_filename()}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _uploads() -> list[tuple[str, bytes]]:
    """The uploaded files (form fields ``file`` / ``files``), each checked to be a whole
    PNG, JPEG or WebP under the limits; nothing is written here."""
    mb = studio().settings.max_upload_mb
    limit = mb * 1024 * 1024
    too_large = ApiError(413, "too_large", f"uploads are limited to {mb} MB (ATELIER_MAX_UPLOAD_MB)", "file")
    request.max_content_length = limit + MULTIPART_OVERHEAD
    if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
        raise too_large
    if request.mimetype != "multipart/form-data":
        raise ApiError(422, "validation_error", "send the image as multipart/form-data in the field 'file'", "file")
    try:
        files = request.files.getlist("file") + request.files.getlist("files")
    except RequestEntityTooLarge:
        raise too_large from None
    if not files:
        raise ApiError(422, "validation_error", "no file uploaded in the field 'file'", "file")
    if len(files) > UPLOAD_FORM[1].max_items:
        raise ApiError(422, "validation_error", f"at most {MAX_FILES} files at a time", "file")
    uploads = []
    for upload in files:
        data = upload.stream.read(limit + 1)
        if len(data) > limit:
            raise too_large
        uploads.append((upload.filename or "upload", data))
    s = studio()
    for name, data in uploads:
        try:
            s.runtime.run_blocking(inspect_image, data, "the upload is")
        except ImageRejected as exc:
            raise ApiError(422, "invalid_image", f"{name}: {exc}", "file") from None
    return uploads


def _parameters(data: bytes) -> tuple[str | None, int, int, dict[str, Any] | None]:
    """(format, width, height, parameters) of an upload; the parameters typed and bounded
    (its metadata is untrusted), None when it carries none."""
    with Image.open(io.BytesIO(data)) as im:
        params = extract_parameters(im)
        return im.format, im.width, im.height, params.to_json() if params else None


@bp.post("/api/metadata/parse")
@api_route(
    "Read the generation parameters in an image file; nothing is stored",
    form=UPLOAD_FORM,
    responses={200: "ParsedMetadata"},
    errors=UPLOAD_ERRORS,
    tags=TAGS,
)
def parse_metadata():
    name, data = _uploads()[0]
    fmt, width, height, parameters = studio().runtime.run_blocking(_parameters, data)
    return jsonify(
        {
            "file": name,
            "format": fmt,
            "width": width,
            "height": height,
            "found": parameters is not None,
            "parameters": parameters,
        }
    )


@bp.post("/api/images/import")
@api_route(
    "Copy image files into the gallery and index them",
    form=UPLOAD_FORM,
    responses={201: Reply("Imported", "The images, in the gallery", links=IMPORTED_LINKS)},
    errors=UPLOAD_ERRORS,
    tags=TAGS,
)
def import_images():
    uploads = _uploads()
    gallery = studio().gallery
    owner = principal().owner  # with accounts, into the caller's own folder
    return jsonify({"images": [gallery.json(gallery.import_upload(data, name, owner)) for name, data in uploads]}), 201
