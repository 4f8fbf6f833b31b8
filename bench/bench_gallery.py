"""Gallery benchmark: the index against the naive way, measured in the same run.

Makes a synthetic gallery of ``--count`` small real PNGs carrying Atelier metadata (in
parallel processes, into a temporary folder), then times: cold index build, warm start,
first page of 100, page 500 by cursor, a search, a filtered count, a thumbnail first and
cached, and a streamed ZIP export of ``--export-mb`` of larger images against reading the
same files, with the export's resident memory sampled as it runs. The naive way is what
the seed studios do: list the folder and read every file's metadata on each request.

    .venv/bin/python bench/bench_gallery.py                 # 100,000 images, 2 GB export
    .venv/bin/python bench/bench_gallery.py --count 10000 --export-mb 256
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from isal.isal_zlib import crc32  # noqa: E402
from PIL import Image  # noqa: E402

from backend.services.export import ZipExport  # noqa: E402
from backend.services.gallery import Gallery, image_json  # noqa: E402
from backend.services.gallery_query import build_query  # noqa: E402
from backend.services.thumbnails import ThumbnailCache  # noqa: E402
from backend.storage.files import gallery_filename  # noqa: E402
from backend.storage.gallery_index import GalleryIndex, ImageQuery  # noqa: E402
from backend.storage.metadata import embed_metadata, read_embedded  # noqa: E402

WORDS = (
    "mountain lake forest city street neon rain portrait castle dragon ocean sunset dawn night desert "
    "snow river garden robot cat dog fox owl whale ship train market temple bridge tower lighthouse "
    "cyberpunk fantasy anime watercolor oil cinematic golden misty stormy quiet ancient futuristic "
    "glowing crystal shadow ember velvet copper marble paper glass silver jade amber violet crimson"
).split()
PROVIDERS = ("offline", "openai", "gemini", "stability")
STYLES = ("none", "anime", "photorealistic", "cyberpunk", "fantasy", "oil painting")
RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:2")
START = datetime(2025, 1, 1, tzinfo=UTC)


# --- synthetic gallery ---------------------------------------------------------------------
def _make_range(args: tuple[str, int, int]) -> int:
    root, first, last = args
    rng = random.Random(first)
    base = io.BytesIO()
    Image.new("RGB", (16, 16), (rng.randrange(256), 90, 160)).save(base, "PNG", compress_level=1)
    pixels = base.getvalue()
    for i in range(first, last):
        when = START + timedelta(seconds=i * 37)
        prompt = " ".join(rng.choice(WORDS) for _ in range(8)) + f" n{i}"
        provider = PROVIDERS[i % len(PROVIDERS)]
        atelier = {
            "atelier_version": "0.1.0",
            "created_at": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "job_id": f"job{i // 4}",
            "session": f"tab{i % 50}",
            "provider": provider,
            "model": f"model-{i % 7}",
            "seed": i,
            "width": 16,
            "height": 16,
            "request": {
                "prompt": prompt,
                "negative_prompt": "blurry, lowres" if i % 2 else "",
                "provider": provider,
                "model": f"model-{i % 7}",
                "style": STYLES[i % len(STYLES)],
                "aspect_ratio": RATIOS[i % len(RATIOS)],
            },
        }
        data = embed_metadata(pixels, "PNG", f"{prompt}\nSteps: 8, Seed: {i}", atelier)
        folder = Path(root) / when.strftime("%Y-%m-%d")
        folder.mkdir(exist_ok=True)
        (folder / gallery_filename(when, provider, prompt, i, ".png")).write_bytes(data)
    return last - first


def make_gallery(root: Path, count: int) -> float:
    began = time.perf_counter()
    step = 2000
    jobs = [(str(root), s, min(s + step, count)) for s in range(0, count, step)]
    with multiprocessing.Pool() as pool:
        sum(pool.imap_unordered(_make_range, jobs))
    return time.perf_counter() - began


def _make_big(args: tuple[str, int, int]) -> int:
    root, index, side = args
    rng = random.Random(index)
    noise = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buf = io.BytesIO()
    noise.save(buf, "PNG", compress_level=0)
    when = START + timedelta(seconds=index)
    path = Path(root) / f"export-{index:05d}.png"
    path.write_bytes(buf.getvalue())
    os.utime(path, (when.timestamp(), when.timestamp()))
    return len(buf.getvalue())


def make_export_gallery(root: Path, megabytes: int, side: int = 1024) -> int:
    per_file = side * side * 3
    count = max(1, megabytes * 1024 * 1024 // per_file)
    with multiprocessing.Pool() as pool:
        return sum(pool.imap_unordered(_make_big, [(str(root), i, side) for i in range(count)]))


class _Sink:
    """An unseekable write-only stream, as an HTTP response is."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pos = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass


# --- the naive way ------------------------------------------------------------------------------
def naive_scan(root: Path) -> list[dict]:
    """List the folder and read every file's metadata: what the seed studios do per request."""
    found = []
    for dirpath, _, names in os.walk(root):
        if "/." in dirpath:
            continue
        for name in names:
            if name.endswith(".png"):
                with Image.open(os.path.join(dirpath, name)) as im:
                    _, atelier = read_embedded(im)
                if atelier:
                    found.append(atelier)
    return found


# --- measuring ----------------------------------------------------------------------------
def timed(fn, repeat: int = 1) -> float:
    """Median seconds of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="images in the synthetic gallery")
    parser.add_argument("--export-mb", type=int, default=2048, help="size of the export test set")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="atelier-bench-"))
    root = work / "gallery"
    root.mkdir()
    rows: list[tuple[str, str, str]] = []
    try:
        print(f"generating {args.count:,} images in {root} ...", flush=True)
        print(f"  made in {fmt(make_gallery(root, args.count))}", flush=True)

        # cold build, then warm start
        index_path = root / ".atelier" / "index.sqlite3"
        os.system("sync")
        began = time.perf_counter()
        gallery = Gallery(root, GalleryIndex(index_path))
        gallery.reconcile()
        cold = time.perf_counter() - began
        assert gallery.index.count() == args.count, gallery.index.count()
        gallery.index.db.close()
        began = time.perf_counter()
        gallery = Gallery(root, GalleryIndex(index_path))
        changed, removed = gallery.reconcile()
        warm = time.perf_counter() - began
        assert not changed and not removed
        index = gallery.index
        scan = timed(lambda: gallery.scan(gallery.known()), 3)
        print("timing the naive way (a full folder read per request) ...", flush=True)
        naive_first = timed(lambda: sorted(naive_scan(root), key=lambda a: a["created_at"], reverse=True)[:100])
        rows.append(("cold index build", fmt(cold), f"{args.count / cold:,.0f} images/s"))
        rows.append(("warm start (stat only)", fmt(warm), "-"))
        rows.append(("watcher scan, nothing changed", fmt(scan), "-"))

        def first_page():
            rows_, _ = gallery.page(100, None)
            index._counts.clear()  # total counted every time, not from the cache
            return [image_json(r) for r in rows_], index.total(ImageQuery())

        rows.append(("first page of 100 (+ total)", fmt(timed(first_page, 50)), fmt(naive_first)))

        cursor = None
        for _ in range(499):
            _, cursor = gallery.page(100, cursor)

        def page_500():
            return [image_json(r) for r in gallery.page(100, cursor)[0]]

        naive_500 = timed(lambda: sorted(naive_scan(root), key=lambda a: a["created_at"], reverse=True)[49900:50000])
        rows.append(("page 500 by cursor", fmt(timed(page_500, 50)), fmt(naive_500)))

        def known(name):
            return set(PROVIDERS) if name == "provider" else set(STYLES)

        search = build_query({"q": "crystal lighthouse"}, known)

        def run_search():
            index._counts.clear()
            return [image_json(r) for r in index.select(search, 100)], index.total(search)

        hits = run_search()[1]
        naive_search = timed(
            lambda: [
                a
                for a in naive_scan(root)
                if "crystal" in a["request"]["prompt"] and "lighthouse" in a["request"]["prompt"]
            ][:100]
        )
        rows.append(
            (f"search 'crystal lighthouse' ({hits:,} hits, + total)", fmt(timed(run_search, 50)), fmt(naive_search))
        )

        filtered = build_query({"provider": "openai", "style": "anime", "aspect_ratio": "16:9"}, known)

        def count_filtered():
            index._counts.clear()
            return index.total(filtered)

        naive_count = timed(
            lambda: sum(
                1
                for a in naive_scan(root)
                if a["provider"] == "openai"
                and a["request"]["style"] == "anime"
                and a["request"]["aspect_ratio"] == "16:9"
            )
        )
        rows.append((f"filtered count ({count_filtered():,})", fmt(timed(count_filtered, 20)), fmt(naive_count)))

        # thumbnails of a 1024 px image
        photo = root / "photo.png"
        Image.effect_mandelbrot((1024, 1024), (-2, -1.5, 1, 1.5), 100).convert("RGB").save(photo)
        thumbs = ThumbnailCache(work / "thumbs-root")

        def naive_thumb():
            with Image.open(photo) as im:
                im.thumbnail((256, 256))
                im.save(io.BytesIO(), "WEBP", quality=80)

        misses = iter(f"{n:016x}" for n in range(100))
        first_thumb = timed(lambda: thumbs.ensure(photo.read_bytes, next(misses), 256), 5)
        cached_thumb = timed(lambda: thumbs.cached(f"{0:016x}", 256).read_bytes(), 50)
        naive_t = timed(naive_thumb, 5)
        rows.append(("thumbnail 256 px, first request", fmt(first_thumb), fmt(naive_t)))
        rows.append(("thumbnail 256 px, cached", fmt(cached_thumb), fmt(naive_t)))
        index.db.close()

        # export
        export_root = work / "export"
        export_root.mkdir()
        print(f"generating the export set (~{args.export_mb} MB) ...", flush=True)
        total_bytes = make_export_gallery(export_root, args.export_mb)
        export_gallery = Gallery(export_root, GalleryIndex(export_root / ".atelier" / "index.sqlite3"))
        export_gallery.reconcile()
        files = [export_root / r.path for r in export_gallery.index.iterate(ImageQuery())]

        def raw_read():
            for path in files:
                with open(path, "rb") as f:
                    f.read()

        raw_read()  # both from the page cache: the comparison is CPU, not the disk
        raw = timed(raw_read, 3)
        exporter = ZipExport(export_gallery, lambda fn, *a: fn(*a))
        samples: list[float] = []

        def export():
            out = 0
            first_byte = None
            began = time.perf_counter()
            for i, chunk in enumerate(exporter.stream(ImageQuery())):
                if first_byte is None and chunk:
                    first_byte = time.perf_counter() - began
                out += len(chunk)
                if i % 50 == 0:
                    samples.append(rss_mb())
            return out, first_byte

        def crc_only():
            for path in files:
                with open(path, "rb") as f:
                    crc32(f.read())

        def stdlib_zipfile():
            """The way before: zipfile on an unseekable sink, zlib's CRC, 8 MB batches."""
            sink = _Sink()
            with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                batch = []
                for path in files:
                    with open(path, "rb") as f:
                        batch.append((path.name, f.read()))
                    if sum(len(d) for _, d in batch) >= 8 * 2**20:
                        for name, data in batch:
                            archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
                        batch = []
                        sink.parts.clear()
                for name, data in batch:
                    archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)

        crc = timed(crc_only, 3)
        before = timed(stdlib_zipfile, 2)
        rss_before = rss_mb()
        began = time.perf_counter()
        out_bytes, first_byte = export()
        export_s = time.perf_counter() - began
        mb = total_bytes / 2**20
        rows.append(
            (
                f"ZIP export of {mb:,.0f} MB ({len(files)} files)",
                f"{mb / export_s:,.0f} MB/s, first byte {fmt(first_byte)}",
                f"read: {mb / raw:,.0f} MB/s ({raw / export_s:.0%} of it)",
            )
        )
        rows.append(
            (
                "  ceiling: read + CRC-32 (ZIP requires it)",
                f"{mb / crc:,.0f} MB/s (export at {crc / export_s:.0%} of it)",
                "-",
            )
        )
        rows.append(
            (
                "  before: stdlib zipfile, zlib CRC, 8 MB batches",
                f"{mb / before:,.0f} MB/s (now {before / export_s:.1f}x faster)",
                "-",
            )
        )
        rows.append(
            (
                "export resident memory",
                f"{rss_before:.0f} MB before, {min(samples):.0f}-{max(samples):.0f} MB during",
                f"archive {out_bytes / 2**20:,.0f} MB",
            )
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    print(f"\nGallery benchmark: {args.count:,} images, {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print(f"{'operation':<{width}}  {'Atelier (index)':<{w2}}  naive (folder read per request)")
    print(f"{'-' * width}  {'-' * w2}  {'-' * 32}")
    for name, ours, naive in rows:
        print(f"{name:<{width}}  {ours:<{w2}}  {naive}")


if __name__ == "__main__":
    main()
