"""Shared HTTP machinery of the cloud providers: settings, retries, error mapping, downloads.

Every cloud provider talks to its API over one ``requests.Session`` through
:class:`ApiClient`, which retries what is worth retrying (429, 5xx, connection errors,
timeouts) with exponential backoff and jitter, honouring the delay the API asks for
(``retry-after-ms``, ``Retry-After``, a body field such as Gemini's ``RetryInfo``), within
a bounded total time. Every retry is reported through ``ctx.status`` and cancellation is
honoured between attempts. Failures become :class:`ApiError` (a ProviderError) with a code
from the shared vocabulary and a message that says what to do, never containing the key.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import requests

from backend.env_values import check_http_url, env_int, env_number
from backend.providers.base import GenerationContext, GenerationRequest, Provider, ProviderError

log = logging.getLogger(__name__)

#: Codes retried automatically (the API may answer next time); all others fail at once.
TRANSIENT_CODES = frozenset({"rate_limited", "provider_unavailable", "timeout"})
BACKOFF_CAP_SECONDS = 30.0
DETAIL_CHARS = 300


@dataclass(frozen=True)
class HttpSettings:
    """The knobs of every cloud provider (documented in docs/notes/providers.md)."""

    connect_timeout: float = 10.0  # ATELIER_HTTP_CONNECT_TIMEOUT_SECONDS
    read_timeout: float = 180.0  # ATELIER_HTTP_TIMEOUT_SECONDS: longest silence while waiting for an answer
    retry_max_seconds: float = 120.0  # ATELIER_RETRY_MAX_SECONDS: total time spent retrying one request
    max_retries: int = 4  # ATELIER_RETRY_ATTEMPTS: retries after the first attempt
    backoff_seconds: float = 1.0  # ATELIER_RETRY_BACKOFF_SECONDS: first backoff delay, doubled each retry
    poll_interval: float = 2.0  # ATELIER_POLL_INTERVAL_SECONDS: between polls of an async task
    task_timeout: float = 600.0  # ATELIER_TASK_TIMEOUT_SECONDS: longest wait for an async task
    status_interval: float = 5.0  # ATELIER_STATUS_INTERVAL_SECONDS: "waiting for X (N s)" cadence
    max_download_bytes: int = 50 * 1024 * 1024  # ATELIER_MAX_DOWNLOAD_MB

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpSettings:
        return cls(
            connect_timeout=env_number(env, "ATELIER_HTTP_CONNECT_TIMEOUT_SECONDS", 10.0, minimum=0.001, maximum=600.0),
            read_timeout=env_number(env, "ATELIER_HTTP_TIMEOUT_SECONDS", 180.0, minimum=0.001, maximum=3600.0),
            retry_max_seconds=env_number(env, "ATELIER_RETRY_MAX_SECONDS", 120.0, minimum=0.0, maximum=3600.0),
            max_retries=env_int(env, "ATELIER_RETRY_ATTEMPTS", 4, minimum=0, maximum=20),
            backoff_seconds=env_number(env, "ATELIER_RETRY_BACKOFF_SECONDS", 1.0, minimum=0.0, maximum=60.0),
            poll_interval=env_number(env, "ATELIER_POLL_INTERVAL_SECONDS", 2.0, minimum=0.001, maximum=600.0),
            task_timeout=env_number(env, "ATELIER_TASK_TIMEOUT_SECONDS", 600.0, minimum=0.001, maximum=86400.0),
            status_interval=env_number(env, "ATELIER_STATUS_INTERVAL_SECONDS", 5.0, minimum=0.05, maximum=3600.0),
            max_download_bytes=int(
                env_number(env, "ATELIER_MAX_DOWNLOAD_MB", 50.0, minimum=0.001, maximum=4096.0) * 1024 * 1024
            ),
        )


class ApiError(ProviderError):
    """A provider failure. ``transient`` ones are retried; ``retry_after`` is the API's own delay."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        transient: bool | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(code, message, retryable=retryable)
        self.retry_after = retry_after
        self.transient = code in TRANSIENT_CODES if transient is None else transient

    def with_message(self, message: str) -> ApiError:
        return ApiError(
            self.code, message, retry_after=self.retry_after, transient=self.transient, retryable=self.retryable
        )


# --- reading what APIs say -------------------------------------------------------------
def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP-date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            try:
                when = parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


def parse_duration(text: Any) -> float | None:
    """A protobuf duration such as ``"37s"`` or ``"45.837906927s"`` in seconds."""
    if not isinstance(text, str):
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)s\s*", text)
    return float(match.group(1)) if match else None


def json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def short(text: Any, limit: int = DETAIL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_error(status: int, label: str, key_var: str, detail: str, retry_after: float | None = None) -> ApiError:
    """The shared mapping of an HTTP status to the error vocabulary."""
    said = f": {detail}" if detail else ""
    if status == 401:
        return ApiError("auth", f"{label} rejected the API key (HTTP 401){said}. Check {key_var}.")
    if status == 403:
        return ApiError(
            "auth",
            f"{label} refused access (HTTP 403){said}. Check that {key_var} is valid and allowed to use this model.",
        )
    if status == 402:
        return ApiError(
            "quota",
            f"{label} says the account is out of credits (HTTP 402){said}. Add credits or change plan, then retry.",
        )
    if status == 429:
        return ApiError(
            "rate_limited",
            f"{label} is rate limiting requests (HTTP 429){said}. Wait a minute and retry, or use fewer jobs at once.",
            retry_after=retry_after,
        )
    if status == 408:
        return ApiError("timeout", f"{label} timed out handling the request (HTTP 408). Retry later.")
    if status >= 500:
        return ApiError(
            "provider_unavailable",
            f"{label} is having trouble (HTTP {status}){said}. Retry later or pick another provider.",
            retry_after=retry_after,
        )
    if 400 <= status < 500:
        return ApiError("invalid_request", f"{label} refused the request (HTTP {status}){said}. Change the request.")
    return ApiError("bad_response", f"{label} answered with unexpected HTTP {status}{said}.", retryable=True)


IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def looks_like_image(data: bytes) -> bool:
    """PNG, JPEG or WebP by their magic bytes: a cheap guard against HTML or JSON bodies."""
    return data.startswith(IMAGE_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


# --- sending ---------------------------------------------------------------------------
class ApiClient:
    """Requests to one API with retries, progress messages and key-free errors."""

    def __init__(
        self,
        label: str,
        settings: HttpSettings,
        classify: Callable[[requests.Response], ApiError],
        secrets: tuple[str, ...] = (),
        base_url_var: str = "",
        session: requests.Session | None = None,
    ) -> None:
        self.label = label
        self.settings = settings
        self.classify = classify
        self.secrets = tuple(s for s in secrets if s)
        self.base_url_var = base_url_var
        self.session = session or requests.Session()
        self.sleep: Callable[[float], None] = time.sleep
        self.random: Callable[[], float] = random.random
        #: called with every delay before it is waited (tests record them here)
        self.on_wait: Callable[[float], None] | None = None

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def backoff(self, retry: int) -> float:
        """Exponential backoff with full jitter: uniform in [base*2^(n-1)/2, base*2^(n-1)]."""
        ceiling = min(BACKOFF_CAP_SECONDS, self.settings.backoff_seconds * 2 ** (retry - 1))
        return ceiling * (0.5 + 0.5 * self.random())

    def wait(self, seconds: float, ctx: GenerationContext) -> None:
        """Sleep ``seconds``, noticing a cancel within a tenth of a second."""
        if self.on_wait:
            self.on_wait(seconds)
        deadline = time.monotonic() + seconds
        while True:
            ctx.raise_if_cancelled()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sleep(min(left, 0.1))

    @contextmanager
    def waiting(self, ctx: GenerationContext, message: str) -> Iterator[None]:
        """Report ``message (N s)`` every status_interval while a request is outstanding."""
        start = time.monotonic()
        done = threading.Event()  # a green Event under eventlet's monkey patching

        def tick() -> None:
            while not done.wait(self.settings.status_interval):
                ctx.status(f"{message} ({time.monotonic() - start:.0f} s)")

        ticker = threading.Thread(target=tick, daemon=True, name="atelier-wait-status")
        ticker.start()
        try:
            yield
        finally:
            done.set()

    def request(
        self,
        method: str,
        url: str,
        ctx: GenerationContext,
        *,
        waiting: str | None = None,
        retry: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send with retries; a 2xx response, or ApiError. ``waiting`` is the status shown meanwhile."""
        started = time.monotonic()
        retries = 0
        while True:
            ctx.raise_if_cancelled()
            try:
                error = self._attempt(method, url, ctx, waiting, kwargs)
            except ApiError as exc:
                error = exc
            if isinstance(error, requests.Response):
                return error
            error = error.with_message(self.redact(error.message))
            if not (retry and error.transient):
                raise error
            retries += 1
            delay = error.retry_after if error.retry_after is not None else self.backoff(retries)
            spent = time.monotonic() - started
            if retries > self.settings.max_retries:
                raise error.with_message(f"{error.message} (gave up after {retries} attempts)")
            if spent + delay > self.settings.retry_max_seconds:
                asked = f"asked to wait {delay:.0f} s, " if error.retry_after is not None else ""
                raise error.with_message(
                    f"{error.message} ({self.label} {asked}over the retry budget of "
                    f"{self.settings.retry_max_seconds:g} s set by ATELIER_RETRY_MAX_SECONDS)"
                )
            reason = {"rate_limited": "rate limited", "timeout": "timed out"}.get(error.code, "unavailable")
            ctx.status(f"{self.label} {reason}; retry {retries} of {self.settings.max_retries} in {delay:.1f} s")
            log.info("%s: %s; retry %d in %.2f s", self.label, error.code, retries, delay)
            self.wait(delay, ctx)

    def _attempt(
        self, method: str, url: str, ctx: GenerationContext, waiting: str | None, kwargs: dict[str, Any]
    ) -> requests.Response | ApiError:
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        # Redirects are never followed blindly: requests drops Authorization on another host
        # but not other key headers (Gemini's x-goog-api-key). A caller that wants to follow
        # one asks to see it (allow_redirects=False) and checks where it goes.
        wants_redirect = kwargs.get("allow_redirects") is False
        kwargs = {**kwargs, "allow_redirects": False}
        try:
            if waiting:
                with self.waiting(ctx, waiting):
                    response = self.session.request(method, url, timeout=timeout, **kwargs)
            else:
                response = self.session.request(method, url, timeout=timeout, **kwargs)
        except requests.Timeout:
            return ApiError(
                "timeout",
                f"{self.label} did not answer within {self.settings.read_timeout:g} s "
                "(ATELIER_HTTP_TIMEOUT_SECONDS). Retry later or raise the timeout.",
            )
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            # the body was cut off: a retry could bill a second generation, so it is not automatic
            return ApiError(
                "bad_response",
                f"the answer from {self.label} was cut off before the end. Retry the job.",
                transient=False,
                retryable=True,
            )
        except requests.ConnectionError:
            host = urllib.parse.urlsplit(url).netloc
            where = f"; check your network or {self.base_url_var}" if self.base_url_var else ""
            return ApiError("provider_unavailable", f"could not connect to {self.label} at {host}{where}.")
        except requests.RequestException as exc:
            return ApiError("provider_unavailable", f"the request to {self.label} failed ({exc.__class__.__name__}).")
        if 200 <= response.status_code < 300 or (response.is_redirect and wants_redirect):
            return response  # a redirect the caller asked to see, to check where it goes
        if 300 <= response.status_code < 400:
            host = urllib.parse.urlsplit(response.headers.get("location", "")).netloc or "elsewhere"
            where = f" Check {self.base_url_var}." if self.base_url_var else ""
            response.close()
            return ApiError(
                "bad_response",
                f"{self.label} redirected the request to {short(host, 80)} (HTTP {response.status_code}); "
                f"redirects are not followed, so the key never goes to another host.{where}",
            )
        return self.classify(response)

    # --- reading answers ----------------------------------------------------------------
    def json(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise ApiError(
                "bad_response",
                f"{self.label} answered with something that is not JSON. Retry later.",
                retryable=True,
            ) from None
        if not isinstance(body, dict):
            raise ApiError("bad_response", f"{self.label} answered with unexpected JSON. Retry later.", retryable=True)
        return body

    def image_bytes(self, data: bytes, where: str) -> bytes:
        if len(data) > self.settings.max_download_bytes:
            raise ApiError(
                "bad_response",
                f"the image from {self.label} is over ATELIER_MAX_DOWNLOAD_MB "
                f"({self.settings.max_download_bytes // (1024 * 1024)} MB).",
            )
        if not looks_like_image(data):
            raise ApiError(
                "bad_response",
                f"{self.label} returned {where} that is not a PNG, JPEG or WebP image. Retry later.",
                retryable=True,
            )
        return data


# --- safe downloads of result URLs -----------------------------------------------------
def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_download_url(url: str, allow_loopback: bool) -> None:
    """Refuse URLs the server must not fetch on an API's say-so (server-side request forgery).

    Only http(s); every address the host resolves to must be public. Loopback is allowed
    only when ``allow_loopback`` (the API itself was configured on a loopback address, as a
    local fake in tests is): private, link-local (cloud metadata) and other special ranges
    never are.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError("bad_response", "the provider gave a result URL that is not http(s); it was not downloaded.")
    try:
        refused = forbidden_address(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), allow_loopback
        )
    except (socket.gaierror, UnicodeError):
        raise ApiError(
            "provider_unavailable", f"the result host {parts.hostname} could not be resolved. Retry later."
        ) from None
    if refused is not None:
        raise ApiError(
            "bad_response",
            f"the provider gave a result URL on a private or local address ({parts.hostname}); it was not downloaded.",
        )


def forbidden_address(
    host: str, port: int, allow_loopback: bool, allow_private: bool = False
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The first address ``host`` resolves to that the server must not call on someone's say-so
    (None: all are public): loopback unless ``allow_loopback``, private ranges unless
    ``allow_private``, and link-local (cloud metadata), multicast and other special ranges
    never. Raises socket.gaierror or UnicodeError when the host does not resolve."""
    for info in socket.getaddrinfo(host, port):
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address.is_loopback and (allow_loopback or allow_private):
            continue
        if allow_private and address.is_private and not (address.is_link_local or address.is_multicast):
            continue
        if not address.is_global or address.is_multicast:
            return address
    return None


class HttpProvider(Provider):
    """Base of the cloud providers: key and base URL from the env, one ApiClient."""

    key_vars: ClassVar[tuple[str, ...]] = ()
    base_url_var: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    default_concurrency = 2

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env)
        self.settings = HttpSettings.from_env(env)
        if self.base_url_var:
            check_http_url(self.base_url_var, self.base_url())
        self._client: ApiClient | None = None
        self._client_lock = threading.Lock()

    def api_key(self) -> str | None:
        for name in self.key_vars:
            value = (self.env.get(name) or "").strip()
            if value:
                return value
        return None

    def base_url(self) -> str:
        return ((self.env.get(self.base_url_var) or "").strip() or self.default_base_url).rstrip("/")

    def availability(self) -> tuple[bool, str | None]:
        if self.api_key():
            return True, None
        names = " or ".join(self.key_vars)
        return False, f"enter a key on the Providers page (or set {names} in the environment or .env) to use it"

    @property
    def client(self) -> ApiClient:
        with self._client_lock:
            if self._client is None:
                self._client = ApiClient(
                    self.label,
                    self.settings,
                    self.classify_error,
                    secrets=tuple(filter(None, (self.env.get(n, "").strip() for n in self.key_vars))),
                    base_url_var=self.base_url_var,
                )
            return self._client

    def post_per_image(
        self,
        request: GenerationRequest,
        ctx: GenerationContext,
        url: str,
        headers: dict[str, str],
        payload: Callable[[int], dict[str, Any]],
    ) -> Iterator[tuple[int, requests.Response]]:
        """One POST per image, for APIs that make one image a call: (index, response),
        with honest status messages and a cancel check before each call. ``payload(i)``
        gives the ``requests`` keyword arguments (``json=`` or ``files=``) of image i."""
        for index in range(request.n):
            ctx.raise_if_cancelled()
            which = f" image {index + 1} of {request.n}" if request.n > 1 else ""
            ctx.status(f"sending request to {self.label}{which}")
            response = self.client.request(
                "POST", url, ctx, waiting=f"waiting for {self.label}{which}", headers=headers, **payload(index)
            )
            yield index, response

    def probe(self) -> tuple[str, dict[str, str]] | None:
        """The cheapest call that proves the key works, a GET that costs nothing (listing
        models, reading the balance): (url, headers). None when the API offers none."""
        return None

    def require_key(self) -> str:
        key = self.api_key()
        if not key:
            raise ApiError("auth", self.availability()[1] or "no API key")
        return key

    def classify_error(self, response: requests.Response) -> ApiError:
        """Map a non-2xx answer; providers refine it with what their error bodies say."""
        return status_error(
            response.status_code,
            self.label,
            self.key_vars[0] if self.key_vars else "the API key",
            self.error_detail(response),
            parse_retry_after(response.headers),
        )

    def error_detail(self, response: requests.Response) -> str:
        body = json_or_none(response)
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict) and error.get("message"):
                return short(error["message"])
            if isinstance(error, str):
                return short(error)
        return ""


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
