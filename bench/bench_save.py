"""The save path (issue 16, target 7): PNG encoders for a 1024x1024 image, and how many
images per second a provider that hands over ready pixels gets through Atelier's real save
path (encode, metadata chunks, fsynced atomic write, index, job store, event).

1. Encoders, each with Atelier's metadata chunks embedded after (the time includes that):
   Pillow at levels 1, 4 and 6 against the fastest PNG encoders installable from PyPI,
   when installed (``pip install -r requirements-bench.txt``): imagecodecs (libpng and
   libspng), OpenCV, fpng. Every output is decoded and checked to hold the same pixels.
   The image: the offline renderer's 1024x1024 picture with fine noise added (a diffusion
   model's output has detail everywhere; a smooth render compresses 20x better and would
   flatter every encoder).
2. Throughput: the real JobRunner and GallerySink on a real gallery, a job of ``--images``
   images from an in-memory provider, beside encoding alone (one thread, the same images).
   "before": the provider encodes each image and the gallery decodes it again to check it,
   saved before the next is made (the old way); "pixels, depth 0": the pixels handed over,
   encoded by the save path, saved before the next; "now": encoded and saved while the
   next is made (depth 2). Also with a producer that takes as
   long as one encode per image (a GPU's time, spent outside the GIL): there the old way
   pays encode + GPU per image and the new one the larger of the two.

    .venv/bin/python bench/bench_save.py
    .venv/bin/python bench/bench_save.py --images 8 --runs 3      # a job holds at most 10
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.config import load_settings  # noqa: E402
from backend.providers.base import (  # noqa: E402
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ModelInfo,
    PixelImage,
    Provider,
    StepRange,
    encode_png,
)
from backend.providers.offline import render  # noqa: E402
from backend.providers.registry import ProviderRegistry  # noqa: E402
from backend.runtime import Runtime  # noqa: E402
from backend.services.events import EventBus  # noqa: E402
from backend.services.fallback import FallbackChain  # noqa: E402
from backend.services.gallery import Gallery  # noqa: E402
from backend.services.job_context import JobContext  # noqa: E402
from backend.services.job_runner import JobRunner, Producers  # noqa: E402
from backend.services.job_sinks import GallerySink  # noqa: E402
from backend.services.validation import build_generation_request  # noqa: E402
from backend.storage.gallery_index import GalleryIndex  # noqa: E402
from backend.storage.job_store import JobRecord, JobStore  # noqa: E402
from backend.storage.metadata import embed_metadata, read_embedded  # noqa: E402

SIDE = 1024
INFOTEXT = "a lighthouse on a cliff at dawn\nSteps: 4, Sampler: Euler, CFG scale: 0, Seed: 7, Size: 1024x1024"
ATELIER = {"atelier_version": "bench", "provider": "ready", "model": "m", "seed": 7, "width": SIDE, "height": SIDE}


def test_image() -> Image.Image:
    base = np.asarray(render("a lighthouse on a cliff at dawn", 7, "none", SIDE, SIDE)).astype(np.int16)
    noise = np.random.default_rng(7).normal(0, 6, base.shape).astype(np.int16)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


# --- 1. encoders ---------------------------------------------------------------------------------
def encoders(image: Image.Image) -> dict[str, Callable[[], bytes]]:
    arr = np.asarray(image)
    found: dict[str, Callable[[], bytes]] = {
        f"Pillow {Image.__version__}, level {lv}": (lambda lv=lv: encode_png(image, lv)) for lv in (1, 4, 6)
    }
    try:
        import imagecodecs

        found[f"imagecodecs {imagecodecs.__version__} (libpng), level 1"] = lambda: imagecodecs.png_encode(arr, level=1)
        found[f"imagecodecs {imagecodecs.__version__} (libspng), level 1"] = lambda: imagecodecs.spng_encode(
            arr, level=1
        )
    except ImportError:
        pass
    try:
        import cv2

        bgr = np.ascontiguousarray(arr[:, :, ::-1])
        found[f"OpenCV {cv2.__version__}, level 1"] = lambda: cv2.imencode(
            ".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1]
        )[1].tobytes()
    except ImportError:
        pass
    try:
        import fpng

        found["fpng 0.1.0 (fpng's own fast deflate)"] = lambda: fpng.from_ndarray(arr)
    except ImportError:
        pass
    return found


def time_encoders(image: Image.Image, runs: int) -> list[tuple[str, float, int]]:
    arr = np.asarray(image)
    results = []
    for name, encode in encoders(image).items():
        data = embed_metadata(encode(), "PNG", INFOTEXT, ATELIER)
        with Image.open(io.BytesIO(data)) as im:
            assert np.array_equal(np.asarray(im.convert("RGB")), arr), f"{name}: not the same pixels"
            assert read_embedded(im)[1] is not None, f"{name}: metadata chunks lost"
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            embed_metadata(encode(), "PNG", INFOTEXT, ATELIER)
            times.append(time.perf_counter() - began)
        results.append((name, statistics.median(times), len(data)))
    return results


# --- 2. throughput through the real save path ------------------------------------------------------
class Ready(Provider):
    """Hands over the same ready pixels ``n`` times; ``busy`` seconds per image first (a GPU)."""

    id = "ready"
    label = "ready pixels"

    def __init__(self, image: Image.Image, busy: float, encoded: bool) -> None:
        super().__init__({})
        self.image, self.busy, self.encoded = image, busy, encoded

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(id="m", label="m", sizes={"1:1": (SIDE, SIDE)}, steps=StepRange(1, 4, 2))]

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        for index in range(request.n):
            if self.busy:
                time.sleep(self.busy)  # the GPU's time: the GIL is free meanwhile
            if self.encoded:  # the old way: the provider encodes, the gallery decodes it again to check
                yield GeneratedImage(index, encode_png(self.image), seed=index)
            else:
                yield PixelImage(index, self.image, seed=index)


class _Events:
    def on_progress(self, job_id: str, event: Any) -> None:
        pass

    def on_preview(self, job_id: str, event: Any) -> None:
        pass


def _spawn(fn: Callable[..., Any], *args: Any) -> Any:
    import threading

    thread = threading.Thread(target=fn, args=args, daemon=True)
    thread.start()
    return thread


def run_job(work: Path, image: Image.Image, n: int, depth: int, busy: float, encoded: bool) -> float:
    """Seconds for one job of ``n`` images through the runner and the gallery sink."""
    folder = Path(tempfile.mkdtemp(dir=work))
    runtime = Runtime(_spawn, time.sleep)
    Gallery.prepare_folder(folder / "gallery")
    gallery = Gallery(folder / "gallery", GalleryIndex(folder / "index.sqlite3"))
    store = JobStore(folder / "jobs.sqlite3")
    bus = EventBus(lambda *a: None, lambda s, r: None, lambda s, r: None, lambda j: 0, store.set_last_seq)
    provider = Ready(image, busy, encoded)
    registry = ProviderRegistry([provider])
    request, _, _ = build_generation_request({"prompt": "a lighthouse", "provider": "ready", "n": n}, registry, "ready")
    job = JobRecord(id="bench", created_at="2026-01-01T00:00:00.000Z", request=request.to_json())
    store.save(job)
    runner = JobRunner(Producers(registry, {}), FallbackChain(registry, ()), runtime, save_depth=depth)
    sink = GallerySink(gallery, store, bus, runtime)
    began = time.perf_counter()
    outcome = runner.run(job, request, JobContext(_Events(), job.id, n, runtime, 1.0, 64), sink)
    took = time.perf_counter() - began
    assert outcome.status == "succeeded" and len(job.images) == n, outcome
    gallery.index.db.close()
    store.db.close()
    shutil.rmtree(folder, ignore_errors=True)
    return took


def encode_alone(image: Image.Image, n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        embed_metadata(encode_png(image), "PNG", INFOTEXT, ATELIER)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10, choices=range(1, 11), metavar="1-10", help="images per job")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    load_settings({"ATELIER_ENV_FILE": "/nonexistent"})  # fail early on a broken environment
    image = test_image()
    work = Path(tempfile.mkdtemp(prefix="atelier-bench-save-"))
    try:
        results = time_encoders(image, args.runs)
        base_time = results[0][1]
        print(f"PNG encoders, one {SIDE}x{SIDE} RGB image with Atelier's metadata chunks, median of {args.runs}:\n")
        print("| encoder | time | size | time vs Pillow level 1 |")
        print("|---|---|---|---|")
        for name, took, size in results:
            print(f"| {name} | {took * 1000:.1f} ms | {size / 2**20:.2f} MB | {took / base_time:.2f}× |")

        encode_s = statistics.median(encode_alone(image, args.images) for _ in range(args.runs)) / args.images
        busy = encode_s  # a producer as fast as one encode
        gpu = f"GPU {busy * 1000:.0f} ms/image"
        cases = {
            ("ready pixels", "before: the provider encodes, saved before the next"): (0, 0.0, True),
            ("ready pixels", "pixels, saved before the next (depth 0)"): (0, 0.0, False),
            ("ready pixels", "now: pixels, encoded and saved beside the next (depth 2)"): (2, 0.0, False),
            (gpu, "before: the provider encodes, saved before the next"): (0, busy, True),
            (gpu, "pixels, saved before the next (depth 0)"): (0, busy, False),
            (gpu, "now: pixels, encoded and saved beside the next (depth 2)"): (2, busy, False),
        }
        times: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
        for _ in range(args.runs):  # interleaved
            for case, (depth, seconds, encoded) in cases.items():
                times[case].append(run_job(work, image, args.images, depth, seconds, encoded))
        print(
            f"\nThroughput, a job of {args.images} images through the runner and the gallery sink "
            f"(fsynced writes), median of {args.runs} interleaved runs; encoding alone "
            f"(Pillow level 1 + metadata, one thread): {1 / encode_s:.1f} images/s.\n"
        )
        print("| producer | save path | images/s | vs encoding alone |")
        print("|---|---|---|---|")
        for (producer, path), values in times.items():
            rate = args.images / statistics.median(values)
            print(f"| {producer} | {path} | {rate:.1f} | {rate * encode_s:.2f}× |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
