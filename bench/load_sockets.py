"""Load: 1000 Socket.IO clients on the gallery and queue feeds while 200 offline jobs run,
against a bare python-socketio server sending the same events at the same pace.

Not a CI test (minutes, and a machine's worth of sockets); run it alone:
    python bench/load_sockets.py [--clients 1000] [--jobs 200] [--modes eventlet,threading]
                                 [--env MALLOC_ARENA_MAX=2] [--no-bare]

Atelier: checks every client received every ``gallery.added`` (one per job) and the same
``queue.updated`` events as every other client; reports the delivery delay (arrival minus
the event's ``ts``) p50/p99 over all deliveries, the server's peak RSS and threads, and
whether its RSS (from /proc/<pid>/status) is back to its pre-load baseline within a minute
after the clients leave.

Baseline: a bare python-socketio server (``BARE_SERVER`` below, same async mode) to which the
same number of clients subscribe the same way; it then emits the sequence of events the
clients received from Atelier (names and payloads; the longest of ten recorders), each at the same offset from the
first as in Atelier's run, stamped with its own ``ts``. The clients run in this process,
the servers in their own. Loopback only; bounded by --timeout; raises the open-file limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.faults import open_sockets, rss_kib, threads  # noqa: E402
from tests.support.server import ServerProcess, free_port  # noqa: E402

BACK_TO_BASELINE_MIB = 16  # "back to baseline": within this of the pre-load RSS
RECORDERS = 10  # clients that keep what they receive, for the baseline to replay

BARE_SERVER = textwrap.dedent(
    """
    import json, socket, sys, time
    mode, port, schedule_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "eventlet":
        import eventlet
        eventlet.monkey_patch()
    import socketio
    sio = socketio.Server(async_mode=mode, ping_timeout=60)
    app = socketio.WSGIApp(sio)
    with open(schedule_path) as f:
        schedule = json.load(f)  # [[offset seconds, event, payload], ...]

    @sio.on("subscribe")
    def subscribe(sid, data):
        sio.enter_room(sid, "feed:" + data["topic"])
        return {"ok": True, "topic": data["topic"]}

    def play():
        start = time.time()
        for offset, event, payload in schedule:
            wait = start + offset - time.time()
            if wait > 0:
                sio.sleep(wait)
            room = "feed:" + ("gallery" if event.startswith("gallery.") else "queue")
            sio.emit(event, {**payload, "ts": round(time.time(), 3)}, to=room)

    @sio.on("go")
    def go(sid):
        sio.start_background_task(play)
        return "ok"

    if mode == "eventlet":
        import eventlet.wsgi
        listener = eventlet.listen(("127.0.0.1", port))
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        print("ready", flush=True)
        eventlet.wsgi.server(listener, app, log_output=False)
    else:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class NoDelay(WSGIRequestHandler):
            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_request(self, *a, **k):
                pass

        server = make_server("127.0.0.1", port, app, threaded=True, request_handler=NoDelay)
        print("ready", flush=True)
        server.serve_forever()
    """
)


def rss_parts(pid: int) -> dict[str, int]:
    """KiB resident: anonymous (the heap) and file-backed (code and libraries paged in)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("RssAnon", "RssFile")}


def warm_socket(url: str) -> None:
    """One Socket.IO client on both feeds, then gone: what a server imports and builds for
    its first client belongs to its baseline, not to the load."""

    async def go() -> None:
        client = Client()
        await client.start(url)
        await asyncio.sleep(0.5)
        await client.sio.disconnect()

    asyncio.run(go())


def raise_open_file_limit() -> None:
    """A thousand clients here and their thousand sockets in the server (which inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


class Client:
    def __init__(self, record: bool = False) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        #: (event, payload) in arrival order, on one client: the sequence the baseline replays
        self.record: list[tuple[str, dict]] | None = [] if record else None
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
        if self.record is not None:
            self.record.append(("gallery.added", data))

    async def _queue(self, data) -> None:
        self.delays.append(time.time() - data["ts"])
        self.queue_updates += 1
        if self.record is not None:
            self.record.append(("queue.updated", data))

    async def start(self, url: str) -> None:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=30)
        for topic in ("gallery", "queue"):
            ack = await self.sio.call("subscribe", {"topic": topic}, timeout=60)
            assert ack["ok"], ack


async def load(url: str, pid: int, clients: int, trigger, finished, timeout: float) -> dict:
    """Connect ``clients`` clients to the feeds, ``await trigger()``, wait until ``await
    finished(crowd)`` (or ``timeout``), then gather what they saw."""
    peak = {"rss": rss_kib(pid), "threads": threads(pid), "sockets": open_sockets(pid)}

    def sample() -> None:
        peak["rss"] = max(peak["rss"], rss_kib(pid))
        peak["threads"] = max(peak["threads"], threads(pid))
        peak["sockets"] = max(peak["sockets"], open_sockets(pid))

    crowd = [Client(record=i < RECORDERS) for i in range(clients)]
    t0 = time.monotonic()
    for start in range(0, clients, 50):
        await asyncio.gather(*(c.start(url) for c in crowd[start : start + 50]))
        sample()
    connect_s = time.monotonic() - t0
    t1 = time.monotonic()
    await trigger()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sample()
        if all(c.dropped for c in crowd) or await finished(crowd):
            break
        await asyncio.sleep(0.5)
    run_s = time.monotonic() - t1
    await asyncio.sleep(2)  # the last queue.updated events in flight
    counts = [c.queue_updates for c in crowd]
    delays = [d * 1000 for c in crowd for d in c.delays]
    dropped = sum(c.dropped for c in crowd)  # before our own disconnects set it
    await asyncio.gather(*(c.sio.disconnect() for c in crowd), return_exceptions=True)
    return {
        "clients": clients,
        "connect_s": connect_s,
        "run_s": run_s,
        "added_counts": [len(c.added) for c in crowd],
        "dropped": dropped,
        "queue_min": min(counts),
        "queue_max": max(counts),
        "deliveries": len(delays),
        "p50": pct(delays, 50),
        "p99": pct(delays, 99),
        "peak": peak,
        # the longest: a recorder dropped under load saw less
        "sequence": max((c.record or [] for c in crowd[:RECORDERS]), key=len),
    }


def atelier_load(srv: ServerProcess, clients: int, jobs: int, timeout: float) -> dict:
    loop_holder: dict = {}

    def submit_all() -> None:
        for i in range(jobs):
            r = requests.post(
                srv.url + "/api/jobs",
                json={"prompt": f"load {i}", "provider": "offline", "model": "procedural-draft"},
                timeout=30,
            )
            assert r.status_code == 202, r.text

    async def trigger() -> None:
        loop_holder["loop"] = asyncio.get_running_loop()
        await loop_holder["loop"].run_in_executor(None, submit_all)

    async def finished(crowd: list[Client]) -> bool:
        if not all(len(c.added) >= jobs or c.dropped for c in crowd):
            return False
        health = await loop_holder["loop"].run_in_executor(
            None, lambda: requests.get(srv.url + "/api/health", timeout=30)
        )
        return health.json()["queue"] == {"queued": [], "running": []}

    assert srv.proc is not None
    result = asyncio.run(load(srv.url, srv.proc.pid, clients, trigger, finished, timeout))
    result.update(jobs=jobs, complete=sum(n == jobs for n in result["added_counts"]))
    return result


def bare_load(mode: str, sequence: list[tuple[str, dict]], clients: int, timeout: float) -> dict:
    """The same crowd on a bare python-socketio server replaying ``sequence`` at its pace."""
    if not sequence:
        raise RuntimeError("no events recorded from Atelier's run to replay")
    first = sequence[0][1]["ts"]
    schedule = [[data["ts"] - first, event, {k: v for k, v in data.items() if k != "ts"}] for event, data in sequence]
    added = sum(1 for event, _ in sequence if event == "gallery.added")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "schedule.json"
        path.write_text(json.dumps(schedule))
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-c", BARE_SERVER, mode, str(port), str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            url = f"http://127.0.0.1:{port}"
            time.sleep(0.5)

            async def trigger() -> None:
                control = socketio.AsyncClient(reconnection=False)
                await control.connect(url, transports=["websocket"], wait_timeout=30)
                await control.call("go", timeout=60)
                await control.disconnect()

            async def finished(crowd: list[Client]) -> bool:
                return all(
                    (len(c.added) >= added and c.queue_updates >= len(sequence) - added) or c.dropped for c in crowd
                )

            result = asyncio.run(load(url, proc.pid, clients, trigger, finished, timeout))
            result.update(jobs=added, complete=sum(n == added for n in result["added_counts"]))
            return result
        finally:
            proc.terminate()
            proc.wait(10)


def run_mode(
    mode: str, clients: int, jobs: int, timeout: float, env: dict[str, str], bare: bool, warm: bool = True
) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp), mode, ATELIER_LOG_LEVEL="WARNING", **env).start()
        try:
            assert srv.proc is not None
            pid = srv.proc.pid
            # warm: one job, so lazily started pools are part of the baseline
            job = srv.submit(prompt="warm", provider="offline", model="procedural-draft")
            srv.wait_job(job["id"])
            if warm:
                warm_socket(srv.url)
            time.sleep(7)  # the heap trim after the warm client left
            base = {"rss": rss_kib(pid), "threads": threads(pid), "sockets": open_sockets(pid), **rss_parts(pid)}
            result = atelier_load(srv, clients, jobs, timeout)
            t_end = time.monotonic()
            back_after = None
            while time.monotonic() - t_end < 60:
                if back_after is None and rss_kib(pid) <= base["rss"] + BACK_TO_BASELINE_MIB * 1024:
                    back_after = time.monotonic() - t_end
                time.sleep(1)
            result.update(
                mode=mode,
                server="Atelier" + "".join(f", {k}={v}" for k, v in env.items()),
                base=base,
                after={"rss": rss_kib(pid), "threads": threads(pid), "sockets": open_sockets(pid), **rss_parts(pid)},
                back_after=back_after,
            )
        finally:
            srv.stop()
    results = [result]
    if bare:
        baseline = bare_load(mode, result["sequence"], clients, timeout)
        baseline.update(mode=mode, server="bare python-socketio, same events and pace", base=None, after=None)
        baseline["back_after"] = None
        results.append(baseline)
    return results


def report(r: dict, bare: dict | None) -> str:
    mib = lambda kib: f"{kib / 1024:.0f} MiB"  # noqa: E731
    ok = r["complete"] == r["clients"] and r["queue_min"] == r["queue_max"]
    if r["base"] is None:
        memory = f"peak {mib(r['peak']['rss'])} | —"
    else:
        back = f"yes ({r['back_after']:.0f} s)" if r["back_after"] is not None else "NO"
        grew = {k: (r["after"][k] - r["base"][k]) / 1024 for k in ("RssAnon", "RssFile")}
        memory = (
            f"{mib(r['base']['rss'])} → peak {mib(r['peak']['rss'])} → {mib(r['after']['rss'])} "
            f"(heap {grew['RssAnon']:+.0f}, files {grew['RssFile']:+.0f} MiB) | {back}"
        )
    ratio = f"{r['p50'] / bare['p50']:.2f}× / {r['p99'] / bare['p99']:.2f}×" if bare else "—"
    return (
        f"| {r['mode']} | {r['server']} | {r['clients']} clients, {r['jobs']} jobs | {'yes' if ok else 'NO'} "
        f"({r['complete']}/{r['clients']} got all gallery.added, {r['dropped']} dropped; "
        f"queue.updated {r['queue_min']}–{r['queue_max']}) "
        f"| {r['deliveries']:,} | {r['p50']:.1f} ms | {r['p99']:.1f} ms | {ratio} | {memory} "
        f"| {r['peak']['threads']} | {r['connect_s']:.0f} s / {r['run_s']:.0f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--modes", default="eventlet,threading")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for Atelier's server (repeatable)")
    parser.add_argument("--no-bare", action="store_true", help="Atelier only (no baseline run)")
    parser.add_argument("--no-warm", action="store_true", help="no Socket.IO client before the RSS baseline")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    raise_open_file_limit()
    print(
        f"Socket load: machine {os.uname().nodename}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d')}; loopback; offline provider, procedural-draft model.\n"
    )
    print(
        "| mode | server | load | every client got every event | deliveries | delay p50 | delay p99 "
        "| ratio to bare p50 / p99 | server RSS: before → peak → a minute after | back within 16 MiB "
        "| peak threads | connect / run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        results = run_mode(mode, args.clients, args.jobs, args.timeout, env, not args.no_bare, not args.no_warm)
        bare = results[1] if len(results) > 1 else None
        print(report(results[0], bare), flush=True)
        if bare:
            print(report(bare, None), flush=True)


if __name__ == "__main__":
    main()
