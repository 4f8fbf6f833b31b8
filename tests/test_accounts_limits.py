"""Budgets and limits against the real server (issue 13): two web instances (eventlet and
threading) that share one real Redis enforce one rate limit between them; with accounts,
real users and API keys over their budgets, rate limits and concurrent-job limits.
In-process checks of every rule: tests/test_budgets_limits.py.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.accounts import Browser, add_user, bearer, setup_admin, wait_until
from tests.support.redis_server import RedisServer, require_redis_server
from tests.support.server import ServerProcess

FREE = {"prompt": "a heron at dawn", "provider": "instant"}


@pytest.fixture
def two_instances(tmp_path):
    """Start A (eventlet) and B (threading) on one Redis, one gallery and one job database."""
    require_redis_server()
    redis = RedisServer(tmp_path).start()
    started: list[ServerProcess] = []

    def start(**env: str) -> tuple[ServerProcess, ServerProcess]:
        shared = {
            "ATELIER_REDIS_URL": redis.url,
            "ATELIER_GALLERY_DIR": str(tmp_path / "gallery"),
            "ATELIER_DATA_DIR": str(tmp_path / "data"),
            **env,
        }
        a = ServerProcess(tmp_path, "eventlet", **shared).start()
        started.append(a)
        b = ServerProcess(tmp_path, "threading", **shared).start()
        started.append(b)
        return a, b

    start.redis = redis  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.stop()
    redis.stop()


def _post(server: ServerProcess, body: dict, **headers: str) -> requests.Response:
    return requests.post(f"{server.url}/api/jobs", json=body, headers=headers, timeout=30)


def test_two_instances_enforce_one_client_rate_limit_through_redis(two_instances) -> None:
    a, b = two_instances(ATELIER_RATE_LIMIT="3/hour")
    # no worker: the jobs wait in the Redis queue, which is all a submission needs
    assert [_post(server, FREE).status_code for server in (a, b, a)] == [202, 202, 202]
    for server in (b, a):  # each instance alone has seen fewer than 3: the window is shared
        refused = _post(server, FREE)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 3000 < int(refused.headers["Retry-After"]) <= 3600
    # reading is not limited
    assert requests.get(f"{b.url}/api/jobs", timeout=30).status_code == 200
    # Redis away: the window cannot be read, and the queue on it is down too: 503, not a 500
    two_instances.redis.stop()
    for server in (a, b):
        down = _post(server, FREE)
        assert down.status_code == 503 and down.json()["error"]["code"] == "queue_unavailable"
        assert down.headers["Retry-After"] == "5"


# --- with accounts ----------------------------------------------------------------------
PRICED = {"prompt": "a heron at dawn", "provider": "priced"}  # $0.04 an image
HELD = {"prompt": "a heron at dawn", "provider": "gated"}  # runs until the gate opens


def _member_with_key(admin: Browser, srv: ServerProcess, name: str, user_budget=None, key_budget=None):
    """A member signed in, with a ``generate`` key of ``key_budget``."""
    user = add_user(admin, name)
    if user_budget is not None:
        r = admin.patch(f"/api/users/{user['id']}", json={"monthly_budget_usd": user_budget})
        assert r.status_code == 200 and r.json()["user"]["monthly_budget_usd"] == user_budget
    browser = Browser(srv).sign_in(name)
    r = browser.post(
        "/api/keys", json={"name": f"{name}-script", "scopes": ["generate"], "monthly_budget_usd": key_budget}
    )
    assert r.status_code == 201, r.text
    return browser, r.json()["key"], r.json()["secret"]


def test_a_key_over_budget_while_its_user_has_room_and_the_reverse(make_server) -> None:
    srv = make_server()
    admin = setup_admin(srv, "root")
    # ann: $0.10 a month; her script's key: $0.05
    ann, key, secret = _member_with_key(admin, srv, "ann", user_budget=0.10, key_budget=0.05)
    assert _post(srv, PRICED, **bearer(secret)).status_code == 202
    refused = _post(srv, PRICED, **bearer(secret))
    assert refused.status_code == 402, refused.text
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded" and error["message"].startswith("key budget exceeded")
    assert "ann-script" in error["message"]
    # the key is spent, ann is not: her browser session still submits, until her own budget is
    assert ann.post("/api/jobs", json=PRICED).status_code == 202
    refused = ann.post("/api/jobs", json=PRICED)  # $0.08 spent + $0.04 > $0.10
    assert refused.status_code == 402 and refused.json()["error"]["message"].startswith("user budget exceeded")
    # a new key with plenty of room is still held by ann's budget
    r = ann.post("/api/keys", json={"name": "big", "scopes": ["generate"], "monthly_budget_usd": 100})
    big = r.json()["secret"]
    refused = _post(srv, PRICED, **bearer(big))
    assert refused.status_code == 402 and refused.json()["error"]["message"].startswith("user budget exceeded")
    # another member is not touched by ann's spending; free jobs pass a spent budget
    bo, _, bo_secret = _member_with_key(admin, srv, "bo", user_budget=0.05)
    assert _post(srv, PRICED, **bearer(bo_secret)).status_code == 202
    assert _post(srv, {"prompt": "free", "provider": "instant"}, **bearer(secret)).status_code == 202

    # GET /api/usage: the admin sees both users and all keys; ann only herself and her keys
    usage = admin.get("/api/usage").json()
    users = {u["user"]: u for u in usage["by_user"]}
    assert users["ann"]["jobs"] == 3 and users["ann"]["budget"]["monthly_budget_usd"] == 0.10
    assert users["bo"]["jobs"] == 1 and users["root"]["jobs"] == 0
    keys = {k["name"]: k for k in usage["by_key"]}
    assert keys["ann-script"]["jobs"] == 2 and keys["ann-script"]["user"] == "ann"
    assert keys["ann-script"]["budget"]["monthly_budget_usd"] == 0.05
    assert {"big", "bo-script"} <= set(keys)
    mine = ann.get("/api/usage").json()
    assert [u["user"] for u in mine["by_user"]] == ["ann"]
    assert {k["name"] for k in mine["by_key"]} == {"ann-script", "big"}
    assert mine["totals"]["jobs"] == 3
    # a key reads its own usage too (any scope may: it is the caller's own)
    assert [
        u["user"] for u in requests.get(f"{srv.url}/api/usage", headers=bearer(bo_secret), timeout=30).json()["by_user"]
    ] == ["bo"]


def test_two_instances_share_each_users_and_each_keys_rate_limit(two_instances) -> None:
    a, b = two_instances(ATELIER_USER_RATE_LIMIT="3/hour", ATELIER_KEY_RATE_LIMIT="2/hour")
    admin = setup_admin(a, "root")
    cy, _, secret = _member_with_key(admin, a, "cy")
    # the key: one submission on A, one on B, the third refused on either
    assert _post(a, FREE, **bearer(secret)).status_code == 202
    assert _post(b, FREE, **bearer(secret)).status_code == 202
    refused = _post(a, FREE, **bearer(secret))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert "API key" in refused.json()["error"]["message"] and int(refused.headers["Retry-After"]) > 0
    # cy has used 2 of 3 (the refused one did not count): one more through B, then A refuses
    cy_on_b = Browser(b).sign_in("cy")
    assert cy_on_b.post("/api/jobs", json=FREE).status_code == 202
    refused = cy.post("/api/jobs", json=FREE)
    assert refused.status_code == 429 and "user 'cy'" in refused.json()["error"]["message"]
    # someone else, and the admin, are not held by cy's windows
    dee, _, _ = _member_with_key(admin, b, "dee")
    assert dee.post("/api/jobs", json=FREE).status_code == 202
    assert admin.post("/api/jobs", json=FREE).status_code == 202


def test_concurrent_jobs_per_user_and_per_key(make_server) -> None:
    srv = make_server(ATELIER_USER_MAX_CONCURRENT_JOBS="3", ATELIER_KEY_MAX_CONCURRENT_JOBS="1")
    admin = setup_admin(srv, "root")
    eve, _, secret = _member_with_key(admin, srv, "eve")
    assert _post(srv, HELD, **bearer(secret)).status_code == 202
    refused = _post(srv, HELD, **bearer(secret))  # the key has one job running
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_jobs"
    assert int(refused.headers["Retry-After"]) >= 1
    assert [eve.post("/api/jobs", json=HELD).status_code for _ in range(3)] == [202, 202, 429]
    # a matrix of eve's would pass her limit: none of its cells is queued
    matrix = {"base": HELD, "axes": [{"field": "seed", "values": [1, 2]}]}
    assert eve.post("/api/matrix", json=matrix).status_code == 429
    assert len(eve.get("/api/jobs").json()["items"]) == 3
    # others are not held back by eve's jobs
    fin, _, _ = _member_with_key(admin, srv, "fin")
    assert fin.post("/api/jobs", json=HELD).status_code == 202
    srv.open_gate()
    ended = ("succeeded", "failed", "cancelled", "interrupted")
    assert wait_until(lambda: all(j["status"] in ended for j in admin.get("/api/jobs").json()["items"]), 60)
    # her jobs ended: eve may submit again, with the key too
    assert eve.post("/api/jobs", json=HELD).status_code == 202
    assert _post(srv, HELD, **bearer(secret)).status_code == 202
