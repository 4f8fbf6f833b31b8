"""A real worker process: ``python -m backend.worker`` with the test providers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.server import ROOT


class WorkerProcess:
    def __init__(self, tmp: Path, name: str, redis_url: str, server_url: str, providers: str, **env: str) -> None:
        self.tmp, self.name = tmp, name
        self.providers = providers
        self.extra_env = {
            "ATELIER_REDIS_URL": redis_url,
            "ATELIER_SERVER_URL": server_url,
            "ATELIER_WORKER_HEARTBEAT_SECONDS": "0.5",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        self.log_path = tmp / f"worker-{name}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env.update(
            ATELIER_ENV_FILE=str(self.tmp / "no.env"),
            ATELIER_PROVIDER_MODULES="tests.support.providers",
            ATELIER_TEST_GATE=str(self.tmp / "gate-open"),
            PYTHONPATH=str(ROOT),
        )
        env.update(self.extra_env)
        return env

    def start(self, wait: bool = True) -> WorkerProcess:
        self.log = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "backend.worker", "--providers", self.providers, "--name", self.name]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env(), stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            deadline = time.monotonic() + 30
            while "serving" not in self.output():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.output()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker did not start:\n{self.output()}")
                time.sleep(0.05)
        return self

    def run_to_exit(self, timeout: float = 60) -> tuple[int, str]:
        self.start(wait=False)
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        self.log.close()
        return rc, self.output()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "log") and not self.log.closed:
            self.log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
