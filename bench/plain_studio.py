"""The plain studio: the baseline of the per-job benchmark (bench/bench_spine.py).

The same job as Atelier's on the ``instant`` test provider, written plainly in the same
stack and async mode: a minimal Flask-SocketIO app that takes ``POST /api/jobs``, records
the job in SQLite, writes the same pre-encoded PNG atomically (temporary file, fsync,
rename, fsync of the folder, as Atelier does), records the image in SQLite and emits one
event to the job's room. A client subscribes to the job (``subscribe {"job_id"}``,
acknowledged) after the POST answers; a job that already ended is sent its event then, so
neither side can miss it (what Atelier's replay does).

    python bench/plain_studio.py MODE FOLDER   # prints "running at http://127.0.0.1:PORT"
"""

from __future__ import annotations

import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "threading"
if MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()

import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

from flask import Flask, jsonify, request  # noqa: E402
from flask_socketio import SocketIO, emit, join_room  # noqa: E402
from PIL import Image  # noqa: E402


def tiny_png() -> bytes:
    """The instant provider's image (tests/support/providers.py tiny_png)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 60, 30)).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def write_atomically(folder: Path, name: str, data: bytes) -> Path:
    final = folder / name
    tmp = folder / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return final


def build(folder: Path) -> tuple[Flask, SocketIO]:
    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / "plain.sqlite3", check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, status TEXT, data TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, job_id TEXT, path TEXT, prompt TEXT)")
    lock = threading.RLock()
    done: dict[str, dict] = {}  # job id -> its event, for a subscriber that comes after it
    png = tiny_png()

    app = Flask(__name__)
    sio = SocketIO(app, async_mode=MODE)

    def run(job_id: str, prompt: str) -> None:
        path = write_atomically(folder, f"{job_id}.png", png)
        image = {"id": job_id, "path": path.name, "prompt": prompt}
        with lock:
            db.execute("INSERT INTO images VALUES (?, ?, ?, ?)", (job_id, job_id, path.name, prompt))
            db.execute("UPDATE jobs SET status='succeeded' WHERE id=?", (job_id,))
            event = {"job_id": job_id, "images": [image], "ts": round(time.time(), 3)}
            done[job_id] = event
            sio.emit("job.succeeded", event, to=f"job:{job_id}")

    @app.post("/api/jobs")
    def submit():
        body = request.get_json(silent=True) or {}
        job = {"id": uuid.uuid4().hex, "prompt": str(body.get("prompt", "")), "status": "queued"}
        with lock:
            db.execute("INSERT INTO jobs VALUES (?, ?, ?)", (job["id"], "queued", json.dumps(job)))
        sio.start_background_task(run, job["id"], job["prompt"])
        return jsonify({"job": job}), 202

    @sio.on("subscribe")
    def subscribe(data):
        job_id = str((data or {}).get("job_id", ""))
        with lock:
            join_room(f"job:{job_id}")
            if job_id in done:
                emit("job.succeeded", done[job_id])
        return {"ok": True}

    return app, sio


def main() -> None:
    folder = Path(sys.argv[2])
    app, sio = build(folder)
    if MODE == "eventlet":
        import eventlet.wsgi

        listener = eventlet.listen(("127.0.0.1", 0))
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        print(f"running at http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
        eventlet.wsgi.server(listener, app, log_output=False)
    else:
        from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

        class NoDelay(WSGIRequestHandler):
            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_request(self, *args, **kwargs) -> None:
                pass

        server = ThreadedWSGIServer("127.0.0.1", 0, app, handler=NoDelay)
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        print(f"running at http://127.0.0.1:{server.server_port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
