"""Encrypts what must be kept secret at rest (provider keys entered in the studio).

The key comes from ``ATELIER_SECRET_KEY`` when it is set, else from a secret file the
studio generates at its first start in the data folder (``secret.key``, permissions 0600).
Either is turned into a Fernet key (``cryptography``: AES-128-CBC and HMAC-SHA256, with a
timestamp) by SHA-256. Losing the secret loses what it encrypted: the README says to back
the file up.

A secret file that exists but cannot be read leaves the box closed: nothing is encrypted
or decrypted, the studio says so in one line and runs on (a new file is never written over
an unreadable one). A file that is gone is generated again; what the old one encrypted
can no longer be read and is reported as needing to be entered again.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

SECRET_FILE = "secret.key"


class SecretUnavailable(Exception):
    """The box is closed: its secret could not be read."""


def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode("utf-8")).digest()))


class SecretBox:
    def __init__(self, secret: str | None, *, source: str, problem: str | None = None, created: bool = False) -> None:
        self._fernet = _fernet(secret) if secret else None
        #: "ATELIER_SECRET_KEY" or the secret file's path
        self.source = source
        #: why the box is closed (None when it is open)
        self.problem = problem
        #: the secret file was generated at this start
        self.created = created

    @property
    def available(self) -> bool:
        return self._fernet is not None

    @classmethod
    def open(cls, secret_key: str | None, data_dir: Path) -> SecretBox:
        """The box of ``ATELIER_SECRET_KEY``, else of ``<data_dir>/secret.key`` (made when missing)."""
        if secret_key:
            return cls(secret_key, source="ATELIER_SECRET_KEY")
        path = data_dir / SECRET_FILE
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return cls._create(path)
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc.__class__.__name__
            return cls(None, source=str(path), problem=f"the secret file {path} cannot be read ({why})")
        if len(text) < 32:
            return cls(None, source=str(path), problem=f"the secret file {path} is damaged (too short)")
        return cls(text, source=str(path))

    @classmethod
    def _create(cls, path: Path) -> SecretBox:
        secret = secrets.token_urlsafe(32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secret + "\n")
        except FileExistsError:  # another process made it first: use theirs
            return cls.open(None, path.parent)
        except OSError as exc:
            return cls(None, source=str(path), problem=f"the secret file {path} cannot be written ({exc.strerror})")
        log.info("generated the secret file %s (0600): back it up with the data folder", path)
        return cls(secret, source=str(path), created=True)

    def encrypt(self, text: str) -> str:
        if self._fernet is None:
            raise SecretUnavailable(self.problem or "no secret")
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str | None:
        """The text, or None when this secret did not encrypt it (the secret changed)."""
        if self._fernet is None:
            return None
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            return None
