"""The operating system's file events for the gallery folder (watchdog: inotify on Linux,
FSEvents on macOS, ReadDirectoryChangesW on Windows), and the choice between them and polling.

Events do not arrive for changes made on another machine to a network share (NFS, SMB,
sshfs and other FUSE file systems): there the watcher polls. ``choose_watch_mode`` makes the
choice from ``ATELIER_WATCH_MODE`` and the folder's file system type (``/proc/mounts``).

watchdog runs its own OS threads. Under eventlet's monkey patching it is imported with the
standard library's original ``threading``, ``queue``, ``select``, ``time`` and ``os``, so its
threads are real ones that block no green thread; what they see reaches the watcher through
a callback that must be safe to call from any thread.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

# watchdog's inotify warns (on stderr, with its whole watch table) when a folder made under
# the watched tree is added a second time, a race it resolves itself: noise, not news
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)

#: file systems where another machine's changes raise no local file event
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "ncpfs",
        "davfs",
        "sshfs",
        "vboxsf",
        "prl_fs",
        "vmhgfs",
    }
)
_ORIGINALS = ("_thread", "threading", "queue", "select", "selectors", "time", "os", "socket")


@dataclass(frozen=True)
class WatchChoice:
    mode: str  # "events" | "poll"
    reason: str


def filesystem_type(path: Path, mounts: str) -> str | None:
    """The type of the file system ``path`` is on, from the text of ``/proc/mounts``."""
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].encode().decode("unicode_escape")  # \040 for a space
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, parts[2]
    return best_type


def is_network_filesystem(fstype: str | None) -> bool:
    return fstype is not None and (fstype in NETWORK_FILESYSTEMS or fstype.startswith("fuse."))


def read_mounts() -> str:
    try:
        with open("/proc/mounts", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def choose_watch_mode(setting: str, root: Path, mounts: str | None = None) -> WatchChoice:
    """``events`` or ``poll`` for the folder ``root``: ``setting`` (ATELIER_WATCH_MODE) when it
    is not ``auto``; else polling on a network file system, events elsewhere."""
    if setting == "poll":
        return WatchChoice("poll", "ATELIER_WATCH_MODE=poll")
    if setting == "events":
        return WatchChoice("events", "ATELIER_WATCH_MODE=events")
    fstype = filesystem_type(root, read_mounts() if mounts is None else mounts)
    if is_network_filesystem(fstype):
        return WatchChoice("poll", f"the folder is on a network file system ({fstype}): its events do not arrive")
    return WatchChoice("events", f"file events of the operating system ({fstype or 'local'} file system)")


@dataclass(frozen=True)
class _Watchdog:
    observers: ModuleType
    events: ModuleType
    inotify: ModuleType | None  # Linux only


_watchdog: _Watchdog | None = None


def _import_watchdog() -> _Watchdog:
    """watchdog's modules, with real OS threads. Under eventlet a copy of its own is
    imported with the original standard library (werkzeug's reloader may have imported
    watchdog already, green: that copy is left to it)."""
    global _watchdog
    if _watchdog is not None:
        return _watchdog
    patched = "eventlet.patcher" in sys.modules and sys.modules["eventlet.patcher"].is_monkey_patched("thread")
    saved: dict[str, ModuleType | None] = {}
    if patched:
        from eventlet import patcher

        names = [*_ORIGINALS, *(m for m in sys.modules if m == "watchdog" or m.startswith("watchdog."))]
        saved = {name: sys.modules.get(name) for name in names}
        for name in names:
            sys.modules.pop(name, None)
        for name in _ORIGINALS:
            sys.modules[name] = patcher.original(name)
    try:
        observers = importlib.import_module("watchdog.observers")
        events = importlib.import_module("watchdog.events")
        try:
            inotify: ModuleType | None = importlib.import_module("watchdog.observers.inotify")
        except (ImportError, OSError):
            inotify = None
    finally:
        if patched:
            for name in [m for m in sys.modules if m == "watchdog" or m.startswith("watchdog.")]:
                del sys.modules[name]
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module
    _watchdog = _Watchdog(observers, events, inotify)
    return _watchdog


#: on_change(path relative to the folder, still being written) from watchdog's thread
OnChange = Callable[[str, bool], None]


class FileEvents:
    """A recursive watch on ``root``. ``on_change`` gets each changed path (relative, '/'
    separators; a folder's path for a folder); ``on_lost`` is called when events were lost
    (the kernel's queue overflowed: everything must be looked at again) and
    ``on_unwatched`` when a new folder could not be watched (inotify's watch limit): from
    then on events are incomplete. All three are called from watchdog's thread."""

    def __init__(
        self, root: Path, on_change: OnChange, on_lost: Callable[[], None], on_unwatched: Callable[[str], None]
    ) -> None:
        self.root = os.path.realpath(root)
        self.on_change = on_change
        self.on_lost = on_lost
        self.on_unwatched = on_unwatched
        self._observer: Any = None

    def start(self) -> None:
        """Watch the folder (walks it to watch every sub-folder: run off the event loop).
        Raises OSError when events cannot be had (inotify's watch or instance limit)."""
        wd = _import_watchdog()
        events = wd.events
        observer = self._make_observer(wd)
        watched = [
            events.FileCreatedEvent,
            events.FileModifiedEvent,
            events.FileClosedEvent,
            events.FileDeletedEvent,
            events.FileMovedEvent,
            events.DirCreatedEvent,
            events.DirDeletedEvent,
            events.DirMovedEvent,
        ]
        handler = _handler(self, events)
        try:
            observer.schedule(handler, self.root, recursive=True, event_filter=watched)
            observer.start()
        except BaseException:
            try:
                observer.stop()
            except Exception:
                pass
            raise
        self._observer = observer

    def _make_observer(self, wd: _Watchdog) -> Any:
        """inotify's observer, told about lost events and unwatched folders; another
        platform's own observer as watchdog picks it."""
        inotify = wd.inotify
        if inotify is None or wd.observers.Observer is not inotify.InotifyObserver:
            return wd.observers.Observer()
        owner = self

        class Group(inotify.InotifyWatchGroup):  # type: ignore[misc, name-defined]
            def on_queue_overflow(self) -> None:
                super().on_queue_overflow()
                owner.on_lost()

            def _add_callback(self, path: bytes) -> None:
                super()._add_callback(path)
                if path not in self._active_callbacks_by_path and path != self.path and os.path.isdir(path):
                    owner.on_unwatched(os.fsdecode(path))

        class Emitter(inotify.InotifyEmitter):  # type: ignore[misc, name-defined]
            def on_thread_start(self) -> None:
                self._inotify = Group(
                    self._inotify_fd,
                    os.fsencode(self.watch.path),
                    is_recursive=self.watch.is_recursive,
                    event_mask=self.get_event_mask_from_filter(),
                    follow_symlink=self.watch.follow_symlink,
                )

        observer = inotify.InotifyObserver()
        observer._emitter_class = Emitter  # the same emitter, told about lost events and unwatched folders
        return observer

    def alive(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()

    def relative(self, path: str | bytes) -> str | None:
        text = os.fsdecode(path)
        if text == self.root:
            return ""
        if not text.startswith(self.root + os.sep):
            return None
        return text[len(self.root) + 1 :].replace(os.sep, "/")


def _handler(owner: FileEvents, events: ModuleType) -> Any:
    writing_kinds = (events.FileModifiedEvent,)

    class Handler(events.FileSystemEventHandler):  # type: ignore[misc, name-defined]
        def dispatch(self, event: Any) -> None:
            writing = isinstance(event, writing_kinds)
            for path in (event.src_path, getattr(event, "dest_path", "")):
                if path:
                    rel = owner.relative(path)
                    if rel is not None:
                        owner.on_change(rel, writing)

    return Handler()
