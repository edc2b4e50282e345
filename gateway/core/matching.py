"""The in-memory matching index: event type -> candidate webhooks, per company."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["MatchIndex", "Subscription"]


class EnvelopeFilter(Protocol):
    """A compiled record filter."""

    def matches(self, envelope: Mapping[str, Any]) -> bool:
        """True when the event passes."""


@dataclass(frozen=True)
class Subscription:
    """What the index needs of one enabled webhook."""

    webhook_id: str
    company_id: str
    events: frozenset[str] = frozenset()
    project_ids: frozenset[str] = frozenset()
    filter: EnvelopeFilter | None = None
    version: int = 0

    def accepts(self, project_id: str | None, envelope: Mapping[str, Any]) -> bool:
        """Project and filter checks (the event type was checked by the index lookup)."""
        if self.project_ids and project_id not in self.project_ids:
            return False
        return self.filter is None or self.filter.matches(envelope)


@dataclass
class _CompanyIndex:
    by_event: dict[str, dict[str, Subscription]] = field(default_factory=dict)
    all_events: dict[str, Subscription] = field(default_factory=dict)


class MatchIndex:
    """Matching costs the candidates for an event's type, never a scan of every webhook."""

    def __init__(self) -> None:
        self._companies: dict[str, _CompanyIndex] = {}
        self._where: dict[str, Subscription] = {}

    def __len__(self) -> int:
        return len(self._where)

    def put(self, sub: Subscription) -> None:
        """Insert or replace a webhook's subscription."""
        self.remove(sub.webhook_id)
        idx = self._companies.setdefault(sub.company_id, _CompanyIndex())
        if sub.events:
            for name in sub.events:
                idx.by_event.setdefault(name, {})[sub.webhook_id] = sub
        else:
            idx.all_events[sub.webhook_id] = sub
        self._where[sub.webhook_id] = sub

    def remove(self, webhook_id: str) -> None:
        """Forget a webhook (deleted or disabled)."""
        old = self._where.pop(webhook_id, None)
        if old is None:
            return
        idx = self._companies[old.company_id]
        idx.all_events.pop(webhook_id, None)
        for name in old.events:
            bucket = idx.by_event.get(name)
            if bucket is not None:
                bucket.pop(webhook_id, None)
                if not bucket:
                    del idx.by_event[name]

    def version_of(self, webhook_id: str) -> int | None:
        """The indexed version of a webhook, or None when it is not indexed (disabled, deleted, unknown)."""
        sub = self._where.get(webhook_id)
        return None if sub is None else sub.version

    def replace_all(self, subs: Iterable[Subscription]) -> None:
        """Rebuild from a full load."""
        self._companies.clear()
        self._where.clear()
        for sub in subs:
            self.put(sub)

    def named(self, company_id: str, event: str) -> list[Subscription]:
        """Subscriptions of ``company_id`` that list ``event`` by name (all-events ones left out), in a stable
        order; their projects and filters are for the caller to apply."""
        idx = self._companies.get(company_id)
        bucket = idx.by_event.get(event) if idx is not None else None
        return sorted(bucket.values(), key=lambda s: s.webhook_id) if bucket else []

    def match(
        self, company_id: str, event: str, project_id: str | None, envelope: Mapping[str, Any]
    ) -> list[Subscription]:
        """Subscriptions of ``company_id`` that want this event, in a stable order."""
        idx = self._companies.get(company_id)
        if idx is None:
            return []
        found = [s for s in idx.all_events.values() if s.accepts(project_id, envelope)]
        bucket = idx.by_event.get(event)
        if bucket:
            found.extend(s for s in bucket.values() if s.accepts(project_id, envelope))
        found.sort(key=lambda s: s.webhook_id)
        return found
