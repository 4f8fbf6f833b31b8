"""Several machines on one: a real Redis, two web instances and two workers as processes.

Instance A runs under eventlet, instance B under threading; they share the gallery and
the job database (same host) and reach each other only through Redis. Workers reach
nothing but Redis and a web server's address: w1 reports to A, w2 to B.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.redis_server import RedisServer, require_redis_server
from tests.support.server import ServerProcess
from tests.support.sio import EventRecorder
from tests.support.worker import WorkerProcess

TERMINAL = {"job.succeeded", "job.failed", "job.cancelled", "job.interrupted"}


class Cluster:
    def __init__(self, tmp: Path, providers: str = "instant,gated", **env: str) -> None:
        """``providers``: what both workers serve; ``env``: settings of the servers and
        workers beside the shared ones (e.g. a cloud provider's fake URL and key)."""
        require_redis_server()
        self.tmp = tmp
        self.env = env
        self.redis = RedisServer(tmp).start()
        shared = {
            "ATELIER_REDIS_URL": self.redis.url,
            "ATELIER_WORKER_HEARTBEAT_SECONDS": "0.5",
            "ATELIER_GALLERY_DIR": str(tmp / "gallery"),
            "ATELIER_DATA_DIR": str(tmp / "data"),
        }
        self.a = ServerProcess(tmp, "eventlet", **shared, **env).start()
        self.b = ServerProcess(tmp, "threading", **shared, **env).start()
        self.workers = [self.worker("w1", providers, self.a), self.worker("w2", providers, self.b)]
        self.clients: list[EventRecorder] = []

    def worker(self, name: str, providers: str, server: ServerProcess) -> WorkerProcess:
        """Start one more worker (stopped with the cluster)."""
        worker = WorkerProcess(self.tmp, name, self.redis.url, server.url, providers, **self.env).start()
        if hasattr(self, "workers"):
            self.workers.append(worker)
        return worker

    def client(self, server: ServerProcess) -> EventRecorder:
        c = EventRecorder(server.url).connect()
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for w in self.workers:
            w.kill()
        self.a.stop()
        self.b.stop()
        self.redis.stop()


def ended(job_id: str):
    """A wait_for predicate: the job's terminal event has arrived."""
    return lambda events: any(e in TERMINAL and (d or {}).get("job_id") == job_id for e, d in events)
