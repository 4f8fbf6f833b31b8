"""Sign-in through an OpenID Connect provider (``ATELIER_OIDC_*``): off unless an issuer is set.

Plain values only (standard library): :mod:`backend.config` reads them at start; a bad
one stops the start with one line naming it. The client secret stays on the server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from backend.env_values import SettingsError, check_http_url, env_number

_GROUP = re.compile(r"^[!-~][ -~]{0,199}$")


@dataclass(frozen=True)
class OidcSettings:
    #: ATELIER_OIDC_ISSUER: the provider's issuer URL ("" = OpenID Connect off)
    issuer: str = ""
    #: ATELIER_OIDC_CLIENT_ID / ATELIER_OIDC_CLIENT_SECRET: this studio's registration
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    #: ATELIER_OIDC_LABEL: what the sign-in page's button says
    label: str = "Sign in with SSO"
    #: ATELIER_OIDC_ADMIN_GROUP: a user whose ``groups`` claim holds it is created as an admin
    admin_group: str = ""
    #: ATELIER_OIDC_TIMEOUT_SECONDS: the longest wait for the provider (discovery, keys, token)
    timeout_seconds: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)


def load_oidc_settings(env: Mapping[str, str]) -> OidcSettings:
    issuer = (env.get("ATELIER_OIDC_ISSUER") or "").strip().rstrip("/")
    timeout = env_number(env, "ATELIER_OIDC_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=120.0)
    if not issuer:
        return OidcSettings(timeout_seconds=timeout)
    check_http_url("ATELIER_OIDC_ISSUER", issuer, "http(s)://issuer[/path], the provider's issuer URL")
    client_id = (env.get("ATELIER_OIDC_CLIENT_ID") or "").strip()
    secret = (env.get("ATELIER_OIDC_CLIENT_SECRET") or "").strip()
    if not client_id or not secret:
        raise SettingsError("ATELIER_OIDC_ISSUER is set: set ATELIER_OIDC_CLIENT_ID and ATELIER_OIDC_CLIENT_SECRET too")
    if not client_id.isprintable() or len(client_id) > 500 or not secret.isprintable() or len(secret) > 500:
        raise SettingsError("ATELIER_OIDC_CLIENT_ID, ATELIER_OIDC_CLIENT_SECRET: printable, at most 500 characters")
    label = (env.get("ATELIER_OIDC_LABEL") or "").strip() or OidcSettings.label
    if len(label) > 60 or not label.isprintable():
        raise SettingsError(f"ATELIER_OIDC_LABEL={label[:80]!r}; use printable text of at most 60 characters")
    group = (env.get("ATELIER_OIDC_ADMIN_GROUP") or "").strip()
    if group and not _GROUP.match(group):
        raise SettingsError("ATELIER_OIDC_ADMIN_GROUP: printable ASCII of at most 200 characters")
    return OidcSettings(issuer, client_id, secret, label, group, timeout)
