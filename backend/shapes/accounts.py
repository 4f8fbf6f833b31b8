"""Accounts: users, sign-in sessions and API keys."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

Role = Literal["admin", "member"]
Scope = Literal["generate", "gallery:read", "gallery:write", "admin"]


class OidcInfo(TypedDict):
    label: str
    """what the sign-in page's button says (ATELIER_OIDC_LABEL)"""


class AuthInfo(TypedDict):
    accounts: bool
    """accounts are on: at least one user exists"""
    setup: bool
    """the first-run page is offered to this client (loopback, and no user yet)"""
    oidc: OidcInfo | None


class UserBrief(TypedDict):
    id: str
    name: str
    role: Role


class SessionStarted(TypedDict):
    user: UserBrief
    csrf_token: str
    """send it as X-CSRF-Token with every change this browser makes"""


class Me(TypedDict):
    user: UserBrief | None
    csrf_token: str | None
    accounts: bool


class User(TypedDict):
    id: str
    name: str
    role: Role
    disabled: bool
    created_at: str
    monthly_budget_usd: float | None


class UserEnvelope(TypedDict):
    user: User


class Users(TypedDict):
    users: list[User]


class KeyOwner(TypedDict):
    id: str
    name: str


class ApiKey(TypedDict):
    id: str
    name: str
    prefix: str
    """the key's first characters, to tell keys apart (the secret is never shown again)"""
    scopes: list[Scope]
    created_at: str
    last_used_at: str | None
    monthly_budget_usd: float | None
    user: KeyOwner


class KeyCreated(TypedDict):
    key: ApiKey
    secret: str
    """the key itself (atl_...): shown this once, stored only as a digest"""


class Keys(TypedDict):
    keys: list[ApiKey]
