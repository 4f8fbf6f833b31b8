"""Provider settings entered in the studio, handed to the scale-out workers through Redis.

The web server writes the settings every provider is built with (the studio's
environment variables for it, the key included, and whether it is on) to one Redis key,
encrypted with a Fernet key derived from the worker secret that web server and workers
already share, and bumps a version number. A worker reads the number before each job and
the settings only when it changed, so a save reaches the next job a worker takes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

STATE_KEY = "atelier:provider-settings"
VERSION_KEY = "atelier:provider-settings:version"


class ProviderSync:
    def __init__(self, redis: Redis, worker_secret: str) -> None:
        self.redis = redis
        digest = hashlib.sha256(b"atelier-provider-settings\0" + worker_secret.encode("utf-8")).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def publish(self, version: int, providers: dict[str, dict[str, Any]]) -> None:
        """``providers``: id -> {"env": {variable: value}, "enabled": bool}."""
        blob = self._fernet.encrypt(json.dumps({"version": version, "providers": providers}).encode("utf-8"))
        with self.redis.pipeline() as pipe:
            pipe.set(STATE_KEY, blob)
            pipe.set(VERSION_KEY, str(version))
            pipe.execute()

    def fetch(self, known: int | None) -> tuple[int, dict[str, dict[str, Any]]] | None:
        """The settings when their version is not ``known``; None when unchanged or absent."""
        try:
            raw = self.redis.get(VERSION_KEY)
            if raw is None or (known is not None and int(raw) == known):
                return None
            blob = self.redis.get(STATE_KEY)
        except (RedisError, ValueError) as exc:
            log.warning("provider settings could not be read from Redis (%s)", exc.__class__.__name__)
            return None
        if blob is None:
            return None
        try:
            state = json.loads(self._fernet.decrypt(blob))
        except (InvalidToken, ValueError):
            log.warning("provider settings in Redis were written with another worker secret; ignored")
            return None
        return int(state["version"]), state["providers"]
