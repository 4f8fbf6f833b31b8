"""Sign-in through an OpenID Connect provider: the authorization code flow with PKCE.

Authlib builds the authorization URL and exchanges the code (``OAuth2Session``); the ID
token's signature is checked against the provider's published keys (JWKS) and its
issuer, audience, expiry and nonce with joserfc (Authlib's JOSE library). The provider's
discovery document and keys are fetched on first use and kept; unknown key ids fetch the
keys again (the provider rotated them).

Nothing here knows about Flask: the web edge keeps the state, nonce and verifier in a
short-lived HttpOnly cookie and hands them back to :meth:`OidcClient.identity`.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from backend.oidc_config import OidcSettings

SCOPE = "openid profile email"
#: how long discovery and keys are kept before they are read again
CACHE_SECONDS = 3600.0
MAX_DOCUMENT_BYTES = 256 * 1024
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class OidcError(Exception):
    """The sign-in cannot finish; ``code`` says why in one word (it goes into the redirect)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LoginStart:
    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    preferred_username: str
    groups: tuple[str, ...]


class OidcClient:
    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self.label = settings.label
        self._lock = threading.Lock()
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    # the provider's documents ---------------------------------------------------------------

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = requests.get(url, timeout=self.settings.timeout_seconds, stream=True)
            body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
            response.close()
        except requests.RequestException as exc:
            message = f"the sign-in provider cannot be reached: {type(exc).__name__}"
            raise OidcError("provider_unreachable", message) from None
        if response.status_code != 200 or len(body) > MAX_DOCUMENT_BYTES:
            raise OidcError("provider_error", f"the sign-in provider answered {response.status_code}")
        try:
            value = requests.models.complexjson.loads(body)
        except ValueError:
            raise OidcError("provider_error", "the sign-in provider's answer is not JSON") from None
        if not isinstance(value, dict):
            raise OidcError("provider_error", "the sign-in provider's answer is not a JSON object")
        return value

    def discovery(self) -> dict[str, Any]:
        with self._lock:
            cached = self._discovery
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        document = self._get_json(self.settings.issuer + "/.well-known/openid-configuration")
        for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(name), str) or not document[name]:
                raise OidcError("provider_error", f"the provider's discovery document lacks {name}")
        if document["issuer"].rstrip("/") != self.settings.issuer:
            raise OidcError("provider_error", "the provider's discovery document names another issuer")
        with self._lock:
            self._discovery = (time.monotonic(), document)
        return document

    def _key_set(self, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys
        if not refresh and cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            keys = KeySet.import_key_set(self._get_json(self.discovery()["jwks_uri"]))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise OidcError("provider_error", "the provider's keys cannot be read") from None
        with self._lock:
            self._keys = (time.monotonic(), keys)
        return keys

    # the flow ------------------------------------------------------------------------------

    def _session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(
            self.settings.client_id,
            self.settings.client_secret,
            scope=SCOPE,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )

    def start(self, redirect_uri: str) -> LoginStart:
        """Where to send the browser, and what to keep until it comes back."""
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        with self._session(redirect_uri) as session:
            url, _ = session.create_authorization_url(
                self.discovery()["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
            )
        return LoginStart(url, state, nonce, verifier)

    def identity(self, redirect_uri: str, code: str, nonce: str, verifier: str) -> Identity:
        """Exchange the code and check the ID token: who signed in."""
        with self._session(redirect_uri) as session:
            try:
                token = session.fetch_token(
                    self.discovery()["token_endpoint"],
                    code=code,
                    code_verifier=verifier,
                    timeout=self.settings.timeout_seconds,
                )
            except OidcError:
                raise
            except Exception as exc:  # authlib raises its own OAuthError, requests its errors, json ValueError
                raise OidcError("provider_error", f"the code exchange failed: {type(exc).__name__}") from None
        id_token = token.get("id_token") if isinstance(token, dict) else None
        if not isinstance(id_token, str) or len(id_token) > 16_384:
            raise OidcError("invalid_token", "the provider sent no ID token")
        claims = self._verified_claims(id_token, nonce)
        username = claims.get("preferred_username") or claims.get("nickname") or claims.get("email") or ""
        groups = claims.get("groups")
        return Identity(
            issuer=self.settings.issuer,
            subject=str(claims["sub"])[:255],
            preferred_username=str(username).split("@")[0][:64] if isinstance(username, str) else "",
            groups=tuple(str(g)[:200] for g in groups[:100]) if isinstance(groups, list) else (),
        )

    def _verified_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            decoded = jwt.decode(id_token, self._key_set(), algorithms=ALGORITHMS)
        except (JoseError, ValueError):
            try:  # perhaps signed with a key the provider added since: read its keys again, once
                decoded = jwt.decode(id_token, self._key_set(refresh=True), algorithms=ALGORITHMS)
            except (JoseError, ValueError):
                raise OidcError("invalid_token", "the ID token's signature does not verify") from None
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": self.discovery()["issuer"]},
            aud={"essential": True, "value": self.settings.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise OidcError("invalid_token", f"the ID token is not for this sign-in ({type(exc).__name__})") from None
        return claims
