"""Reading Blue's nested values (records, lists, users, tags) into short display text for messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

__all__ = ["VALUE_CHARS", "dig", "iso_time", "one_line", "people", "person", "readable_time", "titles"]

VALUE_CHARS = 200
"""The longest detail value a message shows; longer text is cut with an ellipsis."""


def dig(value: Any, *path: str) -> Any:
    """Follow ``path`` through nested mappings; None as soon as a step is missing."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def one_line(value: Any, limit: int = VALUE_CHARS) -> str | None:
    """A one-line text of at most ``limit`` characters, or None when there is nothing worth showing."""
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    text = " ".join(str(value).split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _parse(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def readable_time(value: Any) -> str | None:
    """``2026-03-13T17:00:00.000Z`` -> ``13 Mar 2026 17:00 UTC``; text that is no date is shown as it came."""
    moment = _parse(value)
    if moment is None:
        return one_line(value)
    return f"{moment.day} {moment.strftime('%b %Y %H:%M')} UTC"


def iso_time(value: Any) -> str | None:
    """An RFC 3339 UTC timestamp (``2026-03-03T10:30:00.000Z``), or None when ``value`` is no date."""
    moment = _parse(value)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def person(user: Any) -> str | None:
    """A user's full name, else name, else email."""
    return one_line(dig(user, "fullName") or dig(user, "name") or dig(user, "email"), 80)


def people(users: Any) -> list[str]:
    """The names of a list of users, skipping those without one."""
    names = [person(u) for u in users] if isinstance(users, list) else []
    return [n for n in names if n]


def titles(items: Any, *path: str) -> list[str]:
    """The text at ``path`` in each item of a list (``titles(record["todoTags"], "tag", "title")``)."""
    found = [one_line(dig(i, *path)) for i in items] if isinstance(items, list) else []
    return [t for t in found if t]
