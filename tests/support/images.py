"""Real image files carrying each tool's metadata, built with Pillow, for gallery tests."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, PngImagePlugin

from backend.storage.files import gallery_filename
from backend.storage.metadata import TAG_EXIF_IFD, TAG_USER_COMMENT, embed_metadata, user_comment_bytes

BASE_TIME = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def png_with_text(texts: dict[str, str], colour=(90, 120, 200), size=(48, 32)) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_with_user_comment(text: str, size=(40, 30)) -> bytes:
    exif = Image.Exif()
    exif[TAG_EXIF_IFD] = {TAG_USER_COMMENT: user_comment_bytes(text)}
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 160, 90)).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def plain_png(colour=(10, 20, 30), size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


A1111_INFOTEXT = (
    "a castle on a hill, golden hour\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 987654, Size: 48x32, "
    'Model hash: abc123, Model: dreamshaper_8, Lora hashes: "a: 1, b: 2", Version: v1.10.1'
)


def sample_files() -> dict[str, tuple[bytes, dict]]:
    """name -> (bytes, what parsing must find), one per tool."""
    comfy_prompt = {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 4242,
                "steps": 20,
                "cfg": 7.0,
                "sampler_name": "euler",
                "positive": ["6", 0],
                "negative": ["7", 0],
                "model": ["4", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "comfy lighthouse in a storm", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark", "clip": ["4", 1]}},
    }
    invoke = {
        "positive_prompt": "invoke forest spirit",
        "negative_prompt": "ugly",
        "width": 768,
        "height": 512,
        "seed": 31337,
        "steps": 30,
        "cfg_scale": 7.5,
        "scheduler": "euler_a",
        "model": {"name": "juggernaut-xl", "base": "sdxl"},
    }
    sd_metadata = {
        "model": "stable diffusion",
        "model_weights": "stable-diffusion-1.5",
        "image": {
            "prompt": [{"prompt": "old invoke teapot [blurry]", "weight": 1.0}],
            "steps": 50,
            "cfg_scale": 7.5,
            "seed": 1111,
            "width": 512,
            "height": 512,
            "sampler": "k_lms",
        },
    }
    fooocus = {
        "prompt": "fooocus robot gardener",
        "negative_prompt": "cartoon",
        "base_model": "juggernautXL_v8Rundiffusion.safetensors",
        "seed": "2024",
        "steps": 30,
        "guidance_scale": 4,
        "sampler": "dpmpp_2m_sde_gpu",
        "resolution": "(1152, 896)",
        "version": "Fooocus v2.5.0",
    }
    swarm = {
        "sui_image_params": {
            "prompt": "swarm neon city",
            "negativeprompt": "people",
            "model": "flux-dev",
            "seed": 777,
            "steps": 25,
            "cfgscale": 3.5,
            "width": 1024,
            "height": 768,
        },
        "sui_extra_data": {"date": "2026-01-01"},
    }
    return {
        "a1111.png": (
            png_with_text({"parameters": A1111_INFOTEXT}),
            {
                "source": "a1111",
                "prompt": "a castle on a hill, golden hour",
                "negative_prompt": "blurry, lowres",
                "seed": 987654,
                "model": "dreamshaper_8",
                "steps": 28,
                "cfg_scale": 6.5,
            },
        ),
        "a1111.jpg": (
            jpeg_with_user_comment(A1111_INFOTEXT),
            {"source": "a1111", "prompt": "a castle on a hill, golden hour", "seed": 987654},
        ),
        "forge.png": (
            png_with_text({"parameters": "forge cat\nSteps: 10, Seed: 5, Model: flux1, Version: f2.0.1v1.10.1"}),
            {"source": "forge", "prompt": "forge cat", "seed": 5, "model": "flux1"},
        ),
        "comfyui.png": (
            png_with_text({"prompt": json.dumps(comfy_prompt), "workflow": json.dumps({"nodes": []})}),
            {
                "source": "comfyui",
                "prompt": "comfy lighthouse in a storm",
                "negative_prompt": "watermark",
                "seed": 4242,
                "model": "sd_xl_base_1.0.safetensors",
                "steps": 20,
                "width": 1024,
            },
        ),
        "invokeai.png": (
            png_with_text({"invokeai_metadata": json.dumps(invoke)}),
            {
                "source": "invokeai",
                "prompt": "invoke forest spirit",
                "negative_prompt": "ugly",
                "seed": 31337,
                "model": "juggernaut-xl",
                "cfg_scale": 7.5,
            },
        ),
        "sd-metadata.png": (
            png_with_text({"sd-metadata": json.dumps(sd_metadata)}),
            {
                "source": "invokeai-legacy",
                "prompt": "old invoke teapot",
                "negative_prompt": "blurry",
                "seed": 1111,
                "model": "stable-diffusion-1.5",
            },
        ),
        "dream.png": (
            png_with_text({"Dream": '"dream of a red fox [grainy]" -s 40 -S 2222 -W 512 -H 640 -C 7.0 -A k_euler'}),
            {
                "source": "invokeai-legacy",
                "prompt": "dream of a red fox",
                "negative_prompt": "grainy",
                "seed": 2222,
                "steps": 40,
                "height": 640,
            },
        ),
        "fooocus.png": (
            png_with_text({"parameters": json.dumps(fooocus), "fooocus_scheme": "fooocus"}),
            {
                "source": "fooocus",
                "prompt": "fooocus robot gardener",
                "seed": 2024,
                "model": "juggernautXL_v8Rundiffusion.safetensors",
                "width": 1152,
            },
        ),
        "swarmui.png": (
            png_with_text({"parameters": json.dumps(swarm)}),
            {
                "source": "swarmui",
                "prompt": "swarm neon city",
                "negative_prompt": "people",
                "seed": 777,
                "model": "flux-dev",
                "cfg_scale": 3.5,
            },
        ),
    }


def atelier_png(
    prompt: str,
    *,
    when: datetime,
    negative: str = "",
    provider: str = "offline",
    model: str = "renderer",
    style: str = "none",
    aspect_ratio: str = "1:1",
    seed: int = 1,
    session: str | None = None,
    job_id: str = "job",
    colour=(120, 80, 40),
) -> bytes:
    created_at = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    atelier = {
        "atelier_version": "0.1.0",
        "created_at": created_at,
        "job_id": job_id,
        "session": session,
        "index": 0,
        "provider": provider,
        "model": model,
        "seed": seed,
        "width": 16,
        "height": 16,
        "request": {
            "prompt": prompt,
            "negative_prompt": negative,
            "provider": provider,
            "model": model,
            "style": style,
            "aspect_ratio": aspect_ratio,
        },
    }
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buf, "PNG", compress_level=1)
    return embed_metadata(buf.getvalue(), "PNG", f"{prompt}\nSeed: {seed}, Model: {model}", atelier)


def write_atelier_image(gallery: Path, prompt: str, index: int, **kw) -> Path:
    when = kw.pop("when", BASE_TIME + timedelta(minutes=index))
    data = atelier_png(prompt, when=when, seed=kw.pop("seed", index), colour=(index % 256, 40, 90), **kw)
    folder = gallery / when.strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / gallery_filename(when, kw.get("provider", "offline"), prompt, index, ".png")
    path.write_bytes(data)
    return path


# --- hostile metadata: what anyone can write into a file ---------------------------------
def atelier_chunk(**overrides) -> dict:
    """A well-formed Atelier chunk with ``overrides`` replacing (or adding) top-level keys."""
    chunk = {
        "atelier_version": "0.1.0",
        "created_at": "2026-03-01T12:00:00.000Z",
        "job_id": "job-hostile",
        "session": None,
        "index": 0,
        "provider": "offline",
        "model": "renderer",
        "seed": 7,
        "width": 48,
        "height": 32,
        "request": {"prompt": "a hostile lighthouse", "negative_prompt": "", "provider": "offline"},
    }
    chunk.update(overrides)
    return chunk


def png_with_atelier(chunk: dict, colour=(200, 40, 40)) -> bytes:
    """A valid PNG whose ``atelier`` text chunk holds ``chunk`` as JSON, whatever its types
    (ASCII JSON, so lone surrogates and huge numbers survive as escapes and digits)."""
    return png_with_text({"atelier": json.dumps(chunk)}, colour=colour)


def hostile_metadata_files() -> dict[str, tuple[bytes, str]]:
    """name -> (a valid image whose metadata has wrong types or out-of-range values, the
    field that must be reported as ignored). Each broke the import, the parse endpoint, the
    watcher and the next start before those values were parsed at the boundary."""
    invoke = {"positive_prompt": ["a", "list"], "negative_prompt": "", "seed": 3, "model": {"name": "m"}}
    return {
        "seed-huge.png": (png_with_atelier(atelier_chunk(seed=10**30), (1, 2, 3)), "seed"),
        "job-id-object.png": (png_with_atelier(atelier_chunk(job_id={}), (4, 5, 6)), "job_id"),
        "request-string.png": (png_with_atelier(atelier_chunk(request="oops"), (7, 8, 9)), "request"),
        "created-null.png": (png_with_atelier(atelier_chunk(created_at=None), (10, 11, 12)), "created_at"),
        "invoke-list-prompt.png": (
            png_with_text({"invokeai_metadata": json.dumps(invoke)}, colour=(13, 14, 15)),
            "positive_prompt",
        ),
    }
