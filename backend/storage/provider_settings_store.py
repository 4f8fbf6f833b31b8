"""The provider settings entered in the studio: one JSON file in the data folder.

``{"version": N, "providers": {id: {"values": {name: text}, "enabled": bool, "key":
{"token": <Fernet token>, "last4": "abcd", "set_at": iso}}}}``. The key is stored only as
its encrypted token (services/secret_box.py); its last four characters are kept apart to
be shown. Written whole to a temporary file and renamed over the old one (0600), so a
crash leaves the old or the new file, never half of one. ``version`` counts every save.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SETTINGS_FILE = "provider_settings.json"


class ProviderSettingsStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen = self._stamp()
        self._data: dict[str, Any] = self._load()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _fresh(self) -> None:
        """Read the file again when another process (a second web server on the same data
        folder) wrote it since: a save then starts from what is on disk, not from an old copy."""
        stamp = self._stamp()
        if stamp != self._seen:
            self._seen = stamp
            self._data = self._load()

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": 0, "providers": {}}
        except OSError as exc:
            log.warning("provider settings %s cannot be read (%s); starting without them", self.path, exc.strerror)
            return {"version": 0, "providers": {}}
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not (isinstance(data, dict) and isinstance(data.get("providers"), dict)):
            log.warning("provider settings %s are damaged; starting without them", self.path)
            return {"version": 0, "providers": {}}
        if not isinstance(data.get("version"), int):
            data["version"] = 0
        return data

    @property
    def version(self) -> int:
        with self._lock:
            self._fresh()
            return int(self._data["version"])

    def entry(self, provider_id: str) -> dict[str, Any]:
        """A copy of one provider's entry ({} when nothing was saved for it)."""
        with self._lock:
            self._fresh()
            found = self._data["providers"].get(provider_id)
            return json.loads(json.dumps(found)) if isinstance(found, dict) else {}

    def save(self, provider_id: str, entry: dict[str, Any]) -> int:
        """Replace one provider's entry; the new version."""
        with self._lock:
            self._fresh()
            data = {
                "version": int(self._data["version"]) + 1,
                "providers": {**self._data["providers"], provider_id: entry},
            }
            self._write(data)
            self._data = data
            self._seen = self._stamp()
            return int(data["version"])

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
