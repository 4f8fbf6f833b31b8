"""Provider settings entered in the studio, handed to the scale-out workers through Redis.

The web server writes the settings every provider is built with (the studio's
environment variables for it, the key included, and whether it is on) to one Redis key,
encrypted with a Fernet key derived from the worker secret that web server and workers
already share, and bumps a version number (one counter for every web server). A worker
reads the number before each job and the settings only when it changed, so a save reaches
the next job a worker takes.
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

    def publish(self, providers: dict[str, dict[str, Any]]) -> None:
        """``providers``: id -> {"env": {variable: value}, "enabled": bool}. The settings and a
        new version number are written in one transaction, so the latest number goes with the
        latest settings even when two web servers save at once."""
        blob = self._fernet.encrypt(json.dumps(providers).encode("utf-8"))
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(STATE_KEY, blob)
            pipe.incr(VERSION_KEY)
            pipe.execute()

    def fetch(self, known: int | None) -> tuple[int, dict[str, dict[str, Any]]] | None:
        """(version, settings) when the version is not ``known``; None when unchanged or absent.
        A save between the two reads leaves the older number with the newer settings: the next
        fetch reads them again, nothing is missed."""
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
            providers = json.loads(self._fernet.decrypt(blob))
        except (InvalidToken, ValueError):
            log.warning("provider settings in Redis were written with another worker secret; ignored")
            return None
        return int(raw), providers
