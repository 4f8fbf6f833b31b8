"""Load: 1000 Socket.IO clients on the gallery and queue feeds while 200 offline jobs run.

Not a CI test (minutes, and a machine's worth of sockets); run it alone:
    python bench/load_sockets.py [--clients 1000] [--jobs 200] [--modes eventlet,threading]

Checks every client received every ``gallery.added`` (one per job) and the same
``queue.updated`` events as every other client; reports the delivery delay (arrival minus
the event's ``ts``) p50/p99 over all deliveries, the server's peak RSS and threads, and
whether its RSS (from /proc/<pid>/status) is back to its pre-load baseline within a minute
after the clients leave. Loopback only; bounded by --timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.faults import open_sockets, rss_kib, threads  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

BACK_TO_BASELINE_MIB = 16  # "back to baseline": within this of the pre-load RSS


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


class Client:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.added: set[str] = set()
        self.queue_updates = 0
        self.delays: list[float] = []
        self.dropped = False
        self.sio.on("gallery.added", self._added)
        self.sio.on("queue.updated", self._queue)
        self.sio.on("disconnect", self._dropped)

    async def _dropped(self, *args) -> None:
        self.dropped = True

    async def _added(self, data) -> None:
        self.delays.append(time.time() - data["ts"])
        self.added.add(data["image"]["id"])

    async def _queue(self, data) -> None:
        self.delays.append(time.time() - data["ts"])
        self.queue_updates += 1

    async def start(self, url: str) -> None:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=30)
        for topic in ("gallery", "queue"):
            ack = await self.sio.call("subscribe", {"topic": topic}, timeout=60)
            assert ack["ok"], ack


async def load(srv: ServerProcess, clients: int, jobs: int, timeout: float) -> dict:
    pid = srv.proc.pid
    peak = {"rss": rss_kib(pid), "threads": threads(pid), "sockets": open_sockets(pid)}

    def sample() -> None:
        peak["rss"] = max(peak["rss"], rss_kib(pid))
        peak["threads"] = max(peak["threads"], threads(pid))
        peak["sockets"] = max(peak["sockets"], open_sockets(pid))

    crowd = [Client() for _ in range(clients)]
    t0 = time.monotonic()
    for start in range(0, clients, 50):
        await asyncio.gather(*(c.start(srv.url) for c in crowd[start : start + 50]))
        sample()
    connect_s = time.monotonic() - t0

    loop = asyncio.get_running_loop()

    def submit_all() -> None:
        for i in range(jobs):
            r = requests.post(
                srv.url + "/api/jobs",
                json={"prompt": f"load {i}", "provider": "offline", "model": "procedural-draft"},
                timeout=30,
            )
            assert r.status_code == 202, r.text

    t1 = time.monotonic()
    await loop.run_in_executor(None, submit_all)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sample()
        if all(c.dropped for c in crowd):
            break
        if all(len(c.added) >= jobs or c.dropped for c in crowd):
            health = await loop.run_in_executor(None, lambda: requests.get(srv.url + "/api/health", timeout=30))
            if health.json()["queue"] == {"queued": [], "running": []}:
                break
        await asyncio.sleep(0.5)
    run_s = time.monotonic() - t1
    await asyncio.sleep(2)  # the last queue.updated events in flight
    counts = [c.queue_updates for c in crowd]
    complete = sum(len(c.added) == jobs for c in crowd)
    dropped = sum(c.dropped for c in crowd)
    delays = [d * 1000 for c in crowd for d in c.delays]
    await asyncio.gather(*(c.sio.disconnect() for c in crowd), return_exceptions=True)
    return {
        "clients": clients,
        "jobs": jobs,
        "connect_s": connect_s,
        "run_s": run_s,
        "complete": complete,
        "dropped": dropped,
        "queue_min": min(counts),
        "queue_max": max(counts),
        "deliveries": len(delays),
        "p50": pct(delays, 50),
        "p99": pct(delays, 99),
        "peak": peak,
    }


def run_mode(mode: str, clients: int, jobs: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp), mode, ATELIER_LOG_LEVEL="WARNING").start()
        try:
            pid = srv.proc.pid
            # warm: one job, so lazily started pools are part of the baseline
            job = srv.submit(prompt="warm", provider="offline", model="procedural-draft")
            srv.wait_job(job["id"])
            time.sleep(1)
            base = {"rss": rss_kib(pid), "threads": threads(pid), "sockets": open_sockets(pid)}
            result = asyncio.run(load(srv, clients, jobs, timeout))
            t_end = time.monotonic()
            back_after = None
            while time.monotonic() - t_end < 60:
                if rss_kib(pid) <= base["rss"] + BACK_TO_BASELINE_MIB * 1024:
                    back_after = time.monotonic() - t_end
                    break
                time.sleep(1)
            result.update(
                mode=mode,
                base=base,
                after={"rss": rss_kib(pid), "threads": threads(pid), "sockets": open_sockets(pid)},
                back_after=back_after,
            )
            return result
        finally:
            srv.stop()


def report(r: dict) -> str:
    mib = lambda kib: f"{kib / 1024:.0f} MiB"  # noqa: E731
    ok = r["complete"] == r["clients"] and r["queue_min"] == r["queue_max"]
    back = f"yes, after {r['back_after']:.0f} s" if r["back_after"] is not None else "no (within 60 s)"
    return (
        f"| {r['mode']} | {r['clients']} clients, {r['jobs']} jobs | {'yes' if ok else 'NO'} "
        f"({r['complete']}/{r['clients']} got all gallery.added, {r['dropped']} dropped; "
        f"queue.updated {r['queue_min']}–{r['queue_max']}) "
        f"| {r['deliveries']:,} | {r['p50']:.1f} ms | {r['p99']:.1f} ms "
        f"| {mib(r['base']['rss'])} → peak {mib(r['peak']['rss'])} → {mib(r['after']['rss'])} | {back} "
        f"| {r['base']['threads']} → {r['peak']['threads']} → {r['after']['threads']} "
        f"| {r['connect_s']:.0f} s / {r['run_s']:.0f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--modes", default="eventlet,threading")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    print(
        f"Socket load: machine {os.uname().nodename}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d')}; loopback; offline provider, procedural-draft model.\n"
    )
    print(
        "| mode | load | every client got every event | deliveries | delay p50 | delay p99 "
        "| server RSS: before → peak → after | RSS back to baseline (±16 MiB) | threads before → peak → after "
        "| connect / run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        print(report(run_mode(mode, args.clients, args.jobs, args.timeout)), flush=True)
    _ = statistics


if __name__ == "__main__":
    main()
