"""Providers set up from the studio (issue 17): a key and settings entered through
``PUT /api/providers/<id>/settings`` work for the next job without a restart, are stored
encrypted, survive a restart, lose gracefully when the secret file is lost, and every bad
input is refused with a 4xx naming the field and changes nothing."""

from __future__ import annotations

import json
import stat

import pytest
import requests

from tests.fakes.openai_api import FakeOpenAI
from tests.support.server import ServerProcess, free_port
from tests.support.sio import EventRecorder

KEY = "sk-studio-entered-9f8e7d6c5b4a"
PRIVATE_OK = {"ATELIER_PROVIDER_URLS_ALLOW_PRIVATE": "1"}


@pytest.fixture
def fake():
    with FakeOpenAI(KEY) as api:
        yield api


def settings_url(srv: ServerProcess, provider: str = "openai") -> str:
    return f"{srv.url}/api/providers/{provider}/settings"


def put(srv: ServerProcess, body: object, provider: str = "openai", **kw) -> requests.Response:
    return requests.put(settings_url(srv, provider), json=body, timeout=30, **kw)


def button_says(srv: ServerProcess, provider: str = "openai") -> dict:
    """The test button's answer."""
    return requests.post(f"{srv.url}/api/providers/{provider}/test", timeout=30).json()


def providers(srv: ServerProcess) -> dict[str, dict]:
    return {p["id"]: p for p in srv.get("/api/providers").json()["providers"]}


def test_a_key_entered_in_the_studio_works_for_the_next_job_without_a_restart(make_server, fake):
    srv = make_server(**PRIVATE_OK)
    before = srv.get("/api/providers/openai/settings").json()
    assert before["key"] == {"set": False, "source": None, "last4": None, "set_at": None}
    assert not providers(srv)["openai"]["available"]
    refused = srv.post("/api/jobs", json={"prompt": "a lighthouse", "provider": "openai"})
    assert refused.status_code == 422 and "Providers page" in refused.json()["error"]["message"]

    r = put(srv, {"api_key": f"  {KEY}\n", "base_url": fake.url + "/v1"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert KEY not in r.text
    assert answer["key"]["set"] and answer["key"]["source"] == "studio" and answer["key"]["last4"] == KEY[-4:]
    assert answer["key"]["set_at"] and answer["settings"]["base_url"] == fake.url + "/v1"
    assert answer["sources"]["base_url"] == "studio" and answer["version"] == before["version"] + 1
    assert providers(srv)["openai"]["available"]

    works = {"ok": True, "verdict": "works", "message": "works: OpenAI accepted the key (2 models listed)"}
    assert button_says(srv) == works
    job = srv.submit(prompt="a lighthouse on a cliff", provider="openai")
    assert srv.wait_job(job["id"])["status"] == "succeeded"
    # the key reached the API trimmed; the test made only the free call, no generation
    sent = {r.headers["authorization"] for r in fake.requests}
    assert sent == {f"Bearer {KEY}"}
    assert [r.path for r in fake.requests].count("/v1/images/generations") == 1

    # at rest: encrypted in the data folder, the secret file 0600
    stored = (srv.data / "provider_settings.json").read_text()
    assert KEY not in stored and json.loads(stored)["providers"]["openai"]["key"]["last4"] == KEY[-4:]
    assert stat.S_IMODE((srv.data / "secret.key").stat().st_mode) == 0o600

    # a restart keeps it
    srv.stop()
    srv.start()
    assert srv.get("/api/providers/openai/settings").json()["key"]["source"] == "studio"
    job = srv.submit(prompt="again", provider="openai")
    assert srv.wait_job(job["id"])["status"] == "succeeded"

    # null removes it
    r = put(srv, {"api_key": None})
    assert r.status_code == 200 and r.json()["key"]["set"] is False
    assert not providers(srv)["openai"]["available"]


def test_the_test_button_says_wrong_key_no_credit_and_cannot_reach(make_server, fake):
    srv = make_server(**PRIVATE_OK)
    assert button_says(srv)["verdict"] == "no_key"
    assert put(srv, {"api_key": "sk-not-the-right-one", "base_url": fake.url + "/v1"}).status_code == 200
    wrong = button_says(srv)
    assert (wrong["ok"], wrong["verdict"]) == (False, "wrong_key") and "sk-not" not in json.dumps(wrong)
    assert put(srv, {"api_key": KEY}).status_code == 200
    fake.script("models", "quota")
    assert button_says(srv)["verdict"] == "no_credit"
    closed = f"http://127.0.0.1:{free_port()}/v1"
    assert put(srv, {"base_url": closed}).status_code == 200
    assert button_says(srv)["verdict"] == "cannot_reach"


def test_a_test_against_an_api_that_hangs_is_answered_within_the_timeout(make_server, fake):
    srv = make_server(**PRIVATE_OK)
    r = put(srv, {"api_key": KEY, "base_url": fake.url + "/v1", "timeout_seconds": 1})
    assert r.status_code == 200 and r.json()["settings"]["timeout_seconds"] == 1.0
    fake.script("models", "slow")  # the fake holds the answer for 30 s
    answer = requests.post(f"{srv.url}/api/providers/openai/test", timeout=10).json()
    assert (answer["ok"], answer["verdict"]) == (False, "cannot_reach") and "in time" in answer["message"]


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"api_key": ""}, "api_key", 422),
        ({"api_key": "   \n"}, "api_key", 422),
        ({"api_key": "x" * 10240}, "api_key", 422),
        ({"api_key": "sk-two words"}, "api_key", 422),
        ({"api_key": 12345}, "api_key", 422),
        ({"base_url": "ftp://api.example.com/v1"}, "base_url", 422),
        ({"base_url": "javascript:alert(1)"}, "base_url", 422),
        ({"base_url": "http://10.1.2.3/v1"}, "base_url", 422),
        ({"base_url": "http://127.0.0.1:9/v1"}, "base_url", 422),
        ({"base_url": "http://169.254.169.254/latest"}, "base_url", 422),
        ({"base_url": "https://user:pw@api.example.com/v1"}, "base_url", 422),
        ({"timeout_seconds": 0}, "timeout_seconds", 422),
        ({"timeout_seconds": "10"}, "timeout_seconds", 422),
        ({"retries": 2.5}, "retries", 422),
        ({"concurrency": True}, "concurrency", 422),
        ({"enabled": "yes"}, "enabled", 422),
        ({"models": ["owner/name"]}, "models", 422),  # a Hugging Face setting, not OpenAI's
    ],
    ids=[
        "empty-key",
        "blank-key",
        "10kb-key",
        "key-with-space",
        "key-not-text",
        "ftp-url",
        "javascript-url",
        "private-url",
        "loopback-url",
        "metadata-url",
        "url-with-password",
        "timeout-zero",
        "timeout-text",
        "retries-fraction",
        "concurrency-bool",
        "enabled-text",
        "unknown-field",
    ],
)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(server, body, field, status):
    before = server.get("/api/providers/openai/settings").json()
    r = put(server, body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field, error
    if isinstance(body.get("api_key"), str):
        assert body["api_key"].strip()[:20] not in error["message"] or not body["api_key"].strip()
    assert server.get("/api/providers/openai/settings").json() == before


def test_a_private_address_is_refused_unless_the_setting_allows_it_and_metadata_never(make_server):
    srv = make_server(**PRIVATE_OK)
    assert put(srv, {"base_url": "http://10.1.2.3/v1"}).status_code == 200
    assert put(srv, {"base_url": "http://127.0.0.1:9/v1"}).status_code == 200
    r = put(srv, {"base_url": "http://169.254.169.254/latest"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "base_url"


def test_huggingface_models_list_is_checked_and_offered(server):
    r = put(server, {"models": ["acme/my-model", "acme/my-model"]}, provider="huggingface")
    assert r.status_code == 200 and r.json()["settings"]["models"] == ["acme/my-model"]
    models = [m["id"] for m in providers(server)["huggingface"]["models"]]
    assert "acme/my-model" in models
    bad = put(server, {"models": ["not a model id"]}, provider="huggingface")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "models"


def test_a_key_in_the_environment_wins_and_cannot_be_changed_here(make_server):
    srv = make_server(OPENAI_API_KEY="sk-from-the-environment-1111", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    view = srv.get("/api/providers/openai/settings").json()
    assert view["key"] == {"set": True, "source": "environment", "last4": None, "set_at": None}
    assert view["sources"]["base_url"] == "environment"
    r = put(srv, {"api_key": KEY})
    assert r.status_code == 409 and r.json()["error"]["field"] == "api_key"
    assert "sk-from" not in r.text
    r = put(srv, {"base_url": "https://api.example.org/v1"})
    assert r.status_code == 409 and r.json()["error"]["field"] == "base_url"


def test_turning_a_provider_off_and_on(server):
    r = put(server, {"enabled": False}, provider="instant")
    assert r.status_code == 200 and r.json()["settings"]["enabled"] is False
    listed = providers(server)["instant"]
    assert (listed["available"], listed["reason"]) == (False, "turned off on the Providers page")
    refused = requests.post(f"{server.url}/api/jobs", json={"prompt": "x", "provider": "instant"}, timeout=30)
    assert refused.status_code >= 400, refused.text
    assert put(server, {"enabled": True}, provider="instant").status_code == 200
    job = server.submit(prompt="x", provider="instant")
    assert server.wait_job(job["id"])["status"] == "succeeded"


def test_concurrency_set_in_the_studio_is_shown_and_can_be_reset(server):
    r = put(server, {"concurrency": 3}, provider="offline")
    assert r.status_code == 200 and (r.json()["settings"]["concurrency"], r.json()["sources"]["concurrency"]) == (
        3,
        "studio",
    )
    r = put(server, {"concurrency": None}, provider="offline")
    assert r.json()["sources"]["concurrency"] == "default"


def test_two_saves_at_once_the_last_wins_and_both_are_told(server, fake):
    feed = EventRecorder(server.url).connect()
    try:
        assert feed.subscribe(topic="providers")["ok"]
        first = put(server, {"retries": 1}).json()
        second = put(server, {"retries": 2}).json()
        assert second["version"] == first["version"] + 1
        assert server.get("/api/providers/openai/settings").json()["settings"]["retries"] == 2
        changed = feed.wait_for(lambda ev: sum(e == "providers.changed" for e, _ in ev) >= 2)
        versions = [d["version"] for e, d in changed if e == "providers.changed"]
        assert versions == [first["version"], second["version"]]
        assert all(d["provider"] == "openai" for e, d in changed if e == "providers.changed")
    finally:
        feed.close()


def test_unknown_provider_is_404(server):
    assert server.get("/api/providers/nope/settings").status_code == 404
    assert put(server, {"enabled": True}, provider="nope").status_code == 404
    assert requests.post(f"{server.url}/api/providers/nope/test", timeout=30).status_code == 404


def test_a_remote_client_without_the_token_can_neither_read_nor_write(make_server):
    srv = make_server(ATELIER_TOKEN="s3cret-token-for-tests")
    assert srv.get("/api/providers/openai/settings").status_code == 401
    assert put(srv, {"api_key": KEY}).status_code == 401
    assert requests.post(f"{srv.url}/api/providers/openai/test", timeout=30).status_code == 401
    auth = {"Authorization": "Bearer s3cret-token-for-tests"}
    assert srv.get("/api/providers/openai/settings", headers=auth).status_code == 200
    assert put(srv, {"api_key": KEY}, headers=auth).status_code == 200


def test_the_secret_file_deleted_keys_must_be_entered_again_no_crash(make_server, fake):
    srv = make_server(**PRIVATE_OK)
    assert put(srv, {"api_key": KEY, "base_url": fake.url + "/v1"}).status_code == 200
    srv.stop()
    (srv.data / "secret.key").unlink()
    srv.start()
    view = srv.get("/api/providers/openai/settings").json()
    assert view["key"]["set"] is False and "enter it again" in view["key"]["problem"]
    assert view["settings"]["base_url"] == fake.url + "/v1"  # the rest of the settings stay
    assert not providers(srv)["openai"]["available"]
    lines = [line for line in srv.output().splitlines() if "enter them again" in line]
    assert len(lines) == 1 and "openai" in lines[0]
    # entering it again works (with the new secret file)
    assert put(srv, {"api_key": KEY}).status_code == 200
    assert button_says(srv)["verdict"] == "works"


def test_the_secret_file_unreadable_at_start_says_so_and_refuses_new_keys(make_server, fake):
    srv = make_server(**PRIVATE_OK)
    assert put(srv, {"api_key": KEY, "base_url": fake.url + "/v1"}).status_code == 200
    srv.stop()
    secret = srv.data / "secret.key"
    secret.unlink()
    secret.mkdir()  # unreadable as a file, even for root
    srv.start()
    view = srv.get("/api/providers/openai/settings").json()
    assert view["key"]["set"] is False and "cannot be read" in view["key"]["problem"]
    lines = [line for line in srv.output().splitlines() if "cannot be used" in line]
    assert len(lines) == 1 and "secret.key" in lines[0]
    r = put(srv, {"api_key": KEY})
    assert r.status_code == 409 and r.json()["error"]["field"] == "api_key" and KEY not in r.text
    assert srv.get("/api/health").status_code == 200
    assert secret.is_dir()  # never written over


def test_atelier_secret_key_encrypts_instead_of_a_file(make_server, fake):
    srv = make_server(ATELIER_SECRET_KEY="an-operator-chosen-secret-of-enough-length-0123", **PRIVATE_OK)
    assert put(srv, {"api_key": KEY, "base_url": fake.url + "/v1"}).status_code == 200
    assert not (srv.data / "secret.key").exists()
    srv.stop()
    srv.extra_env["ATELIER_SECRET_KEY"] = "another-secret-of-enough-length-0123456789ab"
    srv.start()
    assert srv.get("/api/providers/openai/settings").json()["key"]["set"] is False
