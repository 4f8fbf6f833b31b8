"""A fake OpenID Connect provider: discovery, JWKS, authorize and token, with signed ID tokens.

``/authorize`` signs in whoever :attr:`FakeIssuer.user` is at once (no login page) and
redirects back with a code; ``/token`` checks the client's id and secret (HTTP Basic), the
code, the redirect URI and the PKCE verifier, and answers an RS256 ID token. The ``token``
route's script makes hostile tokens: ``wrong_audience``, ``wrong_nonce``, ``expired``,
``bad_signature`` (signed by another key), ``wrong_issuer``; the ``authorize`` route's
``deny`` answers ``error=access_denied``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes.base import FakeApi, Recorded, Reply


class FakeIssuer(FakeApi):
    def __init__(self, client_id: str = "atelier", client_secret: str = "fake-oidc-secret") -> None:
        super().__init__(key=client_secret)
        self.client_id, self.client_secret = client_id, client_secret
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "fake-1"}, private=True)
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "fake-1"}, private=True)
        #: who /authorize signs in: the ID token's claims besides iss/aud/exp/nonce
        self.user: dict[str, Any] = {"sub": "user-1", "preferred_username": "Ada.Lovelace"}
        self._codes: dict[str, dict[str, Any]] = {}
        self._codes_lock = threading.Lock()

    def handle(self, req: Recorded) -> Reply:
        if req.method == "GET" and req.path == "/.well-known/openid-configuration":
            return Reply.json(
                200,
                {
                    "issuer": self.url,
                    "authorization_endpoint": self.url + "/authorize",
                    "token_endpoint": self.url + "/token",
                    "jwks_uri": self.url + "/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        if req.method == "GET" and req.path == "/jwks":
            return Reply.json(200, {"keys": [self.signing_key.as_dict(private=False)]})
        if req.method == "GET" and req.path == "/authorize":
            return self._authorize(req)
        if req.method == "POST" and req.path == "/token":
            return self._token(req)
        return Reply.json(404, {"error": "not_found"})

    def _authorize(self, req: Recorded) -> Reply:
        q = {k: v[0] for k, v in req.query.items()}
        redirect_uri = q.get("redirect_uri", "")
        if self.behaviour("authorize") == "deny":
            query = urllib.parse.urlencode({"error": "access_denied", "state": q.get("state", "")})
            return Reply(302, b"", {"Location": f"{redirect_uri}?{query}"})
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return Reply.json(400, {"error": "invalid_request"})
        if (
            q.get("code_challenge_method") != "S256"
            or not q.get("code_challenge")
            or "openid" not in q.get("scope", "")
        ):
            return Reply.json(400, {"error": "invalid_request", "error_description": "PKCE S256 and openid needed"})
        code = secrets.token_urlsafe(16)
        with self._codes_lock:
            self._codes[code] = {**q, "user": dict(self.user)}
        query = urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
        return Reply(302, b"", {"Location": f"{redirect_uri}?{query}"})

    def _token(self, req: Recorded) -> Reply:
        auth = req.headers.get("authorization", "")
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if auth != f"Basic {expected}":
            return Reply.json(401, {"error": "invalid_client"})
        form = {k: v[0] for k, v in urllib.parse.parse_qs(req.body.decode()).items()}
        with self._codes_lock:
            grant = self._codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("grant_type") != "authorization_code":
            return Reply.json(400, {"error": "invalid_grant"})
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return Reply.json(400, {"error": "invalid_grant", "error_description": "redirect_uri differs"})
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if challenge.rstrip(b"=").decode() != grant["code_challenge"]:
            return Reply.json(400, {"error": "invalid_grant", "error_description": "PKCE verifier does not match"})
        behaviour = self.behaviour("token")
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.get("nonce", ""),
            **grant["user"],
        }
        key = self.signing_key
        if behaviour == "wrong_audience":
            claims["aud"] = "someone-else"
        elif behaviour == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif behaviour == "expired":
            claims["exp"] = now - 3600
        elif behaviour == "wrong_issuer":
            claims["iss"] = "http://evil.example"
        elif behaviour == "bad_signature":
            key = self.other_key
        id_token = jwt.encode({"alg": "RS256", "kid": "fake-1"}, claims, key)
        body = {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }
        return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
