"""Reading the whole listing (issue 16, target 5): every image of a 20,000-image gallery
over HTTP, the ways a client can ask Atelier for it, beside the seed studio's way.

Baseline, measured in the same run: the seed studio's one-request folder dump, a plain
Flask app (the Werkzeug server the seed studios run) whose ``GET /api/images`` walks the
folder, stats every image and answers them all as one JSON list, newest first. Atelier
(eventlet, the default) answers the same from its index: pages of 200 (the old limit),
pages of 1,000 by cursor, and the streamed ``GET /api/images.ndjson``. One keep-alive
client, runs interleaved, medians of ``--runs``; every answer is checked to hold every
image once.

    .venv/bin/python bench/bench_listing.py               # 20,000 images
    .venv/bin/python bench/bench_listing.py --count 5000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_gallery import make_gallery  # noqa: E402
from tests.support.server import ServerProcess, free_port  # noqa: E402


# --- the baseline: the seed studio's folder dump, in its own process ----------------------------
def serve_dump(root: str, port: int) -> None:
    from flask import Flask, jsonify

    app = Flask("seed")

    @app.get("/api/images")
    def images():
        found = []
        for dirpath, dirnames, names in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in names:
                if name.endswith(".png"):
                    st = os.stat(os.path.join(dirpath, name))
                    rel = os.path.relpath(os.path.join(dirpath, name), root)
                    found.append({"name": name, "url": "/images/" + rel, "size": st.st_size, "mtime": st.st_mtime})
        found.sort(key=lambda i: i["mtime"], reverse=True)
        return jsonify(found)

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app.run("127.0.0.1", port, threaded=True)


def start_dump(root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.bench_listing import serve_dump; "
    code += f"serve_dump({str(root)!r}, {port})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(url + "/nothing", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("the baseline server did not start")


# --- the ways to read everything -----------------------------------------------------------------
def paged(http: requests.Session, url: str, limit: int) -> tuple[int, int]:
    count, cursor, made = 0, None, 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = http.get(url + "/api/images", params=params, timeout=60).json()
        made += 1
        count += len(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return count, made


def streamed(http: requests.Session, url: str) -> tuple[int, int]:
    r = http.get(url + "/api/images.ndjson", timeout=60, stream=True)
    count = sum(1 for line in r.iter_lines(chunk_size=1 << 16) if line and json.loads(line))
    return count, 1


def dumped(http: requests.Session, url: str) -> tuple[int, int]:
    return len(http.get(url + "/api/images", timeout=60).json()), 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="atelier-bench-listing-"))
    gallery = work / "gallery"
    gallery.mkdir()
    make_gallery(gallery, args.count)
    server = ServerProcess(work, "eventlet", ATELIER_LOG_LEVEL="WARNING")
    server.start(wait=False)
    server.wait_ready(timeout=300)
    dump, dump_url = start_dump(gallery)
    ways = {
        "Atelier, pages of 200 (the old limit)": lambda h: paged(h, server.url, 200),
        "Atelier, pages of 1,000": lambda h: paged(h, server.url, 1000),
        "Atelier, GET /api/images.ndjson": lambda h: streamed(h, server.url),
        "seed studio's folder dump (one request)": lambda h: dumped(h, dump_url),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    made: dict[str, int] = {}
    try:
        with requests.Session() as http:
            for way in ways.values():  # warm: the index's pages, the OS's directory cache
                way(http)
            for _ in range(args.runs):
                for name, way in ways.items():
                    began = time.perf_counter()
                    count, made[name] = way(http)
                    times[name].append(time.perf_counter() - began)
                    assert count == args.count, (name, count)
    finally:
        dump.terminate()
        dump.wait()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(times["seed studio's folder dump (one request)"])
    print(
        f"The whole listing of {args.count:,} images over HTTP, one keep-alive client, "
        f"medians of {args.runs} interleaved runs.\n"
    )
    print("| way | requests | time | vs the seed studio's dump |")
    print("|---|---|---|---|")
    for name in ways:
        median = statistics.median(times[name])
        print(f"| {name} | {made[name]} | {median * 1000:.0f} ms | {median / base:.2f}× |")


if __name__ == "__main__":
    main()
