"""Who may set providers up (issue 17): with accounts, admins only (a member and a key
without the admin scope are refused, reading and writing); without accounts, the studio's
own machine or a holder of the token, not a remote client of an open studio. Members still
see which providers are available and why not."""

from __future__ import annotations

import pytest
import requests

from tests.support.accounts import Browser, add_user, bearer, new_key, setup_admin
from tests.support.server import ServerProcess

SETTINGS = "/api/providers/openai/settings"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("setup-accounts"), "eventlet", ATELIER_TRUST_PROXY="1").start()
    yield proc
    proc.stop()


def test_a_remote_client_of_an_open_studio_may_not_read_or_write(srv):
    remote = {"X-Forwarded-For": "198.51.100.200"}
    for method, path, body in (
        ("GET", SETTINGS, None),
        ("PUT", SETTINGS, {"retries": 1}),
        ("POST", "/api/providers/openai/test", None),
    ):
        r = requests.request(method, srv.url + path, json=body, headers=remote, timeout=30)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (method, r.text)
    assert requests.get(srv.url + "/api/providers", headers=remote, timeout=30).status_code == 200
    assert srv.get(SETTINGS).json()["settings"]["retries"] == 4  # nothing changed; loopback may read


def test_with_accounts_a_member_and_a_narrow_key_are_refused_an_admin_is_not(srv):
    admin = setup_admin(srv, "root")
    add_user(admin, "mia")
    member = Browser(srv).sign_in("mia")
    before = admin.get(SETTINGS).json()
    assert admin.request("PUT", SETTINGS, json={"retries": 2}).status_code == 200

    for method, path, body in (
        ("GET", SETTINGS, None),
        ("PUT", SETTINGS, {"retries": 9}),
        ("POST", "/api/providers/openai/test", None),
    ):
        r = member.request(method, path, json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (method, r.text)
    # a member still sees what is available and why not
    listed = {p["id"]: p for p in member.get("/api/providers").json()["providers"]}
    assert listed["openai"]["available"] is False and "Providers page" in listed["openai"]["reason"]

    _, narrow = new_key(admin, ["generate", "gallery:read", "gallery:write"])
    r = requests.put(srv.url + SETTINGS, json={"retries": 9}, headers=bearer(narrow), timeout=30)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    _, full = new_key(admin, ["admin", "gallery:write"])
    r = requests.put(srv.url + SETTINGS, json={"retries": 3}, headers=bearer(full), timeout=30)
    assert r.status_code == 200 and r.json()["settings"]["retries"] == 3
    assert admin.get(SETTINGS).json()["version"] == before["version"] + 2  # the refused ones changed nothing
