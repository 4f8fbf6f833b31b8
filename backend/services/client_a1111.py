"""The AUTOMATIC1111 API (``/sdapi/v1``) in Atelier's words and back: request bodies become
the studio's generation or edit bodies, finished jobs become A1111 answers.

Nothing here queues, saves or validates a second time: a txt2img body becomes the body of
``POST /api/jobs`` (read by services/validation.py), an img2img body the body of
``POST /api/edit`` (read by services/tools/edit.py). What A1111 asks that no Atelier
provider can honour (CFG scale, sampler, hires fix, scripts...) is accepted and named in a
warning, never silently dropped. Bad values are refused as A1111's FastAPI would:
:class:`A1111Error` carries the status and, for a 422, the ``loc`` of the field.

The checkpoint a client chose with ``POST /options`` is kept per credential in memory
(:class:`ClientStates`): a restart forgets it and calls fall back to the default model.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image, ImageOps, PngImagePlugin

from backend.providers.registry import ProviderRegistry
from backend.services.client_models import ClientModel, client_models, resolve_model
from backend.services.styles import load_styles
from backend.services.tools.common import decode_image, nearest_ratio
from backend.services.tools.edit import MAX_EDIT_IMAGES
from backend.services.validation import MAX_IMAGES, MAX_SEED, Warning_
from backend.storage.image_params import extract_parameters
from backend.storage.infotext import format_infotext, parse_infotext
from backend.storage.job_store import JobRecord
from backend.storage.metadata import read_embedded, text_chunks

CLIENT = "a1111"
PREFIX = "/sdapi/v1"
#: the sampler and scheduler Atelier lists: each model runs its own (written into its images)
AUTOMATIC = "Automatic"
#: an A1111 field the studio cannot honour, and the values that leave the result unchanged
#: (a client sending them at their defaults is not warned)
INERT_VALUES: dict[str, tuple[Any, ...]] = {
    "subseed": (-1,),
    "subseed_strength": (0,),
    "seed_resize_from_h": (-1, 0),
    "seed_resize_from_w": (-1, 0),
    "eta": (0, 1),
    "s_churn": (0,),
    "s_tmin": (0,),
    "s_tmax": (0, float("inf")),
    "s_noise": (1,),
    "s_min_uncond": (0,),
    "hr_scale": (2,),
    "image_cfg_scale": (1.5,),
    "initial_noise_multiplier": (1,),
    "resize_mode": (0,),
    "inpaint_full_res": (True, 1),
    "inpaint_full_res_padding": (0, 32),
    "clip_skip": (1,),
}
#: fields that only steer how the client gets its answer, or are read elsewhere: never warned
PLUMBING = frozenset(
    {
        "send_images",
        "save_images",
        "do_not_save_samples",
        "do_not_save_grid",
        "override_settings_restore_afterwards",
        "sampler_index",
        "include_init_images",
        "url",  # SillyTavern's proxy forwards its own request, its target URL included
        "auth",  # ... and the credentials it also sent as the Authorization header
        "force_task_id",
        "infotext",
    }
)
#: what the txt2img and img2img routes read themselves
READ = frozenset(
    {
        "prompt",
        "negative_prompt",
        "seed",
        "steps",
        "cfg_scale",
        "sampler_name",
        "scheduler",
        "width",
        "height",
        "batch_size",
        "n_iter",
        "styles",
        "override_settings",
        "enable_hr",
        "init_images",
        "mask",
        "denoising_strength",
        "mask_blur",
        "inpainting_fill",
        "inpainting_mask_invert",
    }
)
#: request fields never echoed back in ``parameters`` (SillyTavern puts its credentials there)
NOT_ECHOED = ("auth",)
MAX_SIDE = 65536
#: options one credential may keep (an Open WebUI round trip posts A1111's few hundred)
MAX_OPTION_KEYS = 1000
MAX_OPTION_BYTES = 256 * 1024
#: ignored fields named one by one in the warnings (a body of 10,000 keys gets one more line)
MAX_NAMED_IGNORED = 20
MAX_REMEMBERED_JOBS = 256
_HASH_SUFFIX = re.compile(r"\s*\[[0-9a-fA-F]{6,64}\]\s*$")
_FILE_SUFFIX = re.compile(r"\.(safetensors|ckpt|pt|bin|gguf)$", re.IGNORECASE)


class A1111Error(Exception):
    """A refusal in A1111's words: with ``loc`` a FastAPI validation error (422,
    ``{"detail": [{"loc", "msg", "type"}]}``), else A1111's HTTPException answer
    (``{"error", "detail", "body", "errors"}``)."""

    def __init__(
        self, status: int, detail: str, loc: tuple[str | int, ...] | None = None, kind: str = "value_error"
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.loc, self.kind = status, detail, loc, kind

    def body(self) -> dict[str, Any]:
        if self.loc is not None:
            return {"detail": [{"loc": ["body", *self.loc], "msg": self.detail, "type": self.kind}]}
        return http_exception_body(self.status, self.detail)


def http_exception_body(status: int, detail: str, error: str = "HTTPException") -> dict[str, Any]:
    """What A1111's exception handler answers (modules/api/api.py, ``handle_exception``)."""
    return {"error": error, "detail": detail, "body": "", "errors": f"{status}: {detail}"}


def invalid(loc: tuple[str | int, ...], message: str, kind: str = "value_error") -> A1111Error:
    return A1111Error(422, message, loc, kind)


#: where an Atelier field sits in an A1111 request (for a ValidationError's ``loc``)
FIELD_LOC: dict[str, tuple[str | int, ...]] = {
    "prompt": ("prompt",),
    "negative_prompt": ("negative_prompt",),
    "provider": ("override_settings", "sd_model_checkpoint"),
    "model": ("override_settings", "sd_model_checkpoint"),
    "operation": ("init_images",),
    "style": ("styles",),
    "aspect_ratio": ("width",),
    "n": ("batch_size",),
    "seed": ("seed",),
    "steps": ("steps",),
    "quality": ("override_settings",),
    "image": ("init_images", 0),
    "image_id": ("init_images", 0),
    "mask": ("mask",),
    "references": ("init_images",),
}


def loc_of(atelier_field: str | None) -> tuple[str | int, ...]:
    return FIELD_LOC.get(atelier_field or "", (atelier_field,) if atelier_field else ())


# --- typed reading of an A1111 body -------------------------------------------------------
def _integer(body: Mapping[str, Any], name: str, minimum: int, maximum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid((name,), "value is not a valid integer", "type_error.integer")
    if not minimum <= value <= maximum:
        raise invalid((name,), f"ensure this value is between {minimum} and {maximum}", "value_error.number")
    return value


def _number(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise invalid((name,), "value is not a valid float", "type_error.float")
    return float(value)


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid((name,), "str type expected", "type_error.str")
    return value


def _options(body: Mapping[str, Any]) -> dict[str, Any]:
    value = body.get("override_settings")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(("override_settings",), "value is not a valid dict", "type_error.dict")
    return value


def _inert(name: str, value: Any) -> bool:
    if value is None or value is False or value == "" or value == [] or value == {}:
        return True
    if isinstance(value, bool):
        return value in INERT_VALUES.get(name, ())
    if isinstance(value, int | float) and (value == 0 or value in INERT_VALUES.get(name, ())):
        return True
    return False


def _ignored(field_name: str, value: Any, why: str) -> Warning_:
    shown = value if isinstance(value, str | int | float | bool) and len(str(value)) <= 200 else None
    return Warning_(field_name, f"{field_name} is not supported by Atelier and was ignored{why}", shown, None)


# --- checkpoints: Atelier's models as A1111 names them ------------------------------------
def checkpoint_hash(model: ClientModel) -> str:
    return hashlib.sha256(model.id.encode()).hexdigest()


def checkpoint_json(model: ClientModel) -> dict[str, Any]:
    """One entry of ``GET /sd-models``: the title is the model's stable id, which is also
    what ``sd_model_checkpoint`` takes (with or without A1111's `` [hash]`` suffix)."""
    sha = checkpoint_hash(model)
    return {
        "title": model.id,
        "model_name": model.id,
        "hash": sha[:10],
        "sha256": sha,
        "filename": model.id,
        "config": None,
    }


def find_checkpoint(
    name: Any, registry: ProviderRegistry, aliases: Mapping[str, str], default_provider: str
) -> ClientModel | None:
    """The model an ``sd_model_checkpoint`` value names, or None."""
    if not isinstance(name, str) or not name.strip() or len(name) > 500:
        return None
    bare = _FILE_SUFFIX.sub("", _HASH_SUFFIX.sub("", name.strip()))
    for candidate in dict.fromkeys((name.strip(), bare)):
        found = resolve_model(candidate, registry, aliases, default_provider)
        if found is not None:
            return found
        by_hash = [m for m in client_models(registry) if checkpoint_hash(m).startswith(candidate.lower())]
        if len(candidate) >= 10 and len(by_hash) == 1:
            return by_hash[0]
    return None


def default_checkpoint(registry: ProviderRegistry, default_provider: str) -> ClientModel | None:
    provider = registry.get(default_provider)
    if provider is None:
        return None
    wanted = f"{provider.id}/{provider.default_model()}"
    return next((m for m in client_models(registry) if m.id == wanted), None)


# --- what each credential chose -------------------------------------------------------------
@dataclass
class ClientState:
    checkpoint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    jobs: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_REMEMBERED_JOBS))


class ClientStates:
    """Per credential (a hash of the token or key, or ``anonymous``): the options it set and
    the jobs it sent. In memory: a restart forgets the choices (documented in docs/api.md)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, ClientState] = {}

    def _state(self, credential: str) -> ClientState:
        state = self._states.get(credential)
        if state is None:
            if len(self._states) >= 10_000:  # forget the oldest: bounded whatever clients send
                self._states.pop(next(iter(self._states)))
            state = self._states[credential] = ClientState()
        return state

    def checkpoint(self, credential: str) -> str | None:
        with self._lock:
            return self._state(credential).checkpoint

    def options(self, credential: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._state(credential).options)

    def set_options(self, credential: str, values: Mapping[str, Any], checkpoint: str | None) -> None:
        with self._lock:
            state = self._state(credential)
            merged = {**state.options, **values}
            if len(merged) > MAX_OPTION_KEYS or len(json.dumps(merged, default=str)) > MAX_OPTION_BYTES:
                raise invalid((), f"at most {MAX_OPTION_KEYS} options and {MAX_OPTION_BYTES // 1024} KB are kept")
            state.options = merged
            if checkpoint is not None:
                state.checkpoint = checkpoint

    def remember(self, credential: str, job_id: str) -> None:
        with self._lock:
            self._state(credential).jobs.append(job_id)

    def jobs(self, credential: str) -> set[str]:
        with self._lock:
            return set(self._state(credential).jobs)


# --- txt2img -------------------------------------------------------------------------------
@dataclass
class Translated:
    """An A1111 request in Atelier's words: the studio body, and what could not be honoured."""

    body: dict[str, Any]
    warnings: list[Warning_]
    requested_size: tuple[int, int] | None
    n_limit: int = MAX_IMAGES


def _common(body: Mapping[str, Any], warnings: list[Warning_], n_limit: int) -> dict[str, Any]:
    """The fields txt2img and img2img share, read and bounded."""
    if "prompt" not in body or body.get("prompt") is None:
        raise invalid(("prompt",), "field required", "value_error.missing")
    prompt = _text(body, "prompt")
    if not prompt.strip():
        raise invalid(("prompt",), "prompt must not be empty: Atelier makes images from a prompt")
    out: dict[str, Any] = {"prompt": prompt, "negative_prompt": _text(body, "negative_prompt")}

    seed = _integer(body, "seed", -1, MAX_SEED)
    if seed is not None and seed != -1:
        out["seed"] = seed
    steps = _integer(body, "steps", 1, 10_000)
    if steps is not None:
        out["steps"] = steps
    batch = _integer(body, "batch_size", 1, 1000) or 1
    iterations = _integer(body, "n_iter", 1, 1000) or 1
    if batch * iterations > n_limit:
        raise invalid(
            ("batch_size",),
            f"batch_size x n_iter is {batch * iterations}; Atelier makes at most {n_limit} images in one call",
            "value_error.number.not_le",
        )
    out["n"] = batch * iterations

    cfg = _number(body, "cfg_scale")
    if cfg is not None:
        warnings.append(
            Warning_("cfg_scale", "no Atelier provider takes a CFG scale; the model used its own guidance", cfg, None)
        )
    for name in ("sampler_name", "scheduler"):
        value = _text(body, name)
        if value and value.lower() != AUTOMATIC.lower():
            warnings.append(
                Warning_(
                    name, f"Atelier's models choose their own {name.split('_')[0]}; {value!r} was not used", value, None
                )  # fmt: skip
            )

    styles = body.get("styles")
    if styles is not None and (not isinstance(styles, list) or not all(isinstance(s, str) for s in styles)):
        raise invalid(("styles",), "value is not a valid list of strings", "type_error.list")
    if styles:
        known = load_styles()
        by_label = {s.label.lower(): s.name for s in known.values()}
        names = []
        for i, name in enumerate(styles):
            found = name if name in known else by_label.get(name.lower())
            if found is None:
                raise invalid(("styles", i), f"unknown style {name!r}; GET /sdapi/v1/prompt-styles lists them")
            names.append(found)
        out["style"] = names[0]
        if len(names) > 1:
            warnings.append(
                Warning_("styles", f"Atelier applies one style to a job; used {names[0]!r}", styles, names[0])
            )
    return out


def _size(body: Mapping[str, Any]) -> tuple[int, int] | None:
    width = _integer(body, "width", 1, MAX_SIDE)
    height = _integer(body, "height", 1, MAX_SIDE)
    if width is None and height is None:
        return None
    return (width or height or 512, height or width or 512)


def _unknown_fields(body: Mapping[str, Any], warnings: list[Warning_], img2img: bool) -> None:
    hires = bool(body.get("enable_hr")) and not img2img
    ignored: list[Warning_] = []
    if hires:
        warnings.append(_ignored("enable_hr", True, " (hires fix: no second pass was made)"))
    for name, value in body.items():
        if name in READ or name in PLUMBING or (name.startswith(("hr_", "firstphase_")) and not hires):
            continue
        if name.startswith(("hr_", "firstphase_")):
            continue  # named by the enable_hr warning
        if not img2img and name == "denoising_strength":
            continue  # txt2img reads it for hires fix only
        if _inert(name, value):
            continue
        ignored.append(_ignored(name, value, ""))
    for name, value in _options(body).items():
        if name != "sd_model_checkpoint" and value is not None:
            ignored.append(_ignored(f"override_settings.{name}", value, ""))
    warnings.extend(ignored[:MAX_NAMED_IGNORED])
    if len(ignored) > MAX_NAMED_IGNORED:
        more = len(ignored) - MAX_NAMED_IGNORED
        warnings.append(Warning_("fields", f"{more} more fields Atelier does not support were ignored", more, None))


def translate_txt2img(body: Mapping[str, Any], model: ClientModel | None, n_limit: int) -> Translated:
    """The ``POST /api/jobs`` body of a txt2img request for ``model`` (None: the studio's
    default), and a warning for each value it cannot honour."""
    warnings: list[Warning_] = []
    out = _common(body, warnings, n_limit)
    size = _size(body)
    if size is not None:
        out["aspect_ratio"] = nearest_ratio(*size)
    if model is not None:
        out["provider"], out["model"] = model.provider, model.model
    _unknown_fields(body, warnings, img2img=False)
    return Translated(out, warnings, size, n_limit)


def size_warning(requested: tuple[int, int] | None, width: int, height: int, label: str) -> Warning_ | None:
    """The warning when the model makes another size than A1111's width x height."""
    if requested is None or requested == (width, height):
        return None
    asked = f"{requested[0]}x{requested[1]}"
    used = f"{width}x{height}"
    return Warning_("size", f"{label} makes {used} for this shape; {asked} was asked", asked, used)


# --- img2img -------------------------------------------------------------------------------
def _first_image(body: Mapping[str, Any], warnings: list[Warning_]) -> str:
    images = body.get("init_images")
    if not isinstance(images, list) or not images:
        raise invalid(("init_images",), "init_images must be a list with one image (base64 or data: URL)")
    if not isinstance(images[0], str):
        raise invalid(("init_images", 0), "str type expected", "type_error.str")
    if len(images) > 1:
        warnings.append(Warning_("init_images", f"Atelier edits one image a call; the other {len(images) - 1} "
                                 "were ignored", len(images), 1))  # fmt: skip
    return images[0]


def _mask(body: Mapping[str, Any]) -> str | None:
    mask = body.get("mask")
    if mask is None or mask == "":
        return None
    if not isinstance(mask, str):
        raise invalid(("mask",), "str type expected", "type_error.str")
    invert = _integer(body, "inpainting_mask_invert", 0, 1)
    if not invert:
        return mask
    data = decode_image(mask, "mask")[0]  # checked (size, bombs) before it is opened
    with Image.open(io.BytesIO(data)) as im:
        grey = im.convert("L")
    buf = io.BytesIO()
    ImageOps.invert(grey).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def translate_img2img(body: Mapping[str, Any], model: ClientModel | None, registry: ProviderRegistry) -> Translated:
    """The ``POST /api/edit`` body of an img2img request: ``inpaint`` with a mask, else a
    ``general`` edit, by the chosen model when its provider can do it (else by the first
    provider that can, with a warning)."""
    warnings: list[Warning_] = []
    common = _common(body, warnings, MAX_EDIT_IMAGES)
    image = _first_image(body, warnings)
    mask = _mask(body)
    operation = "inpaint" if mask is not None else "general"
    out: dict[str, Any] = {
        "operation": operation,
        "image": image,
        "prompt": common["prompt"],
        "negative_prompt": common["negative_prompt"],
        "n": common["n"],
    }
    if "seed" in common:
        out["seed"] = common["seed"]
    if "style" in common:
        styled, negative = load_styles()[common["style"]].apply(common["prompt"], common["negative_prompt"])
        out["prompt"], out["negative_prompt"] = styled, negative
    if mask is not None:
        out["mask"] = mask
    if "steps" in common:
        warnings.append(Warning_("steps", "an edit takes no step count; the provider chose", common["steps"], None))
    if model is not None:
        provider = registry.get(model.provider)
        if provider is not None and operation in provider.edit_operations:
            out["provider"], out["model"] = model.provider, model.model
        else:
            warnings.append(
                Warning_(
                    "sd_model_checkpoint",
                    f"{model.id} cannot {operation}; the first provider that can did it",
                    model.id,
                    None,
                )  # fmt: skip
            )
    denoise = _number(body, "denoising_strength")
    if denoise is not None:
        warnings.append(Warning_("denoising_strength", "no Atelier provider takes a denoising strength; the edit "
                                 "follows the prompt", denoise, None))  # fmt: skip
    if mask is not None:
        for name, inert in (("mask_blur", 0), ("inpainting_fill", None)):
            value = body.get(name)
            if value is not None and value != inert:
                warnings.append(_ignored(name, value, " (the provider fills the masked part itself)"))
    _unknown_fields(body, warnings, img2img=True)
    return Translated(out, warnings, _size(body), MAX_EDIT_IMAGES)


# --- the answer ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Made:
    """One image of a finished job as A1111 answers it."""

    png: bytes
    infotext: str
    seed: int | None
    width: int
    height: int


def as_png(data: bytes) -> tuple[bytes, str, int, int]:
    """(PNG bytes, infotext, width, height) of a gallery file: a PNG as it is, a JPEG or
    WebP re-encoded with its infotext as the ``parameters`` chunk (A1111 answers PNG)."""
    with Image.open(io.BytesIO(data)) as im:
        infotext = read_embedded(im)[0] or ""
        if im.format == "PNG":
            return data, infotext, im.width, im.height
        info = PngImagePlugin.PngInfo()
        if infotext:
            info.add_text("parameters", infotext)
        buf = io.BytesIO()
        im.save(buf, format="PNG", pnginfo=info)
        return buf.getvalue(), infotext, im.width, im.height


def echo(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request as A1111 echoes it in ``parameters`` (images and credentials left out)."""
    out = {k: v for k, v in body.items() if k not in NOT_ECHOED}
    for name in ("init_images", "mask"):
        if name in out:
            out[name] = None  # A1111 answers the request without its images too
    return out


def info_json(job: JobRecord, made: list[Made], body: Mapping[str, Any], warnings: list[dict[str, Any]]) -> str:
    """A1111's ``info``: a JSON string of what was made."""
    request = job.request
    seeds = [m.seed if m.seed is not None else -1 for m in made]
    n = len(made)
    parsed = [parse_infotext(m.infotext)["params"] if m.infotext else {} for m in made]
    first = parsed[0] if parsed else {}
    cfg = first.get("CFG scale")
    try:
        cfg_value: float | None = float(cfg) if cfg is not None else None
    except ValueError:
        cfg_value = None
    steps = request.get("steps")
    if steps is None and str(first.get("Steps", "")).isdigit():
        steps = int(first["Steps"])
    model_id = f"{job.served_by or request['provider']}/{request.get('model')}"
    try:
        stamp = datetime.fromisoformat(job.created_at).strftime("%Y%m%d%H%M%S")
    except ValueError:
        stamp = ""
    info = {
        "prompt": request.get("prompt", ""),
        "all_prompts": [request.get("styled_prompt", request.get("prompt", ""))] * n,
        "negative_prompt": request.get("negative_prompt", ""),
        "all_negative_prompts": [request.get("effective_negative_prompt", "")] * n,
        "seed": seeds[0] if seeds else -1,
        "all_seeds": seeds,
        "subseed": -1,
        "all_subseeds": [-1] * n,
        "subseed_strength": 0,
        "width": made[0].width if made else request.get("width"),
        "height": made[0].height if made else request.get("height"),
        "sampler_name": first.get("Sampler"),
        "cfg_scale": cfg_value,
        "steps": steps,
        "batch_size": n,
        "restore_faces": False,
        "sd_model_name": model_id,
        "sd_model_hash": hashlib.sha256(model_id.encode()).hexdigest()[:10],
        "denoising_strength": body.get("denoising_strength") if job.kind == "edit" else None,
        "extra_generation_params": {},
        "index_of_first_image": 0,
        "infotexts": [m.infotext for m in made],
        "styles": [request["style"]] if request.get("style") not in (None, "none") else [],
        "job_timestamp": stamp,
        "clip_skip": 1,
        "is_using_inpainting_conditioning": False,
        "version": "atelier",
        # Atelier's own: what was not honoured, and where to find the job
        "warnings": warnings,
        "job_id": job.id,
        "client": CLIENT,
    }
    return json.dumps(info)


#: a job's error code -> the status an A1111 client gets (5xx only where Atelier or its provider failed)
JOB_ERROR_STATUS = {
    "auth": 502,
    "quota": 402,
    "rate_limited": 429,
    "moderation_blocked": 400,
    "invalid_request": 400,
    "provider_unavailable": 503,
    "timeout": 504,
    "bad_response": 502,
    "provider_error": 502,
    "save_failed": 500,
    "interrupted": 503,
}


def job_error(job: JobRecord) -> tuple[int, dict[str, Any]]:
    error = job.error or {}
    code = str(error.get("code") or "provider_error")
    message = str(error.get("message") or f"the job {job.status}")
    status = JOB_ERROR_STATUS.get(code, 502)
    return status, http_exception_body(status, message, "RuntimeError")


# --- png-info --------------------------------------------------------------------------------
MAX_ITEM_CHARS = 65536


def _a1111_parameters(infotext: str) -> dict[str, Any]:
    """A1111's ``parse_generation_parameters`` shape: Prompt, Negative prompt, each key."""
    parsed = parse_infotext(infotext)
    out: dict[str, Any] = {"Prompt": parsed["prompt"], "Negative prompt": parsed["negative_prompt"]}
    for key, value in parsed["params"].items():
        out[key] = value
        if key == "Size" and isinstance(value, str) and "x" in value:
            w, _, h = value.partition("x")
            out["Size-1"], out["Size-2"] = w.strip(), h.strip()
    return out


def png_info(value: Any) -> dict[str, Any]:
    """``POST /png-info``: the infotext of an image (A1111's, Atelier's, or one built from
    another tool's metadata by Atelier's readers), parsed, and its other text chunks."""
    data = decode_image(value, "image")[0]  # a bomb or garbage is refused before it is opened
    with Image.open(io.BytesIO(data)) as im:
        infotext, atelier = read_embedded(im)
        chunks = text_chunks(im)
        if not infotext:
            params = extract_parameters(im)
            if params is not None:
                size = f"{params.width}x{params.height}" if params.width and params.height else None
                infotext = format_infotext(
                    params.prompt,
                    params.negative_prompt,
                    {
                        "Steps": params.steps,
                        "Sampler": params.sampler,
                        "CFG scale": None if params.cfg_scale is None else f"{params.cfg_scale:g}",
                        "Seed": params.seed,
                        "Size": size,
                        "Model": params.model,
                        "Source": params.source,
                    },
                )
    items = {
        str(k)[:200]: v[:MAX_ITEM_CHARS]
        for k, v in list(chunks.items())[:100]
        if k != "parameters" and isinstance(v, str)
    }
    if atelier is not None and "atelier" not in items:
        items["atelier"] = json.dumps(atelier)[:MAX_ITEM_CHARS]
    return {
        "info": infotext or "",
        "items": items,
        "parameters": _a1111_parameters(infotext) if infotext else {},
    }


__all__ = [
    "A1111Error",
    "CLIENT",
    "ClientStates",
    "Made",
    "PREFIX",
    "Translated",
    "as_png",
    "checkpoint_json",
    "default_checkpoint",
    "echo",
    "find_checkpoint",
    "info_json",
    "job_error",
    "loc_of",
    "png_info",
    "size_warning",
    "translate_img2img",
    "translate_txt2img",
]
