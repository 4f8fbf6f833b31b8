"""Setting providers up from the studio: keys, base URLs and the other settings, at once.

``view`` answers what a provider is set to (never a key: whether one is set, where it
comes from, its last four characters and when it was set); ``update`` checks new values,
stores them (keys encrypted, services/secret_box.py), builds the provider again with them
and puts it in the registry, so the next job uses it and running jobs keep the one they
started with; ``test`` makes the provider's cheapest call (services/provider_probe.py).
A value the environment or ``.env`` sets wins and cannot be changed here.

Two saves at once: the last one wins. Every save bumps ``version`` (in its answer) and
sends ``providers.changed`` to everyone on the ``providers`` feed, so a page that saved
before sees that someone saved after it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.env_values import SettingsError, redact_url
from backend.providers.base import Provider
from backend.providers.http_api import HttpProvider, HttpSettings
from backend.providers.registry import ProviderRegistry
from backend.services.provider_fields import (
    CONCURRENCY,
    FieldProblem,
    SettingField,
    fields_of,
    parse_key,
    parse_value,
    set_in_env,
    takes_key,
    typed,
)
from backend.services.provider_overlay import SwitchedOff, configured
from backend.services.provider_probe import ProbeResult, probe
from backend.services.provider_sync import ProviderSync
from backend.services.secret_box import SecretBox, SecretUnavailable
from backend.storage.provider_settings_store import SETTINGS_FILE, ProviderSettingsStore

log = logging.getLogger(__name__)

_HTTP_DEFAULTS = HttpSettings()
_DEFAULTS: dict[str, Any] = {
    "timeout_seconds": _HTTP_DEFAULTS.read_timeout,
    "retries": _HTTP_DEFAULTS.max_retries,
    "models": [],
}
ENTER_AGAIN = "the key entered in the studio can no longer be read ({why}); enter it again"


class UnknownProvider(LookupError):
    pass


class ProviderSetup:
    def __init__(
        self,
        registry: ProviderRegistry,
        env: Mapping[str, str],
        data_dir: Path,
        secret_key: str | None,
        *,
        allow_private_urls: bool = False,
        env_concurrency: Mapping[str, int] | None = None,
        pool_limits: dict[str, int] | None = None,
        announce: Callable[[str, int], None] | None = None,
        sync: ProviderSync | None = None,
    ) -> None:
        self.registry = registry
        self.env = env
        self.allow_private_urls = allow_private_urls
        self.env_concurrency = dict(env_concurrency or {})
        #: the job pool's per-provider limits, changed in place (None: jobs run on workers)
        self.pool_limits = pool_limits
        self.announce = announce
        self.sync = sync
        self.classes: dict[str, type[Provider]] = {p.id: type(p) for p in registry}
        self.box = SecretBox.open(secret_key, data_dir)
        self.store = ProviderSettingsStore(data_dir / SETTINGS_FILE)
        self._lock = threading.Lock()
        #: the Redis settings version this web server's providers were last built from
        self._synced: int | None = None

    # --- start ---------------------------------------------------------------------------
    def start(self) -> None:
        """Build every provider that has settings saved in the studio; say in one line what
        cannot be read. Never raises: a provider whose saved settings fail keeps the
        environment's."""
        lost = [pid for pid in self.classes if self._stored_key(pid) is False]
        if self.box.problem:
            log.warning(
                "provider keys entered in the studio cannot be used: %s%s",
                self.box.problem,
                f"; enter them again for {', '.join(lost)}" if lost else "",
            )
        elif lost:
            log.warning(
                "provider keys entered in the studio for %s can no longer be read (%s was replaced); "
                "enter them again on the Providers page",
                ", ".join(lost),
                self.box.source,
            )
        for pid in self.classes:
            if self.store.entry(pid):
                try:
                    self._install(pid, self._build(pid, self.store.entry(pid)))
                except SettingsError as exc:
                    log.warning("provider %s: settings saved in the studio not used (%s)", pid, exc)
        # with Redis: the settings there are the last save of any web server; a server that
        # starts adopts them (the first one to start puts its own there)
        if self.sync is not None and not self.refresh():
            self._publish()

    # --- reading -------------------------------------------------------------------------
    def _cls(self, pid: str) -> type[Provider]:
        cls = self.classes.get(pid)
        if cls is None:
            raise UnknownProvider(pid)
        return cls

    def _stored_key(self, pid: str) -> str | bool | None:
        """The key entered in the studio; False when one is stored but cannot be read; None."""
        token = (self.store.entry(pid).get("key") or {}).get("token")
        if not isinstance(token, str):
            return None
        return self.box.decrypt(token) or False

    def _env_key(self, cls: type[Provider]) -> bool:
        return (
            isinstance(cls, type)
            and issubclass(cls, HttpProvider)
            and any(set_in_env(self.env, v) for v in cls.key_vars)
        )

    def _overlay(self, pid: str, entry: Mapping[str, Any]) -> dict[str, str]:
        cls = self._cls(pid)
        values = entry.get("values") or {}
        overlay = {
            f.var: str(values[f.name])
            for f in fields_of(cls)
            if f.var and f.name in values and not set_in_env(self.env, f.var)
        }
        token = (entry.get("key") or {}).get("token")
        if takes_key(cls) and isinstance(token, str) and not self._env_key(cls):
            key = self.box.decrypt(token)
            if key:
                overlay[cls.key_vars[0]] = key  # type: ignore[attr-defined]
        return overlay

    def _build(self, pid: str, entry: Mapping[str, Any]) -> Provider:
        return configured(self._cls(pid), self.env, self._overlay(pid, entry), entry.get("enabled", True) is not False)

    def view(self, pid: str) -> dict[str, Any]:
        cls = self._cls(pid)
        entry = self.store.entry(pid)
        values = entry.get("values") or {}
        provider = self.registry.get(pid)
        assert provider is not None
        inner = provider.inner if isinstance(provider, SwitchedOff) else provider
        settings: dict[str, Any] = {"enabled": not isinstance(provider, SwitchedOff)}
        sources: dict[str, str] = {}
        for f in fields_of(cls):
            settings[f.name], sources[f.name] = self._value(f, cls, inner, values)
        available, reason = provider.availability()
        answer: dict[str, Any] = {
            "provider": {"id": pid, "label": provider.label, "available": available, "reason": reason},
            "settings": settings,
            "sources": sources,
            "fields": [f.to_json() for f in fields_of(cls)],
            "takes_key": takes_key(cls),
            "key": self._key_view(cls, entry),
            "version": self.store.version,
        }
        local = getattr(inner, "setup_facts", None)
        if callable(local):
            answer["local"] = local()
        return answer

    def _value(
        self, f: SettingField, cls: type[Provider], inner: Provider, values: Mapping[str, Any]
    ) -> tuple[Any, str]:
        if f is CONCURRENCY:
            if cls.id in self.env_concurrency:
                return self.env_concurrency[cls.id], "environment"
            if "concurrency" in values:
                return int(values["concurrency"]), "studio"
            return cls.default_concurrency, "default"
        assert f.var is not None
        if set_in_env(self.env, f.var):
            text = self.env[f.var].strip()
            return (redact_url(text) if f.kind == "url" else typed(f, text)), "environment"
        if f.name in values:
            return typed(f, str(values[f.name])), "studio"
        if f.kind == "url":
            return getattr(cls, "default_base_url", ""), "default"
        return _DEFAULTS.get(f.name), "default"

    def _key_view(self, cls: type[Provider], entry: Mapping[str, Any]) -> dict[str, Any]:
        if not takes_key(cls):
            return {"set": False, "source": None, "last4": None, "set_at": None}
        if self._env_key(cls):
            return {"set": True, "source": "environment", "last4": None, "set_at": None}
        stored = entry.get("key") or {}
        if not stored:
            return {"set": False, "source": None, "last4": None, "set_at": None}
        view = {"set": True, "source": "studio", "last4": stored.get("last4"), "set_at": stored.get("set_at")}
        if self.box.decrypt(str(stored.get("token"))) is None:
            why = self.box.problem or "the secret that encrypted it was replaced"
            view.update(set=False, problem=ENTER_AGAIN.format(why=why))
        return view

    # --- changing ------------------------------------------------------------------------
    def update(self, pid: str, body: Any) -> dict[str, Any]:
        cls = self._cls(pid)
        if not isinstance(body, dict):
            raise FieldProblem("body", "the body must be a JSON object of settings")
        known = {f.name: f for f in fields_of(cls)}
        allowed = {*known, "enabled", *(("api_key",) if takes_key(cls) else ())}
        for name in body:
            if name not in allowed:
                raise FieldProblem(
                    str(name)[:64],
                    f"{str(name)[:64]!r} is not a setting of {cls.label}; use {', '.join(sorted(allowed))}",
                )
        with self._lock:
            entry = self.store.entry(pid)
            values = dict(entry.get("values") or {})
            if "api_key" in body:
                entry = self._with_key(cls, entry, body["api_key"])
            if "enabled" in body:
                if not isinstance(body["enabled"], bool):
                    raise FieldProblem("enabled", "enabled must be true or false")
                entry["enabled"] = body["enabled"]
            for name, f in known.items():
                if name not in body:
                    continue
                if f is CONCURRENCY and cls.id in self.env_concurrency or f.var and set_in_env(self.env, f.var):
                    raise FieldProblem(name, f"{name} is set by the environment (or .env); change it there", 409)
                if body[name] is None:
                    values.pop(name, None)
                else:
                    values[name] = parse_value(f, body[name], self.allow_private_urls)
            entry["values"] = values
            try:
                built = self._build(pid, entry)
            except SettingsError as exc:
                raise FieldProblem("settings", str(exc)) from None
            version = self.store.save(pid, entry)
            self._install(pid, built)
            self._publish()
        log.info("provider %s: settings saved in the studio (version %d)", pid, version)
        if self.announce:
            self.announce(pid, version)
        return self.view(pid)

    def _with_key(self, cls: type[Provider], entry: dict[str, Any], raw: Any) -> dict[str, Any]:
        if self._env_key(cls):
            names = " or ".join(cls.key_vars)  # type: ignore[attr-defined]
            raise FieldProblem("api_key", f"the key is set by the environment ({names}); change it there", 409)
        if raw is None:
            entry.pop("key", None)
            return entry
        key = parse_key(raw)
        try:
            token = self.box.encrypt(key)
        except SecretUnavailable as exc:
            raise FieldProblem(
                "api_key", f"keys cannot be stored: {exc}; fix it (or set ATELIER_SECRET_KEY) and restart", 409
            ) from None
        entry["key"] = {"token": token, "last4": key[-4:], "set_at": datetime.now(UTC).isoformat(timespec="seconds")}
        return entry

    def _install(self, pid: str, provider: Provider) -> None:
        self.registry.replace(provider)
        if self.pool_limits is None:
            return
        value = (self.store.entry(pid).get("values") or {}).get("concurrency")
        if pid in self.env_concurrency:
            return
        if value is None:
            self.pool_limits.pop(pid, None)
        else:
            self.pool_limits[pid] = int(value)

    def _publish(self) -> None:
        if self.sync is None:
            return
        providers = {
            pid: {"env": self._overlay(pid, entry), "enabled": entry.get("enabled", True) is not False}
            for pid in self.classes
            if (entry := self.store.entry(pid))
        }
        try:
            self.sync.publish(providers)
            self._synced = None  # read back on the next turn: another server may have saved too
        except Exception as exc:  # Redis down: the workers keep what they had, the studio goes on
            log.warning("provider settings not sent to the workers (%s)", exc.__class__.__name__)

    # --- other web servers (scale-out) -----------------------------------------------------
    def follow(self, spawn: Callable[..., Any], sleep: Callable[[float], None], interval: float = 1.0) -> None:
        """With Redis and several web servers: build the providers again when another web
        server saved settings (checked every ``interval`` seconds: one Redis GET)."""
        if self.sync is None:
            return

        def loop() -> None:
            while True:
                sleep(interval)
                try:
                    self.refresh()
                except Exception:  # Redis away: the next turn tries again
                    log.debug("provider settings: refresh from Redis failed", exc_info=True)

        spawn(loop)

    def refresh(self) -> bool:
        """Apply the settings in Redis when they changed since this server last did; True if so."""
        if self.sync is None:
            return False
        found = self.sync.fetch(self._synced)
        if found is None:
            return False
        with self._lock:
            self._synced, providers = found
            apply_synced(self.registry, self.classes, self.env, providers)
        return True

    # --- testing -------------------------------------------------------------------------
    def test(self, pid: str) -> ProbeResult:
        self._cls(pid)
        provider = self.registry.get(pid)
        assert provider is not None
        if isinstance(provider, SwitchedOff):
            return ProbeResult(False, "off", f"{provider.label} is turned off; turn it on to test it")
        return probe(provider)


def apply_synced(
    registry: ProviderRegistry,
    classes: Mapping[str, type[Provider]],
    env: Mapping[str, str],
    providers: Mapping[str, Any],
) -> None:
    """A worker's side: build its providers with the settings the web server sent."""
    for pid, cls in classes.items():
        state = providers.get(pid) or {"env": {}, "enabled": True}
        try:
            registry.replace(configured(cls, env, state.get("env") or {}, state.get("enabled", True) is not False))
        except SettingsError as exc:
            log.warning("provider %s: settings from the studio not used (%s)", pid, exc)
