"""Accounts' core on the real server: first run, sign-in, sessions, CSRF, keys, scopes, roles.

One server (eventlet, trusting X-Forwarded-For so each test is its own client address)
goes from no users (today's studio) to accounts on; the tests run in file order.
"""

from __future__ import annotations

import base64

import pytest
import requests

from tests.support.accounts import ISSUED, PASSWORD, Browser, add_user, bearer, new_key, next_client, setup_admin
from tests.support.server import ServerProcess

pytestmark = pytest.mark.usefixtures("srv")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("accounts"), "eventlet", ATELIER_TRUST_PROXY="1").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def admin(srv):
    return setup_admin(srv, "root")


@pytest.fixture(scope="module")
def member(srv, admin):
    add_user(admin, "mia")
    return Browser(srv).sign_in("mia")


def test_without_users_the_studio_is_unchanged(srv):
    assert srv.get("/api/auth").json() == {"accounts": False, "setup": True, "oidc": None}
    assert srv.get("/api/me").json() == {"user": None, "csrf_token": None, "accounts": False}
    assert srv.get("/api/health").status_code == 200
    assert srv.get("/api/keys").json() == {"keys": []}
    job = srv.submit(prompt="a lake", provider="instant")
    assert srv.wait_job(job["id"])["status"] == "succeeded"
    # a sign-in is refused (there is no one to be), and creates nothing
    r = srv.post("/api/session", json={"username": "root", "password": PASSWORD})
    assert r.status_code == 409 and r.json()["error"]["code"] == "accounts_off"


def test_the_first_run_page_is_offered_to_loopback_clients_only(srv):
    remote = {"X-Forwarded-For": "198.51.100.77"}
    assert srv.get("/api/auth", headers=remote).json()["setup"] is False
    r = srv.post("/api/setup", json={"username": "evil", "password": PASSWORD}, headers=remote)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert srv.get("/api/auth").json()["accounts"] is False  # nothing was created


def test_first_run_creates_the_admin_once(srv, admin):
    assert admin.user["name"] == "root" and admin.user["role"] == "admin"
    assert admin.get("/api/me").json()["user"]["name"] == "root"
    assert srv.get("/api/auth").json() == {"accounts": True, "setup": False, "oidc": None}
    r = srv.post("/api/setup", json={"username": "second", "password": PASSWORD})
    assert r.status_code == 409 and r.json()["error"]["code"] == "setup_done"
    names = [u["name"] for u in admin.get("/api/users").json()["users"]]
    assert names == ["root"]


def test_with_accounts_on_anonymous_requests_are_refused(srv, admin):
    for path in ("/api/health", "/api/images", "/api/jobs", "/api/me", "/api/keys", "/api/users"):
        r = requests.get(srv.url + path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", path
    assert requests.post(srv.url + "/api/jobs", json={"prompt": "x", "provider": "instant"}).status_code == 401
    # the public ones stay public: the app shell and what the sign-in page needs
    assert requests.get(srv.url + "/").status_code == 200
    assert requests.get(srv.url + "/api/auth").status_code == 200


def test_sign_in_sets_an_httponly_samesite_cookie(srv, admin):
    add_user(admin, "sam")
    r = requests.post(srv.url + "/api/session", json={"username": "sam", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["user"]["name"] == "sam" and r.json()["user"]["role"] == "member" and r.json()["csrf_token"]
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("atelier_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert PASSWORD not in r.text


def test_unknown_user_and_wrong_password_get_the_same_answer(srv, admin):
    add_user(admin, "una")
    client = {"X-Forwarded-For": next_client()}
    url = srv.url + "/api/session"
    wrong = requests.post(url, json={"username": "una", "password": "not it!!"}, headers=client)
    unknown = requests.post(url, json={"username": "nobody", "password": "not it!!"}, headers=client)
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"error": {"code": "invalid_credentials", "message": "wrong user name or password"}}
    )


def test_failed_sign_ins_are_throttled_per_account(srv, admin):
    add_user(admin, "tom")
    for _ in range(5):  # each from another client: the account's own counter stops the sixth
        r = requests.post(
            srv.url + "/api/session",
            json={"username": "tom", "password": "guess-guess"},
            headers={"X-Forwarded-For": next_client()},
        )
        assert r.status_code == 401
    r = requests.post(
        srv.url + "/api/session",
        json={"username": "tom", "password": PASSWORD},  # even the right password, while throttled
        headers={"X-Forwarded-For": next_client()},
    )
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(r.headers["Retry-After"]) <= 300
    # another account is not affected
    assert Browser(srv).sign_in("sam").user["name"] == "sam"


def test_failed_sign_ins_are_throttled_per_client(srv, admin):
    client = {"X-Forwarded-For": next_client()}
    for i in range(20):  # a different name each time: the client's counter stops the 21st
        r = requests.post(srv.url + "/api/session", json={"username": f"x{i}", "password": "guess"}, headers=client)
        assert r.status_code == 401
    r = requests.post(srv.url + "/api/session", json={"username": "sam", "password": PASSWORD}, headers=client)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_a_session_cookie_replayed_after_sign_out_is_refused(srv, admin):
    add_user(admin, "rita")
    browser = Browser(srv).sign_in("rita")
    stolen = browser.cookie
    assert browser.get("/api/me").status_code == 200
    assert browser.delete("/api/session").status_code == 204
    r = requests.get(srv.url + "/api/me", cookies={"atelier_session": stolen})
    assert r.status_code == 401
    r = requests.post(
        srv.url + "/api/keys",
        json={"name": "k", "scopes": ["generate"]},
        cookies={"atelier_session": stolen},
        headers={"X-CSRF-Token": browser.csrf or ""},
    )
    assert r.status_code == 401


def test_cookie_changes_need_the_csrf_token_and_a_same_site_origin(srv, member):
    body = {"name": "k", "scopes": ["generate"]}
    r = member.http.post(srv.url + "/api/keys", json=body)  # no X-CSRF-Token
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = member.post("/api/keys", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    # the right token from another site's page (another loopback port: the origin check lets it through)
    r = member.post("/api/keys", json=body, headers={"Origin": "http://127.0.0.1:1"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert member.get("/api/keys").json()["keys"] == []  # nothing was made
    r = member.post("/api/keys", json=body, headers={"Origin": srv.url})
    assert r.status_code == 201


def test_a_key_secret_is_shown_once_and_works_as_bearer_and_basic(srv, member):
    key, secret = new_key(member, ["generate", "gallery:read"], name="my script")
    assert secret.startswith("atl_") and key["prefix"] == secret[:12] and key["user"]["name"] == "mia"
    listed = member.get("/api/keys")
    assert secret not in listed.text and secret[12:] not in listed.text
    assert [k["id"] for k in listed.json()["keys"] if k["name"] == "my script"] == [key["id"]]
    r = requests.get(srv.url + "/api/images", headers=bearer(secret))
    assert r.status_code == 200
    basic = base64.b64encode(f"anyone:{secret}".encode()).decode()
    assert requests.get(srv.url + "/api/images", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    # no CSRF token needed with a key
    job = {"prompt": "a key's job", "provider": "instant"}
    r = requests.post(srv.url + "/api/jobs", json=job, headers=bearer(secret))
    assert r.status_code == 202, r.text
    used = [k for k in member.get("/api/keys").json()["keys"] if k["id"] == key["id"]][0]
    assert used["last_used_at"] is not None


def test_a_key_without_the_scope_is_refused_naming_it(srv, member):
    _, secret = new_key(member, ["gallery:read"])
    r = requests.post(srv.url + "/api/jobs", json={"prompt": "x", "provider": "instant"}, headers=bearer(secret))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert "generate" in r.json()["error"]["message"]
    _, writer = new_key(member, ["generate"])
    r = requests.get(srv.url + "/api/images", headers=bearer(writer))
    assert r.status_code == 403 and "gallery:read" in r.json()["error"]["message"]


def test_a_member_may_not_grant_admin_and_a_key_never_exceeds_its_user(srv, member, admin):
    r = member.post("/api/keys", json={"name": "root me", "scopes": ["admin"]})
    assert r.status_code == 403 and r.json()["error"]["field"] == "scopes"
    _, admin_key = new_key(admin, ["admin", "gallery:read"])
    assert requests.get(srv.url + "/api/users", headers=bearer(admin_key)).status_code == 200
    _, read_only = new_key(admin, ["gallery:read"])
    r = requests.get(srv.url + "/api/users", headers=bearer(read_only))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"


def test_a_revoked_key_stops_at_once(srv, member):
    key, secret = new_key(member, ["gallery:read"])
    assert requests.get(srv.url + "/api/images", headers=bearer(secret)).status_code == 200
    assert member.delete(f"/api/keys/{key['id']}").status_code == 204
    assert requests.get(srv.url + "/api/images", headers=bearer(secret)).status_code == 401
    assert member.delete(f"/api/keys/{key['id']}").status_code == 404


def test_a_member_cannot_revoke_or_list_anothers_keys(srv, admin, member):
    key, _ = new_key(admin, ["gallery:read"], name="admin's")
    assert member.delete(f"/api/keys/{key['id']}").status_code == 404
    assert member.get("/api/keys?all=true").status_code == 403
    assert key["id"] in [k["id"] for k in admin.get("/api/keys?all=true").json()["keys"]]
    assert key["id"] not in [k["id"] for k in member.get("/api/keys").json()["keys"]]


def test_a_member_on_admin_routes_is_forbidden(srv, member, admin):
    target = add_user(admin, "vic")
    for method, path, body in (
        ("GET", "/api/users", None),
        ("POST", "/api/users", {"name": "mallory", "password": PASSWORD, "role": "admin"}),
        ("PATCH", f"/api/users/{target['id']}", {"role": "admin"}),
        ("DELETE", f"/api/users/{target['id']}", None),
    ):
        r = member.request(method, path, json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (method, path)
    assert [u["role"] for u in admin.get("/api/users").json()["users"] if u["name"] == "vic"] == ["member"]
    assert "mallory" not in [u["name"] for u in admin.get("/api/users").json()["users"]]


def test_a_disabled_users_cookie_and_keys_stop_at_once(srv, admin):
    user = add_user(admin, "dan")
    browser = Browser(srv).sign_in("dan")
    _, secret = new_key(browser, ["gallery:read"])
    assert browser.get("/api/me").status_code == 200
    r = admin.patch(f"/api/users/{user['id']}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["user"]["disabled"] is True
    assert browser.get("/api/me").status_code == 401
    assert requests.get(srv.url + "/api/images", headers=bearer(secret)).status_code == 401
    r = requests.post(srv.url + "/api/session", json={"username": "dan", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
    # enabled again: the key works again; the old session stays ended
    admin.patch(f"/api/users/{user['id']}", json={"disabled": False})
    assert requests.get(srv.url + "/api/images", headers=bearer(secret)).status_code == 200
    assert browser.get("/api/me").status_code == 401


def test_users_bad_input_names_the_field(srv, admin):
    cases = [
        ({"name": "Bad Name", "password": PASSWORD, "role": "member"}, "name"),
        ({"name": "../etc", "password": PASSWORD, "role": "member"}, "name"),
        ({"name": "ok", "password": "short", "role": "member"}, "password"),
        ({"name": "ok", "password": PASSWORD, "role": "owner"}, "role"),
        ({"name": "ok", "password": PASSWORD, "role": "member", "monthly_budget_usd": -1}, "monthly_budget_usd"),
        ({"name": "ok", "password": PASSWORD, "role": "member", "extra": 1}, "extra"),
    ]
    for body, field in cases:
        r = admin.post("/api/users", json=body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    r = admin.post("/api/users", json={"name": "root", "password": PASSWORD, "role": "member"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "name_taken"
    assert "ok" not in [u["name"] for u in admin.get("/api/users").json()["users"]]


def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(srv, admin):
    me = admin.user["id"]
    for change in ({"role": "member"}, {"disabled": True}):
        r = admin.patch(f"/api/users/{me}", json=change)
        assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin"
    assert admin.delete(f"/api/users/{me}").status_code == 409


def test_a_deleted_users_credentials_stop(srv, admin):
    user = add_user(admin, "del")
    browser = Browser(srv).sign_in("del")
    _, secret = new_key(browser, ["gallery:read"])
    assert admin.delete(f"/api/users/{user['id']}").status_code == 204
    assert browser.get("/api/me").status_code == 401
    assert requests.get(srv.url + "/api/images", headers=bearer(secret)).status_code == 401


def test_no_password_or_secret_reaches_the_log(srv):
    log = srv.output()
    assert len(ISSUED) >= 5 and "API key" in log  # keys were made, and logged by their prefix
    assert PASSWORD not in log
    for secret in ISSUED:
        assert secret not in log and secret[12:] not in log


def test_the_api_document_declares_sessions_and_keys_and_no_anonymous_access(srv, admin):
    document = admin.get("/api/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["accountSession"] == {**schemes["accountSession"], "in": "cookie", "name": "atelier_session"}
    assert "atl_" in schemes["bearerToken"]["description"]
    assert {"accountSession": []} in document["security"] and {} not in document["security"]
