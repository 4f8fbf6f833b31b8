"""Cost and usage: what each job cost, sums over a period, estimates and the monthly budget.

A job's ``cost_usd`` is its estimate when submitted; when it ends, ``cost_actual_usd`` is
what the provider reported (``cost_usd`` in an image's provider metadata) or else the
estimate for the images actually delivered (failed generations are not billed).
``ATELIER_MONTHLY_BUDGET_USD`` refuses paid jobs that would take this calendar month's
spend (UTC, including queued and running jobs' estimates) over the budget: HTTP 402.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from backend.services.gallery_query import SELECTION_BY_NAME
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


class BudgetExceeded(Exception):
    def __init__(self, message: str, budget: float, spent: float, cost: float) -> None:
        super().__init__(message)
        self.message, self.budget, self.spent, self.cost = message, budget, spent, cost


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
    def __init__(self, db: Database, monthly_budget: float | None = None) -> None:
        self.db = db
        self.monthly_budget = monthly_budget
        #: held by a submit from its budget check until its job is queued (and so counted):
        #: what runs between may yield (an upload's import, Redis), and two paid requests sent
        #: at once must not both pass a budget that only one of them fits
        self.admitting = threading.Lock()

    def summary(self, start: str | None, end: str | None, group_by: str) -> dict[str, Any]:
        key = GROUPS[group_by]
        where, params = [], []
        if start:
            where.append("created_at >= ?")
            params.append(start)
        if end:
            where.append("created_at < ?")
            params.append(end)
        sql = (
            f"SELECT {key} AS key, COUNT(*) AS jobs,"
            " SUM(coalesce(json_array_length(data, '$.images'), 0)) AS images,"
            " SUM(status = 'failed') AS failures,"
            " SUM(status IN ('queued', 'running')) AS pending,"
            " SUM(coalesce(json_extract(data, '$.cost_actual_usd'), 0)) AS cost,"
            " SUM(coalesce(json_extract(data, '$.cost_usd'), 0)) AS estimated,"
            " SUM(json_extract(data, '$.cost_usd') IS NULL) AS unpriced"
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
            "SELECT SUM(CASE WHEN status IN ('queued', 'running') THEN coalesce(json_extract(data, '$.cost_usd'), 0)"
            " ELSE coalesce(json_extract(data, '$.cost_actual_usd'), 0) END) AS spent FROM jobs WHERE created_at >= ?",
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

    def fits(self, cost: float | None, spent: float | None = None) -> bool:
        """Whether a job of ``cost`` stays within the month's budget (``spent`` so far, when known)."""
        if self.monthly_budget is None or not cost:
            return True
        spent = self.month_spend() if spent is None else spent
        return spent + cost <= self.monthly_budget + 1e-9

    def check(self, cost: float | None) -> None:
        """Refuse a paid job that would take the month over the budget."""
        if self.monthly_budget is None or not cost:
            return
        spent = self.month_spend()
        if not self.fits(cost, spent):
            raise BudgetExceeded(
                f"this job would cost about ${cost:.3f}; ${spent:.3f} of the monthly budget of "
                f"${self.monthly_budget:.2f} (ATELIER_MONTHLY_BUDGET_USD) is already spent or committed. "
                "Raise the budget, wait for next month, or use a free provider (offline, local tools).",
                self.monthly_budget,
                spent,
                cost,
            )
