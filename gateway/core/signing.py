"""Signatures of outbound deliveries and of Blue's own inbound webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = [
    "PREVIEW_SECRET",
    "SIGNING_SCHEMES",
    "generate_secret",
    "sign_blue",
    "sign_github",
    "sign_standard",
    "signing_key",
    "verify_blue",
]

SIGNING_SCHEMES = frozenset({"blue", "standard", "github"})
_WHSEC = "whsec_"

PREVIEW_SECRET = _WHSEC + base64.b64encode(b"blue-gateway-preview-signing-key").decode("ascii")
"""The fixed, public key previews sign with, so a preview never yields a signature a receiver would accept."""


def generate_secret() -> str:
    """A new webhook secret: ``whsec_`` + base64 of 32 random bytes."""
    return _WHSEC + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The Standard Webhooks key: base64-decoded part after ``whsec_``, else the secret's UTF-8 bytes."""
    if secret.startswith(_WHSEC):
        try:
            return base64.b64decode(secret[len(_WHSEC) :], validate=True)
        except ValueError:
            pass
    return secret.encode("utf-8")


def sign_blue(secret: str, body: bytes) -> str:
    """``X-Signature``: lowercase hex HMAC-SHA256 keyed by the secret's UTF-8 bytes, exactly as Blue signs."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign_github(secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` value."""
    return "sha256=" + sign_blue(secret, body)


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` Standard Webhooks signature over ``{id}.{timestamp}.{body}``."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_blue(secret: str, body: bytes, signature: str | None) -> bool:
    """Constant-time check of a Blue ``X-Signature`` header against the raw body."""
    if not signature:
        return False
    expected = sign_blue(secret, body)
    return hmac.compare_digest(expected, signature.strip().lower())
