"""Starts the real server (``python -m backend``) in a subprocess on a free port.

The first start asks for port 0 and reads the port the server bound from its "running
at" line, so no other process can take the port between choosing and binding it; a
restart asks for the same port again.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
_RUNNING_AT = re.compile(rb"running at http://[^:/]+:(\d+)")
_numbers = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, tmp: Path, async_mode: str = "eventlet", **env: str) -> None:
        self.tmp = tmp
        self.async_mode = async_mode
        self.gallery = Path(env.pop("ATELIER_GALLERY_DIR", tmp / "gallery"))
        self.data = Path(env.pop("ATELIER_DATA_DIR", tmp / "data"))
        self.gate = tmp / "gate-open"
        self.extra_env = env
        self.port = int(env["ATELIER_PORT"]) if "ATELIER_PORT" in env else 0  # 0 until it has started
        self.proc: subprocess.Popen | None = None
        #: a command the server runs under (e.g. setpriv, to take root's file-permission bypass away)
        self.prefix: list[str] = []
        self.log_path = tmp / f"server-{os.getpid()}-{next(_numbers)}.log"
        self._log_offset = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.extra_env.get('ATELIER_BASE_PATH', '')}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env.update(
            ATELIER_HOST="127.0.0.1",
            ATELIER_PORT=str(self.port),
            ATELIER_GALLERY_DIR=str(self.gallery),
            ATELIER_DATA_DIR=str(self.data),
            ATELIER_ASYNC_MODE=self.async_mode,
            ATELIER_ENV_FILE=str(self.tmp / "no.env"),
            ATELIER_PROVIDER_MODULES="tests.support.providers",
            ATELIER_TEST_GATE=str(self.gate),
            PYTHONPATH=str(ROOT),
        )
        env.update(self.extra_env)
        return env

    def start(self, wait: bool = True) -> ServerProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "backend"],
            cwd=ROOT,
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            if not self._read_port():
                time.sleep(0.05)
                continue
            try:
                # 401: up, behind ATELIER_TOKEN
                if requests.get(self.url + "/api/health", timeout=1).status_code in (200, 401):
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server did not start:\n{self.output()}")

    def _read_port(self) -> bool:
        """True once this start's "running at" line names the port."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            match = _RUNNING_AT.search(f.read())
        if match:
            self.port = int(match.group(1))
        return bool(match)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "log"):
            self.log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    # --- REST helpers ----------------------------------------------------------------
    def get(self, path: str, **kw):
        return requests.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, json=None, **kw):
        return requests.post(self.url + path, json=json, timeout=10, **kw)

    def submit(self, **body) -> dict:
        r = self.post("/api/jobs", json=body)
        assert r.status_code == 202, r.text
        return r.json()["job"]

    def wait_job(self, job_id: str, statuses=("succeeded", "failed", "cancelled", "interrupted"), timeout=60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/api/jobs/{job_id}").json()["job"]
            if job["status"] in statuses:
                return job
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} still {job['status']}")

    def open_gate(self) -> None:
        self.gate.touch()
