"""Who a request, a socket or a job acts for.

The web edge resolves every request and every socket to one ``Principal`` (the session
cookie, an API key, the shared token, or the studio's own loopback user) and the services
take it as a typed value: nothing below the edge looks at cookies or headers.

Without accounts (no user exists yet) every caller the edge lets in is the studio itself:
an admin with every scope and no owner, which is today's single-user studio unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["admin", "member"]
#: how the caller proved who it is: ``local`` a loopback client of a studio without a token
#: or accounts; ``open`` a remote client of a studio without a token that allows it;
#: ``token`` the shared ATELIER_TOKEN; ``session`` a signed-in browser (password or OpenID
#: Connect); ``key`` an API key; ``worker`` a scale-out worker's secret
Via = Literal["local", "open", "token", "session", "key", "worker"]
Scope = Literal["generate", "gallery:read", "gallery:write", "admin"]
ALL_SCOPES: frozenset[str] = frozenset({"generate", "gallery:read", "gallery:write", "admin"})


@dataclass(frozen=True)
class Principal:
    #: the account's id; None for the studio itself (no accounts, the shared token, a worker)
    user_id: str | None
    #: the account's name, which is also its gallery folder (``generated_images/<name>/``)
    name: str
    role: Role
    via: Via
    #: the API key used, when ``via == "key"``
    key_id: str | None = None
    #: what this caller may do: a key's scopes (never more than its user's role allows)
    scopes: frozenset[str] = field(default=ALL_SCOPES)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and "admin" in self.scopes

    @property
    def owner(self) -> str | None:
        """Whose work this caller's jobs and images are: the account name, None without accounts."""
        return self.name if self.user_id is not None else None

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def sees(self, owner: str | None) -> bool:
        """May this caller see work owned by ``owner`` (None: the studio's, top-level files)?
        Sharing through boards is decided by the board service, on top of this."""
        return self.is_admin or (owner is not None and owner == self.owner)

    @property
    def may_configure(self) -> bool:
        """May change the studio's settings (provider keys): an admin, or without accounts a
        loopback client or a holder of the shared token (not a remote client of an open studio)."""
        return self.is_admin and self.via != "open"


#: every caller of a studio without accounts
STUDIO = Principal(user_id=None, name="studio", role="admin", via="local")
