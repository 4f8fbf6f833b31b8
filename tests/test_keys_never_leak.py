"""A recognisable fake key for every provider never leaves the server.

Every key variable carries a canary (``...LEAKCANARY...``), some from the environment and
some from the .env file. A full session runs jobs on every provider against the local
fakes, successes and failures (a fake that echoes the key it got in its error, as real
APIs do), and lists everything. Every REST answer (headers and bodies), every Socket.IO
event, every gallery file (embedded metadata), the export ZIP, the server's log and the
SPA bundle built with the canaries in its environment are searched: no canary anywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import requests

from tests.fakes.chat_api import FakeOpenAIChat
from tests.fakes.evolink_api import FakeEvoLink
from tests.fakes.gemini_api import FakeGemini
from tests.fakes.huggingface_api import FakeHuggingFace
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.stability_api import FakeStability
from tests.support.cloud import FAST_SETTINGS
from tests.support.server import ROOT, ServerProcess
from tests.support.sio import EventRecorder

CANARY = "LEAKCANARY"
#: the key each provider uses (the fake expects it) and its other accepted variables
IN_ENV = {
    "OPENAI_API_KEY": "sk-LEAKCANARY-openai-0a1b2c3d4e5f",
    "GEMINI_API_KEY": "AIzaLEAKCANARY-gemini-6g7h8i9j",
    "HF_TOKEN": "hf_LEAKCANARY_huggingface_k1l2m3",
    "STABILITY_API_KEY": "sk-LEAKCANARY-stability-n4o5p6",
    "EVOLINK_API_KEY": "sk-LEAKCANARY-evolink-q7r8s9",
    # the prompt enhancer's own key (an OpenAI-compatible server, e.g. a hosted Ollama)
    "ATELIER_ENHANCER_API_KEY": "sk-LEAKCANARY-enhancer-z1y2x3",
}
IN_DOTENV = {
    "GOOGLE_API_KEY": "AIzaLEAKCANARY-google-t1u2v3",
    "HF_API_TOKEN": "hf_LEAKCANARY_hfapi_w4x5y6",
}
PROVIDERS = {
    "openai": (FakeOpenAI, "OPENAI_BASE_URL", "/v1", "OPENAI_API_KEY", "bad_request"),
    "gemini": (FakeGemini, "GEMINI_BASE_URL", "", "GEMINI_API_KEY", "quota"),
    "huggingface": (FakeHuggingFace, "HF_BASE_URL", "", "HF_TOKEN", "quota"),
    "stability": (FakeStability, "STABILITY_BASE_URL", "", "STABILITY_API_KEY", "moderation"),
    "evolink": (FakeEvoLink, "EVOLINK_BASE_URL", "", "EVOLINK_API_KEY", "quota"),
}
ALL_KEYS = [*IN_ENV.values(), *IN_DOTENV.values()]


class Transcript:
    """Everything the server said over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.parts: list[bytes] = []

    def call(self, method: str, path: str, **kw) -> requests.Response:
        r = requests.request(method, self.url + path, timeout=30, **kw)
        self.parts.append(f"{method} {path} {r.status_code} {dict(r.headers)}".encode())
        self.parts.append(r.content)
        return r

    def get(self, path: str, **kw) -> requests.Response:
        return self.call("GET", path, **kw)


def _leaks(blob: bytes) -> list[str]:
    found = [k for k in ALL_KEYS if k.encode() in blob]
    if CANARY.encode() in blob:
        found.append(CANARY)
    return found


def _wait(http: Transcript, job_id: str) -> dict:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = http.get(f"/api/jobs/{job_id}").json()["job"]
        if job["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return job
        time.sleep(0.05)
    raise TimeoutError(job_id)


@pytest.fixture
def fakes():
    started = {pid: cls(IN_ENV[key_var]).start() for pid, (cls, _, _, key_var, _) in PROVIDERS.items()}
    started["enhancer"] = FakeOpenAIChat(IN_ENV["ATELIER_ENHANCER_API_KEY"]).start()
    yield started
    for fake in started.values():
        fake.stop()


@pytest.mark.both_modes
def test_no_key_in_any_answer_event_file_or_log(tmp_path, fakes, async_mode):
    env = {**FAST_SETTINGS, **IN_ENV, "ATELIER_RETRY_ATTEMPTS": "1", "ATELIER_LOG_LEVEL": "DEBUG"}
    for pid, (_, url_var, suffix, _, _) in PROVIDERS.items():
        env[url_var] = fakes[pid].url + suffix
    env.update(
        ATELIER_ENHANCER="openai-compatible",
        ATELIER_ENHANCER_BASE_URL=fakes["enhancer"].url + "/v1",
        ATELIER_ENHANCER_MODEL="fake-llama",
    )
    srv = ServerProcess(tmp_path, async_mode, **env)
    (tmp_path / "no.env").write_text("".join(f"{k}={v}\n" for k, v in IN_DOTENV.items()))
    srv.start()
    http = Transcript(srv.url)
    feeds = EventRecorder(srv.url).connect()
    try:
        assert feeds.subscribe(topic="gallery")["ok"] and feeds.subscribe(topic="queue")["ok"]
        for path in ("/", "/api/health", "/api/providers", "/api/styles", "/api/aspect-ratios"):
            assert http.get(path).status_code == 200
        listing = {p["id"]: p for p in http.get("/api/providers").json()["providers"]}
        assert all(listing[pid]["available"] for pid in PROVIDERS), listing

        jobs = []
        for pid, (_, _, _, _, failure) in PROVIDERS.items():
            fake = fakes[pid]
            fake.script("create" if pid == "evolink" else "generate", "ok", failure)
            for prompt in ("works", "fails"):
                r = http.call("POST", "/api/jobs", json={"prompt": f"{pid} {prompt}", "provider": pid})
                job = r.json()["job"]
                feeds.subscribe(job_id=job["id"])
                jobs.append(_wait(http, job["id"]))
            # a wrong key: the fake echoes the key it was sent in its error, as real APIs do
            expected, fake.key = fake.key, "the-right-key"
            r = http.call("POST", "/api/jobs", json={"prompt": f"{pid} bad key", "provider": pid})
            feeds.subscribe(job_id=r.json()["job"]["id"])
            jobs.append(_wait(http, r.json()["job"]["id"]))
            fake.key = expected
        # the prompt enhancer: once with its key, once refused (the fake echoes the key it got)
        enhancer = fakes["enhancer"]
        assert http.call("POST", "/api/prompts/enhance", json={"prompt": "a cat"}).status_code == 200
        expected, enhancer.key = enhancer.key, "the-right-key"
        refused = http.call("POST", "/api/prompts/enhance", json={"prompt": "a cat"})
        assert refused.status_code == 502 and refused.json()["error"]["code"] == "auth", refused.text
        enhancer.key = expected
        outcomes = [(j["provider"], j["status"], (j["error"] or {}).get("code")) for j in jobs]
        assert [s for _, s, _ in outcomes].count("succeeded") == len(PROVIDERS), outcomes
        assert [c for _, _, c in outcomes].count("auth") == len(PROVIDERS), outcomes

        retried = http.call("POST", f"/api/jobs/{jobs[1]['id']}/retry").json()["job"]
        feeds.subscribe(job_id=retried["id"])
        _wait(http, retried["id"])
        http.get("/api/jobs?limit=200")
        images = http.get("/api/images?limit=200").json()["items"]
        assert len(images) >= len(PROVIDERS)
        for image in images:
            http.get(f"/api/images/{image['id']}")
            http.get(image["url"])
            http.get(image["thumb_url"])
        http.get("/api/export.zip")
        http.get("/api/trash")
        http.get("/api/jobs/not-a-job")
        http.call("POST", "/api/jobs", json={"prompt": "x", "provider": "nope"})
        # the replay path too: a fresh client asks for every job from seq 0
        replay = EventRecorder(srv.url).connect()
        try:
            for job in jobs:
                replay.subscribe(job_id=job["id"], after_seq=0)
            replay.wait_for(lambda ev: sum(e in ("job.succeeded", "job.failed") for e, _ in ev) >= len(jobs))
            events = list(feeds.events) + list(replay.events)
        finally:
            replay.close()
    finally:
        feeds.close()
        srv.stop()

    assert _leaks(b"\n".join(http.parts)) == [], "a key in a REST answer"
    assert _leaks(repr(events).encode()) == [], "a key in a Socket.IO event"
    assert _leaks(srv.output().encode()) == [], "a key in the server's log"
    for path in srv.gallery.rglob("*"):
        if path.is_file() and not path.name.endswith(("-wal", "-shm")):
            assert _leaks(path.read_bytes()) == [], f"a key in {path.relative_to(srv.gallery)}"
    for path in srv.data.rglob("*"):
        if path.is_file():
            assert _leaks(path.read_bytes()) == [], f"a key in the job store {path.name}"


def test_no_key_in_the_spa_bundle(tmp_path):
    """The SPA built with every key in its environment (a ``VITE_``-style leak would inline
    it), plus the build already in frontend/dist if there is one."""
    npx = shutil.which("npx")
    if npx is None or not (ROOT / "node_modules" / ".bin" / "vite").exists():
        pytest.skip("npm and the frontend's node_modules are needed to build the SPA (run `make spa`)")
    out = tmp_path / "dist"
    env = {**os.environ, **IN_ENV, **IN_DOTENV, **{f"VITE_{k}": v for k, v in IN_ENV.items()}}
    build = subprocess.run(
        [npx, "vite", "build", "--outDir", str(out), "--emptyOutDir", "--logLevel", "error"],
        cwd=ROOT / "frontend",
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr.decode()[-2000:]
    bundles = [out, ROOT / "frontend" / "dist"]
    files = [p for folder in bundles if folder.is_dir() for p in folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".js" for p in files)
    for path in files:
        assert _leaks(path.read_bytes()) == [], f"a key in the SPA bundle: {path}"


def test_no_key_entered_in_the_studio_in_any_answer_event_file_or_log(tmp_path):
    """A key pasted on the Providers page (PUT /api/providers/<id>/settings): the same
    search as above over every answer, event, gallery and data file and the log, with the
    test button and failing jobs against a fake that echoes the key it got."""
    key = "sk-LEAKCANARY-studio-entered-4d5e6f"
    fake = FakeOpenAI(key).start()
    srv = ServerProcess(
        tmp_path, "eventlet", ATELIER_LOG_LEVEL="DEBUG", ATELIER_PROVIDER_URLS_ALLOW_PRIVATE="1", **FAST_SETTINGS
    ).start()
    http = Transcript(srv.url)
    feeds = EventRecorder(srv.url).connect()
    try:
        assert feeds.subscribe(topic="providers")["ok"] and feeds.subscribe(topic="gallery")["ok"]
        saved = http.call(
            "PUT", "/api/providers/openai/settings", json={"api_key": f" {key}\n", "base_url": fake.url + "/v1"}
        )
        assert saved.status_code == 200 and saved.json()["key"]["source"] == "studio"
        assert http.call("POST", "/api/providers/openai/test").json()["verdict"] == "works"
        ok = http.call("POST", "/api/jobs", json={"prompt": "studio key works", "provider": "openai"}).json()["job"]
        feeds.subscribe(job_id=ok["id"])
        assert _wait(http, ok["id"])["status"] == "succeeded"
        fake.key = "the-right-key"  # now the fake refuses and echoes the key it got, as real APIs do
        assert http.call("POST", "/api/providers/openai/test").json()["verdict"] == "wrong_key"
        bad = http.call("POST", "/api/jobs", json={"prompt": "studio key refused", "provider": "openai"}).json()["job"]
        feeds.subscribe(job_id=bad["id"])
        assert _wait(http, bad["id"])["error"]["code"] == "auth"
        # a second save (the key again, with spaces) and a refused one (the key with a space inside)
        http.call("PUT", "/api/providers/openai/settings", json={"api_key": f"\t{key} "})
        refused = http.call("PUT", "/api/providers/openai/settings", json={"api_key": f"{key} {key}"})
        assert refused.status_code == 422
        for path in ("/api/providers", "/api/providers/openai/settings", "/api/jobs?limit=50", "/api/export.zip"):
            assert http.get(path).status_code == 200
        for image in http.get("/api/images?limit=50").json()["items"]:
            http.get(f"/api/images/{image['id']}")
            http.get(image["url"])
        feeds.wait_for(lambda ev: sum(e == "providers.changed" for e, _ in ev) >= 2)
        events = list(feeds.events)
    finally:
        feeds.close()
        srv.stop()
        fake.stop()
    assert key.encode() not in b"\n".join(http.parts) and CANARY.encode() not in b"\n".join(http.parts)
    assert CANARY not in repr(events), "a studio key in a Socket.IO event"
    assert CANARY not in srv.output(), "a studio key in the server's log"
    for folder in (srv.gallery, srv.data):
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.endswith(("-wal", "-shm")):
                assert CANARY.encode() not in path.read_bytes(), f"a studio key in {path}"
