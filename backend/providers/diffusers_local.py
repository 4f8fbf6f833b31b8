"""Local models through Hugging Face diffusers: FLUX.1-schnell, Z-Image-Turbo, sd-turbo.

Models come from a folder (``ATELIER_DIFFUSERS_MODELS_DIR``, one saved pipeline per
sub-folder) or from the Hugging Face cache; nothing is downloaded while a job runs unless
``ATELIER_DIFFUSERS_ALLOW_DOWNLOAD=1``. torch and diffusers are an optional install
(requirements-local.txt) imported only when a job runs, so the studio starts without them
and lists this provider as unavailable with the command that installs them.

One pipeline is kept loaded and reused; loading another unloads it first, and a lock lets
one job at a time use the GPU. Progress is real (``callback_on_step_end`` after each
denoising step), previews are the latents projected to RGB by a fixed linear map (no VAE
decode), and a cancel stops the pipeline at the end of the current step.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

from backend.env_values import env_choice, env_flag
from backend.providers.base import (
    ASPECT_RATIOS,
    Cancelled,
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ModelInfo,
    PixelImage,
    Provider,
    ProviderError,
    StepRange,
    settings,
)

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install -r requirements-local.txt"
REQUIRED_MODULES = ("torch", "diffusers", "transformers")
DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float32", "float16", "bfloat16")
SCAN_TTL_S = 2.0  # models() is asked several times per request; the folders rarely change
PREVIEW_SIDE = 384

# provider-apis.md section 7, last column: FLUX and Z-Image need multiples of 16.
LARGE_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "4:3": (1152, 864),
    "3:4": (864, 1152),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "21:9": (1536, 640),
}
# sd-turbo is trained at 512x512: the same shapes at half the side (multiples of 8).
SD_SIZES = {ratio: (w // 2, h // 2) for ratio, (w, h) in LARGE_SIZES.items()}


@dataclass(frozen=True)
class Family:
    """What one pipeline class needs: its call arguments and the dtype it prefers on a GPU."""

    pipeline_class: str
    sizes: Mapping[str, tuple[int, int]]
    steps: StepRange
    guidance_scale: float
    gpu_dtype: str
    extra_call_args: Mapping[str, Any]
    size_multiple: int


FAMILIES = {
    # schnell: 1-4 steps, guidance 0 (no guidance embedding), prompt <= 256 T5 tokens
    "FluxPipeline": Family(
        "FluxPipeline", LARGE_SIZES, StepRange(1, 4, 4), 0.0, "bfloat16", {"max_sequence_length": 256}, 16
    ),
    # Z-Image-Turbo: 8 steps on diffusers >= 0.42 (9 before PR #13730), guidance 0
    "ZImagePipeline": Family("ZImagePipeline", LARGE_SIZES, StepRange(1, 16, 8), 0.0, "bfloat16", {}, 16),
    # sd-turbo: single step, guidance 0, so no negative prompt
    "StableDiffusionPipeline": Family("StableDiffusionPipeline", SD_SIZES, StepRange(1, 4, 1), 0.0, "float16", {}, 8),
    # SDXL-Turbo (a saved pipeline of this class in the models folder; not in the catalogue):
    # trained at 512x512, 1-4 steps, guidance 0; its VAE upcasts itself (force_upcast)
    "StableDiffusionXLPipeline": Family(
        "StableDiffusionXLPipeline", SD_SIZES, StepRange(1, 4, 1), 0.0, "float16", {}, 8
    ),
}


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    label: str
    repo: str
    family: str

    @property
    def folder_names(self) -> set[str]:
        """Sub-folder names of the models folder that hold this model (compared case-folded)."""
        org, name = self.repo.split("/")
        return {self.id.casefold(), name.casefold(), f"{org}--{name}".casefold(), f"models--{org}--{name}".casefold()}


CATALOGUE = (
    CatalogueEntry("flux.1-schnell", "FLUX.1 [schnell] (local)", "black-forest-labs/FLUX.1-schnell", "FluxPipeline"),
    CatalogueEntry("z-image-turbo", "Z-Image-Turbo (local)", "Tongyi-MAI/Z-Image-Turbo", "ZImagePipeline"),
    CatalogueEntry("sd-turbo", "SD-Turbo (local)", "stabilityai/sd-turbo", "StableDiffusionPipeline"),
)

# Linear latent -> RGB maps (ComfyUI's latent preview factors). FLUX.1 and Z-Image share
# the 16-channel FLUX VAE; sd-turbo has the 4-channel SD VAE.
FLUX_RGB = (
    (-0.0346, 0.0244, 0.0681),
    (0.0034, 0.0210, 0.0687),
    (0.0275, -0.0668, -0.0433),
    (-0.0174, 0.0160, 0.0617),
    (0.0859, 0.0721, 0.0329),
    (0.0004, 0.0383, 0.0115),
    (0.0405, 0.0861, 0.0915),
    (-0.0236, -0.0185, -0.0259),
    (-0.0245, 0.0250, 0.1180),
    (0.1008, 0.0755, -0.0421),
    (-0.0515, 0.0201, 0.0011),
    (0.0428, -0.0012, -0.0036),
    (0.0817, 0.0765, 0.0749),
    (-0.1264, -0.0522, -0.1103),
    (-0.0280, -0.0881, -0.0499),
    (-0.1262, -0.0982, -0.0778),
)
FLUX_RGB_BIAS = (-0.0329, -0.0718, -0.0851)
SD_RGB = ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177))
LATENT_RGB = {16: (FLUX_RGB, FLUX_RGB_BIAS), 4: (SD_RGB, (0.0, 0.0, 0.0))}


@dataclass(frozen=True)
class LocalModel(ModelInfo):
    """A model this machine can run, with where it comes from and how it is called."""

    repo: str = ""
    family: str = ""
    guidance_scale: float = 0.0
    #: "models_dir" (a sub-folder), "hf_cache", or "download" (allowed, not yet on disk)
    source: str = ""
    path: str | None = None  # the folder to load, for "models_dir"

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data.update(
            repo=self.repo or None, pipeline=self.family, guidance_scale=self.guidance_scale, source=self.source
        )
        return data


class DiffusersProvider(Provider):
    id = "diffusers"
    label = "local models (diffusers)"
    cpu_bound = True  # inference holds a thread for seconds: run it in a real OS thread
    default_concurrency = 1  # one GPU, one pipeline

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env)
        self._use_lock = threading.Lock()  # held by the job using (or loading) the pipeline
        self._pipe: Any = None
        self._pipe_key: tuple[str, str, str] | None = None  # (model id, location, device/dtype)
        self.loaded_model: str | None = None
        self.load_count = 0
        self._scan: tuple[float, list[LocalModel]] | None = None
        self.allow_download = env_flag(env, "ATELIER_DIFFUSERS_ALLOW_DOWNLOAD")
        self.cpu_offload = env_flag(env, "ATELIER_DIFFUSERS_CPU_OFFLOAD")
        self.device_setting = env_choice(env, "ATELIER_DIFFUSERS_DEVICE", "auto", DEVICES)
        self.dtype_setting = env_choice(env, "ATELIER_DIFFUSERS_DTYPE", "auto", DTYPES)

    # --- settings --------------------------------------------------------------------
    def _setting(self, name: str, default: str = "") -> str:
        return (self.env.get(name) or "").strip() or default

    @property
    def models_dir(self) -> Path:
        return Path(self._setting("ATELIER_DIFFUSERS_MODELS_DIR", "models")).expanduser()

    @property
    def hf_cache(self) -> Path:
        """Where huggingface_hub keeps downloads (the same rules as huggingface_hub.constants)."""
        for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
            if self._setting(name):
                return Path(self._setting(name)).expanduser()
        if self._setting("HF_HOME"):
            return Path(self._setting("HF_HOME")).expanduser() / "hub"
        xdg = self._setting("XDG_CACHE_HOME", str(Path.home() / ".cache"))
        return Path(xdg).expanduser() / "huggingface" / "hub"

    # --- what it offers ----------------------------------------------------------------
    def availability(self) -> tuple[bool, str | None]:
        missing = [name for name in REQUIRED_MODULES if not _importable(name)]
        if missing:
            return False, (
                f"the optional local-model packages are not installed ({', '.join(missing)} missing); "
                f"install them with `{INSTALL_HINT}` and restart the studio"
            )
        if not any(m.source for m in self.models()):
            return False, (
                f"no local model found in {self.models_dir} or the Hugging Face cache {self.hf_cache}; "
                f"download one (e.g. `hf download stabilityai/sd-turbo`) or set "
                "ATELIER_DIFFUSERS_ALLOW_DOWNLOAD=1"
            )
        return True, None

    def models(self) -> list[LocalModel]:
        now = time.monotonic()
        if self._scan is None or now - self._scan[0] > SCAN_TTL_S:
            self._scan = (now, self._find_models())
        return self._scan[1]

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        found = {m.repo for m in self.models() if m.source}
        data["not_installed"] = [
            {"id": c.id, "repo": c.repo, "download": f"hf download {c.repo}"} for c in CATALOGUE if c.repo not in found
        ]
        data["loaded_model"] = self.loaded_model
        return data

    def setup_facts(self) -> dict[str, Any]:
        """What the Providers page shows to set local models up: what is missing, the command
        that installs the packages, where weights go, and the models found on disk."""
        found = [m for m in self.models() if m.source]
        return {
            "missing_packages": [name for name in REQUIRED_MODULES if not _importable(name)],
            "install_command": INSTALL_HINT,
            "models_dir": str(self.models_dir.absolute()),
            "models_dir_variable": "ATELIER_DIFFUSERS_MODELS_DIR",
            "hf_cache": str(self.hf_cache),
            "found": [{"id": m.id, "label": m.label, "source": m.source} for m in found],
            "download_examples": [f"hf download {c.repo}" for c in CATALOGUE[:2]],
        }

    def _find_models(self) -> list[LocalModel]:
        """The catalogue models on disk (models folder first, then the HF cache), then any other
        saved pipeline of a known class in the models folder. All of the catalogue, marked
        not installed, when none is found (so the listing still says what could be run)."""
        folders = self._model_folders()
        found: list[LocalModel] = []
        claimed: set[Path] = set()
        for entry in CATALOGUE:
            folder = next(
                (p for p, (name, cfg) in folders.items() if name in entry.folder_names or cfg.get("model") == entry.id),
                None,
            )
            if folder is not None:
                claimed.add(folder)
                found.append(self._model(entry.id, entry.label, entry.repo, entry.family, "models_dir", folder))
            elif _in_hf_cache(self.hf_cache, entry.repo):
                found.append(self._model(entry.id, entry.label, entry.repo, entry.family, "hf_cache", None))
            elif self.allow_download:
                found.append(self._model(entry.id, entry.label, entry.repo, entry.family, "download", None))
        for folder, (_name, cfg) in folders.items():
            family = cfg.get("_class_name")
            if folder not in claimed and family in FAMILIES:
                found.append(self._model(folder.name, f"{folder.name} (local)", "", family, "models_dir", folder))
        if found:
            return found
        return [self._model(e.id, e.label, e.repo, e.family, "", None) for e in CATALOGUE]

    def _model_folders(self) -> dict[Path, tuple[str, dict[str, Any]]]:
        """Sub-folders holding a saved pipeline: path -> (case-folded name, model_index + atelier.json)."""
        out: dict[Path, tuple[str, dict[str, Any]]] = {}
        try:
            children = sorted(self.models_dir.iterdir())
        except OSError:
            return out
        for child in children:
            index = _read_json(child / "model_index.json")
            if index is None:
                continue
            out[child] = (child.name.casefold(), {**index, **(_read_json(child / "atelier.json") or {})})
        return out

    def _model(
        self, model_id: str, label: str, repo: str, family_name: str, source: str, folder: Path | None
    ) -> LocalModel:
        family = FAMILIES[family_name]
        sizes, steps = dict(family.sizes), family.steps
        overrides = _read_json(folder / "atelier.json") if folder else None
        if overrides:  # a folder may carry its own capability table (a fine-tune, a test model)
            sizes = _sizes_override(overrides.get("sizes"), sizes, family.size_multiple, folder)
            steps = _steps_override(overrides.get("steps"), steps, folder)
            label = str(overrides.get("label") or label)
        return LocalModel(
            id=model_id,
            label=label,
            sizes=sizes,
            default_aspect_ratio="1:1" if "1:1" in sizes else next(iter(sizes)),
            supports_seed=True,
            # all three run without classifier-free guidance (guidance 0): a negative prompt has no effect
            supports_negative_prompt=False,
            steps=steps,
            step_progress=True,
            cancel=True,
            price_per_image=0.0,
            repo=repo,
            family=family_name,
            guidance_scale=family.guidance_scale,
            source=source,
            path=str(folder) if folder else None,
        )

    # --- what it does --------------------------------------------------------------------
    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        model = self.model(request.model)
        if model is None or not model.source:
            raise ProviderError(
                "provider_unavailable",
                f"the local model {request.model!r} is not on this machine; download it or set "
                "ATELIER_DIFFUSERS_ALLOW_DOWNLOAD=1",
                retryable=False,
            )
        if not self._use_lock.acquire(blocking=False):
            ctx.status("waiting for the local GPU (another job is using it)")
            while not self._use_lock.acquire(timeout=0.2):
                ctx.raise_if_cancelled()
        try:
            ctx.raise_if_cancelled()
            pipe, device = self._pipeline(model, ctx)
            for index in range(request.n):
                ctx.raise_if_cancelled()
                image = self._run(pipe, model, request, index, ctx)
                seed = request.seed_for(index)
                family = FAMILIES[model.family]
                # the pixels: the studio encodes them while the GPU makes the next image
                yield PixelImage(
                    index=index,
                    pixels=image,
                    seed=seed,
                    metadata={
                        "pipeline": model.family,
                        "device": device,
                        "guidance_scale": model.guidance_scale,
                        # the scheduler the pipeline really ran; CFG only where guidance is on
                        # (the catalogue's families run with guidance 0: none is applied)
                        **settings(
                            sampler=_scheduler_name(pipe),
                            cfg_scale=family.guidance_scale if family.guidance_scale > 0 else None,
                            steps=request.steps or family.steps.default,
                        ),
                    },
                )
        finally:
            self._use_lock.release()

    def _pipeline(self, model: LocalModel, ctx: GenerationContext) -> tuple[Any, str]:
        """The loaded pipeline for ``model``, loading it (and unloading the last one) if needed."""
        torch = _import("torch")
        device, dtype_name = self._device_and_dtype(torch, model)
        key = (model.id, model.path or model.repo, f"{device}/{dtype_name}")
        if self._pipe is not None and self._pipe_key == key:
            return self._pipe, device
        self.unload()
        diffusers = _import("diffusers")
        diffusers.utils.logging.disable_progress_bar()  # tqdm bars would flood the server log
        _import("transformers").utils.logging.disable_progress_bar()
        where = model.path if model.source == "models_dir" else model.repo
        ctx.status(f"loading {model.label} onto {device} (first use; kept loaded for the next jobs)")
        kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype_name), "local_files_only": not self.allow_download}
        if model.source != "models_dir":
            kwargs["cache_dir"] = str(self.hf_cache)
            if self.allow_download and self._setting("HF_TOKEN"):
                kwargs["token"] = self._setting("HF_TOKEN")
        started = time.monotonic()
        try:
            pipe = diffusers.DiffusionPipeline.from_pretrained(where, **kwargs)
            if self.cpu_offload and device != "cpu":
                pipe.enable_model_cpu_offload(device=device)
            else:
                pipe.to(device)
        except Exception as exc:
            self.unload()
            raise _load_error(model, where, exc, self.allow_download) from exc
        pipe.set_progress_bar_config(disable=True)
        log.info("loaded %s from %s on %s/%s in %.1fs", model.id, where, device, dtype_name, time.monotonic() - started)
        self._pipe, self._pipe_key, self.loaded_model = pipe, key, model.id
        self.load_count += 1
        return pipe, device

    def unload(self) -> None:
        """Free the loaded pipeline and its memory (GPU memory included)."""
        if self._pipe is None:
            return
        self._pipe = self._pipe_key = self.loaded_model = None
        gc.collect()
        torch = _import("torch")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            torch.mps.empty_cache()

    def _device_and_dtype(self, torch: Any, model: LocalModel) -> tuple[str, str]:
        wanted = self.device_setting
        has_mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        if wanted == "auto":
            device = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
        elif (wanted == "cuda" and not torch.cuda.is_available()) or (wanted == "mps" and not has_mps):
            raise ProviderError(
                "provider_unavailable",
                f"ATELIER_DIFFUSERS_DEVICE={wanted} but torch sees no such device; set it to auto or cpu",
                retryable=False,
            )
        else:
            device = wanted
        dtype = self.dtype_setting
        if dtype == "auto":
            if device == "cpu":
                dtype = "float32"  # half precision on a CPU is slow or unsupported
            else:
                dtype = FAMILIES[model.family].gpu_dtype
                if dtype == "bfloat16" and device == "cuda" and not torch.cuda.is_bf16_supported():
                    dtype = "float16"
        return device, dtype

    def _run(
        self, pipe: Any, model: LocalModel, request: GenerationRequest, index: int, ctx: GenerationContext
    ) -> Image.Image:
        torch = _import("torch")
        family = FAMILIES[model.family]
        seed = request.seed_for(index)
        # a CPU generator gives the same starting noise on every device
        generator = torch.Generator("cpu").manual_seed(seed) if seed is not None else None
        label = f"image {index + 1} of {request.n}"

        def on_step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            total = int(getattr(pipe, "num_timesteps", 0) or request.steps or 1)
            ctx.step(index, step + 1, total, f"{label}: step {step + 1} of {total}")
            latents = callback_kwargs.get("latents")
            if latents is not None:
                ctx.preview(index, latents_preview(pipe, latents, request.width, request.height))
            if ctx.cancelled:
                raise Cancelled()  # leaves the denoising loop now: no further step, no VAE decode
            return callback_kwargs

        try:
            with torch.inference_mode():
                result = pipe(
                    prompt=request.styled_prompt or request.prompt,
                    height=request.height,
                    width=request.width,
                    num_inference_steps=request.steps or family.steps.default,
                    guidance_scale=family.guidance_scale,
                    generator=generator,
                    callback_on_step_end=on_step_end,
                    callback_on_step_end_tensor_inputs=["latents"],
                    output_type="pil",
                    **family.extra_call_args,
                )
        except (Cancelled, ProviderError):
            raise
        except Exception as exc:
            raise _run_error(model, exc) from exc
        return result.images[0]


# --- helpers ---------------------------------------------------------------------------------
def _scheduler_name(pipe: Any) -> str | None:
    """The class name of the pipeline's scheduler (``EulerDiscreteScheduler``), None without one."""
    scheduler = getattr(pipe, "scheduler", None)
    return type(scheduler).__name__ if scheduler is not None else None


def _importable(name: str) -> bool:
    """Whether ``name`` could be imported, without importing it (torch takes seconds)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ProviderError(
            "provider_unavailable",
            f"{name} could not be imported ({exc}); install the local-model packages with `{INSTALL_HINT}`",
            retryable=False,
        ) from exc


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _in_hf_cache(cache: Path, repo: str) -> bool:
    """A snapshot of ``repo`` with its model_index.json in the huggingface_hub cache layout."""
    base = cache / ("models--" + repo.replace("/", "--"))
    try:
        revision = (base / "refs" / "main").read_text().strip()
    except OSError:
        return False
    return (base / "snapshots" / revision / "model_index.json").is_file()


def _sizes_override(raw: Any, default: dict[str, tuple[int, int]], multiple: int, folder: Path | None) -> dict:
    if raw is None:
        return default
    sizes: dict[str, tuple[int, int]] = {}
    if isinstance(raw, dict):
        for ratio, wh in raw.items():
            ok = ratio in ASPECT_RATIOS and isinstance(wh, list) and len(wh) == 2
            ok = ok and all(isinstance(v, int) and v > 0 and v % multiple == 0 for v in wh)
            if ok:
                sizes[ratio] = (wh[0], wh[1])
            else:
                _warn_once(f"{folder}/atelier.json: size {ratio}={wh!r} ignored ([w, h], multiples of {multiple})")
    return sizes or default


def _steps_override(raw: Any, default: StepRange, folder: Path | None) -> StepRange:
    if raw is None:
        return default
    names = {"min": "minimum", "max": "maximum", "default": "default"}
    try:
        steps = replace(default, **{names[k]: int(v) for k, v in raw.items()})
    except (AttributeError, KeyError, TypeError, ValueError):
        steps = None
    if steps is None or not 1 <= steps.minimum <= steps.default <= steps.maximum:
        _warn_once(f"{folder}/atelier.json: steps {raw!r} ignored (min <= default <= max, all >= 1)")
        return default
    return steps


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """Log a problem with a model folder once, not at every rescan."""
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def _load_error(model: LocalModel, where: str, exc: Exception, allow_download: bool) -> ProviderError:
    if _is_out_of_memory(exc):
        return ProviderError(
            "provider_unavailable",
            f"{model.label} does not fit in memory on this device; set ATELIER_DIFFUSERS_CPU_OFFLOAD=1, "
            "close other GPU programs, or pick a smaller model",
            retryable=False,
        )
    if isinstance(exc, OSError | ValueError) and not allow_download:
        return ProviderError(
            "provider_unavailable",
            f"{model.label} could not be loaded from {where} without downloading ({exc.__class__.__name__}: {exc}); "
            f"download it first (`hf download {model.repo or '<repo>'}`) or set "
            "ATELIER_DIFFUSERS_ALLOW_DOWNLOAD=1",
            retryable=False,
        )
    return ProviderError(
        "provider_unavailable",
        f"{model.label} could not be loaded from {where} ({exc.__class__.__name__}: {exc})",
        retryable=False,
    )


def _run_error(model: LocalModel, exc: Exception) -> ProviderError:
    if _is_out_of_memory(exc):
        return ProviderError(
            "provider_unavailable",
            f"{model.label} ran out of memory; choose a smaller aspect ratio or set ATELIER_DIFFUSERS_CPU_OFFLOAD=1",
        )
    return ProviderError(
        "invalid_request", f"{model.label} could not make this image ({exc.__class__.__name__}: {exc})"
    )


def _is_out_of_memory(exc: BaseException) -> bool:
    return exc.__class__.__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def latents_preview(pipe: Any, latents: Any, width: int, height: int) -> Image.Image:
    """A cheap RGB look at the latents: a fixed linear map per channel, no VAE decode."""
    torch = _import("torch")
    lat = latents[:1].detach()
    if lat.ndim == 3 and hasattr(pipe, "_unpack_latents"):  # FLUX packs 2x2 latent patches into tokens
        lat = pipe._unpack_latents(lat, height, width, pipe.vae_scale_factor)
    lat = lat[0].float().cpu()  # (channels, h, w)
    channels = lat.shape[0]
    if channels in LATENT_RGB:
        factors, bias = LATENT_RGB[channels]
        rgb = torch.einsum("chw,cr->rhw", lat, torch.tensor(factors)) + torch.tensor(bias)[:, None, None]
    else:  # an unknown VAE: its first channels, each scaled to [-1, 1]
        rgb = lat[[min(i, channels - 1) for i in range(3)]]
        rgb = rgb / rgb.abs().amax(dim=(1, 2), keepdim=True).clamp(min=1e-6)
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    image = Image.fromarray(pixels, "RGB")
    scale = min(PREVIEW_SIDE, max(width, height)) / max(width, height)
    size = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)
