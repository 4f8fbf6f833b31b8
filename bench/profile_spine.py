"""Where a job's time goes: the real server under cProfile while a client runs instant jobs.

    python bench/profile_spine.py [--mode eventlet] [--jobs 300] [--top 40] [--sort tottime]

The server runs in a subprocess (``--serve``: this file wraps ``python -m backend`` in a
profiler and writes its statistics on SIGTERM); the client is bench_spine's (keep-alive
HTTP, one Socket.IO connection). Under eventlet every request and job runs on the hub's
thread (work handed to ``run_blocking`` runs in tpool threads, each profiled too); under
threading every thread gets a profiler of its own. The statistics of all are added up.
"""

from __future__ import annotations

import sys

if len(sys.argv) > 1 and sys.argv[1] == "--serve":
    from backend.config import early_async_mode

    if early_async_mode() == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    import cProfile
    import os
    import pstats
    import signal
    import threading

    profiler = cProfile.Profile()
    stats_path = sys.argv[2]
    per_thread: list[cProfile.Profile] = []

    def in_thread(*_args: object) -> None:
        """The first profile event of a new thread: give it a profiler of its own."""
        own = cProfile.Profile()
        per_thread.append(own)
        own.enable()

    def dump(*_args: object) -> None:
        print("writing the profile", flush=True)
        profiler.disable()
        stats = pstats.Stats(profiler)
        for own in per_thread:
            try:
                own.create_stats()
                stats.add(own)
            except Exception:
                pass
        stats.dump_stats(stats_path)
        sys.stdout.flush()
        os._exit(0)

    threading.setprofile(in_thread)  # threading mode: every request and socket has its thread

    signal.signal(signal.SIGTERM, dump)
    from backend.cli import main as serve

    sys.argv = [sys.argv[0]]
    profiler.enable()
    serve()
    raise SystemExit(0)

import argparse  # noqa: E402
import pstats  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import requests  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_spine import one_job  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.support.sio import EventRecorder  # noqa: E402


class ProfiledServer(ServerProcess):
    def __init__(self, tmp: Path, mode: str, stats: Path) -> None:
        super().__init__(tmp, mode, ATELIER_LOG_LEVEL="WARNING")
        self.stats = stats

    def start(self, wait: bool = True) -> ProfiledServer:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.stats)],
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()
        return self


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="eventlet")
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--out", help="keep the statistics in this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(args.out or Path(tmp) / "server.prof")
        server = ProfiledServer(Path(tmp), args.mode, stats).start()
        client = EventRecorder(server.url).connect()
        http = requests.Session()
        try:
            for _ in range(args.jobs):
                one_job(http, server.url, client)
        finally:
            client.close()
            server.stop()
        if not stats.exists():
            raise SystemExit(f"no statistics written; the server said:\n{server.output()[-3000:]}")
        pstats.Stats(str(stats)).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
