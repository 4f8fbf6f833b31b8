"""The OpenAI Images API under ``/v1``: ``POST /v1/images/generations``,
``POST /v1/images/edits``, ``GET /v1/models`` and ``GET /v1/models/<id>``.

Each route translates (services/openai_dialect.py, openai_models.py, openai_edit.py) and
calls what the studio's own routes call: a generation is built by ``build_generation_request``
and queued by ``submit_generation``; an edit goes through the studio's edit tool
(services/client_edits.py).
The call waits for its job (web/sync_answer.py). Every refusal, the edge's 401 and 429
included, is in OpenAI's error shape, so the ``openai`` SDK raises its own exception classes.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from backend.providers.base import GenerationRequest
from backend.services.client_edits import submit_edit
from backend.services.generations import submit_generation
from backend.services.jobs import JobConflict, JobNotFound
from backend.services.limits import LimitExceeded
from backend.services.openai_dialect import (
    Ask,
    OpenAIError,
    check_upload,
    client_tag,
    error_body,
    read_ask,
    render_job,
    size_warning,
    studio_body,
    warning_header,
)
from backend.services.openai_edit import edit_body
from backend.services.openai_models import ModelCatalog
from backend.services.rq_executor import QueueUnavailable
from backend.services.usage import BudgetExceeded
from backend.services.validation import ValidationError, Warning_, build_generation_request
from backend.storage.job_store import JobRecord
from backend.studio import Studio
from backend.web.context import json_body, principal, studio
from backend.web.errors import ApiError, LogBudget, one_line
from backend.web.rate_limits import refused
from backend.web.security import CORS_PREFIXES, ERROR_SHAPES, GUARDED_PREFIXES, SUBMISSION_PATHS
from backend.web.sync_answer import answer_when_done

log = logging.getLogger(__name__)
PREFIX = "/v1"
bp = Blueprint("openai", __name__, url_prefix=PREFIX)

#: the ``created`` of every model: when this server started
STARTED = int(time.time())
#: a studio field named in a refusal -> the OpenAI parameter it came from
PARAMS = {
    "aspect_ratio": "size",
    "provider": "model",
    "operation": "model",
    "image_id": "image",
    "references": "image",
}
#: the edge's refusal codes -> OpenAI's
EDGE_CODES = {"unauthorized": "invalid_api_key", "rate_limited": "rate_limit_exceeded"}
MIB = 1024 * 1024
#: images one edit may upload (OpenAI's own limit); the model's reference limit applies too
MAX_EDIT_UPLOADS = 16


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> Response:
    return Response(json.dumps(error_body(status, message, param, code)), status, mimetype="application/json")


def _edge_refusal(status: int, code: str, message: str) -> Response:
    return _error(status, message, None, EDGE_CODES.get(code, code))


ERROR_SHAPES[PREFIX] = _edge_refusal
SUBMISSION_PATHS.add(f"{PREFIX}/images/generations", f"{PREFIX}/images/edits")
GUARDED_PREFIXES.append(f"{PREFIX}/")  # a page of another origin may not spend the studio's budget
CORS_PREFIXES.append(f"{PREFIX}/")  # one the owner allowed (ATELIER_ALLOWED_ORIGINS) may call it


# --- models -----------------------------------------------------------------------------


def _catalog(s: Studio) -> ModelCatalog:
    return ModelCatalog(s.registry, s.settings.model_aliases, s.settings.default_provider, STARTED)


def _json(body: Any) -> Response:
    return Response(json.dumps(body), mimetype="application/json")


@bp.get("/models")
def list_models():
    return _json(_catalog(studio()).listing())


@bp.get("/models/<path:name>")
def get_model(name: str):
    return _json(_catalog(studio()).one(name))


# --- generations and edits ----------------------------------------------------------------


def _answer(s: Studio, job: JobRecord, ask: Ask, size: tuple[int, int]) -> Response:
    url_root = request.url_root  # the studio's address as the client reached it (proxy, base path)
    read = s.gallery.read_image
    response = answer_when_done(s, job, lambda done: render_job(done, ask, read, url_root))
    response.headers["X-Atelier-Job"] = job.id
    response.headers["X-Atelier-Size"] = f"{size[0]}x{size[1]}"
    if job.warnings:
        response.headers["X-Atelier-Warning"] = warning_header(job.warnings)
    return response


@bp.post("/images/generations")
def generations():
    s = studio()
    ask = read_ask(json_body())
    catalog = _catalog(s)
    model = catalog.require(ask.model)
    body = studio_body(ask, model, catalog.info(model))
    req, warnings, session = build_generation_request(body, s.registry, s.settings.default_provider)
    size_warning(ask, req.width, req.height)
    job = submit_generation(
        s.jobs, s.usage, req, warnings + ask.warnings, session, client_tag(ask.user), principal=principal()
    )
    return _answer(s, job, ask, (req.width, req.height))


def _edit_form(s: Studio) -> tuple[dict[str, str], list[bytes], bytes | None]:
    """The text fields, images and mask of an edits request; bounded before it is read."""
    limit = s.settings.max_upload_mb * MIB
    too_large = OpenAIError(
        413, f"the request is over {s.settings.max_upload_mb} MB (ATELIER_MAX_UPLOAD_MB)", "image", "request_too_large"
    )
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    if request.mimetype != "multipart/form-data":
        raise OpenAIError(
            400,
            "send the edit as multipart/form-data with the image in the field 'image'",
            "image",
            "invalid_content_type",
        )
    try:
        files = request.files.getlist("image") + request.files.getlist("image[]")
        masks = request.files.getlist("mask")
        fields = {name: request.form.get(name, "") for name in request.form}
    except RequestEntityTooLarge:
        raise too_large from None
    if not files:
        raise OpenAIError(
            400, "you must provide an image (the field 'image' or 'image[]')", "image", "missing_required_parameter"
        )
    if len(files) > MAX_EDIT_UPLOADS:
        raise OpenAIError(400, f"at most {MAX_EDIT_UPLOADS} images per edit", "image", "invalid_value")
    images = [upload.stream.read(limit + 1) for upload in files]
    mask = masks[0].stream.read(limit + 1) if masks else None
    if any(len(data) > limit for data in [*images, mask or b""]):
        raise too_large
    return fields, images, mask


@bp.post("/images/edits")
def edits():
    s = studio()
    fields, images, mask = _edit_form(s)
    ask = read_ask(fields, form=True)
    sizes = [check_upload(data, "image") for data in images]
    edit = edit_body(ask, sizes, mask, _catalog(s))
    made: list[tuple[int, int]] = []

    def late(req: GenerationRequest) -> list[Warning_]:
        made.append((req.width, req.height))
        size_warning(ask, req.width, req.height)
        return ask.warnings

    job = submit_edit(s, edit, images, [], client_tag(ask.user), late, principal())
    return _answer(s, job, ask, made[-1])


# --- errors in OpenAI's shape ---------------------------------------------------------------


@bp.route("", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    raise OpenAIError(404, f"Invalid URL ({request.method} {PREFIX}/{one_line(rest, 200)})", None, "unknown_url")


@bp.errorhandler(OpenAIError)
def _openai(e: OpenAIError):
    return _error(e.status, e.message, e.param, e.code)


@bp.errorhandler(ValidationError)
def _validation(e: ValidationError):
    return _error(400, e.message, PARAMS.get(e.field or "", e.field), "invalid_value")


@bp.errorhandler(ApiError)
def _api(e: ApiError):
    return _error(e.status, e.message, e.field, e.code)


@bp.errorhandler(BudgetExceeded)
def _budget(e: BudgetExceeded):
    return _error(402, e.message, None, "budget_exceeded")


@bp.errorhandler(LimitExceeded)
def _limited(e: LimitExceeded):
    return refused(e)  # 429 with Retry-After, in this API's error shape


@bp.errorhandler(QueueUnavailable)
def _queue(e: QueueUnavailable):
    response = _error(503, str(e), None, "queue_unavailable")
    response.headers["Retry-After"] = "5"
    return response


@bp.errorhandler(JobNotFound)
def _job_gone(e: JobNotFound):
    return _error(500, "the job went away while the request waited for it", None, "job_lost")


@bp.errorhandler(JobConflict)
def _conflict(e: JobConflict):
    return _error(409, str(e), None, "conflict")


@bp.errorhandler(HTTPException)
def _http(e: HTTPException):
    status = e.code or 500
    if isinstance(e, RequestEntityTooLarge):
        return _error(413, "the request is too large", None, "request_too_large")
    return _error(status, e.description or e.name, None, (e.name or "error").lower().replace(" ", "_"))


_unexpected_logged = LogBudget(lines=10, per_seconds=60)


@bp.errorhandler(Exception)
def _unexpected(e: Exception):
    suppressed = _unexpected_logged.take()
    if suppressed is not None:
        log.exception("unhandled error on %s %s", request.method, one_line(request.path))
    return _error(500, "the server failed to handle this request", None, "internal_error")
