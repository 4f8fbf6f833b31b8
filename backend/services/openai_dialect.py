"""The OpenAI Images API (``/v1``) in the studio's own terms, and the studio's answers in
OpenAI's: a client API is a translation, nothing more (docs/api.md, "OpenAI Images API").

A request's fields are read here, typed and bounded (:func:`read_ask`), into an
:class:`Ask`; :func:`studio_body` turns an Ask into the body every studio route validates
(``build_generation_request`` / ``build_edit``), with a warning for each OpenAI value that
has no exact Atelier equivalent (a size becomes the nearest aspect ratio the model has).
:func:`render_job` turns a finished job into OpenAI's answer or OpenAI's error.
Nothing here knows Flask: the blueprint (web/api_openai.py) calls it.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image

from backend.providers.base import ModelInfo
from backend.services.client_models import ClientModel
from backend.services.gallery import ImageRejected, inspect_image
from backend.services.styles import load_styles
from backend.services.tools.common import nearest_ratio, shown_size, turned_a_quarter
from backend.services.validation import MAX_PROMPT_CHARS, MAX_SEED, Warning_
from backend.storage.job_store import JobRecord

#: the ``client`` of every job this API sends (with ``:<user>`` when the request names one)
CLIENT = "openai"
MAX_USER_CHARS = 64
MAX_MODEL_CHARS = 256
MAX_SIDE = 16384
#: the most images one request may ask for before the model's own limit is checked (check_n)
MAX_N = 128
RESPONSE_FORMATS = ("b64_json", "url")
#: output_format -> the Pillow format the answer's bytes are encoded in
OUTPUT_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
BACKGROUNDS = ("auto", "opaque", "transparent")
#: a quality of one OpenAI family and its nearest in the other (DALL-E: standard/hd;
#: GPT image: low/medium/high), used when the model has the one but not the other
QUALITY_EQUIVALENTS = {"hd": "high", "standard": "medium", "high": "hd", "medium": "standard", "low": "standard"}
SIZE_RE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")
_USER_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")

#: HTTP status -> OpenAI's error ``type``
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}
#: a failed job's ``error.code`` -> (HTTP status, OpenAI's error code): the provider's or
#: the request's fault is a 4xx, only a fault of this server or its providers a 5xx
JOB_ERRORS: dict[str, tuple[int, str]] = {
    "moderation_blocked": (400, "content_policy_violation"),
    "invalid_request": (400, "invalid_request"),
    "quota": (429, "insufficient_quota"),
    "rate_limited": (429, "rate_limit_exceeded"),
    "auth": (502, "provider_auth_failed"),
    "provider_unavailable": (503, "provider_unavailable"),
    "interrupted": (503, "interrupted"),
    "timeout": (504, "provider_timeout"),
    "bad_response": (502, "bad_provider_response"),
    "provider_error": (502, "provider_error"),
    "save_failed": (500, "save_failed"),
}


class OpenAIError(Exception):
    """A refusal in OpenAI's words: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.param, self.code)


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}


@dataclass
class Ask:
    """An OpenAI images request, typed and bounded; None where the client sent nothing."""

    prompt: str
    model: str | None = None
    n: int = 1
    size: tuple[int, int] | None = None  # None: "auto" or not sent
    quality: str | None = None
    #: None: not sent (the answer carries b64_json and url, for clients that assume DALL-E's url)
    response_format: str | None = None
    user: str | None = None
    style: str | None = None
    background: str | None = None
    seed: int | None = None
    output_format: str | None = None
    warnings: list[Warning_] = field(default_factory=list)


def _text(raw: Mapping[str, Any], name: str, limit: int, required: bool = False) -> str | None:
    value = raw.get(name)
    if value is None or (value == "" and not required):
        if required:
            raise OpenAIError(400, f"you must provide a {name}", name, "missing_required_parameter")
        return None
    if not isinstance(value, str):
        raise OpenAIError(400, f"{name} must be a string", name, "invalid_type")
    if len(value) > limit:
        message = f"{name} is {len(value)} characters; the limit is {limit}"
        raise OpenAIError(400, message, name, "string_above_max_length")
    return value


def _integer(raw: Mapping[str, Any], name: str, low: int, high: int, form: bool) -> int | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if form and isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise OpenAIError(400, f"{name} must be a whole number", name, "invalid_type")
    if not low <= value <= high:
        raise OpenAIError(400, f"{name} must be between {low} and {high}", name, "invalid_value")
    return value


def _choice(raw: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = _text(raw, name, 64)
    if value is not None and value not in choices:
        raise OpenAIError(400, f"{name} must be one of {', '.join(choices)}; got {value!r}", name, "invalid_value")
    return value


def parse_size(value: str | None) -> tuple[int, int] | None:
    """``WxH`` as (width, height), None for ``auto`` or nothing; anything else is a 400."""
    if value is None or value == "auto":
        return None
    match = SIZE_RE.match(value)
    if not match or not all(1 <= int(side) <= MAX_SIDE for side in match.groups()):
        raise OpenAIError(
            400, f"size must be 'auto' or WIDTHxHEIGHT (e.g. 1024x1024); got {value[:40]!r}", "size", "invalid_size"
        )
    return int(match.group(1)), int(match.group(2))


def read_ask(raw: Any, form: bool = False) -> Ask:
    """The fields of a generations body (JSON) or an edits form (text fields, ``form``);
    unknown fields are ignored, as OpenAI's clients send many (``moderation``,
    ``output_compression``, ``partial_images``...)."""
    if not isinstance(raw, Mapping):
        raise OpenAIError(400, "the request body must be a JSON object", None, "invalid_json")
    stream = raw.get("stream")
    if stream is True or (isinstance(stream, str) and stream.lower() == "true"):
        raise OpenAIError(400, "streaming (stream=true) is not supported; leave it out", "stream", "unsupported_value")
    prompt = _text(raw, "prompt", MAX_PROMPT_CHARS, required=True) or ""
    if not prompt.strip():
        raise OpenAIError(400, "prompt must not be empty", "prompt", "empty_string")
    output_format = _choice(raw, "output_format", (*OUTPUT_FORMATS, "jpg"))
    user = _text(raw, "safety_identifier", 256) or _text(raw, "user", 256)
    return Ask(
        prompt=prompt,
        model=_text(raw, "model", MAX_MODEL_CHARS),
        n=_integer(raw, "n", 1, MAX_N, form) or 1,
        size=parse_size(_text(raw, "size", 64)),
        quality=_text(raw, "quality", 32),
        response_format=_choice(raw, "response_format", RESPONSE_FORMATS),
        user=user,
        style=_text(raw, "style", 64),
        background=_choice(raw, "background", BACKGROUNDS),
        seed=_integer(raw, "seed", 0, MAX_SEED, form),
        output_format="jpeg" if output_format == "jpg" else output_format,
    )


def client_tag(user: str | None) -> str:
    """``openai``, or ``openai:<user>`` with the user id made short and plain (it is shown in
    the studio and written into image metadata)."""
    if not user:
        return CLIENT
    return f"{CLIENT}:{_USER_UNSAFE.sub('_', user)[:MAX_USER_CHARS]}"


def check_n(ask: Ask, info: ModelInfo, model_id: str) -> None:
    if ask.n > info.max_images:
        raise OpenAIError(
            400, f"{model_id} makes at most {info.max_images} images per request; n is {ask.n}", "n", "invalid_value"
        )


def nearest_quality(quality: str | None, info: ModelInfo) -> str | None:
    """The model's own name for an OpenAI quality (``hd`` -> ``high``), else as sent."""
    if quality is None or not info.qualities or quality in info.qualities:
        return quality
    other = QUALITY_EQUIVALENTS.get(quality)
    return other if other in info.qualities else quality


def size_ratio(size: tuple[int, int]) -> str:
    """The aspect ratio Atelier knows nearest to a requested size."""
    return nearest_ratio(*size)


def studio_body(ask: Ask, model: ClientModel, info: ModelInfo) -> dict[str, Any]:
    """The studio's generation body (``POST /api/jobs``) of an Ask; what has no studio
    equivalent goes into ``ask.warnings``."""
    check_n(ask, info, model.id)
    body: dict[str, Any] = {"prompt": ask.prompt, "provider": model.provider, "model": model.model, "n": ask.n}
    if ask.size is not None:
        body["aspect_ratio"] = size_ratio(ask.size)
    quality = nearest_quality(ask.quality, info)
    if quality is not None:
        if quality != ask.quality:
            ask.warnings.append(
                Warning_("quality", f"{info.label} calls quality {ask.quality!r} {quality!r}", ask.quality, quality)
            )
        body["quality"] = quality
    if ask.seed is not None:
        body["seed"] = ask.seed
    _style(ask, body)
    _background(ask)
    return body


def _style(ask: Ask, body: dict[str, Any]) -> None:
    if ask.style is None:
        return
    if ask.style in load_styles():
        body["style"] = ask.style  # one of Atelier's styles (GET /api/styles)
    else:  # DALL-E 3's vivid / natural
        ask.warnings.append(
            Warning_(
                "style",
                f"style {ask.style!r} is not one of Atelier's styles (GET /api/styles); no style was applied",
                ask.style,
                None,
            )
        )


def _background(ask: Ask) -> None:
    if ask.background == "transparent":
        message = "Atelier's providers take no background setting; the image has the background its model gives it"
        ask.warnings.append(Warning_("background", message, ask.background, None))


def edit_warnings(ask: Ask) -> None:
    """What an edit cannot honour: a style (edits take none) and a transparent background."""
    if ask.style is not None:
        ask.warnings.append(Warning_("style", "edits take no style; none was applied", ask.style, None))
    _background(ask)


def size_warning(ask: Ask, width: int, height: int) -> None:
    """Reports a requested size the model made at another size."""
    if ask.size is not None and ask.size != (width, height):
        asked = f"{ask.size[0]}x{ask.size[1]}"
        ask.warnings.append(
            Warning_(
                "size",
                f"size {asked} was made as {width}x{height}, the nearest the model has",
                asked,
                f"{width}x{height}",
            )
        )


def warning_header(warnings: list[dict[str, Any]]) -> str:
    """The job's warnings as one ASCII header value."""
    text = "; ".join(str(w.get("message", "")) for w in warnings)
    return ascii(text[:1000])[1:-1]


# --- answers -------------------------------------------------------------------------


def job_failure(job: JobRecord) -> OpenAIError:
    """A job that did not succeed, as the error its client should get."""
    if job.status == "cancelled":
        return OpenAIError(409, "the job was cancelled before it finished", None, "job_cancelled")
    error = job.error or {}
    status, code = JOB_ERRORS.get(str(error.get("code")), (502, "provider_error"))
    message = str(error.get("message") or f"the job {job.status}")
    return OpenAIError(status, message, "prompt" if code == "content_policy_violation" else None, code)


def convert(data: bytes, output_format: str | None) -> bytes:
    """The image's bytes in the asked ``output_format`` (the gallery keeps its own file)."""
    wanted = OUTPUT_FORMATS.get(output_format or "")
    if wanted is None:
        return data
    with Image.open(io.BytesIO(data)) as im:
        if im.format == wanted:
            return data
        image = im.convert("RGB") if wanted == "JPEG" else im.copy()
    buf = io.BytesIO()
    image.save(buf, format=wanted, **({"quality": 92} if wanted != "PNG" else {}))
    return buf.getvalue()


def render_job(
    job: JobRecord, ask: Ask, read_image: Callable[[str], bytes], url_root: str
) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` of a finished job: ``{"created", "data": [...]}`` or OpenAI's error.
    ``url_root``: the absolute URL the gallery's ``/images/...`` paths hang from."""
    if job.status != "succeeded":
        failure = job_failure(job)
        return failure.status, failure.body()
    notes = job.provider_notes
    revised = {n.get("index"): n["revised_prompt"] for n in notes if isinstance(n.get("revised_prompt"), str)}
    data = []
    for index, image in enumerate(job.images):
        item: dict[str, Any] = {}
        if ask.response_format in (None, "b64_json"):
            raw = convert(read_image(image["path"]), ask.output_format)
            item["b64_json"] = base64.b64encode(raw).decode()
        if ask.response_format in (None, "url"):
            item["url"] = url_root.rstrip("/") + image["url"]
        if index in revised:
            item["revised_prompt"] = revised[index]
        data.append(item)
    return 200, {"created": _created(job), "data": data}


def _created(job: JobRecord) -> int:
    return int(datetime.fromisoformat(job.created_at.replace("Z", "+00:00")).timestamp())


# --- edits -----------------------------------------------------------------------------


def check_upload(data: bytes, param: str) -> tuple[int, int]:
    """(width, height) of an uploaded PNG, JPEG or WebP that decodes in full, else a 400."""
    try:
        _, width, height = inspect_image(data, f"{param} is")
    except ImageRejected as exc:
        raise OpenAIError(400, str(exc), param, "invalid_image") from None
    return shown_size(width, height, turned_a_quarter(io.BytesIO(data)))
