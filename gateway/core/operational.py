"""Operational events: the gateway's own events about a company's webhooks and deliveries.

A company subscribes to them like to any other event, by naming them in a webhook's ``events``. They form
their own family (``gateway.*``), which tenants cannot post, and they follow three rules:

- **Named only.** They go to webhooks that list them by name; a webhook with empty ``events`` (all events)
  does not get them.
- **Who may hear about whom.** A webhook limited to projects hears about the webhooks whose projects are
  all among its own (the ones a project-admin of those projects may see); a company-wide one hears about
  every webhook of its company.
- **One generation deep.** Attempts of an operational event's delivery still count against the health of
  the webhook receiving it, but they never cause operational events themselves: no event about its
  exhaustion, its template error, or the health change it caused. So a failing receiver of operational
  events cannot feed itself, however it is subscribed.
- **Not about listen sessions.** The temporary webhooks of ``blue-gateway listen`` cause none either.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.webhook_object import iso

__all__ = [
    "DELIVERY_EXHAUSTED",
    "OPERATIONAL_DESCRIPTIONS",
    "OPERATIONAL_PREFIX",
    "TEMPLATE_ERROR",
    "WEBHOOK_DISABLED",
    "WEBHOOK_RECOVERED",
    "WEBHOOK_UNHEALTHY",
    "Notice",
    "Subject",
    "hears_about",
    "is_operational",
    "operational_envelope",
]

OPERATIONAL_PREFIX = "gateway."
WEBHOOK_UNHEALTHY = "gateway.webhook.unhealthy"
WEBHOOK_DISABLED = "gateway.webhook.disabled"
WEBHOOK_RECOVERED = "gateway.webhook.recovered"
DELIVERY_EXHAUSTED = "gateway.delivery.exhausted"
TEMPLATE_ERROR = "gateway.template.error"

OPERATIONAL_DESCRIPTIONS: Mapping[str, str] = {
    WEBHOOK_UNHEALTHY: "A webhook turned UNHEALTHY: its endpoint failed the number of attempts in a row that "
    "marks it so.",
    WEBHOOK_DISABLED: "The gateway disabled a webhook: its endpoint answered 410 Gone, or it kept failing with "
    "no success for the disable period. No new deliveries are made to it.",
    WEBHOOK_RECOVERED: "An UNHEALTHY webhook's endpoint accepted a delivery again: the webhook is HEALTHY.",
    DELIVERY_EXHAUSTED: "A delivery failed its last scheduled attempt and is given up (status failed).",
    TEMPLATE_ERROR: "A webhook's template failed to render an event: the delivery failed without being sent.",
}
"""Every operational event, with what it means."""


def is_operational(name: str) -> bool:
    """True for the gateway's own event names (``gateway.*``), which only the gateway may emit."""
    return name.startswith(OPERATIONAL_PREFIX)


@dataclass(frozen=True)
class Subject:
    """The webhook an operational event is about, as it is described to receivers (no secret, no URL path:
    a URL's path or query can be a credential, such as a Pabbly or Zapier hook token)."""

    id: str
    uid: str
    company_id: str
    name: str
    connector: str
    url: str
    project_ids: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        """The ``webhook`` object of the event: identity, connector, target host and projects."""
        parts = urllib.parse.urlsplit(self.url)
        return {
            "id": self.id,
            "uid": self.uid,
            "name": self.name,
            "connector": self.connector,
            "host": parts.hostname or "",
            "projectIds": list(self.project_ids),
        }


@dataclass(frozen=True)
class Notice:
    """One operational event to emit: its name, the webhook it is about, and what it reports."""

    name: str
    subject: Subject
    current: dict[str, Any]
    previous: dict[str, Any] | None = None


def operational_envelope(notice: Notice, event_id: str, now: float) -> dict[str, Any]:
    """The stored envelope of an operational event, shaped like any event's: the facts in ``currentValue``
    (``webhook`` and, per event, ``health`` and ``delivery``), the state before in ``previousValue``."""
    return {
        "id": event_id,
        "event": notice.name,
        "occurredAt": iso(now),
        "companyId": notice.subject.company_id,
        "projectId": None,
        "user": None,
        "previousValue": notice.previous,
        "currentValue": {"webhook": notice.subject.describe(), **notice.current},
    }


def hears_about(subscriber_projects: Collection[str], subject_projects: Collection[str]) -> bool:
    """May a webhook of ``subscriber_projects`` (empty: all) hear about one of ``subject_projects``?"""
    if not subscriber_projects:
        return True
    return bool(subject_projects) and set(subject_projects) <= set(subscriber_projects)
