"""What workers on other machines report to the web server (ATELIER_REDIS_URL set).

Authenticated with the worker secret (``X-Atelier-Worker``), not the user token. The web
server writes the gallery and the job store; workers need no shared filesystem: a tool job's
worker reads the job's source images from here too.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import asdict

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import NotFound

from backend.providers.base import GeneratedImage, GenerationRequest, ProviderError
from backend.services.gallery import ImageRejected
from backend.services.remote_jobs import SourceNotInJob
from backend.web.context import json_body, studio
from backend.web.errors import ApiError

bp = Blueprint("internal", __name__, url_prefix="/internal/jobs")
HEADER = "X-Atelier-Worker"
MAX_IMAGE_BYTES = 64 * 1024 * 1024


@bp.before_request
def _worker_only():
    s = studio()
    if s.queue is None or s.worker_secret is None:
        raise NotFound()
    given = request.headers.get(HEADER, "")
    if not hmac.compare_digest(given.encode(), s.worker_secret.encode()):
        raise ApiError(401, "unauthorized", "a valid worker secret is required")
    if request.content_length and request.content_length > MAX_IMAGE_BYTES:
        raise ApiError(413, "too_large", "image over the limit")
    request.max_content_length = MAX_IMAGE_BYTES
    request.max_form_memory_size = MAX_IMAGE_BYTES


def _worker() -> str:
    worker = request.headers.get("X-Atelier-Worker-Name", "")
    if not worker:
        raise ApiError(422, "validation_error", "the worker's name is missing", "worker")
    return worker


@bp.post("/<job_id>/start")
def start(job_id: str):
    s = studio()
    job = s.jobs.worker_started(job_id, _worker())  # type: ignore[attr-defined]
    return jsonify({"job": asdict(job), "last_seq": s.bus.last_seq(job_id)})


@bp.get("/<job_id>/sources/<image_id>")
def source(job_id: str, image_id: str):
    """A source image of the tool job this worker holds (only one its tool request names)."""
    s = studio()
    try:
        data = s.jobs.worker_source(job_id, _worker(), image_id)  # type: ignore[attr-defined]
    except SourceNotInJob as exc:
        raise ApiError(404, "unknown_source", str(exc)) from None
    except ProviderError as exc:  # deleted since the job was submitted
        raise ApiError(404, "source_gone", exc.message) from None
    return Response(data, mimetype="application/octet-stream", headers={"Cache-Control": "no-store"})


#: what a tool's image may add to its gallery metadata (as ToolImage.extra does in one process)
EXTRA_KEYS = {"source", "tool"}


@bp.post("/<job_id>/images")
def image(job_id: str):
    s = studio()
    upload = request.files.get("image")
    if upload is None or "meta" not in request.form:
        raise ApiError(422, "validation_error", "multipart fields image and meta are required", "image")
    meta = json.loads(request.form["meta"])
    served = GenerationRequest.from_json(meta["request"])
    generated = GeneratedImage(
        index=int(meta["index"]), data=upload.read(), seed=meta.get("seed"), metadata=meta.get("metadata") or {}
    )
    extra = meta.get("extra") or None
    if extra is not None and not (
        isinstance(extra, dict) and set(extra) <= EXTRA_KEYS and all(isinstance(v, dict) for v in extra.values())
    ):
        raise ApiError(422, "validation_error", "meta.extra must be an object of source and tool", "meta")
    try:
        saved = s.jobs.worker_image(job_id, _worker(), served, generated, extra)  # type: ignore[attr-defined]
    except ImageRejected as exc:
        raise ApiError(422, "bad_response", str(exc)) from None
    except OSError as exc:
        raise ApiError(
            507, "save_failed", f"the image could not be saved to the gallery: {exc.strerror or exc}"
        ) from None
    return jsonify({"image": saved})


@bp.post("/<job_id>/finish")
def finish(job_id: str):
    s = studio()
    body = json_body()
    status = body.get("status")
    if status not in ("succeeded", "failed", "cancelled"):
        raise ApiError(422, "validation_error", "status must be succeeded, failed or cancelled", "status")
    job = s.jobs.worker_finished(job_id, _worker(), status, body.get("error"))  # type: ignore[attr-defined]
    return jsonify({"job": s.jobs.job_json(job)})
