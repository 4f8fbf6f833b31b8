"""The test button: the cheapest call a provider's API offers, told in plain words.

A GET that costs nothing (listing models, reading the balance; ``HttpProvider.probe``),
never a paid generation. The answer is one of: works, wrong key, no credit, cannot reach,
or what else the API said, in a sentence with no key in it. It is answered within the
provider's connect timeout plus its read timeout (at most ``MAX_WAIT_SECONDS`` each).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Literal

import requests

from backend.providers.base import Provider
from backend.providers.http_api import HttpProvider, json_or_none, short

Verdict = Literal["works", "wrong_key", "no_credit", "cannot_reach", "no_key", "off", "no_check", "failed"]
MAX_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    verdict: Verdict
    message: str

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "verdict": self.verdict, "message": self.message}


def probe(provider: Provider, session: requests.Session | None = None) -> ProbeResult:
    if not isinstance(provider, HttpProvider):
        ok, reason = provider.availability()
        return ProbeResult(ok, "works" if ok else "failed", "works: it runs here" if ok else (reason or "unavailable"))
    key = provider.api_key()
    if not key:
        return ProbeResult(False, "no_key", f"no key: enter a key for {provider.label} first")
    call = provider.probe()
    if call is None:
        return ProbeResult(
            False,
            "no_check",
            f"{provider.label} offers no free call to check a key; the key is saved and the next job uses it",
        )
    url, headers = call
    host = urllib.parse.urlsplit(url).netloc
    timeout = (
        min(provider.settings.connect_timeout, MAX_WAIT_SECONDS),
        min(provider.settings.read_timeout, MAX_WAIT_SECONDS),
    )
    try:
        response = (session or requests).get(url, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return ProbeResult(False, "cannot_reach", f"cannot reach {provider.label}: {host} did not answer in time")
    except requests.RequestException:
        return ProbeResult(False, "cannot_reach", f"cannot reach {provider.label} at {host}; check the base URL")
    return _verdict(provider, response, key)


def _verdict(provider: HttpProvider, response: requests.Response, key: str) -> ProbeResult:
    status = response.status_code
    label = provider.label
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if 200 <= status < 300:
        listed = body.get("data") or body.get("models") if isinstance(body, dict) else None
        count = f" ({len(listed)} models listed)" if isinstance(listed, list) else ""
        return ProbeResult(True, "works", f"works: {label} accepted the key{count}")
    if status in (401, 403):
        return ProbeResult(False, "wrong_key", f"wrong key: {label} refused it (HTTP {status})")
    if status == 402 or code == "insufficient_quota":
        return ProbeResult(False, "no_credit", f"no credit: {label} accepted the key but the account has no credit")
    if 300 <= status < 400:
        return ProbeResult(False, "cannot_reach", f"{label} redirected the check elsewhere; check the base URL")
    detail = provider.error_detail(response).replace(key, "[redacted]")
    said = f": {short(detail, 160)}" if detail else ""
    if status == 429:
        return ProbeResult(False, "failed", f"{label} is rate limiting (HTTP 429); try again in a minute{said}")
    if status >= 500:
        return ProbeResult(False, "cannot_reach", f"{label} is having trouble (HTTP {status}); try later{said}")
    return ProbeResult(False, "failed", f"{label} answered HTTP {status}{said}; check the base URL")
