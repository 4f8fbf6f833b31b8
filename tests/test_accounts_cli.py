"""``python -m backend users ...`` against a running server's data folder: what it changes
reaches the server at once, and the password never appears in its output."""

from __future__ import annotations

import requests

from tests.support.accounts import PASSWORD, Browser, bearer, new_key, users_cli, wait_until
from tests.support.sio import EventRecorder


def test_the_cli_manages_users_of_a_running_server(make_server):
    srv = make_server("threading")
    assert srv.get("/api/auth").json()["accounts"] is False

    first = users_cli(srv, "add", "ann", "--password-stdin", stdin=PASSWORD + "\n")
    assert first.returncode == 2 and "must be an admin" in first.stderr  # the first user is an admin
    assert srv.get("/api/auth").json()["accounts"] is False

    added = users_cli(srv, "add", "ann", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    assert srv.get("/api/auth").json()["accounts"] is True  # accounts on, without a restart
    assert srv.get("/api/health").status_code == 401

    assert users_cli(srv, "add", "ben", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    again = users_cli(srv, "add", "ben", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "exists" in again.stderr
    bad = users_cli(srv, "add", "Not/A/Folder", "--password-stdin", stdin=PASSWORD + "\n")
    assert bad.returncode == 1 and "name" in bad.stderr

    listing = users_cli(srv, "list").stdout.splitlines()
    assert [line.split("\t")[:3] for line in listing] == [["ann", "admin", "enabled"], ["ben", "member", "enabled"]]

    ben = Browser(srv).sign_in("ben")
    _, secret = new_key(ben, ["gallery:read"])
    socket = EventRecorder(srv.url, auth={"key": secret}).connect()
    ann = EventRecorder(srv.url, headers={"Cookie": f"atelier_session={Browser(srv).sign_in('ann').cookie}"}).connect()
    try:
        assert users_cli(srv, "disable", "ben").returncode == 0
        assert ben.get("/api/me").status_code == 401  # the running server refuses at once
        assert wait_until(lambda: not socket.client.connected)  # and closes ben's socket within seconds
        assert ann.client.connected
    finally:
        socket.close()
        ann.close()
    assert requests.get(srv.url + "/api/images", headers=bearer(secret)).status_code == 401
    assert users_cli(srv, "enable", "ben").returncode == 0
    assert requests.get(srv.url + "/api/images", headers=bearer(secret)).status_code == 200

    assert users_cli(srv, "role", "ben", "admin").returncode == 0
    assert Browser(srv).sign_in("ben").user["role"] == "admin"

    changed = users_cli(srv, "passwd", "ben", "--password-stdin", stdin="another password\n")
    assert changed.returncode == 0
    r = requests.post(srv.url + "/api/session", json={"username": "ben", "password": PASSWORD})
    assert r.status_code == 401
    assert Browser(srv).sign_in("ben", "another password").user["name"] == "ben"

    assert users_cli(srv, "delete", "ben").returncode == 0
    assert users_cli(srv, "delete", "ben").returncode == 1
    assert users_cli(srv, "delete", "ann").returncode == 1  # the last admin stays
    assert [line.split("\t")[0] for line in users_cli(srv, "list").stdout.splitlines()] == ["ann"]


def test_accounts_let_the_studio_listen_beyond_loopback_without_a_token(make_server):
    refused = make_server("threading", start=False, ATELIER_HOST="0.0.0.0")
    refused.start(wait=False)
    assert refused.proc is not None and refused.proc.wait(60) == 2
    assert "add an admin" in refused.output()

    assert users_cli(refused, "add", "ann", "--admin", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    srv = make_server("threading", ATELIER_HOST="0.0.0.0", ATELIER_DATA_DIR=str(refused.data))
    assert srv.get("/api/health").status_code == 401  # up, and nothing without signing in
    assert Browser(srv).sign_in("ann").get("/api/health").status_code == 200
