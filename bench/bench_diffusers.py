"""Time per image: the diffusers provider against the bare diffusers pipeline, same model.

    python bench/bench_diffusers.py [--model sd-turbo] [--runs 5] [--steps N] [--size WxH]

With a GPU and a real model on disk (ATELIER_DIFFUSERS_MODELS_DIR or the Hugging Face
cache) it measures that model. Otherwise it builds the tiny random-weight pipeline of
the tests and runs on the CPU: that measures only the provider's own overhead
(callback, latent previews, PNG encoding), never a model's speed, and says so.

Both sides run in this one process, each warmed up once, their runs alternated so that
load from other programs hits both alike (two copies of the model in memory; with
--sequential the bare pipeline is freed before the provider loads its own); medians.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a benchmark never downloads

try:
    import torch
    from diffusers import DiffusionPipeline
except ImportError:
    print("bench_diffusers: torch/diffusers not installed (pip install -r requirements-local.txt); skipped")
    sys.exit(0)

from backend.providers.base import GenerationRequest, QuietContext  # noqa: E402
from backend.providers.diffusers_local import FAMILIES, DiffusersProvider, LocalModel  # noqa: E402


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, runs: int, warm_up: bool = True) -> list[float]:
    """Seconds of each of ``runs`` calls, after one unmeasured call when ``warm_up``."""
    if warm_up:
        fn()
    times = []
    for _ in range(runs):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def pick_setup(args) -> tuple[dict[str, str], LocalModel, str]:
    """(provider env, model, label): a real model on a GPU, else the tiny one on the CPU."""
    env = dict(os.environ)
    if torch.cuda.is_available():
        provider = DiffusersProvider(env)
        real = [m for m in provider.models() if m.source and (args.model is None or m.id == args.model)]
        if real:
            return env, real[0], f"REAL model {real[0].id} on {torch.cuda.get_device_name(0)}"
        print("bench_diffusers: a GPU but no local model found; falling back to the tiny pipeline on the CPU")
    from tests.support.tiny_diffusers import save_tiny_models

    folder = Path(tempfile.mkdtemp(prefix="atelier-bench-"))
    save_tiny_models(folder, ("zimage",))
    env.update(ATELIER_DIFFUSERS_MODELS_DIR=str(folder), ATELIER_DIFFUSERS_DEVICE="cpu")
    model = DiffusersProvider(env).model("z-image-turbo")
    assert model is not None
    label = "TINY random-weight Z-Image pipeline on the CPU (provider overhead only, not model speed)"
    return env, model, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="catalogue id (flux.1-schnell, z-image-turbo, sd-turbo)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--sequential", action="store_true", help="bare runs, free, then provider runs (less memory)")
    parser.add_argument("--size", help="WxH; default: the model's 1:1 size (128x128 for the tiny one)")
    args = parser.parse_args()

    env, model, label = pick_setup(args)
    family = FAMILIES[model.family]
    steps = args.steps or family.steps.default
    default_size = model.sizes["1:1"] if "REAL" in label else (128, 128)
    width, height = (int(v) for v in args.size.split("x")) if args.size else default_size
    provider = DiffusersProvider(env)
    device, dtype = provider._device_and_dtype(torch, model)
    prompt = "a red cat on a blue photo"
    print(f"bench_diffusers: {label}")
    print(f"  {model.family}, {width}x{height}, {steps} steps, {device}/{dtype}, median of {args.runs} runs")

    # the bare pipeline, loaded and called as diffusers' docs do
    where = model.path if model.source == "models_dir" else model.repo
    kwargs = {"dtype": getattr(torch, dtype), "local_files_only": True}
    if model.source != "models_dir":
        kwargs["cache_dir"] = str(provider.hf_cache)
    pipe = DiffusionPipeline.from_pretrained(where, **kwargs).to(device)
    pipe.set_progress_bar_config(disable=True)

    def bare() -> None:
        pipe(
            prompt=prompt,
            height=height,
            width=width,
            num_inference_steps=steps,
            guidance_scale=family.guidance_scale,
            generator=torch.Generator("cpu").manual_seed(1),
            **family.extra_call_args,
        ).images[0]

    # the provider: step callbacks, latent previews, PNG bytes; its pipeline stays loaded
    request = GenerationRequest(
        prompt=prompt,
        styled_prompt=prompt,
        negative_prompt="",
        provider="diffusers",
        model=model.id,
        style="none",
        aspect_ratio="1:1",
        width=width,
        height=height,
        n=1,
        seed=1,
        steps=steps,
    )

    def through_provider() -> None:
        list(provider.generate(request, QuietContext()))

    if args.sequential:  # one copy of the model in memory at a time
        bare_times = timed(bare, args.runs)
        pipe = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        provider_times = timed(through_provider, args.runs)
    else:  # alternate the two, so load from other programs hits both alike
        bare(), through_provider()  # warm-up and the provider's one load
        bare_times, provider_times = [], []
        for _ in range(args.runs):
            bare_times += timed(bare, 1, warm_up=False)
            provider_times += timed(through_provider, 1, warm_up=False)
    assert provider.load_count == 1, "the provider loaded once and reused the pipeline"
    bare_median, provider_median = statistics.median(bare_times), statistics.median(provider_times)

    overhead = provider_median - bare_median
    print(
        f"  bare diffusers pipeline : {bare_median * 1000:9.1f} ms/image  runs {[round(t * 1000) for t in bare_times]}"
    )
    print(
        f"  atelier diffusers       : {provider_median * 1000:9.1f} ms/image  runs "
        f"{[round(t * 1000) for t in provider_times]}"
    )
    print(
        f"  fastest run             : bare {min(bare_times) * 1000:.1f} ms, atelier {min(provider_times) * 1000:.1f} ms"
        " (less sensitive to other programs on a busy machine)"
    )
    print(f"  provider overhead       : {overhead * 1000:+9.1f} ms/image ({overhead / bare_median * 100:+.1f}%)")


if __name__ == "__main__":
    main()
