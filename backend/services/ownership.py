"""Whose work a job or an image is, and who may see it.

With accounts on, each user's images live in ``generated_images/<user>/...``: the folder
is the truth, so an image placed there by hand is that user's, and a file outside every
user folder (top level, a day folder from before accounts, ``imported/``) is the studio's,
seen by admins only. ``Principal.sees(owner)`` is the base rule; shared boards add to it
(services/boards.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Collection

from backend.services.principal import Principal

#: account names are folder names: lowercase letters, digits, '-' and '_' (the accounts contract)
USER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
#: the names of the accounts that exist now (empty without accounts)
UserNames = Callable[[], Collection[str]]


def no_users() -> Collection[str]:
    return ()


class CachedNames:
    """The account names, read at most once a ``ttl`` (every listed image and every gallery
    event asks; a user added by the CLI in another process shows within ``ttl`` seconds)."""

    def __init__(self, load: Callable[[], Collection[str]], ttl: float = 1.0) -> None:
        self._load, self._ttl = load, ttl
        self._names: frozenset[str] = frozenset()
        self._at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> frozenset[str]:
        with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                self._names, self._at = frozenset(self._load()), time.monotonic()
            return self._names


def folder_owner(relpath: str, users: Collection[str]) -> str | None:
    """The account whose folder holds ``relpath`` (a gallery path with '/'), else None."""
    first, sep, _ = relpath.partition("/")
    return first if sep and first in users else None


def owner_filter(viewer: Principal) -> str | None:
    """What a listing is narrowed to for ``viewer``: None for an admin (everything), else the
    viewer's own account name ("" for a non-admin without an account: nothing of anyone's)."""
    return None if viewer.is_admin else (viewer.owner or "")


def path_visible(viewer: Principal, relpath: str, shared: Callable[[], Collection[str]]) -> bool:
    """May ``viewer`` see the gallery file at ``relpath``: an admin all, a member the files in
    their own folder and those in a shared board (``shared()``: their paths)."""
    own = owner_filter(viewer)
    if own is None:
        return True
    return bool(own) and relpath.startswith(own + "/") or relpath in shared()
