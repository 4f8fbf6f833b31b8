"""Provider settings entered in the studio reach the scale-out workers through Redis, and
a job holding a provider keeps it while a save replaces it for the next job."""

from __future__ import annotations

import pytest
import requests

from backend.providers.registry import ProviderRegistry
from backend.services.provider_setup import ProviderSetup, apply_synced
from backend.services.provider_sync import ProviderSync
from tests.fakes.openai_api import FakeOpenAI
from tests.support.redis_server import RedisServer, require_redis_server
from tests.support.server import ServerProcess
from tests.support.worker import WorkerProcess

KEY = "sk-studio-for-workers-5e6f7a8b"


def test_a_running_job_keeps_its_provider_and_the_next_gets_the_new_one(tmp_path):
    registry = ProviderRegistry.discover({})
    setup = ProviderSetup(registry, {}, tmp_path, None, allow_private_urls=True)
    setup.start()
    running = registry.get("openai")  # what a job that started now holds
    assert running is not None and running.api_key() is None
    setup.update("openai", {"api_key": KEY, "base_url": "http://127.0.0.1:9/v1"})
    assert running.api_key() is None and running.base_url() == "https://api.openai.com/v1"
    fresh = registry.get("openai")
    assert fresh is not running and fresh.api_key() == KEY and fresh.base_url() == "http://127.0.0.1:9/v1"


def test_settings_travel_encrypted_under_the_worker_secret(tmp_path):
    require_redis_server()
    redis_server = RedisServer(tmp_path).start()
    try:
        import redis

        client = redis.Redis.from_url(redis_server.url)
        web = ProviderSync(client, "worker-secret-a")
        setup = ProviderSetup(ProviderRegistry.discover({}), {}, tmp_path, None, allow_private_urls=True, sync=web)
        setup.start()
        setup.update("openai", {"api_key": KEY, "base_url": "http://127.0.0.1:9/v1"})
        assert KEY.encode() not in b"".join(client.get(k) or b"" for k in client.keys("*"))

        worker = ProviderSync(client, "worker-secret-a")
        found = worker.fetch(None)
        assert found is not None and found[0] == int(client.get("atelier:provider-settings:version"))
        registry = ProviderRegistry.discover({})
        apply_synced(registry, {p.id: type(p) for p in registry}, {}, found[1])
        assert registry.get("openai").api_key() == KEY  # type: ignore[union-attr]
        assert worker.fetch(found[0]) is None  # unchanged: nothing read again
        assert ProviderSync(client, "another-secret").fetch(None) is None  # not readable without the secret
    finally:
        redis_server.stop()


@pytest.fixture
def fake():
    with FakeOpenAI(KEY) as api:
        yield api


def test_a_worker_uses_the_key_entered_in_the_studio_and_picks_up_a_change(tmp_path, fake):
    require_redis_server()
    redis_server = RedisServer(tmp_path).start()
    shared = {"ATELIER_REDIS_URL": redis_server.url, "ATELIER_WORKER_HEARTBEAT_SECONDS": "0.5"}
    srv = ServerProcess(tmp_path, "eventlet", ATELIER_PROVIDER_URLS_ALLOW_PRIVATE="1", **shared).start()
    worker = None
    try:
        r = requests.put(
            f"{srv.url}/api/providers/openai/settings",
            json={"api_key": KEY, "base_url": fake.url + "/v1"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        # the worker has no key in its environment: it starts because the studio has one
        worker = WorkerProcess(tmp_path, "w1", redis_server.url, srv.url, "openai").start()
        job = srv.submit(prompt="a lighthouse", provider="openai")
        assert srv.wait_job(job["id"])["status"] == "succeeded"
        # a new key entered in the studio reaches the worker's next job, without a restart
        r = requests.put(f"{srv.url}/api/providers/openai/settings", json={"api_key": "sk-wrong-one"}, timeout=30)
        assert r.status_code == 200
        job = srv.submit(prompt="again", provider="openai")
        failed = srv.wait_job(job["id"])
        assert failed["status"] == "failed" and failed["error"]["code"] == "auth", failed
        assert {r.headers["authorization"] for r in fake.requests} == {f"Bearer {KEY}", "Bearer sk-wrong-one"}
    finally:
        if worker is not None:
            worker.kill()
        srv.stop()
        redis_server.stop()


def test_two_web_servers_on_one_data_folder_keep_each_others_saves(tmp_path):
    from backend.storage.provider_settings_store import ProviderSettingsStore

    path = tmp_path / "provider_settings.json"
    a, b = ProviderSettingsStore(path), ProviderSettingsStore(path)
    assert a.save("openai", {"values": {"retries": "1"}}) == 1
    assert b.save("gemini", {"values": {"retries": "2"}}) == 2  # b read a's save first
    assert a.entry("gemini") == {"values": {"retries": "2"}} and a.version == 2
    assert ProviderSettingsStore(path).entry("openai") == {"values": {"retries": "1"}}


def test_a_save_on_one_web_server_reaches_another_through_redis(tmp_path, fake):
    import time

    require_redis_server()
    redis_server = RedisServer(tmp_path).start()
    shared = {"ATELIER_REDIS_URL": redis_server.url, "ATELIER_PROVIDER_URLS_ALLOW_PRIVATE": "1"}
    a = ServerProcess(tmp_path / "a", "eventlet", **shared)
    b = ServerProcess(tmp_path / "b", "threading", **shared)  # its own data folder: only Redis joins them
    for srv in (a, b):
        srv.tmp.mkdir()
        srv.start()
    try:

        def available_on_b() -> bool:
            return {p["id"]: p for p in b.get("/api/providers").json()["providers"]}["openai"]["available"]

        assert not available_on_b()
        r = requests.put(
            f"{a.url}/api/providers/openai/settings", json={"api_key": KEY, "base_url": fake.url + "/v1"}, timeout=30
        )
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        while not available_on_b():
            assert time.monotonic() < deadline, "B never built OpenAI with the key saved on A"
            time.sleep(0.1)
        assert KEY not in b.get("/api/providers").text
        # B restarted adopts what is in Redis (it does not put its own, older, settings there)
        b.stop()
        b.start()
        assert available_on_b()
        r = requests.put(f"{a.url}/api/providers/openai/settings", json={"enabled": False}, timeout=30)
        assert r.status_code == 200
        deadline = time.monotonic() + 30
        while available_on_b():
            assert time.monotonic() < deadline, "B never saw OpenAI turned off on A"
            time.sleep(0.1)
    finally:
        a.stop()
        b.stop()
        redis_server.stop()
