"""The accounts core attacked as an attacker would: each test is a defect found that way
(seen failing before its fix), or an attack that must keep failing.

Real server where the edge matters (eventlet, trusting X-Forwarded-For so each test is its
own client address); the service in-process where a process boundary proves nothing.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import requests
import socketio

from backend.services.accounts import (
    HASHES_AT_ONCE,
    MAX_SESSIONS_PER_USER,
    AccountError,
    Accounts,
    check_name,
    folder_safe,
)
from backend.services.signin_throttle import PER_ACCOUNT, PER_CLIENT, SignInThrottle
from backend.storage.account_store import AccountStore
from tests.support.accounts import ISSUED, PASSWORD, Browser, add_user, bearer, new_key, setup_admin
from tests.support.server import ROOT, ServerProcess
from tests.support.sio import EventRecorder

#: another page on the same machine (another port: the same site for cookies)
OTHER_LOCAL_PAGE = "http://127.0.0.1:1"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("attacks"), "eventlet", ATELIER_TRUST_PROXY="1").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def admin(srv):
    return setup_admin(srv, "root")


@pytest.fixture(scope="module")
def member(srv, admin):
    add_user(admin, "mia")
    return Browser(srv).sign_in("mia")


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bob\n", "bob\r", "Bob", "bob ", " bob", "bob/x", "ｂob", "bob\x00"])
def test_a_name_that_is_not_exactly_the_rule_is_refused(name):
    with pytest.raises(AccountError) as refused:
        check_name(name)
    assert refused.value.status == 422 and refused.value.field == "name"


def test_a_user_named_with_a_trailing_newline_is_not_created(srv, admin):
    # "$" also matches before a final newline: "mia\n" passed the name rule, became a
    # second "mia" (a folder name with a newline) and forged a line in the log
    r = admin.post("/api/users", json={"name": "eve\n", "password": PASSWORD, "role": "member"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    names = [u["name"] for u in admin.get("/api/users").json()["users"]]
    assert not any("eve" in n for n in names)


@pytest.mark.parametrize("name", ["2026-12-01", "1999-01-31", "imported", "con", "nul", "com1", "lpt9"])
def test_a_name_that_is_a_folder_of_the_studio_is_refused(name):
    # a user's name is their gallery folder: "2026-12-01" would be the studio's own day folder
    # (its images would be theirs), "imported" every import, "con" no folder at all on Windows
    with pytest.raises(AccountError) as refused:
        check_name(name)
    assert refused.value.status == 422 and refused.value.field == "name"
    assert not folder_safe(name) == name  # nor becomes one through OpenID Connect


def test_a_member_named_like_a_day_folder_is_not_created(srv, admin):
    r = admin.post("/api/users", json={"name": "2026-12-01", "password": PASSWORD, "role": "member"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    for fine in ("2026-12", "imported-photos", "console"):
        check_name(fine)


# --- the session cookie from another page on the same machine --------------------------------


def test_another_local_page_cannot_read_as_the_signed_in_user(srv, member):
    # SameSite ignores ports: a page on any other local port sends the cookie with
    # credentials: "include", and CORS let it read the answer (the CSRF token too)
    for path in ("/api/me", "/api/keys", "/api/images"):
        r = member.http.get(srv.url + path, headers={"Origin": OTHER_LOCAL_PAGE})
        assert r.status_code == 403, (path, r.status_code)
        assert r.json()["error"]["code"] == "csrf_failed"
        assert member.csrf not in r.text
    # the studio's own page (and a request without Origin) still works
    assert member.http.get(srv.url + "/api/me", headers={"Origin": srv.url}).json()["user"]["name"] == "mia"
    assert member.get("/api/me").json()["csrf_token"] == member.csrf


def test_another_local_page_cannot_open_a_socket_with_the_session_cookie(srv, member):
    cookie = {"Cookie": f"atelier_session={member.cookie}"}
    client = EventRecorder(srv.url, headers={**cookie, "Origin": OTHER_LOCAL_PAGE})
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect()
    finally:
        client.close()
    own = EventRecorder(srv.url, headers={**cookie, "Origin": srv.url}).connect()
    own.close()


def test_a_key_still_works_from_another_page(srv, member):
    _, secret = new_key(member, ["gallery:read"], name="from a page")
    r = requests.get(srv.url + "/api/images", headers={**bearer(secret), "Origin": OTHER_LOCAL_PAGE}, timeout=30)
    assert r.status_code == 200


def test_nothing_secret_reaches_the_log(srv, member):
    # after this module's sign-ins, failures, keys and refusals (attacks that held)
    bad = Browser(srv)
    wrong = {"username": "mia", "password": "wrong horse 1"}
    assert bad.http.post(srv.url + "/api/session", json=wrong).status_code == 401
    log = srv.output()
    for secret in [PASSWORD, "wrong horse 1", member.cookie, member.csrf, *ISSUED]:
        assert secret not in log


# --- keys managing keys ---------------------------------------------------------------------


def test_a_key_cannot_mint_a_copy_of_itself_that_outlives_its_revocation(srv, member):
    key, secret = new_key(member, ["generate", "gallery:read"], name="leaked")
    r = requests.post(
        srv.url + "/api/keys", json={"name": "copy", "scopes": ["gallery:read"]}, headers=bearer(secret), timeout=30
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden" and "secret" not in r.json()
    assert [k["name"] for k in member.get("/api/keys").json()["keys"]].count("copy") == 0


def test_a_weaker_key_cannot_revoke_a_stronger_key(srv, member):
    strong, strong_secret = new_key(member, ["generate", "gallery:read", "gallery:write"], name="strong")
    weak, weak_secret = new_key(member, ["gallery:read"], name="weak")
    r = requests.delete(srv.url + f"/api/keys/{strong['id']}", headers=bearer(weak_secret), timeout=30)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert requests.get(srv.url + "/api/images", headers=bearer(strong_secret), timeout=30).status_code == 200
    # a leaked key can still revoke itself, and the user any of their keys
    r = requests.delete(srv.url + f"/api/keys/{weak['id']}", headers=bearer(weak_secret), timeout=30)
    assert r.status_code == 204
    assert requests.get(srv.url + "/api/images", headers=bearer(weak_secret), timeout=30).status_code == 401
    assert member.delete(f"/api/keys/{strong['id']}").status_code == 204


# --- sessions per user ----------------------------------------------------------------------


def _accounts(tmp_path) -> Accounts:
    return Accounts(AccountStore(tmp_path / "accounts.db"), SignInThrottle())


def test_sessions_per_user_are_bounded(tmp_path):
    # every sign-in added a row kept 30 days: one password could grow the database without end
    accounts = _accounts(tmp_path)
    user = accounts.create_first_admin("root", PASSWORD)
    sessions = [accounts.start_session(user).session_id for _ in range(MAX_SESSIONS_PER_USER + 5)]
    (count,) = accounts.store.db.query("SELECT COUNT(*) FROM sessions WHERE user_id = ?", (user.id,))[0]
    assert count == MAX_SESSIONS_PER_USER
    assert accounts.session(sessions[0]) is None  # the oldest went first
    assert accounts.session(sessions[-1]) is not None


def test_concurrent_wrong_passwords_are_throttled_like_one_after_another(tmp_path):
    # the throttle was read before the password was hashed and written after: twenty guesses
    # sent at once all passed the check (and each held argon2's 64 MiB at the same time)
    accounts = _accounts(tmp_path)
    accounts.create_first_admin("root", PASSWORD)
    verified: list[str] = []
    real = accounts._matches

    def slow_matches(stored: str, password: str) -> bool:
        verified.append(password)
        time.sleep(0.2)  # every guess is in flight before the first one is answered
        return real(stored, password)

    accounts._matches = slow_matches  # type: ignore[method-assign]
    start = threading.Barrier(20)
    answers: list[int] = []

    def guess(n: int) -> None:
        start.wait()
        try:
            accounts.sign_in("root", f"guess number {n}", f"198.51.100.{n + 1}")
        except AccountError as exc:
            answers.append(exc.status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(verified) == PER_ACCOUNT
    assert sorted(answers) == [401] * PER_ACCOUNT + [429] * (20 - PER_ACCOUNT)


def test_sign_ins_sent_at_once_hash_a_few_at_a_time(tmp_path):
    # argon2id holds 64 MiB while it hashes: a hundred sign-ins at once (any names, any
    # addresses: the throttle counts each separately) held 6 GiB
    accounts = _accounts(tmp_path)
    accounts.create_first_admin("root", PASSWORD)
    running, most = [0], [0]
    lock = threading.Lock()
    real = accounts._matches

    def counted_matches(stored: str, password: str) -> bool:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.1)
        try:
            return real(stored, password)
        finally:
            with lock:
                running[0] -= 1

    accounts._matches = counted_matches  # type: ignore[method-assign]
    start = threading.Barrier(12)

    def guess(n: int) -> None:
        start.wait()
        with pytest.raises(AccountError):
            accounts.sign_in(f"name{n}", "a wrong password", f"203.0.113.{n + 1}")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 <= most[0] <= HASHES_AT_ONCE


def test_sign_ins_that_succeed_do_not_throttle_their_client(tmp_path):
    accounts = _accounts(tmp_path)
    accounts.create_first_admin("root", PASSWORD)
    for _ in range(PER_CLIENT + 5):  # a classroom behind one address signing in
        accounts.sign_in("root", PASSWORD, "198.51.100.200")


# --- the last admin -------------------------------------------------------------------------


def test_two_admins_demoting_each_other_at_once_leave_one_admin(tmp_path):
    accounts = _accounts(tmp_path)
    ann = accounts.create_first_admin("ann", PASSWORD)
    ben = accounts.create_user("ben", PASSWORD, "admin")
    store = accounts.store
    counted = store.count_admins
    raced: list[str] = []

    def count_admins() -> int:
        n = counted()
        if not raced:  # ben's request demotes ann between ann's check and her write
            raced.append("ben")
            try:
                accounts.update_user(ann.id, role="member")
            except AccountError as exc:
                raced.append(exc.code)
        return n

    store.count_admins = count_admins  # type: ignore[method-assign]
    try:
        accounts.update_user(ben.id, role="member")
    except AccountError as exc:
        assert exc.code == "last_admin"
    store.count_admins = counted  # type: ignore[method-assign]
    assert store.count_admins() == 1


# --- the accounts database unreadable at start ----------------------------------------------


def test_a_corrupt_accounts_database_stops_the_server_in_one_line(tmp_path):
    srv = ServerProcess(tmp_path, "threading")
    srv.data.mkdir(parents=True)
    (srv.data / "accounts.db").write_bytes(b"not a database " * 200)
    done = subprocess.run(
        [sys.executable, "-m", "backend"], env=srv.env(), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert "accounts.db" in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr
    users = subprocess.run(
        [sys.executable, "-m", "backend", "users", "list"],
        env=srv.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert users.returncode != 0 and "Traceback" not in users.stderr, users.stderr
    assert "accounts.db" in users.stderr


# --- a studio with ATELIER_TOKEN behind a proxy it does not trust ---------------------------

TOKEN = "t0ken-for-the-attack-tests-0123456789"


@pytest.fixture(scope="module")
def tokened(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("attacks-token"), "threading", ATELIER_TOKEN=TOKEN).start()
    yield proc
    proc.stop()


def test_first_run_through_a_proxy_is_refused(tokened):
    # a reverse proxy on the same machine makes every visitor look local: without
    # ATELIER_TRUST_PROXY the first visitor from anywhere could make themselves the admin
    token = bearer(TOKEN)
    before = tokened.get("/api/auth", headers=token).json()["accounts"]  # the next test may have run first
    relayed = (
        {"X-Forwarded-For": "127.0.0.1, 198.51.100.9"},  # what nginx makes of a forged "127.0.0.1"
        {"Forwarded": 'for="[2001:db8::1]:4711"'},
        {"X-Real-IP": "198.51.100.9"},
    )
    for header in relayed:
        assert tokened.get("/api/auth", headers={**token, **header}).json()["setup"] is False
        r = tokened.post("/api/setup", json={"username": "mallory", "password": PASSWORD}, headers={**token, **header})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        assert tokened.get("/api/auth", headers=token).json()["accounts"] is before
    assert tokened.get("/api/auth", headers=token).json()["setup"] is not before


def test_the_token_cookie_does_not_act_for_another_page(tokened):
    from backend.web.security import TokenCheck

    token = bearer(TOKEN)
    if not tokened.get("/api/auth", headers=token).json()["accounts"]:
        r = tokened.post("/api/setup", json={"username": "root", "password": PASSWORD}, headers=token)
        assert r.status_code == 201, r.text
    # the cookie a browser got while the studio had no users (SameSite=Strict: still sent
    # by a page on another local port, the same site) made it the studio itself, with no CSRF check
    jar = {"Cookie": f"atelier_auth={TokenCheck(TOKEN).cookie_value}"}
    body = {"name": "intruder", "password": PASSWORD, "role": "admin"}
    r = tokened.post("/api/users", json=body, headers={**jar, "Origin": OTHER_LOCAL_PAGE})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed", r.text
    r = tokened.get("/api/users", headers={**jar, "Origin": OTHER_LOCAL_PAGE})
    assert r.status_code == 403
    client = EventRecorder(tokened.url, headers={**jar, "Origin": OTHER_LOCAL_PAGE})
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect()
    finally:
        client.close()
    names = [u["name"] for u in tokened.get("/api/users", headers=token).json()["users"]]
    assert names == ["root"]
    assert tokened.get("/api/users", headers={**jar, "Origin": tokened.url}).status_code == 200  # its own page


def test_concurrent_first_runs_make_one_admin(tmp_path):
    # an attack that held: the check and the insert are one transaction
    srv = ServerProcess(tmp_path, "threading").start()
    try:
        answers: list[int] = []

        def first_run(n: int) -> None:
            body = {"username": f"admin{n}", "password": PASSWORD}
            answers.append(requests.post(srv.url + "/api/setup", json=body, timeout=60).status_code)

        threads = [threading.Thread(target=first_run, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == [201] + [409] * 5
    finally:
        srv.stop()


def test_first_run_from_a_rebound_name_is_refused(tmp_path):
    # DNS rebinding: a web page at http://evil.example:PORT whose name now points at 127.0.0.1
    # is same-origin to itself and its requests come from loopback: it could make itself the
    # first admin. A name that is not this machine's own (an IP, localhost) is refused.
    srv = ServerProcess(tmp_path, "threading").start()
    try:
        rebound = f"evil.example:{srv.port}"
        headers = {"Host": rebound, "Origin": f"http://{rebound}"}
        assert srv.get("/api/auth", headers=headers).json()["setup"] is False
        r = srv.post("/api/setup", json={"username": "mallory", "password": PASSWORD}, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        assert srv.get("/api/auth").json() == {"accounts": False, "setup": True, "oidc": None}
        local = f"localhost:{srv.port}"
        r = srv.post(
            "/api/setup",
            json={"username": "owner", "password": PASSWORD},
            headers={"Host": local, "Origin": f"http://{local}"},
        )
        assert r.status_code == 201, r.text
    finally:
        srv.stop()
