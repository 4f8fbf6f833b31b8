"""Sockets with accounts, in both async modes: a key or the session cookie opens one; a
revoked key, a sign-out, a disabled or deleted user closes the sockets opened with it at once."""

from __future__ import annotations

import pytest
import socketio

from tests.support.accounts import Browser, add_user, new_key, setup_admin, wait_until
from tests.support.server import ServerProcess
from tests.support.sio import EventRecorder


@pytest.fixture(scope="module", params=["eventlet", "threading"])
def srv(request, tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp(f"sockets-{request.param}"), request.param).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def admin(srv):
    return setup_admin(srv, "root")


@pytest.fixture
def clients():
    opened: list[EventRecorder] = []
    yield opened
    for client in opened:
        client.close()


def _open(srv: ServerProcess, clients: list, auth: dict | None = None, cookie: str | None = None) -> EventRecorder:
    headers = {"Cookie": f"atelier_session={cookie}"} if cookie else None
    client = EventRecorder(srv.url, auth=auth, headers=headers)
    clients.append(client)
    return client.connect()


def _refused(srv: ServerProcess, clients: list, **kw) -> bool:
    try:
        _open(srv, clients, **kw)
    except socketio.exceptions.ConnectionError:
        return True
    return False


def test_a_socket_needs_a_credential_once_accounts_are_on(srv, admin, clients):
    assert _refused(srv, clients)
    assert _refused(srv, clients, auth={"key": "atl_not-a-key"})
    assert _refused(srv, clients, cookie="forged")
    _, secret = new_key(admin, ["gallery:read"])
    assert _open(srv, clients, auth={"key": secret}).client.connected
    assert _open(srv, clients, cookie=admin.cookie).client.connected


def test_a_keys_socket_sees_only_what_its_scopes_show(srv, admin, clients):
    _, generate_only = new_key(admin, ["generate"])
    socket = _open(srv, clients, auth={"key": generate_only})
    refused = socket.subscribe(topic="gallery")
    assert refused["ok"] is False and refused["error"]["code"] == "insufficient_scope"
    assert "gallery:read" in refused["error"]["message"]
    assert socket.subscribe(topic="queue")["ok"]  # its own jobs' places
    _, reader = new_key(admin, ["gallery:read"])
    assert _open(srv, clients, auth={"key": reader}).subscribe(topic="gallery")["ok"]


def test_revoking_a_key_closes_its_open_socket(srv, admin, clients):
    key, secret = new_key(admin, ["gallery:read"])
    _, other = new_key(admin, ["gallery:read"])
    revoked, kept = _open(srv, clients, auth={"key": secret}), _open(srv, clients, auth={"key": other})
    assert admin.delete(f"/api/keys/{key['id']}").status_code == 204
    assert wait_until(lambda: not revoked.client.connected)
    assert kept.client.connected
    assert _refused(srv, clients, auth={"key": secret})


def test_signing_out_closes_that_sessions_socket(srv, admin, clients):
    add_user(admin, f"sig{srv.async_mode[:3]}")
    browser, other = Browser(srv).sign_in(f"sig{srv.async_mode[:3]}"), Browser(srv).sign_in(f"sig{srv.async_mode[:3]}")
    cookie = browser.cookie
    mine, theirs = _open(srv, clients, cookie=cookie), _open(srv, clients, cookie=other.cookie)
    assert browser.delete("/api/session").status_code == 204
    assert wait_until(lambda: not mine.client.connected)
    assert theirs.client.connected  # the same user's other session goes on
    assert _refused(srv, clients, cookie=cookie)


def test_disabling_a_user_closes_every_socket_of_theirs(srv, admin, clients):
    name = f"dis{srv.async_mode[:3]}"
    user = add_user(admin, name)
    browser = Browser(srv).sign_in(name)
    _, secret = new_key(browser, ["gallery:read"])
    by_cookie, by_key = _open(srv, clients, cookie=browser.cookie), _open(srv, clients, auth={"key": secret})
    admins = _open(srv, clients, cookie=admin.cookie)
    assert admin.patch(f"/api/users/{user['id']}", json={"disabled": True}).status_code == 200
    assert wait_until(lambda: not by_cookie.client.connected and not by_key.client.connected)
    assert admins.client.connected
    assert _refused(srv, clients, auth={"key": secret})


def test_deleting_a_user_closes_their_sockets(srv, admin, clients):
    name = f"gone{srv.async_mode[:3]}"
    user = add_user(admin, name)
    browser = Browser(srv).sign_in(name)
    socket = _open(srv, clients, cookie=browser.cookie)
    assert admin.delete(f"/api/users/{user['id']}").status_code == 204
    assert wait_until(lambda: not socket.client.connected)
