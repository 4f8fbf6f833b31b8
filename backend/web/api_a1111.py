"""The AUTOMATIC1111 API under ``/sdapi/v1``: what SillyTavern, Open WebUI and ``webuiapi``
speak. Each route translates (services/client_a1111.py) and calls the studio's services:
a txt2img call is a normal generation job, an img2img call a normal edit job, both tagged
``client="a1111"`` and answered when they end (web/sync_answer.py). Refusals take A1111's
shapes: FastAPI's ``{"detail": [...]}`` for a bad field (422) or an unknown path (404),
A1111's ``{"error", "detail", "body", "errors"}`` for the rest, 401 and 429 included.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import time
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from PIL import Image
from werkzeug.exceptions import HTTPException

from backend.providers.base import GenerationRequest, ModelInfo
from backend.services.client_a1111 import (
    AUTOMATIC,
    CLIENT,
    PREFIX,
    A1111Error,
    ClientStates,
    Made,
    Translated,
    as_png,
    checkpoint_json,
    default_checkpoint,
    echo,
    find_checkpoint,
    http_exception_body,
    info_json,
    job_error,
    loc_of,
    png_info,
    size_warning,
    translate_img2img,
    translate_txt2img,
)
from backend.services.client_edits import submit_edit
from backend.services.client_models import ClientModel, client_models
from backend.services.event_types import JobPreview
from backend.services.generations import submit_generation
from backend.services.jobs import JobConflict, JobNotFound
from backend.services.limits import LimitExceeded
from backend.services.rq_executor import QueueUnavailable
from backend.services.styles import load_styles
from backend.services.tools.common import decode_data_url
from backend.services.usage import BudgetExceeded
from backend.services.validation import MAX_IMAGES, ValidationError, Warning_, build_generation_request
from backend.storage.job_store import JobRecord
from backend.studio import Studio
from backend.web.api_tools import MAX_TOOL_BODY
from backend.web.context import json_body, no_body, principal, studio
from backend.web.errors import ApiError, LogBudget, one_line
from backend.web.rate_limits import refused
from backend.web.security import ERROR_SHAPES, GUARDED_PREFIXES, SUBMISSION_PATHS
from backend.web.sync_answer import answer_when_done

log = logging.getLogger(__name__)

bp = Blueprint("a1111", __name__, url_prefix=PREFIX)
STATES = "atelier_a1111_states"


def _refusal(status: int, code: str, message: str) -> Response:
    response = jsonify(http_exception_body(status, message))
    response.status_code = status
    return response


# the edge's 401 and 429 speak A1111 here; txt2img and img2img count as submissions
ERROR_SHAPES[PREFIX] = _refusal
SUBMISSION_PATHS.add(f"{PREFIX}/txt2img", f"{PREFIX}/img2img")
GUARDED_PREFIXES.append("/sdapi/")  # a page of another origin may not spend the studio's budget


@bp.record_once
def _keep_states(state: Any) -> None:
    state.app.extensions[STATES] = ClientStates()


def _states() -> ClientStates:
    return current_app.extensions[STATES]


def credential() -> str:
    """Who is calling, for the options and jobs kept per caller: a digest of the token or key
    it sent (never the secret), ``studio`` for the browser's cookie, ``anonymous`` when the
    studio is open (no ATELIER_TOKEN: whatever key a client insists on sending is ignored).
    With accounts: the API key's id, else the user's."""
    who = principal()
    if who.key_id is not None:
        return "key:" + who.key_id
    if who.user_id is not None:
        return "user:" + who.user_id
    token = current_app.extensions.get("atelier_token")
    if token is None:
        return "anonymous"
    secret = token.bearer(request.headers.get("Authorization"))
    if secret:
        return "key:" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return "studio"


def _object() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise A1111Error(422, "value is not a valid dict", (), "type_error.dict")
    return body


def _find(name: Any) -> ClientModel:
    s = studio()
    found = find_checkpoint(name, s.registry, s.settings.model_aliases, s.settings.default_provider)
    if found is None:
        raise A1111Error(404, f"Model not found: {str(name)[:200]!r}; GET {PREFIX}/sd-models lists them")
    return found


def _checkpoint(body: dict[str, Any]) -> ClientModel | None:
    """The call's model: ``override_settings.sd_model_checkpoint``, else what this credential
    set with ``POST /options``, else the studio's default (None)."""
    override = body.get("override_settings")
    if isinstance(override, dict) and override.get("sd_model_checkpoint") not in (None, ""):
        return _find(override["sd_model_checkpoint"])
    chosen = _states().checkpoint(credential())
    return _find(chosen) if chosen else None


def _model_info(model: ClientModel | None) -> ModelInfo | None:
    s = studio()
    if model is None:
        model = default_checkpoint(s.registry, s.settings.default_provider)
    provider = s.registry.get(model.provider) if model else None
    return provider.model(model.model) if provider and model else None


# --- generation --------------------------------------------------------------------------
def _render(s: Studio, body: dict[str, Any]):
    """The A1111 answer of a finished job. It may run after the request's context has gone
    (a started answer, web/sync_answer.py): it uses only what it was given."""

    def render(job: JobRecord) -> tuple[int, Any]:
        if job.status in ("failed", "interrupted"):
            return job_error(job)
        warnings = list(job.warnings)
        made: list[Made] = []
        for image in job.images:
            try:
                png, infotext, width, height = as_png(s.gallery.read_image(image["path"]))
            except (OSError, ValueError, Image.DecompressionBombError):
                warnings.append({"field": "images", "message": f"{image['path']} is gone from the gallery",
                                 "requested": None, "used": None})  # fmt: skip
                continue
            made.append(Made(png, infotext, image.get("seed"), width, height))
        if job.status == "cancelled":
            warnings.append({"field": "job", "message": f"interrupted: {len(made)} of {job.request.get('n')} images "
                             "were made", "requested": None, "used": None})  # fmt: skip
        send = body.get("send_images") is not False
        return 200, {
            "images": [base64.b64encode(m.png).decode() for m in made] if send else [],
            "parameters": echo(body),
            "info": info_json(job, made, body, warnings),
        }

    return render


@bp.post("/txt2img")
def txt2img():
    s = studio()
    body = _object()
    model = _checkpoint(body)
    info = _model_info(model)
    limit = min(MAX_IMAGES, info.max_images) if info else MAX_IMAGES
    translated = translate_txt2img(body, model, limit)
    req, warnings, _ = build_generation_request(translated.body, s.registry, s.settings.default_provider)
    label = info.label if info else req.model
    moved = size_warning(translated.requested_size, req.width, req.height, label)
    all_warnings = translated.warnings + warnings + ([moved] if moved else [])
    job = submit_generation(s.jobs, s.usage, req, all_warnings, None, client=CLIENT, principal=principal())
    _states().remember(credential(), job.id)
    return answer_when_done(s, job, _render(s, body))


@bp.post("/img2img")
def img2img():
    request.max_content_length = MAX_TOOL_BODY
    s = studio()
    body = _object()
    model = _checkpoint(body) or default_checkpoint(s.registry, s.settings.default_provider)
    translated = translate_img2img(body, model, s.registry)
    job = _submit_edit(translated)
    _states().remember(credential(), job.id)
    return answer_when_done(s, job, _render(s, body))


def _submit_edit(translated: Translated) -> JobRecord:
    """Queue the edit job the way /v1/images/edits does (services/client_edits.py): the init
    image is imported into the gallery only once every check (fields, sizes, mask, budget,
    queue) has passed, so a refused call writes nothing."""
    s = studio()
    body = {k: v for k, v in translated.body.items() if k != "image"}
    image = decode_data_url(translated.body.get("image"), "image")

    def moved(request: GenerationRequest) -> list[Warning_]:
        provider = s.registry.get(request.provider)
        label = provider.label if provider else request.provider
        warning = size_warning(translated.requested_size, request.width, request.height, label)
        return [warning] if warning else []

    return submit_edit(s, body, [image], translated.warnings, CLIENT, late_warnings=moved, principal=principal())


# --- options and lists ---------------------------------------------------------------------
@bp.get("/options")
def get_options():
    s = studio()
    cred = credential()
    chosen = _states().checkpoint(cred)
    model = (
        find_checkpoint(chosen, s.registry, s.settings.model_aliases, s.settings.default_provider) if chosen else None
    )
    model = model or default_checkpoint(s.registry, s.settings.default_provider)
    current = checkpoint_json(model) if model else None
    return jsonify(
        {
            "samples_format": "png",
            "sd_vae": "Automatic",
            "CLIP_stop_at_last_layers": 1,
            **_states().options(cred),
            "sd_model_checkpoint": current["title"] if current else None,
            "sd_checkpoint_hash": current["sha256"] if current else None,
        }
    )


@bp.post("/options")
def set_options():
    body = _object()
    checkpoint = None
    if body.get("sd_model_checkpoint") not in (None, ""):
        checkpoint = _find(body["sd_model_checkpoint"]).id
    kept = {k: v for k, v in body.items() if k not in ("sd_model_checkpoint", "sd_checkpoint_hash")}
    _states().set_options(credential(), kept, checkpoint)
    return jsonify(None)


@bp.get("/sd-models")
def sd_models():
    return jsonify([checkpoint_json(m) for m in client_models(studio().registry)])


@bp.post("/refresh-checkpoints")
def refresh_checkpoints():
    no_body()
    return jsonify(None)


@bp.get("/samplers")
def samplers():
    return jsonify([{"name": AUTOMATIC, "aliases": ["automatic"], "options": {}}])


@bp.get("/schedulers")
def schedulers():
    return jsonify(
        [{"name": "automatic", "label": AUTOMATIC, "aliases": None, "default_rho": -1, "need_inner_model": False}]
    )


@bp.get("/upscalers")
def upscalers():
    return jsonify([{"name": "None", "model_name": None, "model_path": None, "model_url": None, "scale": 4}])


@bp.get("/latent-upscale-modes")
def latent_upscale_modes():
    return jsonify([])


@bp.get("/sd-vae")
def sd_vae():
    return jsonify([])


@bp.get("/loras")
def loras():
    return jsonify([])


@bp.get("/hypernetworks")
def hypernetworks():
    return jsonify([])


@bp.get("/face-restorers")
def face_restorers():
    return jsonify([])


@bp.get("/embeddings")
def embeddings():
    return jsonify({"loaded": {}, "skipped": {}})


@bp.get("/prompt-styles")
def prompt_styles():
    return jsonify(
        [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt} for s in load_styles().values()]
    )


@bp.get("/scripts")
def scripts():
    return jsonify({"txt2img": [], "img2img": []})


@bp.get("/extensions")
def extensions():
    return jsonify([])


@bp.get("/cmd-flags")
def cmd_flags():
    return jsonify({"api": True, "nowebui": False})


@bp.get("/memory")
def memory():
    import psutil

    ram = psutil.virtual_memory()
    process = psutil.Process().memory_info().rss
    return jsonify(
        {
            "ram": {"free": ram.available, "used": process, "total": ram.total},
            "cuda": {"error": "Atelier reports no CUDA memory here; GPU use is the local provider's"},
        }
    )


# --- progress, interrupt ------------------------------------------------------------------
def _watched() -> tuple[list[str], list[str]]:
    """(running, queued) job ids of this credential's calls, else the studio's."""
    snapshot = studio().jobs.queue_snapshot(principal())  # a member: never another's jobs
    running = [j for j in snapshot.get("running", []) if j is not None]
    queued = [j for j in snapshot.get("queued", []) if j is not None]
    mine = _states().jobs(credential())
    own = ([j for j in running if j in mine], [j for j in queued if j in mine])
    return own if any(own) else (running, queued)


def _preview(job_id: str) -> str | None:
    held = studio().bus.held(job_id)
    previews = [message for event, message in held if event == JobPreview.name]
    if not previews:
        return None
    data = previews[-1].get("data")
    if isinstance(data, str):
        data = base64.b64decode(data)
    if not isinstance(data, bytes | bytearray):
        return None
    try:
        with Image.open(io.BytesIO(bytes(data))) as im:
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return base64.b64encode(buf.getvalue()).decode()


@bp.get("/progress")
def progress():
    s = studio()
    running, queued = _watched()
    job = None
    for job_id in running:
        try:
            job = s.jobs.get(job_id)
            break
        except JobNotFound:
            continue
    state = {
        "skipped": False,
        "interrupted": bool(job and job.cancel_requested),
        "stopping_generation": False,
        "job": job.id if job else "",
        "job_count": len(running) + len(queued),
        "job_timestamp": _stamp(job.created_at) if job else "0",
        "job_no": 0,
        "sampling_step": 0,
        "sampling_steps": (job.request.get("steps") or 0) if job else 0,
    }
    done = float(job.progress or 0.0) if job else 0.0
    eta = 0.0
    if job and job.started_at and done > 0:
        elapsed = max(0.0, time.time() - datetime.fromisoformat(job.started_at).timestamp())
        eta = elapsed * (1 - done) / done
    return jsonify(
        {
            "progress": round(done, 4),
            "eta_relative": round(eta, 2),
            "state": state,
            "current_image": _preview(job.id) if job else None,
            "textinfo": job.message if job else None,
        }
    )


def _stamp(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y%m%d%H%M%S")
    except ValueError:
        return "0"


def _cancel_mine() -> None:
    """Cancel this credential's running jobs (its queued ones when none runs): what A1111's
    interrupt stops. The studio's own jobs and other callers' are never touched."""
    s = studio()
    snapshot = s.jobs.queue_snapshot(principal())
    mine = _states().jobs(credential())
    running = [j for j in snapshot.get("running", []) if j in mine]
    targets = running or [j for j in snapshot.get("queued", []) if j in mine]
    for job_id in targets:
        try:
            s.jobs.cancel(job_id)
        except (JobConflict, JobNotFound):
            pass  # ended meanwhile


@bp.post("/interrupt")
def interrupt():
    no_body()
    _cancel_mine()
    return jsonify({})


@bp.post("/skip")
def skip():
    """A1111 skips the current image of a batch; an Atelier job cannot drop one image, so the
    call stops the job like interrupt (its finished images are kept and answered)."""
    no_body()
    _cancel_mine()
    return jsonify({})


@bp.post("/png-info")
def png_info_route():
    request.max_content_length = MAX_TOOL_BODY
    body = _object()
    if body.get("image") in (None, ""):
        raise A1111Error(422, "field required", ("image",), "value_error.missing")
    try:
        return jsonify(png_info(body["image"]))
    except ValidationError as exc:
        raise A1111Error(422, exc.message, ("image",)) from None


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str):
    """FastAPI's answers: 405 for a known route asked with another method, else 404."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in ("GET", "POST"):
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != f"{bp.name}.not_found":
            return jsonify({"detail": "Method Not Allowed"}), 405, {"Allow": method}
    return jsonify({"detail": "Not Found"}), 404


# --- errors in A1111's shapes --------------------------------------------------------------
_unexpected_logged = LogBudget(lines=10, per_seconds=60)


@bp.errorhandler(A1111Error)
def _a1111(e: A1111Error):
    return jsonify(e.body()), e.status


@bp.errorhandler(ValidationError)
def _validation(e: ValidationError):
    return jsonify(A1111Error(422, e.message, loc_of(e.field)).body()), 422


@bp.errorhandler(ApiError)
def _api(e: ApiError):
    if e.code == "invalid_json":  # FastAPI answers a body it cannot parse with a 422
        return jsonify(A1111Error(422, e.message, (), "value_error.jsondecode").body()), 422
    return jsonify(http_exception_body(e.status, e.message)), e.status


@bp.errorhandler(BudgetExceeded)
def _budget(e: BudgetExceeded):
    return jsonify(http_exception_body(402, e.message)), 402


@bp.errorhandler(LimitExceeded)
def _limited(e: LimitExceeded):
    return refused(e)  # 429 with Retry-After, in this API's error shape


@bp.errorhandler(QueueUnavailable)
def _queue_down(e: QueueUnavailable):
    return jsonify(http_exception_body(503, str(e))), 503, {"Retry-After": "5"}


@bp.errorhandler(HTTPException)
def _http(e: HTTPException):
    status = e.code or 500
    if status in (404, 405):
        return jsonify({"detail": "Not Found" if status == 404 else "Method Not Allowed"}), status
    return jsonify(http_exception_body(status, e.description or e.name)), status


@bp.errorhandler(Exception)
def _unexpected(e: Exception):
    suppressed = _unexpected_logged.take()
    if suppressed is not None:
        log.exception("unhandled error on %s %s", request.method, one_line(request.path))
    return jsonify(http_exception_body(500, "the server failed to handle this request", type(e).__name__)), 500
