"""Finds providers: modules in this package and installed plugins.

A module of ``backend/providers/`` contributes every Provider subclass it defines with a
non-empty ``id``. An installed package contributes through the entry-point group
``atelier.providers`` (``myprovider = my_pkg.module:MyProvider``), so a third party adds a
provider without editing Atelier.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import threading
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points

from backend.providers.base import Provider

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "atelier.providers"
_INFRASTRUCTURE = {"base", "registry"}


def _builtin_classes() -> Iterable[type[Provider]]:
    package = importlib.import_module("backend.providers")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _INFRASTRUCTURE or info.name.startswith("_"):
            continue
        yield from _classes_in(f"backend.providers.{info.name}")


def _classes_in(module_name: str) -> Iterable[type[Provider]]:
    module = importlib.import_module(module_name)
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, Provider) and cls.id and cls.__module__ == module.__name__:
            yield cls


def _plugin_classes() -> Iterable[type[Provider]]:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception:  # a broken plugin must not stop the studio
            log.exception("provider plugin %s could not be loaded", ep.value)
            continue
        if inspect.isclass(cls) and issubclass(cls, Provider) and cls.id:
            yield cls
        else:
            log.warning("entry point %s is not an atelier Provider subclass", ep.value)


class ProviderRegistry:
    """The providers of one running studio, by id, in a stable order (offline first)."""

    def __init__(self, providers: Iterable[Provider]) -> None:
        self._swap = threading.Lock()
        self._providers: dict[str, Provider] = {}
        for provider in providers:
            if provider.id in self._providers:
                log.warning("provider id %r defined twice; keeping the first", provider.id)
                continue
            self._providers[provider.id] = provider

    @classmethod
    def discover(cls, env: Mapping[str, str], extra_modules: Iterable[str] = ()) -> ProviderRegistry:
        """Built-in providers, entry-point plugins, and the modules named in
        ``ATELIER_PROVIDER_MODULES`` (providers that live in a plain importable module)."""
        classes = [*_builtin_classes(), *_plugin_classes()]
        for name in extra_modules:
            classes.extend(_classes_in(name))
        classes.sort(key=lambda c: (c.id != "offline", c.id))
        return cls(c(env) for c in classes)

    def get(self, provider_id: str) -> Provider | None:
        return self._providers.get(provider_id)

    def replace(self, provider: Provider) -> None:
        """Put ``provider`` in the place of the one with its id (settings changed): callers
        that already hold the old one (a running job) keep it, the next ``get`` has this one."""
        with self._swap:
            if provider.id not in self._providers:
                raise KeyError(provider.id)
            self._providers = {**self._providers, provider.id: provider}

    def ids(self) -> list[str]:
        return list(self._providers)

    def __iter__(self):
        return iter(self._providers.values())
