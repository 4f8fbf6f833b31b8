"""Helpers for fault tests: what the server process holds, what the gallery holds, small disks."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from backend.storage.files import TEMP_PREFIX

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def open_sockets(pid: int) -> int:
    """Sockets the process holds open, read from /proc (the same machine: no timing involved)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def threads(pid: int) -> int:
    return int(_status(pid)["Threads"])


def rss_kib(pid: int) -> int:
    return int(_status(pid)["VmRSS"].split()[0])


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def gallery_files(root: Path) -> tuple[list[str], list[str]]:
    """(image files, leftover temporary files) under the gallery, as relative paths;
    the hidden ``.atelier`` folder (index, thumbnails, trash) is not the gallery's content."""
    images, temps = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames if not (rel_dir == "." and d == ".atelier")]
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
            if name.startswith(TEMP_PREFIX):
                temps.append(rel)
            elif os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                images.append(rel)
    return sorted(images), sorted(temps)


def fully_readable(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:
        return False


def all_images(srv) -> list[dict]:
    """Every image the index lists, following cursors."""
    items, cursor = [], None
    while True:
        query = "/api/images?limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = srv.get(query).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def can_mount() -> bool:
    """Whether this machine lets us mount a tmpfs (root with CAP_SYS_ADMIN); cached."""
    global _CAN_MOUNT
    if _CAN_MOUNT is None:
        probe = Path(f"/tmp/atelier-mount-probe-{os.getpid()}")
        probe.mkdir(exist_ok=True)
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True)
        _CAN_MOUNT = ok.returncode == 0
        if _CAN_MOUNT:
            subprocess.run(["umount", str(probe)], check=True)
        probe.rmdir()
    return _CAN_MOUNT


_CAN_MOUNT: bool | None = None


@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "2m") -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def remount(folder: Path, mode: str) -> None:
    """``ro`` or ``rw`` for a tmpfs mounted by :func:`tmpfs`."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Write a filler file until the filesystem is full; returns it (delete it to make room)."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        for size in (4096, 512, 1):  # the last partial chunk, so not even a tiny file fits
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                continue
    return filler
