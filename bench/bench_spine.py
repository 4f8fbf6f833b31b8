"""The spine's overhead, measured against baselines taken in the same run.

1. Per job, on the instant test provider (a pre-encoded 64x64 PNG): the server's time
   from submit (REST) to `job.succeeded` (Socket.IO), against encoding that PNG and
   writing it to disk alone (the least any studio must do per image).
2. Socket.IO round trip (an acknowledged `subscribe` to the queue feed): idle, and while
   two offline jobs render 1024x1024 images.

Runs the real server in a subprocess, in both async modes. Prints a markdown table.
Usage: python bench/bench_spine.py [--jobs 200] [--pings 300]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ServerProcess  # noqa: E402
from tests.support.sio import EventRecorder  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def baseline_encode_and_write(runs: int, folder: Path) -> list[float]:
    image = Image.new("RGB", (64, 64), (200, 60, 30))
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        buf = io.BytesIO()
        image.save(buf, "PNG", compress_level=1)
        path = folder / f"baseline-{i}.png"
        with open(path, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        times.append(time.perf_counter() - t0)
    return times


def job_overhead(server: ServerProcess, client: EventRecorder, jobs: int) -> list[float]:
    times = []
    for _ in range(jobs):
        t0 = time.perf_counter()
        job = server.submit(prompt="benchmark", provider="instant")
        client.subscribe(job_id=job["id"])
        client.wait_event("job.succeeded", job["id"])
        times.append(time.perf_counter() - t0)
    return times


def round_trips(client: EventRecorder, pings: int) -> list[float]:
    times = []
    for _ in range(pings):
        t0 = time.perf_counter()
        client.subscribe(topic="queue")
        times.append(time.perf_counter() - t0)
    return times


def run_mode(mode: str, jobs: int, pings: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), mode, ATELIER_LOG_LEVEL="WARNING").start()
        client = EventRecorder(server.url).connect()
        try:
            job_overhead(server, client, 10)  # warm up
            result = {"job": job_overhead(server, client, jobs), "baseline": baseline_encode_and_write(jobs, Path(tmp))}
            result["rtt_idle"] = round_trips(client, pings)
            busy = [server.submit(prompt="mountain lake at dusk", n=10, style="oil-painting") for _ in range(2)]
            for job in busy:
                client.subscribe(job_id=job["id"])
                client.wait_event("job.progress", job["id"])
            result["rtt_busy"] = round_trips(client, pings)
            still_running = server.get("/api/health").json()["queue"]["running"]
            result["busy_valid"] = [float(bool(still_running))]
            for job in busy:
                server.post(f"/api/jobs/{job['id']}/cancel")
            return result
        finally:
            client.close()
            server.stop()


def ms(v: float) -> str:
    return f"{v * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--pings", type=int, default=300)
    args = parser.parse_args()
    print("| mode | measure | p50 | p99 | baseline p50 | ratio (p50) |")
    print("|---|---|---|---|---|---|")
    for mode in ("eventlet", "threading"):
        r = run_mode(mode, args.jobs, args.pings)
        job50, base50 = statistics.median(r["job"]), statistics.median(r["baseline"])
        print(
            f"| {mode} | job submit → job.succeeded (instant provider, n={args.jobs}) | {ms(job50)} | "
            f"{ms(pct(r['job'], 99))} | encode + write PNG alone: {ms(base50)} | {job50 / base50:.1f}× |"
        )
        idle50, busy50 = statistics.median(r["rtt_idle"]), statistics.median(r["rtt_busy"])
        print(
            f"| {mode} | Socket.IO round trip, idle (n={args.pings}) | {ms(idle50)} | {ms(pct(r['rtt_idle'], 99))} "
            f"| — | 1.0× |"
        )
        note = "" if r["busy_valid"][0] else " (jobs ended before the pings did)"
        print(
            f"| {mode} | Socket.IO round trip while 2 offline jobs render{note} | {ms(busy50)} | "
            f"{ms(pct(r['rtt_busy'], 99))} | idle: {ms(idle50)} | {busy50 / idle50:.1f}× |"
        )


if __name__ == "__main__":
    main()
