"""Readers of other tools' metadata, one module per tool.

Each module declares ``READER`` (or ``READERS``): a :class:`~backend.storage.readers.base.Reader`
with its place in the order. A new tool is one new module here and its tests; nothing
else changes. :func:`all_readers` finds them once, in order.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from backend.storage.readers.base import Reader


@cache
def all_readers() -> tuple[Reader, ...]:
    """Every reader module's readers, lowest ``order`` first."""
    found: list[Reader] = []
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        found += getattr(module, "READERS", ())
        if (reader := getattr(module, "READER", None)) is not None:
            found.append(reader)
    return tuple(sorted(found, key=lambda r: r.order))
