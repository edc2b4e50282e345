"""What ``blue-gateway config`` prints: the effective settings with secrets masked, and retention."""

from __future__ import annotations

from dataclasses import fields
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.retention import RECEIPT_SECONDS, count_held
from gateway.settings import PREFIX, Settings

__all__ = ["MASK", "held_lines", "mask_url", "setting_lines"]

MASK = "****"
_SECRET_SETTINGS = frozenset({"secret_key"})
_URL_SETTINGS = frozenset({"database_url", "broker_url"})


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``****`` (the user name stays: it helps and is no secret)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _shown(name: str, value: object) -> str:
    if name in _SECRET_SETTINGS:
        return MASK if value else "(not set)"
    if name in _URL_SETTINGS:
        return mask_url(str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting_lines(settings: Settings) -> list[str]:
    """``BLUE_GATEWAY_<NAME>=<value>`` for every setting, in declaration order, secrets masked."""
    return [f"{PREFIX}{f.name.upper()}={_shown(f.name, getattr(settings, f.name))}" for f in fields(settings)]


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def retention_lines(settings: Settings) -> list[str]:
    """What retention keeps and for how long, in words."""
    kept = _duration(settings.retention)
    return [
        f"retention: delivered, failed and discarded deliveries and their attempts are kept {kept} after creation",
        f"retention: events are kept {kept}, and longer while a delivery of theirs is pending or delivering",
        f"retention: source duplicate-detection records are kept {_duration(RECEIPT_SECONDS)}",
    ]


async def held_lines(db: AsyncEngine) -> list[str]:
    """``held: <table>=<rows>`` for events, deliveries and attempts, counted now."""
    async with db.connect() as conn:
        counts = await count_held(conn)
    return [f"held: {name}={n}" for name, n in counts.items()]
