"""Runs every benchmark in bench/ and prints their tables (see docs/benchmarks.md)."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    print(f"# run on {platform.node()} ({platform.machine()}, {platform.python_version()}), {date.today()}\n")
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"## {script.stem}\n", flush=True)
        failed += subprocess.call([sys.executable, str(script)], cwd=HERE.parent) != 0
        print(flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
