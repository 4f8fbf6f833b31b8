"""Idle cost and cold start of a real server on a big gallery, beside their baselines, in one run.

- **Cold start** (issue 16, target 4): a folder of ``--count`` images never indexed; the time
  from starting the process to its first HTTP answer (``/healthz``), to its first listing,
  and to a complete index. Atelier builds a big folder's index in the background; the
  baseline is the blocking start of before (the whole index built before serving), run
  by the same code with the background threshold set out of reach. Interleaved, ``--runs``
  of each.
- **Idle** (target 3): the server's CPU time over ``--idle-seconds`` with nothing happening, on
  the indexed gallery, with the operating system's file events (ATELIER_WATCH_MODE=events)
  and with the polling watcher of before as the baseline (poll, every 2 s); then the delay
  from a file written by hand to its ``gallery.added`` on a Socket.IO client, the median of
  ``--adds`` files.

The gallery is tiny PNGs with Atelier metadata (bench_gallery's generator) in a temporary
folder, deleted at the end.

    .venv/bin/python bench/bench_index.py                      # 100,000 images
    .venv/bin/python bench/bench_index.py --count 20000 --idle-seconds 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bench.bench_gallery import make_gallery  # noqa: E402
from tests.support.images import plain_png  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.support.sio import EventRecorder  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
#: the blocking start of before: the same server with the background threshold out of reach
BLOCKING = (
    "import sys, warnings; warnings.filterwarnings('ignore');"
    "import eventlet; eventlet.monkey_patch();"
    "import backend.services.gallery_indexer as g; g.FOREGROUND_FILES = g.FOREGROUND_READS = 10**12;"
    "from backend.cli import main; sys.exit(main())"
)


#: Studio.start() alone, in a process of its own (threading mode): what the gallery costs before
#: serving can begin, without the process's boot; argv[1] "blocking" for the start of before
START_ONLY = (
    "import os, sys, time;"
    "import backend.services.gallery_indexer as g;"
    "blocking = sys.argv[1] == 'blocking';"
    "g.FOREGROUND_FILES = 10**12 if blocking else g.FOREGROUND_FILES;"
    "g.FOREGROUND_READS = 10**12 if blocking else g.FOREGROUND_READS;"
    "from backend.app import create_app;"
    "app, _ = create_app();"
    "t = time.perf_counter(); app.extensions['atelier'].start(); print(time.perf_counter() - t, flush=True);"
    "os._exit(0)"
)


def studio_start_seconds(tmp: Path, gallery: Path, blocking: bool) -> float:
    shutil.rmtree(gallery / ".atelier", ignore_errors=True)
    env = ServerProcess(tmp, "threading", ATELIER_GALLERY_DIR=str(gallery), ATELIER_LOG_LEVEL="WARNING").env()
    kind = "blocking" if blocking else "background"
    out = subprocess.run([sys.executable, "-c", START_ONLY, kind], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


class Server(ServerProcess):
    def __init__(self, tmp: Path, gallery: Path, blocking: bool = False, **env: str) -> None:
        super().__init__(tmp, "eventlet", ATELIER_GALLERY_DIR=str(gallery), ATELIER_LOG_LEVEL="WARNING", **env)
        self.blocking = blocking

    def start(self, wait: bool = True) -> Server:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log = open(self.log_path, "ab")
        command = ["-c", BLOCKING] if self.blocking else ["-m", "backend"]
        self.proc = subprocess.Popen(
            [sys.executable, *command], env=self.env(), stdout=self.log, stderr=subprocess.STDOUT
        )
        if wait:
            self.wait_ready(timeout=3600)
        return self

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _first_ok(url: str, deadline: float) -> float:
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return time.monotonic()
        except requests.RequestException:
            pass
        time.sleep(0.01)
    raise TimeoutError(url)


def cold_start(tmp: Path, gallery: Path, blocking: bool) -> dict[str, float]:
    shutil.rmtree(gallery / ".atelier", ignore_errors=True)
    server = Server(tmp, gallery, blocking, ATELIER_PORT=str(_port()))
    began = time.monotonic()
    server.start(wait=False)
    try:
        deadline = began + 3600
        first = _first_ok(server.url + "/healthz", deadline) - began
        listing = _first_ok(server.url + "/api/images?limit=100", deadline) - began
        while True:
            status = requests.get(server.url + "/api/gallery/status", timeout=5).json()
            if not status["indexing"]:
                break
            time.sleep(0.05)
        full = time.monotonic() - began
        return {"first": first, "listing": listing, "full": full, "images": status["images"]}
    finally:
        server.stop()


def _port() -> int:
    from tests.support.server import free_port

    return free_port()


def idle_and_latency(tmp: Path, gallery: Path, mode: str, seconds: float, adds: int) -> dict[str, float]:
    server = Server(tmp, gallery, ATELIER_WATCH_MODE=mode).start()
    try:
        while requests.get(server.url + "/api/gallery/status", timeout=5).json()["indexing"]:
            time.sleep(0.2)
        time.sleep(3.0)  # the start's own work has settled
        before, t0 = server.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        cpu = (server.cpu_seconds() - before) / (time.monotonic() - t0)
        client = EventRecorder(server.url).connect()
        delays = []
        try:
            assert client.subscribe(topic="gallery")["ok"]
            folder = gallery / "by-hand"
            folder.mkdir(exist_ok=True)
            for i in range(adds):
                name = f"by-hand/{mode}-{i}.png"
                written = time.monotonic()
                (gallery / name).write_bytes(plain_png((i, 7, 7)))
                client.wait_for(
                    lambda ev, name=name: any(e == "gallery.added" and d["image"]["path"] == name for e, d in ev), 30
                )
                delays.append(time.monotonic() - written)
                time.sleep(0.3)
        finally:
            client.close()
        shutil.rmtree(gallery / "by-hand", ignore_errors=True)
        status = requests.get(server.url + "/api/gallery/status", timeout=5).json()
        return {"cpu": cpu, "latency": statistics.median(delays), "latency_max": max(delays), "watch": status["watch"]}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1, help="cold starts of each kind, interleaved")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--adds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="atelier-bench-index-") as tmp_name:
        tmp = Path(tmp_name)
        gallery = tmp / "gallery"
        gallery.mkdir()
        print(f"generating {args.count:,} images ...", file=sys.stderr, flush=True)
        made = make_gallery(gallery, args.count)
        print(f"  made in {made:.1f} s", file=sys.stderr, flush=True)

        cold: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        starts: dict[bool, list[float]] = {False: [], True: []}  # Studio.start() alone
        empty: list[dict[str, float]] = []  # the floor: the same start on an empty folder
        (tmp / "empty").mkdir()
        for run in range(args.runs):
            for blocking in (False, True):
                kind = "blocking" if blocking else "background"
                print(f"cold start {run + 1}, {kind} ...", file=sys.stderr, flush=True)
                cold[blocking].append(cold_start(tmp, gallery, blocking))
                starts[blocking].append(studio_start_seconds(tmp, gallery, blocking))
            empty.extend(cold_start(tmp, tmp / "empty", False) for _ in range(3))

        idle: dict[str, dict[str, float]] = {}
        for mode in ("events", "poll"):
            print(f"idle, {mode} ...", file=sys.stderr, flush=True)
            idle[mode] = idle_and_latency(tmp, gallery, mode, args.idle_seconds, args.adds)

    def med(kind: bool, key: str) -> float:
        return statistics.median(r[key] for r in cold[kind])

    cores = os.cpu_count()
    print(f"Gallery of {args.count:,} tiny images, one server process (eventlet), {cores} cores.\n")
    print("| measure | Atelier | baseline | ratio |")
    print("|---|---|---|---|")
    floor = statistics.median(r["first"] for r in empty)
    for key, label in (
        ("first", "never indexed: start → first HTTP answer (/healthz)"),
        ("listing", "never indexed: start → first listing answered"),
        ("full", "never indexed: start → index complete"),
    ):
        ours, base = med(False, key), med(True, key)
        print(f"| {label} | {ours:.2f} s | blocking start: {base:.2f} s | {ours / base:.2f}× |")
    ours, base = statistics.median(starts[False]), statistics.median(starts[True])
    print(
        f"| never indexed: the studio's start before serving (Studio.start, in-process) | {ours:.3f} s "
        f"| blocking start: {base:.2f} s | {ours / base:.4f}× |"
    )
    events, poll = idle["events"], idle["poll"]
    print(
        f"| idle CPU over {args.idle_seconds:g} s (indexed) | {events['cpu'] * 100:.2f}% of a core ({events['watch']}) "
        f"| polling watcher: {poll['cpu'] * 100:.2f}% of a core | {events['cpu'] / max(poll['cpu'], 1e-9):.3f}× |"
    )
    print(
        f"| file written by hand → gallery.added (median of {args.adds}) | {events['latency'] * 1000:.0f} ms "
        f"(max {events['latency_max'] * 1000:.0f}) | polling: {poll['latency'] * 1000:.0f} ms "
        f"(max {poll['latency_max'] * 1000:.0f}) | {events['latency'] / poll['latency']:.2f}× |"
    )
    print(
        f"\nCold starts: median of {args.runs} of each, interleaved, timed from the process's start; the "
        f"same server on an empty folder answers after {floor:.2f} s (Python and the studio's imports, the "
        "floor: on a loaded machine it varies by seconds). The listing answered at once holds what was "
        f"indexed by then ({int(med(False, 'images')):,} images once complete)."
    )


if __name__ == "__main__":
    main()
