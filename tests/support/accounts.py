"""Accounts in tests: the first admin, users, signed-in sessions and keys on a real server."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import requests

from tests.support.server import ROOT, ServerProcess

PASSWORD = "correct horse battery"
_clients = itertools.count(1)
#: every key secret the tests were given, to search logs and answers for
ISSUED: list[str] = []


def next_client() -> str:
    """A distinct client address (the server trusts X-Forwarded-For in these tests), so one
    test's failed sign-ins do not throttle another's."""
    n = next(_clients)
    return f"198.51.100.{n % 250 + 1}" if n < 250 else f"203.0.113.{n % 250 + 1}"


class Browser:
    """A signed-in browser: its cookie jar, and its CSRF token sent with every change."""

    def __init__(self, srv: ServerProcess, client: str | None = None) -> None:
        self.srv = srv
        self.http = requests.Session()
        self.client = client or next_client()
        self.http.headers["X-Forwarded-For"] = self.client
        self.csrf: str | None = None
        self.user: dict | None = None

    def sign_in(self, name: str, password: str = PASSWORD) -> Browser:
        r = self.http.post(self.srv.url + "/api/session", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        self.csrf, self.user = r.json()["csrf_token"], r.json()["user"]
        return self

    @property
    def cookie(self) -> str:
        return self.http.cookies["atelier_session"]

    def request(self, method: str, path: str, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        if self.csrf and method.upper() != "GET":
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.http.request(method, self.srv.url + path, headers=headers, timeout=30, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json=None, **kw) -> requests.Response:
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)


def setup_admin(srv: ServerProcess, name: str = "admin", password: str = PASSWORD) -> Browser:
    """The first admin, through the first-run route (the server's own machine)."""
    browser = Browser(srv, client="127.0.0.1")
    r = browser.http.post(srv.url + "/api/setup", json={"username": name, "password": password})
    assert r.status_code == 201, r.text
    browser.csrf, browser.user = r.json()["csrf_token"], r.json()["user"]
    return browser


def add_user(admin: Browser, name: str, role: str = "member", password: str = PASSWORD) -> dict:
    r = admin.post("/api/users", json={"name": name, "password": password, "role": role})
    assert r.status_code == 201, r.text
    return r.json()["user"]


def new_key(browser: Browser, scopes: list[str], name: str = "script") -> tuple[dict, str]:
    r = browser.post("/api/keys", json={"name": name, "scopes": scopes})
    assert r.status_code == 201, r.text
    ISSUED.append(r.json()["secret"])
    return r.json()["key"], r.json()["secret"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def users_cli(srv: ServerProcess, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """``python -m backend users ...`` against the server's data folder."""
    return subprocess.run(
        [sys.executable, "-m", "backend", "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=srv.env(),
        cwd=ROOT,
        timeout=60,
    )


def wait_until(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
