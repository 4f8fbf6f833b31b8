"""Budgets, rate limits and concurrent-job limits per user and per API key (issue 13), in
process: the app of create_app with the caller (a Principal) set by a test hook the way
web/auth sets it, and the accounts' budgets from a stand-in source. The queue is never
started, so submitted jobs stay queued: they count as pending jobs and at their estimate,
which is what the checks read. The real server with real accounts and Redis:
tests/test_accounts_limits.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import g, request

from backend.config import SettingsError, load_settings
from backend.services.budgets import Account
from backend.services.principal import STUDIO, Principal

PRICED = {"prompt": "a red kite", "provider": "priced", "n": 1}  # $0.04 an image
FREE = {"prompt": "a red kite", "provider": "instant", "n": 1}
#: runs until the test's gate opens (at its end): a job that stays queued or running
HELD = {"prompt": "a red kite", "provider": "gated", "n": 1}


def _settings(tmp: Path, **values: str):
    return load_settings(
        {
            "ATELIER_ASYNC_MODE": "threading",
            "ATELIER_GALLERY_DIR": str(tmp / "gallery"),
            "ATELIER_DATA_DIR": str(tmp / "data"),
            "ATELIER_ENV_FILE": str(tmp / "no.env"),
            "ATELIER_PROVIDER_MODULES": "tests.support.providers",
            **values,
        }
    )


class Accounts:
    """Users and keys with their budgets, as the account store answers the budgets."""

    def __init__(self) -> None:
        self.users: dict[str, Account] = {}
        self.keys: dict[str, Account] = {}

    def add_user(self, name: str, budget: float | None = None) -> None:
        self.users[f"u-{name}"] = Account(f"u-{name}", name, budget)

    def add_key(self, key_id: str, user: str, budget: float | None = None) -> None:
        self.keys[key_id] = Account(key_id, f"{user}'s {key_id}", budget, user=user)

    def budget_user(self, user_id: str) -> Account | None:
        return self.users.get(user_id)

    def budget_key(self, key_id: str) -> Account | None:
        return self.keys.get(key_id)

    def budget_users(self) -> list[Account]:
        return list(self.users.values())

    def budget_keys(self) -> list[Account]:
        return list(self.keys.values())


def _principal(header: str) -> Principal:
    """``alice``, ``alice/member``, ``alice/member/k1`` (a key), ``studio``."""
    if header == "studio":
        return STUDIO
    name, _, rest = header.partition("/")
    role, _, key = rest.partition("/")
    return Principal(
        user_id=f"u-{name}", name=name, role=role or "member", via="key" if key else "session", key_id=key or None
    )  # type: ignore[arg-type]


@pytest.fixture
def make_app(tmp_path):
    """create_app with the caller read from ``X-Test-As`` (as web/auth would set it)."""
    gate = tmp_path / "gate"

    def make(**values: str):
        from backend.app import create_app

        app, _ = create_app(_settings(tmp_path, ATELIER_TEST_GATE=str(gate), **values))

        def _as() -> None:
            who = request.headers.get("X-Test-As")
            if who:
                g.principal = _principal(who)

        # after web/auth has resolved the caller (the studio itself here), before the rate limit
        hooks = app.before_request_funcs.setdefault(None, [])
        names = [hook.__name__ for hook in hooks]
        hooks.insert(names.index("_rate_limit") if "_rate_limit" in names else len(hooks), _as)
        accounts = Accounts()
        app.extensions["atelier"].usage.budgets.source = accounts
        return app.test_client(), accounts

    yield make
    gate.touch()  # the held jobs end


def _submit(client, who: str, body: dict | None = None, path: str = "/api/jobs"):
    return client.post(path, json=body or PRICED, headers={"X-Test-As": who})


# --- settings ---------------------------------------------------------------------------
BAD = [
    *(("ATELIER_USER_MONTHLY_BUDGET_USD", v) for v in ("nan", "inf", "-1", "1e12", "ten")),
    *(("ATELIER_USER_RATE_LIMIT", v) for v in ("0/minute", "1/0second", "60", "60/fortnight", "2000000/minute")),
    *(("ATELIER_KEY_RATE_LIMIT", v) for v in ("many", "1/-1second", "1/999999hour")),
    *(("ATELIER_USER_MAX_CONCURRENT_JOBS", v) for v in ("0", "-1", "2.5", "10001", "inf", "٣")),
    *(("ATELIER_KEY_MAX_CONCURRENT_JOBS", v) for v in ("0", "lots")),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_limit_setting_stops_the_start_naming_it(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        _settings(tmp_path, **{name: value})
    message = str(refused.value)
    assert name in message and "use" in message and "\n" not in message


def test_limit_settings_are_read_and_off_by_default(tmp_path: Path) -> None:
    off = _settings(tmp_path)
    assert (off.user_monthly_budget_usd, off.user_rate_limit, off.key_rate_limit) == (None, None, None)
    assert (off.user_max_concurrent_jobs, off.key_max_concurrent_jobs) == (None, None)
    on = _settings(
        tmp_path,
        ATELIER_USER_MONTHLY_BUDGET_USD="2.5",
        ATELIER_USER_RATE_LIMIT="60/minute",
        ATELIER_KEY_RATE_LIMIT="5/10seconds",
        ATELIER_USER_MAX_CONCURRENT_JOBS="3",
        ATELIER_KEY_MAX_CONCURRENT_JOBS="1",
    )
    assert on.user_monthly_budget_usd == 2.5
    assert (on.user_rate_limit, on.key_rate_limit) == ((60, 60), (5, 10))
    assert (on.user_max_concurrent_jobs, on.key_max_concurrent_jobs) == (3, 1)


# --- budgets ----------------------------------------------------------------------------
def test_a_key_over_its_budget_is_refused_while_its_user_has_room(make_app) -> None:
    client, accounts = make_app()
    accounts.add_user("alice", budget=10.0)
    accounts.add_key("k1", "alice", budget=0.05)  # room for one $0.04 job
    assert _submit(client, "alice/member/k1").status_code == 202
    refused = _submit(client, "alice/member/k1")
    assert refused.status_code == 402
    error = refused.get_json()["error"]
    assert error["code"] == "budget_exceeded" and error["field"] == "budget"
    assert error["message"].startswith("key budget exceeded") and "k1" in error["message"]
    # the same user without the key (signed in) still has room; so has another key of hers
    assert _submit(client, "alice/member").status_code == 202
    accounts.add_key("k2", "alice")
    assert _submit(client, "alice/member/k2").status_code == 202


def test_a_user_over_their_budget_is_refused_whatever_key_they_use(make_app) -> None:
    client, accounts = make_app()
    accounts.add_user("bob", budget=0.05)
    accounts.add_key("kb", "bob", budget=100.0)
    assert _submit(client, "bob/member/kb").status_code == 202
    refused = _submit(client, "bob/member/kb")  # the key has room, bob has not
    assert refused.status_code == 402
    message = refused.get_json()["error"]["message"]
    assert message.startswith("user budget exceeded") and "'bob'" in message
    assert _submit(client, "bob/member").status_code == 402
    # what bob spent is not counted against anyone else; free jobs are never refused
    accounts.add_user("carol", budget=0.05)
    assert _submit(client, "carol/member").status_code == 202
    assert _submit(client, "bob/member", FREE).status_code == 202


def test_the_default_user_budget_applies_unless_the_user_has_their_own(make_app) -> None:
    client, accounts = make_app(ATELIER_USER_MONTHLY_BUDGET_USD="0.05")
    accounts.add_user("dan")  # no budget of his own: the default
    accounts.add_user("erin", budget=1.0)
    assert _submit(client, "dan/member").status_code == 202
    assert _submit(client, "dan/member").status_code == 402
    for _ in range(3):
        assert _submit(client, "erin/member").status_code == 202
    # the studio itself (no accounts, the shared token) has no user budget
    for _ in range(3):
        assert _submit(client, "studio").status_code == 202


def test_the_studio_budget_still_comes_first_and_says_so(make_app) -> None:
    client, accounts = make_app(ATELIER_MONTHLY_BUDGET_USD="0.05")
    accounts.add_user("fay", budget=10.0)
    assert _submit(client, "fay/member").status_code == 202
    refused = _submit(client, "fay/member")
    assert refused.status_code == 402
    assert refused.get_json()["error"]["message"].startswith("studio budget exceeded")
    assert "ATELIER_MONTHLY_BUDGET_USD" in refused.get_json()["error"]["message"]


def test_an_estimate_says_a_job_does_not_fit_the_callers_budget(make_app) -> None:
    client, accounts = make_app()
    accounts.add_user("gus", budget=0.05)
    assert _submit(client, "gus/member").status_code == 202
    estimate = client.post("/api/estimate", json=PRICED, headers={"X-Test-As": "gus/member"}).get_json()
    assert estimate["cost_usd"] == pytest.approx(0.04) and estimate["within_budget"] is False
    accounts.add_user("hal", budget=0.05)
    other = client.post("/api/estimate", json=PRICED, headers={"X-Test-As": "hal/member"}).get_json()
    assert other["within_budget"] is True


def test_a_matrix_over_the_users_budget_queues_none_of_its_jobs(make_app) -> None:
    client, accounts = make_app()
    accounts.add_user("ida", budget=0.10)
    body = {"base": PRICED, "axes": [{"field": "seed", "values": [1, 2, 3]}]}  # 3 x $0.04
    refused = client.post("/api/matrix", json=body, headers={"X-Test-As": "ida/member"})
    assert refused.status_code == 402 and "user budget" in refused.get_json()["error"]["message"]
    assert client.get("/api/jobs").get_json()["items"] == []


# --- concurrent jobs --------------------------------------------------------------------
def test_a_user_at_their_concurrent_job_limit_waits_others_do_not(make_app) -> None:
    client, accounts = make_app(ATELIER_USER_MAX_CONCURRENT_JOBS="2")
    for _ in range(2):
        assert _submit(client, "jan/member", HELD).status_code == 202
    refused = _submit(client, "jan/member", HELD)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_jobs"
    assert int(refused.headers["Retry-After"]) >= 1
    assert "ATELIER_USER_MAX_CONCURRENT_JOBS" in refused.get_json()["error"]["message"]
    # through a key of the same user too; another user and the studio are not held back
    assert _submit(client, "jan/member/kj", HELD).status_code == 429
    assert _submit(client, "kim/member", HELD).status_code == 202
    assert _submit(client, "studio", HELD).status_code == 202
    # a job that ends makes room (the second is still queued behind the first: cancelled at once)
    second = next(j for j in client.get("/api/jobs").get_json()["items"] if j["owner"] == "jan")
    assert second["status"] == "queued"  # behind jan's first, which the gate holds
    assert client.post(f"/api/jobs/{second['id']}/cancel").status_code == 200
    assert _submit(client, "jan/member", HELD).status_code == 202


def test_a_key_at_its_concurrent_job_limit_waits_its_user_does_not(make_app) -> None:
    client, accounts = make_app(ATELIER_KEY_MAX_CONCURRENT_JOBS="1")
    assert _submit(client, "lea/member/kl", HELD).status_code == 202
    refused = _submit(client, "lea/member/kl", HELD)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "too_many_jobs"
    assert _submit(client, "lea/member/kl2", HELD).status_code == 202
    assert _submit(client, "lea/member", HELD).status_code == 202


def test_a_matrix_that_would_pass_the_limit_queues_nothing(make_app) -> None:
    client, _ = make_app(ATELIER_USER_MAX_CONCURRENT_JOBS="2")
    body = {"base": HELD, "axes": [{"field": "seed", "values": [1, 2, 3]}]}
    refused = client.post("/api/matrix", json=body, headers={"X-Test-As": "max/member"})
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "too_many_jobs"
    assert client.get("/api/jobs").get_json()["items"] == []


def test_a_client_api_caller_over_a_limit_gets_its_own_dialects_429(make_app) -> None:
    client, _ = make_app(ATELIER_KEY_MAX_CONCURRENT_JOBS="1", ATELIER_DEFAULT_PROVIDER="instant")
    # /v1 waits for its job: hold one queued job of the key through the studio's route first
    assert _submit(client, "ned/member/kn", HELD).status_code == 202
    refused = client.post(
        "/v1/images/generations",
        json={"prompt": "a kite", "model": "gated/test"},
        headers={"X-Test-As": "ned/member/kn"},
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    body = refused.get_json()["error"]
    assert set(body) >= {"message", "type", "code"}  # OpenAI's error shape, not the studio's


# --- rate limits ------------------------------------------------------------------------
def test_submissions_per_user_are_rate_limited_and_others_are_not(make_app) -> None:
    client, _ = make_app(ATELIER_USER_RATE_LIMIT="2/hour")
    assert [_submit(client, "ole/member", FREE).status_code for _ in range(2)] == [202, 202]
    refused = _submit(client, "ole/member/ko", FREE)  # a key of the same user counts as the user
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert 3000 < int(refused.headers["Retry-After"]) <= 3600
    assert _submit(client, "pia/member", FREE).status_code == 202
    assert _submit(client, "studio", FREE).status_code == 202  # the studio has no user limit
    # reading is not submitting
    assert client.get("/api/jobs", headers={"X-Test-As": "ole/member"}).status_code == 200


def test_submissions_per_key_are_rate_limited_and_the_user_signed_in_is_not(make_app) -> None:
    client, _ = make_app(ATELIER_KEY_RATE_LIMIT="1/minute")
    assert _submit(client, "quin/member/kq", FREE).status_code == 202
    refused = _submit(client, "quin/member/kq", FREE)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert "API key" in refused.get_json()["error"]["message"]
    assert _submit(client, "quin/member", FREE).status_code == 202
    assert _submit(client, "quin/member/kq2", FREE).status_code == 202


def test_a_refused_submission_is_not_counted_against_the_callers_other_windows(make_app) -> None:
    client, _ = make_app(ATELIER_USER_RATE_LIMIT="3/hour", ATELIER_KEY_RATE_LIMIT="1/hour")
    assert _submit(client, "ray/member/kr", FREE).status_code == 202
    assert _submit(client, "ray/member/kr", FREE).status_code == 429  # the key's window is full
    # ray's own window counted only the first: two more fit
    assert [_submit(client, "ray/member", FREE).status_code for _ in range(3)] == [202, 202, 429]


# --- usage ------------------------------------------------------------------------------
def test_usage_by_user_and_by_key_admins_see_everyone_members_themselves(make_app) -> None:
    client, accounts = make_app(ATELIER_USER_MONTHLY_BUDGET_USD="1")
    accounts.add_user("sam", budget=0.5)
    accounts.add_user("tia")
    accounts.add_user("root")
    accounts.add_key("ks", "sam", budget=0.2)
    accounts.add_key("kt", "tia")
    assert _submit(client, "sam/member/ks").status_code == 202
    assert _submit(client, "sam/member").status_code == 202
    assert _submit(client, "tia/member/kt", {**PRICED, "n": 2}).status_code == 202

    admin = client.get("/api/usage", headers={"X-Test-As": "root/admin"}).get_json()
    users = {u["user"]: u for u in admin["by_user"]}
    assert set(users) == {"sam", "tia", "root"}
    assert users["sam"]["jobs"] == 2 and users["sam"]["estimated_usd"] == pytest.approx(0.08)
    assert users["sam"]["budget"] == {"monthly_budget_usd": 0.5, "month_spend_usd": 0.08, "remaining_usd": 0.42}
    assert users["tia"]["budget"]["monthly_budget_usd"] == 1.0  # the default
    assert users["root"]["jobs"] == 0
    keys = {k["key_id"]: k for k in admin["by_key"]}
    assert keys["ks"]["user"] == "sam" and keys["ks"]["jobs"] == 1
    assert keys["ks"]["budget"]["remaining_usd"] == pytest.approx(0.16)
    assert keys["kt"]["budget"]["monthly_budget_usd"] is None and keys["kt"]["pending"] == 1
    assert admin["totals"]["jobs"] == 3

    member = client.get("/api/usage", headers={"X-Test-As": "sam/member"}).get_json()
    assert [u["user"] for u in member["by_user"]] == ["sam"]
    assert [k["key_id"] for k in member["by_key"]] == ["ks"]
    assert member["totals"]["jobs"] == 2, "a member's totals are their own jobs"
    assert sum(g["jobs"] for g in member["groups"]) == 2


def test_without_accounts_usage_and_submissions_are_as_before(make_app) -> None:
    client, _ = make_app(ATELIER_USER_RATE_LIMIT="1/hour", ATELIER_USER_MAX_CONCURRENT_JOBS="1")
    for _ in range(3):  # the studio itself: no user, no key, none of their limits
        assert client.post("/api/jobs", json=FREE).status_code == 202
    usage = client.get("/api/usage").get_json()
    assert usage["by_user"] == [] and usage["by_key"] == [] and usage["totals"]["jobs"] == 3
    job = client.get("/api/jobs").get_json()["items"][0]
    assert job["owner"] is None and "key_id" not in job
