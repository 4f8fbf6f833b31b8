"""Runs every benchmark in bench/ and writes their figures into docs/benchmarks.md.

Each ``bench_*.py`` prints a markdown section; it replaces the text between
``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->`` in the doc (a new section at
the end of "Latest figures" the first time), so the hand-written explanations around the
markers stay as they are. The SPA's first-load size comes from its build report
(``npm run build``), when npm is here. ``load_sockets.py`` is not run here (minutes, a
thousand sockets): run it alone and paste its table.

Usage: python bench/run_all.py [--quick] [--print-only]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "benchmarks.md"
LATEST = "## Latest figures (written by `make bench`)"
#: smaller runs for --quick (a few minutes in all)
QUICK_ARGS = {
    "bench_spine": ["--jobs", "60", "--rounds", "3", "--pings", "100"],
    "bench_gallery": ["--count", "10000", "--export-mb", "128"],
    "bench_events": ["--jobs", "40", "--runs", "3"],
    "bench_metadata": ["--runs", "5"],
    "bench_listing": ["--count", "5000", "--runs", "3"],
    "bench_save": ["--images", "8", "--runs", "3"],
    "bench_index": ["--count", "20000", "--idle-seconds", "20"],
}


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = os.cpu_count()
    return f"{platform.node()} ({cpu or platform.machine()}, {cores} cores, Python {platform.python_version()})"


def run_script(script: Path, quick: bool) -> tuple[str, bool]:
    args = QUICK_ARGS.get(script.stem, []) if quick else []
    print(f"## {script.stem} {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, capture_output=True, text=True)
    print(proc.stdout, flush=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
    return proc.stdout.strip(), proc.returncode == 0


def spa_size() -> tuple[str, bool]:
    if shutil.which("npm") is None:
        return "npm not found here: the SPA was not built, so its size is not measured.", True
    proc = subprocess.run(["npm", "run", "build"], cwd=ROOT, capture_output=True, text=True)
    lines = [ln.strip() for ln in proc.stdout.splitlines() if "gzipped" in ln]
    if proc.returncode != 0 or not lines:
        return f"the SPA build failed:\n\n```\n{proc.stderr[-1500:]}\n```", False
    return "From the build report (`npm run build`, frontend/scripts/bundle-report.mjs):\n\n" + "\n".join(
        f"- {ln}" for ln in lines
    ), True


def write_section(doc: str, name: str, body: str) -> str:
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(doc):
        return pattern.sub(lambda _: block, doc)
    if LATEST not in doc:
        doc = doc.rstrip() + f"\n\n{LATEST}\n"
    return doc.rstrip() + f"\n\n### {name}\n\n{block}\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs (minutes, not an hour)")
    parser.add_argument("--print-only", action="store_true", help="print; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    stamp = f"Machine: {machine()}; run {date.today()}{' (--quick)' if args.quick else ''}."
    print(f"# {stamp}\n")
    sections: dict[str, str] = {}
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        out, ok = run_script(script, args.quick)
        failed += not ok
        if ok and not any(line.startswith("|") for line in out.splitlines()):
            out = f"```text\n{out}\n```"  # a plain-text table: keep its columns
        sections[script.stem] = f"{stamp}\n\n{out}" if ok else f"{stamp}\n\nFAILED: see the `make bench` output."
    if not (HERE / "bench_diffusers.py").exists():
        sections["bench_diffusers"] = (
            "No `bench/bench_diffusers.py` yet: the diffusers provider's time per image against the bare "
            "pipeline is measured by that script once it exists (it is picked up here by name)."
        )
    body, ok = spa_size()
    failed += not ok
    sections["spa_size"] = f"{stamp}\n\n{body}"
    print(body)
    if not args.print_only:
        doc = DOC.read_text(encoding="utf-8")
        for name, text in sections.items():
            doc = write_section(doc, name, text)
        DOC.write_text(doc, encoding="utf-8")
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
