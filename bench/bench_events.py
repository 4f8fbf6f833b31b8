"""Event delivery: Atelier's job events against a bare python-socketio server, same run.

Delivery delay = arrival at the client minus the event's ``ts`` (stamped by the server
when it publishes; client and server share the machine's clock). Atelier: every event of
instant-provider jobs, idle and while two offline jobs render 1024x1024 images. Baseline:
a minimal python-socketio server in the same async mode that, on request, emits a burst
of events stamped the same way (tests nothing but Socket.IO itself).

Usage: python bench/bench_events.py [--jobs 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ServerProcess, free_port  # noqa: E402
from tests.support.sio import EventRecorder  # noqa: E402

BARE_SERVER = textwrap.dedent(
    """
    import socket, sys, time
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "eventlet":
        import eventlet
        eventlet.monkey_patch()
    import socketio
    sio = socketio.Server(async_mode=mode)
    app = socketio.WSGIApp(sio)

    @sio.on("burst")
    def burst(sid, n):
        for i in range(n):
            sio.emit("tick", {"i": i, "ts": round(time.time(), 3)}, to=sid)
            sio.sleep(0)
        return "ok"

    # TCP_NODELAY as Atelier's own server sets it, or Nagle adds ~40 ms to a burst
    if mode == "eventlet":
        import eventlet.wsgi
        listener = eventlet.listen(("127.0.0.1", port))
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        eventlet.wsgi.server(listener, app, log_output=False)
    else:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class NoDelay(WSGIRequestHandler):
            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_request(self, *a, **k):
                pass

        make_server("127.0.0.1", port, app, threaded=True, request_handler=NoDelay).serve_forever()
    """
)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Timed(EventRecorder):
    """Records (event, payload, arrival wall time)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.arrivals: list[tuple[str, float, float]] = []

    async def _on_any(self, event, data=None):
        now = time.time()
        if isinstance(data, dict) and "ts" in data:
            self.arrivals.append((event, data["ts"], now))
        await super()._on_any(event, data)


def delays_ms(arrivals) -> list[float]:
    return [max(0.0, (arrived - ts) * 1000) for _, ts, arrived in arrivals]


def bare(mode: str, events: int) -> list[float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, mode, str(port)], stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                client = Timed(url).connect()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            for _ in range(events // 50):
                client.call("burst", 50)
                client.wait_for(lambda ev, n=len(client.arrivals): len(client.arrivals) >= n)
            client.wait_for(lambda ev: len(client.arrivals) >= (events // 50) * 50)
            return delays_ms(client.arrivals)
        finally:
            client.close()
    finally:
        proc.terminate()
        proc.wait(10)


def atelier(mode: str, jobs: int, busy: bool) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp), mode, ATELIER_MAX_CONCURRENT_JOBS="8").start()
        client = Timed(srv.url).connect()
        try:
            if busy:
                for _ in range(2):
                    srv.submit(prompt="background render", provider="offline", n=4)
            for _ in range(jobs):
                job = srv.submit(prompt="delivery", provider="instant")
                client.subscribe(job_id=job["id"])
                client.wait_event("job.succeeded", job["id"])
            return delays_ms(client.arrivals)
        finally:
            client.close()
            srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"Event delivery (event `ts` to client arrival), medians of {args.runs} runs; machine {os.uname().nodename},")
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}.\n")
    print("| mode | measure | p50 | p99 | bare Socket.IO p50 / p99 | ratio p50 / p99 |")
    print("|---|---|---|---|---|---|")
    for mode in ("eventlet", "threading"):
        runs = {"bare": [], "idle": [], "busy": []}
        for _ in range(args.runs):
            runs["bare"].append(bare(mode, args.jobs * 5))
            runs["idle"].append(atelier(mode, args.jobs, busy=False))
            runs["busy"].append(atelier(mode, args.jobs, busy=True))
        med = {
            k: (statistics.median(pct(r, 50) for r in v), statistics.median(pct(r, 99) for r in v))
            for k, v in runs.items()
        }
        b50, b99 = med["bare"]
        for key, label in (("idle", "job events, idle"), ("busy", "job events while 2 offline jobs render")):
            p50, p99 = med[key]
            print(
                f"| {mode} | {label} | {p50:.2f} ms | {p99:.2f} ms | {b50:.2f} / {b99:.2f} ms | "
                f"{p50 / max(b50, 0.01):.1f}× / {p99 / max(b99, 0.01):.1f}× |"
            )


if __name__ == "__main__":
    main()
