"""Cost and usage: what each job cost, sums over a period, estimates and the monthly budget.

A job's ``cost_usd`` is its estimate when submitted; when it ends, ``cost_actual_usd`` is
what the provider reported (``cost_usd`` in an image's provider metadata) or else the
estimate for the images actually delivered (failed generations are not billed).
``ATELIER_MONTHLY_BUDGET_USD`` refuses paid jobs that would take this calendar month's
spend (UTC, including queued and running jobs' estimates) over the budget: HTTP 402.
With accounts, the job must also fit its user's and its API key's budgets (services/budgets.py),
and its user and key must be under their concurrent-job limits (services/limits.py):
:meth:`UsageLedger.admit` checks them all, under the ``admitting`` lock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from backend.services.budgets import SPENT_SQL, TOTALS_SQL, BudgetExceeded, Budgets, Limit, NoAccounts, refusal
from backend.services.gallery_query import SELECTION_BY_NAME
from backend.services.limits import JobLimits
from backend.services.principal import STUDIO, Principal
from backend.services.schema import Field
from backend.storage.db import Database
from backend.storage.job_store import JobRecord

GROUPS = {
    "provider": "provider",
    "model": "json_extract(data, '$.request.model')",
    "day": "substr(created_at, 1, 10)",
    "kind": "coalesce(json_extract(data, '$.kind'), 'generate')",
}

#: The query of GET /api/usage: read by the view and by the OpenAPI document.
USAGE_QUERY = (
    Field("group_by", "string", "what each row sums", default="provider", enum=tuple(GROUPS)),
    SELECTION_BY_NAME["from"],
    SELECTION_BY_NAME["to"],
    Field(
        "period",
        "string",
        "month: from the start of this calendar month (UTC) when `from` is not given",
        enum=("month",),
    ),  # fmt: skip
)


__all__ = ["USAGE_QUERY", "BudgetExceeded", "UsageLedger", "month_start", "settle_cost"]


def settle_cost(job: JobRecord, n: int) -> None:
    """Set ``cost_actual_usd`` when the job ends."""
    reported = [note["cost_usd"] for note in job.provider_notes if isinstance(note.get("cost_usd"), int | float)]
    if reported:
        job.cost_actual_usd = round(sum(reported), 6)
    elif job.cost_usd is not None:
        job.cost_actual_usd = round(job.cost_usd * min(len(job.images), n) / max(n, 1), 6)


def month_start(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-01T00:00:00.000Z")


class UsageLedger:
    def __init__(
        self,
        db: Database,
        monthly_budget: float | None = None,
        budgets: Budgets | None = None,
        job_limits: JobLimits | None = None,
    ) -> None:
        self.db = db
        self.monthly_budget = monthly_budget
        #: the users' and keys' budgets (none without accounts)
        self.budgets = budgets or Budgets(db, NoAccounts())
        #: the users' and keys' concurrent-job limits (none when not set)
        self.job_limits = job_limits
        #: held by a submit from its budget check until its job is queued (and so counted):
        #: what runs between may yield (an upload's import, Redis), and two paid requests sent
        #: at once must not both pass a budget that only one of them fits
        self.admitting = threading.Lock()

    def summary(self, start: str | None, end: str | None, group_by: str, owner: str | None = None) -> dict[str, Any]:
        """Jobs, images and cost in [start, end) by ``group_by``; ``owner``: that user's jobs alone."""
        key = GROUPS[group_by]
        where, params = [], []
        if owner is not None:
            where.append("json_extract(data, '$.owner') = ?")
            params.append(owner)
        if start:
            where.append("created_at >= ?")
            params.append(start)
        if end:
            where.append("created_at < ?")
            params.append(end)
        sql = (
            f"SELECT {key} AS key, {TOTALS_SQL}"
            " FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + " GROUP BY key ORDER BY key"
        )
        groups = [
            {
                "key": row["key"],
                "jobs": row["jobs"],
                "images": row["images"],
                "failures": row["failures"],
                "pending": row["pending"],
                "cost_usd": round(row["cost"] or 0.0, 6),
                "estimated_usd": round(row["estimated"] or 0.0, 6),
                "unpriced_jobs": row["unpriced"],
            }
            for row in self.db.query(sql, params)
        ]
        totals = {
            name: sum(g[name] for g in groups) for name in ("jobs", "images", "failures", "pending", "unpriced_jobs")
        }
        for name in ("cost_usd", "estimated_usd"):
            totals[name] = round(sum(g[name] for g in groups), 6)
        return {"from": start, "to": end, "group_by": group_by, "groups": groups, "totals": totals}

    def month_spend(self) -> float:
        """This month's spend: what finished jobs cost plus what unfinished ones may cost."""
        rows = self.db.query(
            f"SELECT {SPENT_SQL} AS spent FROM jobs WHERE created_at >= ?",
            (month_start(),),
        )
        return round(rows[0]["spent"] or 0.0, 6)

    def budget_json(self) -> dict[str, Any]:
        spent = self.month_spend()
        budget = self.monthly_budget
        return {
            "monthly_budget_usd": budget,
            "month_spend_usd": spent,
            "remaining_usd": None if budget is None else round(max(budget - spent, 0.0), 6),
        }

    def fits(self, cost: float | None, spent: float | None = None, principal: Principal = STUDIO) -> bool:
        """Whether a job of ``cost`` stays within the month's budgets (the studio's, with
        ``spent`` so far when known, and ``principal``'s user's and key's)."""
        return not cost or self._first_over(cost, spent, principal) is None

    def _first_over(self, cost: float, spent: float | None, principal: Principal) -> Limit | None:
        """The first budget a job of ``cost`` would take over: the studio's, the user's, the key's."""
        if self.monthly_budget is not None:
            spent = self.month_spend() if spent is None else spent
            studio = Limit("studio", None, self.monthly_budget, spent)
            if not studio.fits(cost):
                return studio
        for limit in self.budgets.limits(principal, month_start()):
            if not limit.fits(cost):
                return limit
        return None

    def check(self, cost: float | None, principal: Principal = STUDIO) -> None:
        """Refuse a paid job that would take the month over a budget (BudgetExceeded, naming it)."""
        if not cost:
            return
        over = self._first_over(cost, None, principal)
        if over is not None:
            raise refusal(over, cost)

    def admit(self, cost: float | None, principal: Principal = STUDIO, jobs: int = 1) -> None:
        """Refuse ``jobs`` new jobs of ``principal``, costing ``cost`` together, that would go over
        a concurrent-job limit (LimitExceeded ``too_many_jobs``) or a budget (BudgetExceeded). Hold ``admitting``
        from here until they are queued."""
        if self.job_limits is not None:
            self.job_limits.check(principal, jobs)
        self.check(cost, principal)
