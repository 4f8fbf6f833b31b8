"""Two web instances sharing Redis and the data folder: a credential revoked through one
closes the sockets opened with it on the other, and failed sign-ins count across both."""

from __future__ import annotations

import pytest
import requests

from tests.support.accounts import PASSWORD, Browser, add_user, new_key, next_client, setup_admin, wait_until
from tests.support.redis_server import RedisServer, require_redis_server
from tests.support.server import ServerProcess
from tests.support.sio import EventRecorder


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    require_redis_server()
    tmp = tmp_path_factory.mktemp("accounts-pair")
    redis = RedisServer(tmp).start()
    shared = {
        "ATELIER_REDIS_URL": redis.url,
        "ATELIER_GALLERY_DIR": str(tmp / "gallery"),
        "ATELIER_DATA_DIR": str(tmp / "data"),
        "ATELIER_TRUST_PROXY": "1",
    }
    a = ServerProcess(tmp, "eventlet", **shared).start()
    b = ServerProcess(tmp, "threading", **shared).start()
    yield a, b
    a.stop()
    b.stop()
    redis.stop()


def test_revoking_on_one_instance_closes_sockets_on_the_other(pair):
    a, b = pair
    admin = setup_admin(a, "root")
    add_user(admin, "mo")
    mo = Browser(b).sign_in("mo")  # signed in through B
    key, secret = new_key(mo, ["gallery:read"])
    on_b = EventRecorder(b.url, auth={"key": secret}).connect()
    by_cookie = EventRecorder(b.url, headers={"Cookie": f"atelier_session={mo.cookie}"}).connect()
    admins = EventRecorder(b.url, headers={"Cookie": f"atelier_session={admin.cookie}"}).connect()
    try:
        admin_on_a = Browser(a, client="127.0.0.1")
        admin_on_a.http.cookies.update(admin.http.cookies)
        admin_on_a.csrf = admin.csrf
        assert admin_on_a.delete(f"/api/keys/{key['id']}").status_code == 204  # through A
        assert wait_until(lambda: not on_b.client.connected)
        assert by_cookie.client.connected
        users = {u["name"]: u["id"] for u in admin_on_a.get("/api/users").json()["users"]}
        assert admin_on_a.patch(f"/api/users/{users['mo']}", json={"disabled": True}).status_code == 200
        assert wait_until(lambda: not by_cookie.client.connected)
        assert admins.client.connected
    finally:
        for client in (on_b, by_cookie, admins):
            client.close()


def test_failed_sign_ins_count_across_instances(pair):
    a, b = pair
    admin = Browser(a, client="127.0.0.1").sign_in("root")  # made by the test above
    add_user(admin, "tess")
    for server in (a, b, a, b, a):
        r = requests.post(
            server.url + "/api/session",
            json={"username": "tess", "password": "wrong-wrong"},
            headers={"X-Forwarded-For": next_client()},
        )
        assert r.status_code == 401
    r = requests.post(
        b.url + "/api/session",
        json={"username": "tess", "password": PASSWORD},
        headers={"X-Forwarded-For": next_client()},
    )
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
