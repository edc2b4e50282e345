"""Secrets at rest: AES-256-GCM with the key from ``BLUE_GATEWAY_SECRET_KEY`` or a generated key file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SecretBox", "SecretUnreadable", "load_or_create_key"]

_VERSION = b"\x01"


class SecretUnreadable(ValueError):
    """A stored secret cannot be decrypted: the key is not the one it was stored with."""

    detail = (
        "a stored secret cannot be decrypted; BLUE_GATEWAY_SECRET_KEY (or the key file "
        "beside the SQLite database) is not the key it was stored with"
    )

    def __init__(self) -> None:
        super().__init__(f"secret_unreadable: {self.detail}")


class SecretBox:
    """Encrypts and decrypts short secrets; the ciphertext carries a version byte and a random nonce."""

    def __init__(self, key_material: str) -> None:
        raw = key_material.strip()
        try:
            key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except ValueError:
            key = b""
        if len(key) != 32:
            # Any passphrase works: derive a 256-bit key from it.
            key = hashlib.sha256(raw.encode("utf-8")).digest()
        self._aead = AESGCM(key)
        self._key = key

    def subkey(self, purpose: str) -> bytes:
        """A 256-bit key for another use (such as signing cookies); it reveals nothing of this one."""
        return hmac.new(self._key, b"blue-gateway/" + purpose.encode("utf-8"), hashlib.sha256).digest()

    def encrypt(self, plaintext: str) -> bytes:
        """Ciphertext of ``plaintext`` (never equal to it, different on every call)."""
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode("utf-8"), None)

    def decrypt(self, blob: bytes) -> str:
        """The plaintext of a blob made by :meth:`encrypt`."""
        if not blob or blob[:1] != _VERSION:
            raise SecretUnreadable
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], None).decode("utf-8")
        except (InvalidTag, ValueError):
            raise SecretUnreadable from None


def load_or_create_key(path: Path) -> str:
    """Read the key file beside the SQLite database, creating it (mode 0600) on first start."""
    if path.exists():
        return path.read_text().strip()
    key = base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
