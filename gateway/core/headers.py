"""The header names the gateway sets itself, so neither a webhook's ``headers`` nor a template may set them."""

from __future__ import annotations

from typing import Final

__all__ = ["RESERVED_HEADERS", "RESERVED_PREFIX", "is_reserved_header"]

RESERVED_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "webhook-id",
        "webhook-signature",
        "webhook-timestamp",
        "x-blue-event",
        "x-hub-signature-256",
        "x-signature",
    }
)
"""Lower-case names: HTTP framing, ``content-type`` (a template sets it with ``contentType``), the gateway's
own ``user-agent`` and ``x-blue-event``, and the signature headers a receiver verifies."""
RESERVED_PREFIX: Final = "proxy-"
"""``Proxy-*`` headers would steer a proxy between the gateway and the receiver."""


def is_reserved_header(name: str) -> bool:
    """Whether ``name`` (any case) is a header the gateway sets and nobody may override."""
    lower = name.lower()
    return lower in RESERVED_HEADERS or lower.startswith(RESERVED_PREFIX)
