"""Sign-in through OpenID Connect against a local fake issuer (tests/fakes/oidc_issuer.py):
the whole redirect dance with a real HTTP client, users created on first sign-in, and every
forged or mismatched answer refused."""

from __future__ import annotations

import urllib.parse

import pytest
import requests

from tests.fakes.oidc_issuer import FakeIssuer
from tests.support.accounts import setup_admin
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def issuer():
    with FakeIssuer() as fake:
        yield fake


@pytest.fixture(scope="module")
def srv(tmp_path_factory, issuer):
    proc = ServerProcess(
        tmp_path_factory.mktemp("oidc"),
        "eventlet",
        ATELIER_OIDC_ISSUER=issuer.url,
        ATELIER_OIDC_CLIENT_ID=issuer.client_id,
        ATELIER_OIDC_CLIENT_SECRET=issuer.client_secret,
        ATELIER_OIDC_LABEL="Sign in with Fake",
        ATELIER_OIDC_ADMIN_GROUP="studio-admins",
    ).start()
    yield proc
    proc.stop()


def sign_in_via_provider(srv: ServerProcess, tamper=None) -> tuple[requests.Session, str]:
    """A browser's trip: studio -> provider -> studio. Answers the session and where it ended."""
    browser = requests.Session()
    start = browser.get(srv.url + "/api/oidc/login", allow_redirects=False)
    assert start.status_code == 302, start.text
    at_provider = browser.get(start.headers["Location"], allow_redirects=False)
    assert at_provider.status_code == 302
    back = at_provider.headers["Location"]
    assert back.startswith(srv.url + "/api/oidc/callback?")
    if tamper:
        back = tamper(back)
    done = browser.get(back, allow_redirects=False)
    assert done.status_code == 302, done.text
    return browser, done.headers["Location"]


def test_the_sign_in_page_learns_the_providers_label(srv):
    assert srv.get("/api/auth").json()["oidc"] == {"label": "Sign in with Fake"}


def test_no_provider_sign_in_before_the_first_admin_exists(srv):
    r = requests.get(srv.url + "/api/oidc/login", allow_redirects=False)
    assert r.status_code == 409 and r.json()["error"]["code"] == "accounts_off"


def test_first_sign_in_creates_a_member_and_signs_in(srv, issuer):
    admin = setup_admin(srv, "root")
    issuer.user = {"sub": "sub-ada", "preferred_username": "Ada.Lovelace"}
    browser, landed = sign_in_via_provider(srv)
    assert landed == "/"
    me = browser.get(srv.url + "/api/me").json()
    assert me["user"]["name"] == "ada-lovelace" and me["user"]["role"] == "member" and me["csrf_token"]
    # again: the same user, not a new one
    browser2, _ = sign_in_via_provider(srv)
    assert browser2.get(srv.url + "/api/me").json()["user"]["id"] == me["user"]["id"]
    # another person with the same user name at the provider gets a name of their own
    issuer.user = {"sub": "sub-other-ada", "preferred_username": "ada.lovelace"}
    browser3, _ = sign_in_via_provider(srv)
    assert browser3.get(srv.url + "/api/me").json()["user"]["name"] == "ada-lovelace-2"
    names = sorted(u["name"] for u in admin.get("/api/users").json()["users"])
    assert names == ["ada-lovelace", "ada-lovelace-2", "root"]
    # the provider's user has no password here
    r = requests.post(srv.url + "/api/session", json={"username": "ada-lovelace", "password": ""})
    assert r.status_code in (401, 422)


def test_the_admin_group_makes_an_admin(srv, issuer):
    issuer.user = {"sub": "sub-boss", "preferred_username": "boss", "groups": ["staff", "studio-admins"]}
    browser, _ = sign_in_via_provider(srv)
    assert browser.get(srv.url + "/api/me").json()["user"]["role"] == "admin"


@pytest.mark.parametrize("behaviour", ["wrong_audience", "wrong_nonce", "expired", "bad_signature", "wrong_issuer"])
def test_a_forged_or_mismatched_id_token_is_refused(srv, issuer, behaviour):
    issuer.user = {"sub": f"sub-{behaviour}", "preferred_username": behaviour.replace("_", "")}
    issuer.script("token", behaviour)
    browser, landed = sign_in_via_provider(srv)
    assert landed == "/?signin_error=invalid_token"
    assert "atelier_session" not in browser.cookies
    assert browser.get(srv.url + "/api/me").status_code == 401


def test_a_callback_with_another_state_is_refused(srv, issuer):
    issuer.user = {"sub": "sub-csrf", "preferred_username": "victim"}

    def swap_state(url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        query["state"] = "attackers-state"
        return parts._replace(query=urllib.parse.urlencode(query)).geturl()

    browser, landed = sign_in_via_provider(srv, swap_state)
    assert landed == "/?signin_error=state_mismatch"
    assert browser.get(srv.url + "/api/me").status_code == 401
    # a callback with no flow cookie at all (a link sent to someone) is refused the same way
    r = requests.get(srv.url + "/api/oidc/callback?code=abc&state=xyz", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/?signin_error=state_mismatch"


def test_a_refusal_at_the_provider_comes_back_as_denied(srv, issuer):
    issuer.script("authorize", "deny")
    browser = requests.Session()
    start = browser.get(srv.url + "/api/oidc/login", allow_redirects=False)
    back = browser.get(start.headers["Location"], allow_redirects=False).headers["Location"]
    r = browser.get(back, allow_redirects=False)
    assert r.headers["Location"] == "/?signin_error=denied"


def test_a_disabled_provider_user_cannot_sign_in(srv, issuer):
    issuer.user = {"sub": "sub-dis", "preferred_username": "dis"}
    browser, _ = sign_in_via_provider(srv)
    root = requests.Session()
    r = root.post(srv.url + "/api/session", json={"username": "root", "password": "correct horse battery"})
    csrf = r.json()["csrf_token"]
    user = [u for u in root.get(srv.url + "/api/users").json()["users"] if u["name"] == "dis"][0]
    root.patch(srv.url + f"/api/users/{user['id']}", json={"disabled": True}, headers={"X-CSRF-Token": csrf})
    assert browser.get(srv.url + "/api/me").status_code == 401
    _, landed = sign_in_via_provider(srv)
    assert landed == "/?signin_error=disabled"


def test_the_client_secret_never_leaves_the_server(srv, issuer):
    assert issuer.client_secret not in srv.get("/api/auth").text
    assert issuer.client_secret not in srv.output()
