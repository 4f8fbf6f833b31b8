"""On a CUDA GPU: the diffusers provider against the bare pipeline, full-size models, one run.

    python bench/gpu_bench.py [--models flux,sdxl] [--runs 5] [--compile both|off|on] [--save-images 8]
    python bench/gpu_bench.py --tiny        # the same code on tiny configs on the CPU (a smoke run)

FLUX.1-schnell and SDXL-Turbo are built from their published configurations (written out
below: nothing can be downloaded) with random weights, directly on the GPU in their
working dtype. Compute time does not depend on the weights' values, so the time per image
is the real models'. Prompts go through small in-process tokenizers padded to the real
lengths (77 CLIP tokens, 256 T5 tokens for schnell), so the encoders see real shapes.

For each model, with and without ``torch.compile`` of its denoiser (``--compile``):
  - bare pipeline: ``pipe(prompt, ...)`` as diffusers' docs call it, median of ``--runs``;
  - Atelier's provider (backend/providers/diffusers_local.py): ``provider.generate`` on the
    same pipeline object (handed to it as if it had loaded it: saving and reloading 30 GB of
    random weights would only time the disk), with its step callbacks, latent previews and
    PNG encoding; runs alternated with the bare ones; the overhead in % (target: within 3%);
  - images per second including saving: ``--save-images`` images through the provider and
    the gallery's write (metadata, atomic write with fsync) into a temporary gallery.

Without CUDA (and without --tiny) it prints one line saying so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a benchmark never downloads

try:
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        PreTrainedTokenizerFast,
        T5Config,
        T5EncoderModel,
    )
except ImportError as exc:
    print(f"gpu_bench: torch/diffusers/transformers not installed ({exc}); pip install -r requirements-local.txt")
    sys.exit(0)

# --- the published configurations ------------------------------------------------------------
# black-forest-labs/FLUX.1-schnell: transformer/, vae/, text_encoder/ (CLIP ViT-L/14),
# text_encoder_2/ (T5 v1.1 XXL encoder), scheduler/ config.json
FLUX = {
    "transformer": dict(
        patch_size=1,
        in_channels=64,
        num_layers=19,
        num_single_layers=38,
        attention_head_dim=128,
        num_attention_heads=24,
        joint_attention_dim=4096,
        pooled_projection_dim=768,
        guidance_embeds=False,
        axes_dims_rope=[16, 56, 56],
    ),
    "vae": dict(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[128, 256, 512, 512],
        layers_per_block=2,
        act_fn="silu",
        latent_channels=16,
        norm_num_groups=32,
        sample_size=1024,
        scaling_factor=0.3611,
        shift_factor=0.1159,
        force_upcast=True,
        use_quant_conv=False,
        use_post_quant_conv=False,
        mid_block_add_attention=True,
    ),
    "text_encoder": dict(
        vocab_size=49408,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        projection_dim=768,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    ),
    "text_encoder_2": dict(
        vocab_size=32128,
        d_model=4096,
        d_kv=64,
        d_ff=10240,
        num_layers=24,
        num_heads=64,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",
        layer_norm_epsilon=1e-6,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    ),
    "scheduler": dict(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=False,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    ),
    "tokenizer_max": (77, 512),
    "call": dict(width=1024, height=1024, num_inference_steps=4, guidance_scale=0.0, max_sequence_length=256),
    "dtype": "bfloat16",
}

# stabilityai/sdxl-turbo: unet/, vae/ (SDXL VAE), text_encoder/ (CLIP ViT-L/14),
# text_encoder_2/ (OpenCLIP ViT-bigG/14, with projection), scheduler/ config.json
SDXL = {
    "unet": dict(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        block_out_channels=[320, 640, 1280],
        layers_per_block=2,
        transformer_layers_per_block=[1, 2, 10],
        attention_head_dim=[5, 10, 20],
        cross_attention_dim=2048,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
        norm_num_groups=32,
        act_fn="silu",
        flip_sin_to_cos=True,
        freq_shift=0,
    ),
    "vae": dict(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[128, 256, 512, 512],
        layers_per_block=2,
        act_fn="silu",
        latent_channels=4,
        norm_num_groups=32,
        sample_size=512,
        scaling_factor=0.13025,
        force_upcast=True,
    ),
    "text_encoder": FLUX["text_encoder"],
    "text_encoder_2": dict(
        vocab_size=49408,
        hidden_size=1280,
        intermediate_size=5120,
        num_hidden_layers=32,
        num_attention_heads=20,
        max_position_embeddings=77,
        hidden_act="gelu",
        projection_dim=1280,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    ),
    "scheduler": dict(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        steps_offset=1,
        timestep_spacing="trailing",
    ),
    "tokenizer_max": (77, 77),
    "call": dict(width=512, height=512, num_inference_steps=1, guidance_scale=0.0),
    "dtype": "float16",
}

#: --tiny: the same builders with small numbers, to know on a CPU that the script works
TINY = {
    "flux": {
        "transformer": {**FLUX["transformer"], "in_channels": 4, "num_layers": 1, "num_single_layers": 1,
                        "attention_head_dim": 16, "num_attention_heads": 2, "joint_attention_dim": 32,
                        "pooled_projection_dim": 32, "axes_dims_rope": [4, 4, 8]},
        "vae": {**FLUX["vae"], "down_block_types": ["DownEncoderBlock2D"], "up_block_types": ["UpDecoderBlock2D"],
                "block_out_channels": [4], "layers_per_block": 1, "latent_channels": 1, "norm_num_groups": 1},
        "text_encoder": {**FLUX["text_encoder"], "vocab_size": 64, "hidden_size": 32, "intermediate_size": 37,
                         "num_hidden_layers": 2, "num_attention_heads": 4, "projection_dim": 32},
        "text_encoder_2": {**FLUX["text_encoder_2"], "vocab_size": 64, "d_model": 32, "d_kv": 8, "d_ff": 37,
                           "num_layers": 2, "num_heads": 4, "relative_attention_num_buckets": 8},
        "call": {**FLUX["call"], "width": 32, "height": 32, "num_inference_steps": 2, "max_sequence_length": 16},
        "dtype": "float32",
    },
    "sdxl": {
        "unet": {**SDXL["unet"], "sample_size": 32, "block_out_channels": [32, 64], "layers_per_block": 1,
                 "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
                 "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "transformer_layers_per_block": [1, 2],
                 "attention_head_dim": [2, 4], "cross_attention_dim": 64, "addition_time_embed_dim": 8,
                 "projection_class_embeddings_input_dim": 80},
        "vae": {**SDXL["vae"], "block_out_channels": [32, 64], "layers_per_block": 1,
                "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2},
        "text_encoder": {**SDXL["text_encoder"], "vocab_size": 64, "hidden_size": 32, "intermediate_size": 37,
                         "num_hidden_layers": 2, "num_attention_heads": 4, "projection_dim": 32},
        "text_encoder_2": {**SDXL["text_encoder_2"], "vocab_size": 64, "hidden_size": 32, "intermediate_size": 37,
                           "num_hidden_layers": 2, "num_attention_heads": 4, "projection_dim": 32},
        "call": {**SDXL["call"], "width": 32, "height": 32},
        "dtype": "float32",
    },
}  # fmt: skip

WORDS = ["a", "cat", "dog", "red", "blue", "photo", "of", "the", "in", "on", "lake", "at", "dusk", "mountain"]
PROMPT = "a photo of a red cat on the mountain lake at dusk"
#: the folder names the provider knows these models by (a catalogue id, or any folder of a known class)
FOLDERS = {"flux": ("FLUX.1-schnell", "FluxPipeline"), "sdxl": ("sdxl-turbo", "StableDiffusionXLPipeline")}


def tokenizer(max_len: int) -> PreTrainedTokenizerFast:
    """A word-level tokenizer padded to the real model's length (the encoders' work depends on
    the length, not on which ids): nothing to download."""
    vocab = {t: i for i, t in enumerate(["<pad>", "<s>", "</s>", "<unk>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=max_len,
    )


@contextmanager
def building_on(device: str, dtype: torch.dtype) -> Iterator[None]:
    """Modules made inside are made on ``device`` in ``dtype`` at once (12 billion random
    parameters initialised on the CPU in float32 would take minutes and 48 GB)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(before)


def build(name: str, cfg: dict[str, Any], device: str) -> Any:
    dtype = getattr(torch, cfg["dtype"])
    torch.manual_seed(0)
    clip_max, second_max = cfg.get("tokenizer_max", (77, 512 if name == "flux" else 77))
    with building_on(device, dtype):
        vae = AutoencoderKL(**cfg["vae"])
        text_encoder = CLIPTextModel(CLIPTextConfig(**cfg["text_encoder"]))
        if name == "flux":
            pipe = FluxPipeline(
                scheduler=FlowMatchEulerDiscreteScheduler(**FLUX["scheduler"]),
                vae=vae,
                text_encoder=text_encoder,
                tokenizer=tokenizer(clip_max),
                text_encoder_2=T5EncoderModel(T5Config(**cfg["text_encoder_2"])),
                tokenizer_2=tokenizer(second_max),
                transformer=FluxTransformer2DModel(**cfg["transformer"]),
            )
        else:
            pipe = StableDiffusionXLPipeline(
                vae=vae,
                text_encoder=text_encoder,
                text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**cfg["text_encoder_2"])),
                tokenizer=tokenizer(clip_max),
                tokenizer_2=tokenizer(second_max),
                unet=UNet2DConditionModel(**cfg["unet"]),
                scheduler=EulerAncestralDiscreteScheduler(**SDXL["scheduler"]),
                force_zeros_for_empty_prompt=True,
            )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any]) -> float:
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def parameters(pipe: Any) -> str:
    count = sum(p.numel() for c in pipe.components.values() if isinstance(c, torch.nn.Module) for p in c.parameters())
    return f"{count / 1e9:.2f} B" if count >= 1e8 else f"{count:,}"


class Bench:
    """One model: the bare pipeline and the provider on the same pipeline object."""

    def __init__(self, name: str, cfg: dict[str, Any], device: str, work: Path) -> None:
        from backend.providers.base import GenerationRequest
        from backend.providers.diffusers_local import DiffusersProvider

        self.name, self.cfg, self.device = name, cfg, device
        folder_name, class_name = FOLDERS[name]
        models_dir = work / "models"
        folder = models_dir / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        # what the provider reads to know the model: its class and (here) its size table
        call = cfg["call"]
        (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
        (folder / "atelier.json").write_text(json.dumps({"sizes": {"1:1": [call["width"], call["height"]]}}))
        env = {
            **os.environ,
            "ATELIER_DIFFUSERS_MODELS_DIR": str(models_dir),
            "ATELIER_DIFFUSERS_DEVICE": device,
            "ATELIER_DIFFUSERS_DTYPE": cfg["dtype"],
        }
        self.provider = DiffusersProvider(env)
        model = next((m for m in self.provider.models() if m.path == str(folder)), None)
        if model is None:
            raise SystemExit(f"gpu_bench: the provider does not take a {class_name} folder (is its family known?)")
        self.model = model
        t0 = time.perf_counter()
        self.pipe = build(name, cfg, device)
        self.build_s = time.perf_counter() - t0
        # hand the pipeline to the provider as if it had loaded it (same key as its own load)
        dev, dtype_name = self.provider._device_and_dtype(torch, model)
        self.provider._pipe, self.provider._pipe_key = self.pipe, (model.id, model.path, f"{dev}/{dtype_name}")
        self.provider.loaded_model = model.id
        self.request = GenerationRequest(
            prompt=PROMPT,
            styled_prompt=PROMPT,
            negative_prompt="",
            provider="diffusers",
            model=model.id,
            style="none",
            aspect_ratio="1:1",
            width=call["width"],
            height=call["height"],
            n=1,
            seed=1,
            steps=call["num_inference_steps"],
        )

    def bare(self) -> Any:
        return self.pipe(prompt=PROMPT, generator=torch.Generator("cpu").manual_seed(1), **self.cfg["call"]).images[0]

    def through_provider(self) -> list[Any]:
        from backend.providers.base import QuietContext

        return list(self.provider.generate(self.request, QuietContext()))

    def compare(self, runs: int) -> tuple[list[float], list[float]]:
        self.bare(), self.through_provider()  # warm-up (and compilation, when compiled)
        bare, provider = [], []
        for i in range(runs):  # alternated, the order swapped each time
            pair = [(bare, self.bare), (provider, self.through_provider)]
            for out, fn in pair if i % 2 == 0 else pair[::-1]:
                out.append(timed(fn))
        assert self.provider.load_count == 0, "the provider used the pipeline it was given"
        return bare, provider

    def with_saving(self, count: int, gallery_dir: Path) -> tuple[float, float]:
        """(images/s through the provider and the gallery's save, images/s of the bare pipeline)."""
        from backend.services.gallery import Gallery, SaveContext
        from backend.storage.gallery_index import GalleryIndex

        gallery = Gallery(gallery_dir, GalleryIndex(gallery_dir / ".atelier" / "index.sqlite3"))
        save = SaveContext("bench", None, "2026-01-01T00:00:00Z", None)
        t0 = time.perf_counter()
        for _ in range(count):
            for generated in self.through_provider():
                gallery.add(gallery.write_image(self.request, generated, save))
        sync()
        with_save = count / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(count):
            self.bare()
        sync()
        return with_save, count / (time.perf_counter() - t0)

    def compile(self) -> float:
        t0 = time.perf_counter()
        if self.name == "flux":
            self.pipe.transformer = torch.compile(self.pipe.transformer, fullgraph=False)
        else:
            self.pipe.unet = torch.compile(self.pipe.unet, fullgraph=False)
        self.bare()  # compiles
        return time.perf_counter() - t0


def ms(v: float) -> str:
    return f"{v * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="flux,sdxl")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compile", choices=("both", "off", "on"), default="both")
    parser.add_argument("--save-images", type=int, default=8)
    parser.add_argument("--tiny", action="store_true", help="tiny configs on the CPU: does the script work?")
    args = parser.parse_args()
    if args.tiny:
        device = "cpu"
    elif not torch.cuda.is_available():
        print(
            "gpu_bench: no CUDA device here; nothing measured (run it on a GPU machine, or --tiny for a CPU smoke run)"
        )
        return 0
    else:
        device = "cuda"
    where = (
        "CPU, TINY configs (does the script work; not a model's speed)" if args.tiny else torch.cuda.get_device_name(0)
    )
    print(f"gpu_bench: {where}; torch {torch.__version__}; {time.strftime('%Y-%m-%d')}; medians of {args.runs} runs\n")
    print("| model | compile | size, steps | bare pipeline | Atelier provider | overhead | images/s saved (bare) |")
    print("|---|---|---|---|---|---|---|")
    modes = {"both": (False, True), "off": (False,), "on": (True,)}[args.compile]
    with tempfile.TemporaryDirectory(prefix="atelier-gpu-bench-") as tmp:
        for name in args.models.split(","):
            full = {"flux": FLUX, "sdxl": SDXL}[name]
            cfg = {**full, **TINY[name]} if args.tiny else full
            bench = Bench(name, cfg, device, Path(tmp))
            print(
                f"<!-- {name}: built {parameters(bench.pipe)} parameters in {bench.build_s:.1f} s -->",
                flush=True,
            )
            for compiled in modes:
                note = ""
                if compiled:
                    note = f" (compiled in {bench.compile():.0f} s)"
                bare, provider = bench.compare(args.runs)
                b, p = statistics.median(bare), statistics.median(provider)
                saved, plain = bench.with_saving(args.save_images, Path(tmp) / f"gallery-{name}-{compiled}")
                call = cfg["call"]
                print(
                    f"| {name} | {'torch.compile' if compiled else 'eager'}{note} "
                    f"| {call['width']}x{call['height']}, {call['num_inference_steps']} | {ms(b)} | {ms(p)} "
                    f"| {(p - b) / b * 100:+.1f}% | {saved:.2f} ({plain:.2f}) |",
                    flush=True,
                )
            del bench
            if device == "cuda":
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
