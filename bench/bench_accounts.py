"""What accounts cost a request: resolving the caller on every call, and a sign-in.

One server per async mode. The baseline is the same server before its first user (no
accounts: the edge resolves every caller to the studio without a lookup); then the same
``GET /api/health`` with a session cookie (a session and a user read, plus the CSRF-free
GET path) and with an API key (a digest, a key and a user read), all on one keep-alive
connection; cookie and key requests alternate. The lookups alone are also timed in process. A sign-in is timed beside
one argon2id hash alone (what it must cost: the password check is the point).

Usage: python bench/bench_accounts.py [--requests 300] [--signins 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from argon2 import PasswordHasher

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.services.accounts import Accounts, principal_for  # noqa: E402
from backend.storage.account_store import ACCOUNTS_FILE, AccountStore  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

PASSWORD = "bench password 1"


def pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(v: float) -> str:
    return f"{v * 1000:.2f} ms"


def timed(session: requests.Session, url: str, **kw: object) -> float:
    start = time.perf_counter()
    r = session.get(url, timeout=30, **kw)  # type: ignore[arg-type]
    took = time.perf_counter() - start
    assert r.status_code == 200, r.text
    return took


def run_mode(mode: str, n: int, signins: int) -> dict[str, list[float]]:
    """All requests on one keep-alive connection, so only the caller differs."""
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), mode, ATELIER_LOG_LEVEL="WARNING").start()
        try:
            url = server.url + "/api/health"
            http = requests.Session()
            for _ in range(20):
                timed(http, url)
            off = [timed(http, url) for _ in range(n)]
            r = http.post(server.url + "/api/setup", json={"username": "bench", "password": PASSWORD})
            csrf = r.json()["csrf_token"]
            session = {"atelier_session": http.cookies["atelier_session"]}
            http.cookies.clear()
            r = http.post(
                server.url + "/api/keys",
                json={"name": "bench", "scopes": ["gallery:read"]},
                headers={"X-CSRF-Token": csrf},
                cookies=session,
            )
            key = {"Authorization": f"Bearer {r.json()['secret']}"}
            for _ in range(20):
                timed(http, url, cookies=session)
                timed(http, url, headers=key)
            cookie, by_key = [], []
            for _ in range(n):
                cookie.append(timed(http, url, cookies=session))
                by_key.append(timed(http, url, headers=key))
            sign = []
            for _ in range(signins):
                start = time.perf_counter()
                r = requests.post(server.url + "/api/session", json={"username": "bench", "password": PASSWORD})
                sign.append(time.perf_counter() - start)
                assert r.status_code == 200, r.text
        finally:
            server.stop()
    hasher = PasswordHasher()
    stored = hasher.hash(PASSWORD)
    verify = []
    for _ in range(signins):
        start = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        verify.append(time.perf_counter() - start)
    return {"off": off, "cookie": cookie, "key": by_key, "signin": sign, "verify": verify}


def resolve_alone(n: int) -> tuple[float, float]:
    """In process: the lookups the edge makes for a session cookie, and for a key (median s)."""
    with tempfile.TemporaryDirectory() as tmp:
        accounts = Accounts(AccountStore(Path(tmp) / ACCOUNTS_FILE))
        user = accounts.create_user("bench", PASSWORD, "admin")
        signed = accounts.start_session(user)
        _, secret = accounts.create_key(principal_for(user), "bench", ["gallery:read"])
        by_cookie, by_key = [], []
        for _ in range(n):
            start = time.perf_counter()
            assert accounts.active and accounts.session(signed.session_id) is not None
            by_cookie.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert accounts.active and accounts.key_principal(secret) is not None
            by_key.append(time.perf_counter() - start)
        accounts.store.close()
    return statistics.median(by_cookie), statistics.median(by_key)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--signins", type=int, default=10)
    args = parser.parse_args()
    print("| mode | measure | p50 | p99 | baseline p50 | ratio (p50) |")
    print("|---|---|---|---|---|---|")
    for mode in ("eventlet", "threading"):
        r = run_mode(mode, args.requests, args.signins)
        off50 = statistics.median(r["off"])
        off99 = ms(pct(r["off"], 99))
        print(f"| {mode} | GET /api/health, no accounts (n={args.requests}) | {ms(off50)} | {off99} | — | 1.0× |")
        for name, label in (("cookie", "session cookie"), ("key", "API key")):
            p50 = statistics.median(r[name])
            print(
                f"| {mode} | GET /api/health, {label} | {ms(p50)} | {ms(pct(r[name], 99))} | "
                f"no accounts: {ms(off50)} | {p50 / off50:.2f}× |"
            )
        sign50, verify50 = statistics.median(r["signin"]), statistics.median(r["verify"])
        print(
            f"| {mode} | POST /api/session (n={args.signins}) | {ms(sign50)} | {ms(pct(r['signin'], 99))} | "
            f"argon2id verify alone: {ms(verify50)} | {sign50 / verify50:.2f}× |"
        )
    cookie, key = resolve_alone(args.requests * 10)
    print()
    print(
        f"The lookups alone, in process (n={args.requests * 10}): session cookie {ms(cookie)}, "
        f"API key {ms(key)} per request."
    )


if __name__ == "__main__":
    main()
