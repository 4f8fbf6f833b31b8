"""What workers on other machines report to the web server (ATELIER_REDIS_URL set).

Authenticated with the worker secret (``X-Atelier-Worker``), not the user token. The web
server writes the gallery and the job store; workers need no shared filesystem: a tool job's
worker reads the job's source images from here too.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import NotFound

from backend.providers.base import GeneratedImage, GenerationRequest, ProviderError
from backend.services.fallback import Moved
from backend.services.job_runner import ImageRefused
from backend.services.rq_executor import RqExecutor, SourceNotInJob
from backend.web.context import json_body, studio
from backend.web.errors import ApiError

bp = Blueprint("internal", __name__, url_prefix="/internal/jobs")
HEADER = "X-Atelier-Worker"
MAX_IMAGE_BYTES = 64 * 1024 * 1024


def _remote() -> RqExecutor:
    remote = studio().remote
    if remote is None:
        raise NotFound()
    return remote


@bp.before_request
def _worker_only():
    s = studio()
    if s.remote is None or s.worker_secret is None:
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
    job = _remote().started(job_id, _worker())
    return jsonify({"job": asdict(job), "last_seq": s.bus.last_seq(job_id)})


@bp.get("/<job_id>/sources/<image_id>")
def source(job_id: str, image_id: str):
    """A source image of the tool job this worker holds (only one its tool request names)."""
    try:
        data = _remote().source(job_id, _worker(), image_id)
    except SourceNotInJob as exc:
        raise ApiError(404, "unknown_source", str(exc)) from None
    except ProviderError as exc:  # deleted since the job was submitted
        raise ApiError(404, "source_gone", exc.message) from None
    return Response(data, mimetype="application/octet-stream", headers={"Cache-Control": "no-store"})


#: what a tool's image may add to its gallery metadata (as ToolImage.extra does in one process)
EXTRA_KEYS = {"source", "tool"}


def _image_meta(text: str) -> tuple[dict[str, Any], GenerationRequest]:
    """The ``meta`` of a worker's image and the request that served it, or a 422."""
    try:
        meta = json.loads(text)
        if not (
            isinstance(meta, dict)
            and type(meta.get("index")) is int
            and 0 <= meta["index"] < 10_000
            and (meta.get("seed") is None or type(meta["seed"]) is int)
            and isinstance(meta.get("metadata") or {}, dict)
            and isinstance(meta.get("request"), dict)
        ):
            raise ValueError("index, seed, metadata or request has the wrong type")
        served = GenerationRequest.from_json(meta["request"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ApiError(422, "validation_error", f"meta is not an image's description: {exc}", "meta") from None
    return meta, served


@bp.post("/<job_id>/images")
def image(job_id: str):
    upload = request.files.get("image")
    if upload is None or "meta" not in request.form:
        raise ApiError(422, "validation_error", "multipart fields image and meta are required", "image")
    meta, served = _image_meta(request.form["meta"])
    generated = GeneratedImage(
        index=meta["index"], data=upload.read(), seed=meta.get("seed"), metadata=meta.get("metadata") or {}
    )
    extra = meta.get("extra") or None
    if extra is not None and not (
        isinstance(extra, dict) and set(extra) <= EXTRA_KEYS and all(isinstance(v, dict) for v in extra.values())
    ):
        raise ApiError(422, "validation_error", "meta.extra must be an object of source and tool", "meta")
    try:
        saved = _remote().image(job_id, _worker(), served, generated, extra)
    except ImageRefused as exc:  # the worker fails the job with this code and message
        raise ApiError(507 if exc.code == "save_failed" else 422, exc.code, exc.message) from None
    return jsonify({"image": saved})


@bp.post("/<job_id>/fallback")
def fallback(job_id: str):
    """The worker's job goes on with its next provider (ATELIER_FALLBACK)."""
    try:
        move = Moved.from_json(json_body())
    except ValueError as exc:
        raise ApiError(422, "validation_error", f"a provider move: {exc}") from None
    _remote().moved(job_id, _worker(), move)
    return jsonify({"ok": True})


def _job_error(value: object) -> dict[str, object] | None:
    """A failed job's error as a worker reports it, or a 422."""
    if value is None:
        return None
    if not (
        isinstance(value, dict)
        and isinstance(value.get("code"), str)
        and isinstance(value.get("message"), str)
        and isinstance(value.get("retryable", True), bool)
    ):
        raise ApiError(422, "validation_error", "error must be an object with a code and a message", "error")
    return {"code": value["code"][:100], "message": value["message"][:2000], "retryable": value.get("retryable", True)}


@bp.post("/<job_id>/finish")
def finish(job_id: str):
    s = studio()
    body = json_body()
    status = body.get("status")
    if status not in ("succeeded", "failed", "cancelled"):
        raise ApiError(422, "validation_error", "status must be succeeded, failed or cancelled", "status")
    error = _job_error(body.get("error"))
    if (status == "failed") != (error is not None):
        raise ApiError(422, "validation_error", "error is required exactly when status is failed", "error")
    job = _remote().finished(job_id, _worker(), status, error)
    return jsonify({"job": s.jobs.job_json(job)})
