"""Identifiers: time-ordered so that ``ORDER BY id DESC`` is newest first and cursors are stable."""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id", "new_uid"]


def new_id(prefix: str) -> str:
    """``<prefix>_<12 hex of ms time><16 hex random>``: sortable by creation time."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def new_uid() -> str:
    """32 lowercase hex characters, like Blue's ``uid``."""
    return secrets.token_hex(16)
