"""bench/gpu_bench.py is written for a CUDA machine that CI never has: here it must say so and
exit cleanly, and its code must work, which the same script proves on tiny configs on the CPU."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_bench.py"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_without_cuda_it_says_so_and_exits_cleanly() -> None:
    proc = run()
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "no CUDA" in lines[0] or "not installed" in lines[0]


@pytest.mark.skipif(importlib.util.find_spec("diffusers") is None, reason="diffusers not installed")
def test_tiny_run_measures_both_models_through_the_provider() -> None:
    proc = run("--tiny", "--runs", "1", "--save-images", "1", "--compile", "off")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| flux |") or line.startswith("| sdxl |")]
    assert [r.split("|")[1].strip() for r in rows] == ["flux", "sdxl"]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == "eager"
        assert cells[3].endswith(" ms") and cells[4].endswith(" ms")  # bare and provider both timed
        assert cells[5].endswith("%")
        assert float(cells[6].split()[0]) > 0  # images per second with saving
