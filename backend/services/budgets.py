"""Monthly budgets per user and per API key, beside the studio's (services/usage.py).

A paid job must fit every budget that applies to whoever submits it: the studio's
(``ATELIER_MONTHLY_BUDGET_USD``), its user's (the user's own ``monthly_budget_usd``, else
``ATELIER_USER_MONTHLY_BUDGET_USD``) and, when it came with an API key, the key's own
``monthly_budget_usd``. Each is counted like the studio's: this calendar month (UTC), what
finished jobs cost plus what queued and running ones may cost, summed over the jobs of that
user (their ``owner``) or that key (their ``key_id``). A refusal names the budget.

The budgets themselves live with the accounts (users and keys): this module reads them
through :class:`BudgetSource`, so it knows nothing of how accounts are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from backend.services.principal import Principal
from backend.storage.account_store import AccountStore
from backend.storage.db import Database

Which = Literal["studio", "user", "key"]

#: a job's cost while it is queued or running is its estimate, after that what it cost
SPENT_SQL = (
    "SUM(CASE WHEN status IN ('queued', 'running') THEN coalesce(json_extract(data, '$.cost_usd'), 0)"
    " ELSE coalesce(json_extract(data, '$.cost_actual_usd'), 0) END)"
)
#: what each row of a report sums (the columns of UsageLedger.summary)
TOTALS_SQL = (
    "COUNT(*) AS jobs,"
    " SUM(coalesce(json_array_length(data, '$.images'), 0)) AS images,"
    " SUM(status = 'failed') AS failures,"
    " SUM(status IN ('queued', 'running')) AS pending,"
    " SUM(coalesce(json_extract(data, '$.cost_actual_usd'), 0)) AS cost,"
    " SUM(coalesce(json_extract(data, '$.cost_usd'), 0)) AS estimated,"
    " SUM(json_extract(data, '$.cost_usd') IS NULL) AS unpriced"
)
#: the job's column each kind of account is counted by
_COLUMN = {"user": "json_extract(data, '$.owner')", "key": "json_extract(data, '$.key_id')"}


@dataclass(frozen=True)
class Account:
    """A user or an API key, as budgets see it."""

    id: str
    #: the user's name (also the ``owner`` of their jobs), or the key's name
    name: str
    #: its own monthly budget; None: a user gets the default, a key has none of its own
    monthly_budget_usd: float | None
    #: a key's user's name; None for a user
    user: str | None = None


class BudgetSource(Protocol):
    """Where users' and keys' budgets are kept (the account store)."""

    def budget_user(self, user_id: str) -> Account | None: ...

    def budget_key(self, key_id: str) -> Account | None: ...

    def budget_users(self) -> list[Account]: ...

    def budget_keys(self) -> list[Account]: ...


class NoAccounts:
    """The source of a studio without accounts: nobody but the studio has a budget."""

    def budget_user(self, user_id: str) -> Account | None:
        return None

    def budget_key(self, key_id: str) -> Account | None:
        return None

    def budget_users(self) -> list[Account]:
        return []

    def budget_keys(self) -> list[Account]:
        return []


class StoredBudgets:
    """The account store's users and keys, as budgets see them."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store

    def budget_user(self, user_id: str) -> Account | None:
        user = self.store.user(user_id)
        return Account(user.id, user.name, user.monthly_budget_usd) if user else None

    def budget_key(self, key_id: str) -> Account | None:
        key = self.store.key(key_id)
        if key is None:
            return None
        user = self.store.user(key.user_id)
        return Account(key.id, key.name, key.monthly_budget_usd, user.name if user else None)

    def budget_users(self) -> list[Account]:
        return [Account(u.id, u.name, u.monthly_budget_usd) for u in self.store.users()]

    def budget_keys(self) -> list[Account]:
        names = {u.id: u.name for u in self.store.users()}
        return [Account(k.id, k.name, k.monthly_budget_usd, names.get(k.user_id)) for k in self.store.keys()]


@dataclass(frozen=True)
class Limit:
    """One budget that applies to a job: whose, how much, and what is spent of it."""

    which: Which
    #: the user's or key's name (None for the studio's)
    name: str | None
    budget: float
    spent: float

    def fits(self, cost: float) -> bool:
        return self.spent + cost <= self.budget + 1e-9

    @property
    def label(self) -> str:
        if self.which == "studio":
            return "the studio's monthly budget (ATELIER_MONTHLY_BUDGET_USD)"
        if self.which == "user":
            return f"user {self.name!r}'s monthly budget"
        return f"API key {self.name!r}'s monthly budget"


class BudgetExceeded(Exception):
    """A paid job that does not fit one of its budgets (HTTP 402 ``budget_exceeded``)."""

    def __init__(self, message: str, budget: float, spent: float, cost: float, which: Which = "studio") -> None:
        super().__init__(message)
        self.message, self.budget, self.spent, self.cost, self.which = message, budget, spent, cost, which


def refusal(limit: Limit, cost: float) -> BudgetExceeded:
    advice = {
        "studio": "Raise the budget, wait for next month, or use a free provider (offline, local tools).",
        "user": "An admin can raise it (PATCH /api/users/<id>); or wait for next month, or use a free provider.",
        "key": "Raise it on a new key, use another key, wait for next month, or use a free provider.",
    }[limit.which]
    return BudgetExceeded(
        f"{limit.which} budget exceeded: this job would cost about ${cost:.3f}; ${limit.spent:.3f} of "
        f"{limit.label} of ${limit.budget:.2f} is already spent or committed. {advice}",
        limit.budget,
        limit.spent,
        cost,
        limit.which,
    )


class Budgets:
    """The budgets of users and keys, and what each has spent."""

    def __init__(self, db: Database, source: BudgetSource, user_default: float | None = None) -> None:
        self.db = db
        self.source = source
        self.user_default = user_default

    def user_budget(self, account: Account | None) -> float | None:
        if account is None:
            return None
        return account.monthly_budget_usd if account.monthly_budget_usd is not None else self.user_default

    def month_spend(self, which: Literal["user", "key"], value: str, since: str) -> float:
        rows = self.db.query(
            f"SELECT {SPENT_SQL} AS spent FROM jobs WHERE created_at >= ? AND {_COLUMN[which]} = ?", (since, value)
        )
        return round(rows[0]["spent"] or 0.0, 6)

    def limits(self, principal: Principal, since: str) -> list[Limit]:
        """The budgets of ``principal``'s user and key that are set, with what each has spent."""
        found: list[Limit] = []
        if principal.user_id is not None and principal.owner is not None:
            budget = self.user_budget(self.source.budget_user(principal.user_id))
            if budget is not None:
                found.append(Limit("user", principal.owner, budget, self.month_spend("user", principal.owner, since)))
        if principal.key_id is not None:
            key = self.source.budget_key(principal.key_id)
            if key is not None and key.monthly_budget_usd is not None:
                spent = self.month_spend("key", principal.key_id, since)
                found.append(Limit("key", key.name, key.monthly_budget_usd, spent))
        return found

    # --- reports (GET /api/usage) --------------------------------------------------------
    def _rows(self, which: Literal["user", "key"], start: str | None, end: str | None) -> dict[str, dict[str, Any]]:
        where, params = [f"{_COLUMN[which]} IS NOT NULL"], []
        if start:
            where.append("created_at >= ?")
            params.append(start)
        if end:
            where.append("created_at < ?")
            params.append(end)
        sql = f"SELECT {_COLUMN[which]} AS who, {TOTALS_SQL} FROM jobs WHERE {' AND '.join(where)} GROUP BY who"
        return {row["who"]: totals_json(row) for row in self.db.query(sql, params)}

    def _month(self, which: Literal["user", "key"], since: str) -> dict[str, float]:
        sql = f"SELECT {_COLUMN[which]} AS who, {SPENT_SQL} AS spent FROM jobs WHERE created_at >= ? GROUP BY who"
        return {row["who"]: round(row["spent"] or 0.0, 6) for row in self.db.query(sql, (since,)) if row["who"]}

    def by_user(self, start: str | None, end: str | None, month: str, only: str | None = None) -> list[dict[str, Any]]:
        """Each user's usage in the period and budget this month; ``only``: that user alone."""
        rows, spent = self._rows("user", start, end), self._month("user", month)
        users = {u.name: u for u in self.source.budget_users()}
        names = sorted(set(users) | set(rows))
        report = []
        for name in names:
            if only is not None and name != only:
                continue
            budget = self.user_budget(users.get(name))
            report.append(
                {
                    "user": name,
                    **(rows.get(name) or totals_json(None)),
                    "budget": budget_json(budget, spent.get(name, 0.0)),
                }
            )
        return report

    def by_key(self, start: str | None, end: str | None, month: str, only: str | None = None) -> list[dict[str, Any]]:
        """Each key's usage in the period and budget this month; ``only``: that user's keys alone.
        A key revoked since still has its row (its name unknown: null)."""
        rows, spent = self._rows("key", start, end), self._month("key", month)
        keys = {k.id: k for k in self.source.budget_keys()}
        report = []
        for key_id in sorted(set(keys) | set(rows)):
            key = keys.get(key_id)
            if only is not None and (key is None or key.user != only):
                continue
            budget = key.monthly_budget_usd if key else None
            report.append(
                {
                    "key_id": key_id,
                    "name": key.name if key else None,
                    "user": key.user if key else None,
                    **(rows.get(key_id) or totals_json(None)),
                    "budget": budget_json(budget, spent.get(key_id, 0.0)),
                }
            )
        return report


def totals_json(row: Any) -> dict[str, Any]:
    """One report row's sums (all zero for ``None``: an account without jobs in the period)."""
    if row is None:
        return {
            "jobs": 0, "images": 0, "failures": 0, "pending": 0, "cost_usd": 0.0, "estimated_usd": 0.0,
            "unpriced_jobs": 0,
        }  # fmt: skip
    return {
        "jobs": row["jobs"],
        "images": row["images"] or 0,
        "failures": row["failures"] or 0,
        "pending": row["pending"] or 0,
        "cost_usd": round(row["cost"] or 0.0, 6),
        "estimated_usd": round(row["estimated"] or 0.0, 6),
        "unpriced_jobs": row["unpriced"] or 0,
    }


def budget_json(budget: float | None, spent: float) -> dict[str, Any]:
    return {
        "monthly_budget_usd": budget,
        "month_spend_usd": spent,
        "remaining_usd": None if budget is None else round(max(budget - spent, 0.0), 6),
    }
