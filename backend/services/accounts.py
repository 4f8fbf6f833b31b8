"""Accounts: users and roles, passwords, sign-in sessions, API keys and their scopes.

No user means no accounts: the studio is today's single-user studio (the web edge never
asks this service for anything but ``active``). The first admin switches accounts on.

Passwords are hashed with argon2id (argon2-cffi); an unknown user costs the same hash as
a wrong password and gets the same answer. API keys and session ids are high-entropy
secrets kept only as SHA-256 digests. Failed sign-ins are throttled per client and per
account (services/signin_throttle.py). Whatever ends a credential (sign-out, a revoked
key, a disabled or deleted user, a new password) is announced to ``on_revoke`` listeners,
so the web edge can close that credential's open sockets at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from backend.services.principal import ALL_SCOPES, Principal
from backend.services.signin_throttle import SignInThrottle
from backend.storage.account_store import (
    AccountStore,
    KeyRecord,
    LastAdmin,
    NameTaken,
    SessionRecord,
    UserRecord,
)

log = logging.getLogger(__name__)

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
#: fullmatch, never match: "$" also matches before a final newline ("bob\n")
_NAME = re.compile(NAME_PATTERN)
#: names that are folders the studio itself uses in the gallery (a day's folder, imports) or
#: no folder at all on Windows: a user named so would own the studio's images, or have none
_DAY_FOLDER = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
RESERVED_NAMES = frozenset(
    ["imported", "con", "prn", "aux", "nul"] + [f"{kind}{n}" for kind in ("com", "lpt") for n in range(1, 10)]
)
ROLES = ("admin", "member")
NAME_RULE = "{field} must be 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter or digit"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_KEY_NAME = 100
MAX_KEYS_PER_USER = 100
#: sign-ins kept per user (the oldest end first): one password cannot grow the database without end
MAX_SESSIONS_PER_USER = 50
#: argon2id hashes at once (each holds 64 MiB while it runs): the rest wait their turn
HASHES_AT_ONCE = 4
MAX_BUDGET_USD = 1_000_000.0
KEY_PREFIX = "atl_"
#: how many characters of a key are kept to show which key it is (``atl_`` + 8)
SHOWN_PREFIX = len(KEY_PREFIX) + 8
SESSION_SECONDS = 30 * 24 * 3600
#: a key's last use is written at most this often (each use would be a write otherwise)
TOUCH_SECONDS = 60.0
#: what each role may do; a key's scopes are cut down to its user's role when it is used
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": ALL_SCOPES,
    "member": frozenset({"generate", "gallery:read", "gallery:write"}),
}


class AccountError(Exception):
    """A request the accounts cannot honour: an HTTP status, a code, a message, the field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


class TooManyAttempts(AccountError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "too_many_attempts", f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Revocation:
    """What stopped working: every credential of a user, one key, or one session."""

    user_id: str | None = None
    key_id: str | None = None
    session_hash: str | None = None


@dataclass(frozen=True)
class SignedIn:
    user: UserRecord
    #: the cookie's value (shown once, stored only as its digest)
    session_id: str
    csrf_token: str


@dataclass(frozen=True)
class SessionAuth:
    principal: Principal
    csrf_token: str
    session_hash: str


def _last_admin() -> AccountError:
    return AccountError(409, "last_admin", "the studio needs at least one enabled admin")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AccountError(422, "validation_error", NAME_RULE.format(field=field), field)
    if is_reserved(name):
        message = f"{field} is a folder the studio uses itself (a date, imported, a Windows device name)"
        raise AccountError(422, "validation_error", message, field)
    return name


def is_reserved(name: str) -> bool:
    return name in RESERVED_NAMES or bool(_DAY_FOLDER.fullmatch(name))


def check_password(password: Any, field: str = "password") -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(
            422, "validation_error", f"{field} must be text of {MIN_PASSWORD} to {MAX_PASSWORD} characters", field
        )
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise AccountError(422, "validation_error", f"{field} is not valid text", field) from None
    return password


def check_role(role: Any, field: str = "role") -> str:
    if role not in ROLES:
        raise AccountError(422, "validation_error", f"{field} must be one of {', '.join(ROLES)}", field)
    return role


def check_budget(value: Any, field: str = "monthly_budget_usd") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_BUDGET_USD:
        message = f"{field} must be null or a number from 0 to {MAX_BUDGET_USD:g}"
        raise AccountError(422, "validation_error", message, field)
    return float(value)


def check_scopes(scopes: Any) -> tuple[str, ...]:
    if not isinstance(scopes, list) or not scopes or len(scopes) > len(ALL_SCOPES):
        message = f"scopes must be a non-empty list of {', '.join(sorted(ALL_SCOPES))}"
        raise AccountError(422, "validation_error", message, "scopes")
    for scope in scopes:
        if scope not in ALL_SCOPES:
            raise AccountError(
                422, "validation_error", f"scopes: unknown scope; use {', '.join(sorted(ALL_SCOPES))}", "scopes"
            )
    return tuple(sorted(set(scopes)))


def user_json(user: UserRecord) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "monthly_budget_usd": user.monthly_budget_usd,
    }


def user_brief(user: UserRecord) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "role": user.role}


class Accounts:
    def __init__(
        self,
        store: AccountStore,
        throttle: SignInThrottle | None = None,
        run_blocking: Callable[..., Any] | None = None,
    ) -> None:
        self.store = store
        #: argon2 takes tens of milliseconds of CPU: under eventlet it runs in a real thread
        self._run: Callable[..., Any] = run_blocking or (lambda fn, *args: fn(*args))
        self.throttle = throttle or SignInThrottle()
        self.hasher = PasswordHasher()  # argon2id with the library's recommended parameters
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(HASHES_AT_ONCE)
        self.on_revoke: list[Callable[[Revocation], None]] = []

    # state ---------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Accounts are on once a user exists."""
        return self.store.has_users()

    def _revoked(self, revocation: Revocation) -> None:
        for listener in list(self.on_revoke):
            try:
                listener(revocation)
            except Exception:  # a listener's failure must not undo the revocation
                log.exception("a revocation listener failed")

    # users ---------------------------------------------------------------------------------

    def create_user(self, name: Any, password: Any, role: Any = "member", monthly_budget_usd: Any = None) -> UserRecord:
        user = self._new_user(name, password, role, monthly_budget_usd)
        try:
            self.store.add_user(user)
        except NameTaken:
            raise AccountError(409, "name_taken", "a user with this name exists already", "name") from None
        log.info("user %s added (%s)", user.name, user.role)
        return user

    def create_first_admin(self, name: Any, password: Any) -> UserRecord:
        user = self._new_user(name, password, "admin", None)
        if not self.store.add_first_user(user):
            raise AccountError(409, "setup_done", "the studio has users already; sign in instead")
        log.info("first admin %s added", user.name)
        return user

    def _new_user(self, name: Any, password: Any, role: Any, budget: Any) -> UserRecord:
        name = check_name(name)
        password = check_password(password) if password is not None else None
        return UserRecord(
            id=uuid.uuid4().hex,
            name=name,
            role=check_role(role),
            password_hash=self._hash(password) if password is not None else None,
            disabled=False,
            created_at=now_iso(),
            monthly_budget_usd=check_budget(budget),
        )

    def users(self) -> list[UserRecord]:
        return self.store.users()

    def user(self, user_id: str) -> UserRecord:
        user = self.store.user(user_id)
        if user is None:
            raise AccountError(404, "not_found", "no user with this id")
        return user

    def user_named(self, name: str) -> UserRecord:
        user = self.store.user_by_name(name)
        if user is None:
            raise AccountError(404, "not_found", f"no user named {name!r}")
        return user

    def update_user(
        self,
        user_id: str,
        *,
        role: Any = None,
        disabled: Any = None,
        password: Any = None,
        monthly_budget_usd: Any = ...,
    ) -> UserRecord:
        user = self.user(user_id)
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = check_role(role)
        if disabled is not None:
            if not isinstance(disabled, bool):
                raise AccountError(422, "validation_error", "disabled must be true or false", "disabled")
            values["disabled"] = disabled
        if password is not None:
            values["password_hash"] = self._hash(check_password(password))
        if monthly_budget_usd is not ...:
            values["monthly_budget_usd"] = check_budget(monthly_budget_usd)
        stays_admin = values.get("role", user.role) == "admin" and not values.get("disabled", user.disabled)
        removes_admin = user.role == "admin" and not user.disabled and not stays_admin
        if removes_admin and self.store.count_admins() <= 1:
            raise _last_admin()
        try:
            # checked again as the change is written: another admin may be demoted meanwhile
            self.store.update_user(user_id, keep_an_admin=removes_admin, **values)
        except LastAdmin:
            raise _last_admin() from None
        if values.get("disabled") or "password_hash" in values or "role" in values:
            if values.get("disabled") or "password_hash" in values:
                self.store.delete_sessions_of(user_id)
            # a disabled user's every credential stops; a new role changes what open sockets may do
            self._revoked(Revocation(user_id=user_id))
        return self.user(user_id)

    def delete_user(self, user_id: str) -> None:
        user = self.user(user_id)
        removes_admin = user.role == "admin" and not user.disabled
        if removes_admin and self.store.count_admins() <= 1:
            raise _last_admin()
        try:
            self.store.delete_user(user_id, keep_an_admin=removes_admin)
        except LastAdmin:
            raise _last_admin() from None
        log.info("user %s deleted", user.name)
        self._revoked(Revocation(user_id=user_id))

    # passwords and sessions ----------------------------------------------------------------

    def sign_in(self, username: Any, password: Any, client: str) -> SignedIn:
        """A new session for the right name and password; 401 ``invalid_credentials`` for
        anything else (the same answer for an unknown user), 429 after repeated failures."""
        name = username if isinstance(username, str) and len(username) <= 64 else ""
        wait = self.throttle.begin(client, name)  # counted as a failure until it succeeds
        if wait is not None:
            raise TooManyAttempts(wait)
        user = self.store.user_by_name(name) if _NAME.fullmatch(name) else None
        candidate = password if isinstance(password, str) and len(password) <= MAX_PASSWORD else ""
        if not self._verify(user, candidate) or user is None or user.disabled:
            raise AccountError(401, "invalid_credentials", "wrong user name or password")
        self.throttle.succeeded(name, client)
        return self.start_session(user)

    def _hash(self, password: str) -> str:
        with self._hashing:
            return self._run(self.hasher.hash, password.encode("utf-8", "surrogatepass"))

    def _matches(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password.encode("utf-8", "surrogatepass"))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _verify(self, user: UserRecord | None, password: str) -> bool:
        """Does ``password`` match? An unknown user (or one without a password: OpenID Connect)
        costs the same hash, against a dummy, so the time does not tell either apart."""
        stored = user.password_hash if user is not None and user.password_hash else self._dummy_hash
        with self._hashing:
            ok = self._run(self._matches, stored, password)
        if ok and user is not None and user.password_hash and self.hasher.check_needs_rehash(user.password_hash):
            self.store.update_user(user.id, password_hash=self._hash(password))
        return ok and user is not None and bool(user.password_hash)

    def start_session(self, user: UserRecord) -> SignedIn:
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = time.time()
        self.store.purge_sessions(now)
        self.store.add_session(SessionRecord(digest(session_id), user.id, csrf, now_iso(), now + SESSION_SECONDS))
        for ended in self.store.trim_sessions(user.id, MAX_SESSIONS_PER_USER):
            self._revoked(Revocation(session_hash=ended))
        return SignedIn(user, session_id, csrf)

    def session(self, session_id: str) -> SessionAuth | None:
        """The principal of a session cookie, or None (unknown, expired, signed out, disabled)."""
        if not session_id or len(session_id) > 200:
            return None
        record = self.store.session(digest(session_id))
        if record is None or record.expires_at < time.time():
            return None
        user = self.store.user(record.user_id)
        if user is None or user.disabled:
            return None
        principal = Principal(user.id, user.name, user.role, "session", scopes=ROLE_SCOPES[user.role])  # type: ignore[arg-type]
        return SessionAuth(principal, record.csrf_token, record.id_hash)

    def still_valid(self, principal: Principal, session_hash: str | None) -> bool:
        """Does the credential a socket was opened with still stand as it was (the session or
        key exists, the user is enabled, the role unchanged)? The studio's own are not checked."""
        if principal.user_id is None:
            return True
        user = self.store.user(principal.user_id)
        if user is None or user.disabled or user.role != principal.role:
            return False
        if principal.via == "key":
            return principal.key_id is not None and self.store.key(principal.key_id) is not None
        if session_hash is not None:
            record = self.store.session(session_hash)
            return record is not None and record.expires_at >= time.time()
        return True

    def sign_out(self, session_id: str) -> None:
        id_hash = digest(session_id)
        if self.store.delete_session(id_hash):
            self._revoked(Revocation(session_hash=id_hash))

    def oidc_user(self, identity: str, username: str, admin: bool) -> UserRecord:
        """The user an OpenID Connect identity (issuer and subject) signs in as: created on the
        first sign-in, a member (an admin with ``admin``), named after the provider's user name
        made folder-safe and unique."""
        user = self.store.user_by_subject(identity)
        if user is None:
            if not self.active:
                raise AccountError(409, "accounts_off", "create the studio's first admin before signing in this way")
            base = folder_safe(username)
            for n in range(1, 1000):
                suffix = "" if n == 1 else f"-{n}"
                record = UserRecord(
                    id=uuid.uuid4().hex,
                    name=base[: 32 - len(suffix)] + suffix,
                    role="admin" if admin else "member",
                    password_hash=None,
                    disabled=False,
                    created_at=now_iso(),
                    monthly_budget_usd=None,
                    oidc_subject=identity,
                )
                try:
                    self.store.add_user(record)
                except NameTaken:
                    user = self.store.user_by_subject(identity)  # the same person, signing in twice at once
                    if user is not None:
                        break
                    continue
                log.info("user %s added on first OpenID Connect sign-in (%s)", record.name, record.role)
                user = record
                break
            else:
                raise AccountError(409, "name_taken", "no free name for this user")
        if user.disabled:
            raise AccountError(403, "disabled", "this user is disabled")
        return user

    # API keys ------------------------------------------------------------------------------

    def create_key(
        self, owner: Principal, name: Any, scopes: Any, monthly_budget_usd: Any = None
    ) -> tuple[KeyRecord, str]:
        """A new key for ``owner`` (a signed-in user): the record and the secret, shown once."""
        if owner.user_id is None:
            raise AccountError(403, "forbidden", "API keys belong to users; sign in as one")
        if owner.via == "key" and not owner.is_admin:
            # a leaked key must not be able to mint a copy of itself that outlives its revocation
            raise AccountError(403, "forbidden", "a key cannot make keys; sign in to create one")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_KEY_NAME:
            raise AccountError(422, "validation_error", f"name must be text of 1 to {MAX_KEY_NAME} characters", "name")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise AccountError(422, "validation_error", "name is not valid text", "name") from None
        wanted = check_scopes(scopes)
        budget = check_budget(monthly_budget_usd)
        # a key never exceeds its user's role, nor (made with a key) the key it was made with
        beyond = set(wanted) - (ROLE_SCOPES[owner.role] & owner.scopes)
        if beyond:
            raise AccountError(403, "forbidden", f"you may not grant {', '.join(sorted(beyond))}", "scopes")
        if len(self.store.keys(owner.user_id)) >= MAX_KEYS_PER_USER:
            message = f"a user may have at most {MAX_KEYS_PER_USER} keys; revoke one first"
            raise AccountError(409, "too_many_keys", message)
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(
            id=uuid.uuid4().hex[:16],
            user_id=owner.user_id,
            name=name.strip(),
            prefix=secret[:SHOWN_PREFIX],
            scopes=wanted,
            created_at=now_iso(),
            last_used_at=None,
            monthly_budget_usd=budget,
        )
        self.store.add_key(record, digest(secret))
        log.info("API key %s (%s) added for user %s", record.id, record.prefix, owner.name)
        return record, secret

    def key_principal(self, secret: str) -> Principal | None:
        """The principal of an API key's secret, or None (unknown, revoked, user disabled)."""
        if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        record = self.store.key_by_hash(digest(secret))
        if record is None:
            return None
        user = self.store.user(record.user_id)
        if user is None or user.disabled:
            return None
        self._touch(record.id)
        scopes = frozenset(record.scopes) & ROLE_SCOPES[user.role]
        return Principal(user.id, user.name, user.role, "key", key_id=record.id, scopes=scopes)  # type: ignore[arg-type]

    def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._touched.get(key_id)
            if last is not None and now - last < TOUCH_SECONDS:
                return
            self._touched[key_id] = now
            if len(self._touched) > 10_000:
                self._touched = {k: v for k, v in self._touched.items() if now - v < TOUCH_SECONDS}
        self.store.touch_key(key_id, now_iso())

    def keys(self, principal: Principal, everyone: bool = False) -> list[KeyRecord]:
        if everyone:
            if not principal.is_admin:
                raise AccountError(403, "forbidden", "only admins may list everyone's keys")
            return self.store.keys()
        if principal.user_id is None:
            return []
        return self.store.keys(principal.user_id)

    def revoke_key(self, principal: Principal, key_id: str) -> None:
        record = self.store.key(key_id) if isinstance(key_id, str) and len(key_id) <= 64 else None
        if record is None or (record.user_id != principal.user_id and not principal.is_admin):
            raise AccountError(404, "not_found", "no key with this id")
        if principal.via == "key" and record.id != principal.key_id and not set(record.scopes) <= principal.scopes:
            # as with making keys: a (leaked) key may not undo what it could not have made
            message = "an API key may revoke itself and keys with no more scopes than its own"
            raise AccountError(403, "forbidden", message)
        self.store.delete_key(key_id)
        log.info("API key %s (%s) revoked", record.id, record.prefix)
        self._revoked(Revocation(key_id=key_id))

    def key_json(self, record: KeyRecord, users: dict[str, UserRecord] | None = None) -> dict[str, Any]:
        user = (users or {}).get(record.user_id) or self.store.user(record.user_id)
        return {
            "id": record.id,
            "name": record.name,
            "prefix": record.prefix,
            "scopes": list(record.scopes),
            "created_at": record.created_at,
            "last_used_at": record.last_used_at,
            "monthly_budget_usd": record.monthly_budget_usd,
            "user": {"id": record.user_id, "name": user.name if user else ""},
        }

    def keys_json(self, records: Iterable[KeyRecord]) -> list[dict[str, Any]]:
        users = {u.id: u for u in self.store.users()}
        return [self.key_json(r, users) for r in records]


def folder_safe(name: str) -> str:
    """A provider's user name as an Atelier name: lower case a-z 0-9 _ -, at most 32."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "-" for c in name.lower()).strip("-_")
    name = cleaned[:32].rstrip("-_") or "user"
    return name + "_" if is_reserved(name) else name


def principal_for(user: UserRecord, via: str = "session") -> Principal:
    return Principal(user.id, user.name, user.role, via, scopes=ROLE_SCOPES[user.role])  # type: ignore[arg-type]


__all__ = [
    "Accounts",
    "AccountError",
    "Revocation",
    "SessionAuth",
    "SignedIn",
    "TooManyAttempts",
    "folder_safe",
    "principal_for",
]
