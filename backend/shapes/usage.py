"""Spend: the budget, usage reports and estimates."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

from backend.shapes.errors import Warning
from backend.shapes.jobs import JobKind


class Budget(TypedDict):
    monthly_budget_usd: float | None
    """ATELIER_MONTHLY_BUDGET_USD; null: none"""
    month_spend_usd: float
    remaining_usd: float | None


class UsageTotals(TypedDict):
    jobs: int
    images: int
    failures: int
    pending: int
    cost_usd: float
    estimated_usd: float
    unpriced_jobs: int


class UsageGroup(UsageTotals):
    key: str | None


class UserUsage(UsageTotals):
    user: str
    """the user's name"""
    budget: Budget
    """this calendar month: the user's own budget, else ATELIER_USER_MONTHLY_BUDGET_USD; null: none"""


class KeyUsage(UsageTotals):
    key_id: str
    name: str | None
    """the key's name; null once it is revoked"""
    user: str | None
    """whose key it is; null once it is revoked"""
    budget: Budget
    """this calendar month: the key's own budget; null: none"""


# functional form: "from" is a Python keyword
Usage = TypedDict(
    "Usage",
    {
        "from": str | None,
        "to": str | None,
        "group_by": Literal["provider", "model", "day", "kind"],
        "groups": list[UsageGroup],
        "totals": UsageTotals,
        "budget": Budget,
        "by_user": list[UserUsage],
        "by_key": list[KeyUsage],
    },
)


class Estimate(TypedDict):
    kind: JobKind
    provider: str
    model: str | None
    n: int
    cost_usd: float | None
    """null: the provider has no price for it"""
    priced: bool
    within_budget: bool
    budget: Budget
    warnings: list[Warning]
