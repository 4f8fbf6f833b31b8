"""What admitting a paid job costs with accounts: budgets and concurrent-job limits.

A job store holds ``--jobs`` finished jobs this month, spread over 20 users and 50 API keys.
Each measure is one submission's whole admission check (``UsageLedger.admit``), medians of
``--runs``, interleaved with its baselines in the same run:

1. a member with a key, against the studio's budget, the user's, the key's, and the user's
   and key's concurrent-job limits: what every paid job of an account pays;
2. the baseline: the same studio without accounts, the studio's budget alone (the one
   check there was before accounts);
3. the accounts' check without the job store's indexes on owner and key (the reason they
   are there).

Usage: python bench/bench_budgets.py [--jobs 20000] [--runs 20]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.services.budgets import Account, Budgets  # noqa: E402
from backend.services.gallery import utc_now_iso  # noqa: E402
from backend.services.limits import JobLimits  # noqa: E402
from backend.services.principal import STUDIO, Principal  # noqa: E402
from backend.services.usage import UsageLedger  # noqa: E402
from backend.storage.job_store import JobStore  # noqa: E402

USERS, KEYS = 20, 50


class Source:
    """Every user and key with a budget large enough that no check refuses."""

    def budget_user(self, user_id: str) -> Account | None:
        return Account(user_id, user_id.removeprefix("id-"), 1e6)

    def budget_key(self, key_id: str) -> Account | None:
        return Account(key_id, key_id, 1e6, "user1")

    def budget_users(self) -> list[Account]:
        return []

    def budget_keys(self) -> list[Account]:
        return []


def fill(store: JobStore, count: int) -> None:
    now = utc_now_iso()
    rows = []
    for i in range(count):
        data = (
            f'{{"id": "j{i}", "created_at": "{now}", "request": {{"provider": "priced", "prompt": "{"x" * 200}"}},'
            f' "status": "succeeded", "images": [{{"id": "i{i}"}}], "cost_usd": 0.04, "cost_actual_usd": 0.04,'
            f' "owner": "user{i % USERS}", "key_id": "key{i % KEYS}"}}'
        )
        rows.append((f"j{i:07d}", now, "succeeded", "priced", None, data, 0))
    with store.db.transaction() as conn:
        conn.executemany(
            "INSERT INTO jobs (id, created_at, status, provider, session, data, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = JobStore(Path(tmp) / "jobs.sqlite3")
        fill(store, args.jobs)
        accounts = UsageLedger(store.db, 1e6, Budgets(store.db, Source(), 1e6), JobLimits(store.db, 1000, 1000))
        studio = UsageLedger(store.db, 1e6)
        member = Principal(user_id="id-user1", name="user1", role="member", via="key", key_id="key1")
        with_index: list[float] = []
        baseline: list[float] = []
        for _ in range(3):  # interleaved, so a busy moment does not favour one side
            with_index.append(median_ms(lambda: accounts.admit(0.04, member), args.runs))
            baseline.append(median_ms(lambda: studio.admit(0.04, STUDIO), args.runs))
        store.db.execute("DROP INDEX jobs_owner_spend")
        store.db.execute("DROP INDEX jobs_key_spend")
        no_index = [median_ms(lambda: accounts.admit(0.04, member), args.runs) for _ in range(3)]
    atelier, plain, unindexed = (statistics.median(v) for v in (with_index, baseline, no_index))
    print(
        f"Admitting one paid job, medians of {args.runs} checks x 3 rounds; {args.jobs} jobs this month over "
        f"{USERS} users and {KEYS} keys; {platform.node()}, Python {platform.python_version()}, {date.today()}.\n"
    )
    print("| check | time per job | vs the studio's budget alone |")
    print("|---|---|---|")
    print(f"| studio's budget alone (no accounts: the baseline) | {plain:.2f} ms | 1.0× |")
    print(f"| studio + user + key budgets, user and key job limits | {atelier:.2f} ms | {atelier / plain:.1f}× |")
    print(f"| the same without the owner/key indexes | {unindexed:.2f} ms | {unindexed / plain:.1f}× |")


if __name__ == "__main__":
    main()
