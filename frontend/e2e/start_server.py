"""Starts the real Atelier server for the Playwright tests, in a fresh temp folder.

``--gallery N`` first fills the gallery with N small PNGs carrying Atelier metadata
(one encoded image copied under distinct timestamped names: fast), so the server's
startup reconcile indexes them like any hand-added files.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def sample_png(index: int) -> bytes:
    from PIL import Image

    from backend.storage.infotext import format_infotext
    from backend.storage.metadata import embed_metadata

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (40 + index * 50 % 200, 80, 140)).save(buf, "PNG", compress_level=1)
    prompt = ["a quiet harbour at dawn", "a red fox in fresh snow", "a neon city in the rain"][index % 3]
    request = {
        "prompt": prompt,
        "negative_prompt": "",
        "provider": "offline",
        "model": "procedural-v1",
        "style": "none",
        "aspect_ratio": "1:1",
        "width": 64,
        "height": 64,
        "n": 1,
        "seed": 1000 + index,
        "steps": 12,
        "quality": None,
    }
    atelier = {
        "atelier_version": "e2e",
        "provider": "offline",
        "model": "procedural-v1",
        "seed": 1000 + index,
        "width": 64,
        "height": 64,
        "request": request,
    }
    return embed_metadata(buf.getvalue(), "PNG", format_infotext(prompt, "", {"Seed": 1000 + index}), atelier)


E2E_USERS = (("ada", True), ("bob", False), ("carol", False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill_gallery(gallery: Path, count: int) -> None:
    folder = gallery / "2026-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    samples = [sample_png(i) for i in range(3)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        when = start + timedelta(seconds=i)
        name = when.strftime("%Y%m%d-%H%M%S-") + f"{when.microsecond // 1000:03d}_offline_sample_{i:05d}.png"
        (folder / name).write_bytes(samples[i % 3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gallery", type=int, default=0, help="images to create before starting")
    parser.add_argument("--gate", default="", help="file whose existence lets gated jobs finish")
    parser.add_argument("--enhancer", action="store_true", help="prompt enhancement with a local fake text model")
    parser.add_argument("--fake-cloud", action="store_true", help="the OpenAI provider against a fake of its API")
    parser.add_argument("--base-path", default="", help="serve the studio under this sub-path (ATELIER_BASE_PATH)")
    parser.add_argument(
        "--accounts",
        action="store_true",
        help="accounts on: users ada (admin), bob and carol (members), each with password NAME-e2e-password",
    )
    parser.add_argument(
        "--setup-fake",
        type=int,
        default=0,
        help="a first run: no test providers and no keys, and a fake of OpenAI's API on this port (key "
        "sk-e2e-entered-in-the-studio) for the Providers page to be pointed at",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix=f"atelier-e2e-{args.port}-"))
    if args.gallery:
        fill_gallery(tmp / "gallery", args.gallery)
    wildcards = tmp / "wildcards"
    wildcards.mkdir()
    (wildcards / "colors.txt").write_text("# a few colours\nred\nblue\ngreen\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    env.update(
        ATELIER_HOST="127.0.0.1",
        ATELIER_PORT=str(args.port),
        ATELIER_GALLERY_DIR=str(tmp / "gallery"),
        ATELIER_DATA_DIR=str(tmp / "data"),
        ATELIER_WILDCARDS_DIR=str(wildcards),
        ATELIER_ENV_FILE=str(tmp / "no.env"),
        ATELIER_ASYNC_MODE=os.environ.get("ATELIER_ASYNC_MODE", "threading"),
        ATELIER_PROVIDER_MODULES="tests.support.providers",
        ATELIER_TEST_GATE=args.gate or str(tmp / "gate-open"),
        PYTHONPATH=str(ROOT),
    )
    if args.base_path:
        env["ATELIER_BASE_PATH"] = args.base_path
    if args.enhancer:  # a fake OpenAI-compatible chat server, in this process group (stopped with the server)
        port = free_port()
        subprocess.Popen([sys.executable, "-m", "tests.fakes.chat_api", str(port)], cwd=ROOT, env=env)
        env.update(
            ATELIER_ENHANCER="openai-compatible",
            ATELIER_ENHANCER_BASE_URL=f"http://127.0.0.1:{port}/v1",
            ATELIER_ENHANCER_MODEL="fake-llama",
        )
    if args.fake_cloud:  # a fake of OpenAI's Images API, in this process group (stopped with the server)
        port, key = free_port(), "sk-e2e-fake-cloud"
        subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_api", str(port), key], cwd=ROOT, env=env)
        env.update(OPENAI_API_KEY=key, OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1")
    if args.accounts:  # through the CLI, as a person would: the first admin turns accounts on
        for name, admin in E2E_USERS:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "backend",
                    "users",
                    "add",
                    name,
                    *(["--admin"] if admin else []),
                    "--password-stdin",
                ],
                input=f"{name}-e2e-password\n",
                text=True,
                env=env,
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
    if args.setup_fake:  # nothing in the environment: the key and base URL are entered on the Providers page
        env["ATELIER_PROVIDER_MODULES"] = ""
        env["ATELIER_PROVIDER_URLS_ALLOW_PRIVATE"] = "1"
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            env.pop(name, None)
        key = "sk-e2e-entered-in-the-studio"
        subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_api", str(args.setup_fake), key], cwd=ROOT, env=env)
    if args.gate and os.path.exists(args.gate):
        os.remove(args.gate)
    os.chdir(ROOT)
    os.execve(sys.executable, [sys.executable, "-m", "backend"], env)


if __name__ == "__main__":
    main()
