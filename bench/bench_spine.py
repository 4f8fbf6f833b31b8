"""The spine's overhead, measured against baselines taken in the same run.

1. Per job, on the instant test provider (a pre-encoded 64x64 PNG): from submit (REST,
   keep-alive session) to `job.succeeded` (Socket.IO), against the same job written
   plainly in the same stack and async mode (bench/plain_studio.py), interleaved.
2. Socket.IO round trip (an acknowledged `subscribe` to the queue feed): idle, and while
   two offline jobs render 1024x1024 images.

Runs the real server in a subprocess, in both async modes. Prints a markdown table.
Usage: python bench/bench_spine.py [--jobs 200] [--rounds 5] [--pings 300] [--modes eventlet,threading] [--only-jobs]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ServerProcess  # noqa: E402
from tests.support.sio import EventRecorder  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class PlainStudio:
    """bench/plain_studio.py in a subprocess: the baseline of the per-job figure."""

    def __init__(self, mode: str, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("plain_studio.py")), mode, str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"running at (http://\S+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"the plain studio did not start: {line!r}")
        self.url = match.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def one_job(http: requests.Session, url: str, client: EventRecorder) -> float:
    """Submit (keep-alive HTTP), subscribe to the job (Socket.IO, acknowledged), wait for
    its ``job.succeeded``: seconds."""
    with client._cond:
        client.events.clear()  # waiting scans the events: keep that the same for both sides
    t0 = time.perf_counter()
    r = http.post(url + "/api/jobs", json={"prompt": "benchmark", "provider": "instant"}, timeout=30)
    assert r.status_code == 202, r.text
    job_id = r.json()["job"]["id"]
    client.subscribe(job_id=job_id)
    client.wait_event("job.succeeded", job_id)
    return time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_job(sides: dict[str, tuple[str, int]], jobs: int, rounds: int) -> dict[str, list[float]]:
    """Interleaved: ``rounds`` batches of ``jobs // rounds`` jobs on each side (name: url,
    server pid) in turn, the order rotated every round. Each side has its own keep-alive
    HTTP session and one Socket.IO connection, both made before the clock starts. Besides
    the wall time, each server's CPU time per job (less sensitive to other programs)."""
    names = list(sides)
    http = {name: requests.Session() for name in names}
    clients = {name: EventRecorder(sides[name][0]).connect() for name in names}
    result: dict[str, list[float]] = {key: [] for side in names for key in (side, f"{side}_rounds", f"{side}_cpu")}
    try:
        for name in names:  # warm up: connections, lazily built parts
            for _ in range(10):
                one_job(http[name], sides[name][0], clients[name])
        batch = max(1, jobs // rounds)
        for number in range(rounds):
            order = names[number % len(names) :] + names[: number % len(names)]
            for name in order:
                url, pid = sides[name]
                cpu = cpu_seconds(pid)
                times = [one_job(http[name], url, clients[name]) for _ in range(batch)]
                result[f"{name}_cpu"].append((cpu_seconds(pid) - cpu) / batch)
                result[name] += times
                result[f"{name}_rounds"].append(statistics.median(times))
        return result
    finally:
        for client in clients.values():
            client.close()


class RootedServer(ServerProcess):
    """The studio of another checkout (``--before DIR``, e.g. ``git worktree`` or ``git
    archive`` of an earlier commit), to measure what a change bought in the same run."""

    def __init__(self, root: Path, tmp: Path, mode: str, **env: str) -> None:
        super().__init__(tmp, mode, **env)
        self.root = root

    def env(self) -> dict[str, str]:
        return {**super().env(), "PYTHONPATH": str(self.root)}

    def start(self, wait: bool = True) -> RootedServer:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend"], cwd=self.root, env=self.env(), stdout=self.log, stderr=subprocess.STDOUT
        )
        self.wait_ready()
        return self


def round_trips(client: EventRecorder, pings: int) -> list[float]:
    times = []
    for _ in range(pings):
        t0 = time.perf_counter()
        client.subscribe(topic="queue")
        times.append(time.perf_counter() - t0)
    return times


def run_mode(
    mode: str, jobs: int, pings: int, rounds: int, only_jobs: bool = False, before: Path | None = None
) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), mode, ATELIER_LOG_LEVEL="WARNING").start()
        plain = PlainStudio(mode, Path(tmp) / "plain")
        earlier = None
        if before:
            (Path(tmp) / "before").mkdir()
            earlier = RootedServer(before, Path(tmp) / "before", mode, ATELIER_LOG_LEVEL="WARNING").start()
        try:
            sides = {"atelier": (server.url, server.proc.pid), "plain": (plain.url, plain.proc.pid)}
            if earlier is not None and earlier.proc is not None:
                sides["before"] = (earlier.url, earlier.proc.pid)
            result = per_job(sides, jobs, rounds)
            if only_jobs:
                return result
            client = EventRecorder(server.url).connect()
            try:
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
            finally:
                client.close()
            return result
        finally:
            plain.stop()
            server.stop()
            if earlier is not None:
                earlier.stop()


def ms(v: float) -> str:
    return f"{v * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200, help="jobs per side, split into --rounds batches")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pings", type=int, default=300)
    parser.add_argument("--modes", default="eventlet,threading")
    parser.add_argument("--only-jobs", action="store_true", help="the per-job figure only")
    parser.add_argument("--before", type=Path, help="also time the studio of this checkout (an earlier commit)")
    args = parser.parse_args()
    print(
        f"Per job: submit (keep-alive HTTP) → subscribe (Socket.IO, acknowledged) → `job.succeeded`, "
        f"instant provider; {args.rounds} interleaved rounds of {args.jobs // args.rounds} jobs a side; "
        "p50 is the median of the rounds' medians, p99 over all jobs; baseline: bench/plain_studio.py.\n"
    )
    print("| mode | measure | p50 | p99 | baseline p50 / p99 | ratio (p50) |")
    print("|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        r = run_mode(mode, args.jobs, args.pings, args.rounds, args.only_jobs, args.before)
        job50, base50 = statistics.median(r["atelier_rounds"]), statistics.median(r["plain_rounds"])
        pairs = zip(r["atelier_rounds"], r["plain_rounds"], strict=True)
        rounds = ", ".join(f"{a * 1000:.1f}/{b * 1000:.1f}" for a, b in pairs)
        print(
            f"| {mode} | job submit → job.succeeded (n={len(r['atelier'])}; rounds Atelier/plain ms: {rounds}) "
            f"| {ms(job50)} | {ms(pct(r['atelier'], 99))} | plain Flask-SocketIO: {ms(base50)} / "
            f"{ms(pct(r['plain'], 99))} | {job50 / base50:.2f}× |",
            flush=True,
        )
        cpu_a, cpu_p = statistics.median(r["atelier_cpu"]), statistics.median(r["plain_cpu"])
        print(
            f"| {mode} | server CPU time per job (median of rounds) | {ms(cpu_a)} | — | plain: {ms(cpu_p)} "
            f"| {cpu_a / max(cpu_p, 1e-6):.2f}× |",
            flush=True,
        )
        if args.before:
            job_b, cpu_b = statistics.median(r["before_rounds"]), statistics.median(r["before_cpu"])
            print(
                f"| {mode} | the same, studio of {args.before} | {ms(job_b)} | {ms(pct(r['before'], 99))} "
                f"| CPU per job {ms(cpu_b)} | {job_b / base50:.2f}× (CPU {cpu_b / max(cpu_p, 1e-6):.2f}×) |",
                flush=True,
            )
        if args.only_jobs:
            continue
        idle50, busy50 = statistics.median(r["rtt_idle"]), statistics.median(r["rtt_busy"])
        print(
            f"| {mode} | Socket.IO round trip, idle (n={args.pings}) | {ms(idle50)} | {ms(pct(r['rtt_idle'], 99))} "
            f"| — | 1.0× |"
        )
        note = "" if r["busy_valid"][0] else " (jobs ended before the pings did)"
        print(
            f"| {mode} | Socket.IO round trip while 2 offline jobs render{note} | {ms(busy50)} | "
            f"{ms(pct(r['rtt_busy'], 99))} | idle: {ms(idle50)} | {busy50 / idle50:.1f}× |",
            flush=True,
        )


if __name__ == "__main__":
    main()
