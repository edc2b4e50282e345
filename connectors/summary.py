"""A human summary of any Blue event (headline, title, project, who, details, a link back to Blue).

Chat and automation connectors hand it to their templates as ``summary``, so a Slack, Discord or Teams
template only lays it out. It is built from the stored event alone and never fails: a value that is not
there is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.base import DeliveryContext
from connectors.blue_values import dig, iso_time, one_line, people, person, titles
from connectors.changes import changed_fields, details, newly
from connectors.wording import wording_for
from gateway.core.operational import (
    DELIVERY_EXHAUSTED,
    TEMPLATE_ERROR,
    WEBHOOK_DISABLED,
    WEBHOOK_RECOVERED,
    WEBHOOK_UNHEALTHY,
)

__all__ = ["DEFAULT_BLUE_URL", "EventSummary", "summarize"]

DEFAULT_BLUE_URL = "https://app.blue.cc"
"""Where links back to Blue point unless a webhook's ``blueUrl`` option says otherwise."""

TITLE_CHARS = 180
EXCERPT_CHARS = 300
MAX_DETAILS = 8
_COLORS = {"created": "#22c55e", "deleted": "#ef4444", "updated": "#3b82f6", "system": "#64748b"}
_KINDS = {"record": "record", "list": "list", "custom field": "custom field", "tag": "tag", "comment": "comment"}


@dataclass(frozen=True)
class EventSummary:
    """The parts of a message; ``as_dict()`` is what templates see as ``summary``."""

    heading: str
    headline: str
    action: str
    kind: str
    title: str | None = None
    actor: str | None = None
    project: str | None = None
    link: str | None = None
    excerpt: str | None = None
    timestamp: str | None = None
    details: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for templates; ``color`` is ``#rrggbb`` text and ``colorValue`` the same as a number."""
        color = _COLORS[self.action]
        return {
            "heading": self.heading,
            "headline": self.headline,
            "action": self.action,
            "kind": self.kind,
            "title": self.title,
            "actor": self.actor,
            "project": self.project,
            "link": self.link,
            "excerpt": self.excerpt,
            "timestamp": self.timestamp,
            "color": color,
            "colorValue": int(color[1:], 16),
            "details": [{"label": label, "value": value} for label, value in self.details],
        }


def _project(value: Any) -> Any:
    """The project object nested in a record, list, tag, custom field, checklist or comment."""
    for path in (("todoList", "project"), ("project",), ("todo", "todoList", "project")):
        found = dig(value, *path)
        if isinstance(found, Mapping):
            return found
    return None


def _link(project: Any, blue_url: str | None) -> str | None:
    """Blue's project page: ``<blueUrl>/company/<company slug>/project/<project slug>``."""
    company, slug = dig(project, "company", "slug"), dig(project, "slug")
    if not blue_url or not isinstance(company, str) or not isinstance(slug, str) or not company or not slug:
        return None
    return f"{blue_url.rstrip('/')}/company/{company}/project/{slug}"


def _fills(name: str, group: str, kind: str, value: Any, after: Any, before: Any) -> dict[str, str]:
    """The words that go into the headline's placeholders."""
    title = one_line(dig(value, "name") if group == "custom field" else dig(value, "title"), TITLE_CHARS)
    record_title = one_line(dig(value, "todo", "title"), TITLE_CHARS)
    removed = "REMOVED" in name
    users_after, users_before = people(dig(after, "users")), people(dig(before, "users"))
    tags_after = titles(dig(after, "todoTags"), "tag", "title")
    tags_before = titles(dig(before, "todoTags"), "tag", "title")
    new_list = one_line(dig(after, "todoList", "title"))
    return {
        "object": "a comment" if group == "comment" else f"{kind} “{title}”" if title else f"a {kind}",
        "record": f"record “{record_title}”" if record_title else "a record",
        "list": f"“{new_list}”" if new_list else "another list",
        "people": ", ".join(newly(users_before, users_after) if removed else newly(users_after, users_before))
        or "someone",
        "tags": ", ".join(newly(tags_before, tags_after) if removed else newly(tags_after, tags_before))
        or "a tag",
        "fields": ", ".join(changed_fields(before, after)) or "a custom field",
    }


def _action(name: str) -> str:
    if name.endswith(("_CREATED", "_ADDED")):
        return "created"
    if name.endswith(("_DELETED", "_REMOVED")):
        return "deleted"
    return "updated"


def _actor(event: DeliveryContext, group: str, value: Any) -> str | None:
    """Who did it: the event's user, else the comment's author, else a new record's creator."""
    found = person(event.user)
    if found is None and group == "comment":
        found = person(dig(value, "user"))
    if found is None and event.event == "TODO_CREATED":
        found = person(dig(value, "createdBy"))
    return found


_GATEWAY_WORDING = {
    WEBHOOK_UNHEALTHY: (
        "Webhook unhealthy",
        "Webhook {webhook} is unhealthy: {failures} failed attempts in a row",
    ),
    WEBHOOK_DISABLED: ("Webhook disabled", "Webhook {webhook} was disabled ({reason})"),
    WEBHOOK_RECOVERED: ("Webhook recovered", "Webhook {webhook} delivers again and is healthy"),
    DELIVERY_EXHAUSTED: (
        "Delivery failed",
        "A {event} delivery to webhook {webhook} failed after {attempt} attempts",
    ),
    TEMPLATE_ERROR: ("Template error", "The template of webhook {webhook} failed to render a {event} event"),
}


def _gateway_summary(event: DeliveryContext) -> EventSummary:
    """The gateway's own events: which webhook, what happened to it, and the attempt's error."""
    value = event.current_value if isinstance(event.current_value, Mapping) else {}
    name = one_line(dig(value, "webhook", "name"), TITLE_CHARS) or one_line(dig(value, "webhook", "id"))
    error = one_line(dig(value, "delivery", "error"), EXCERPT_CHARS)
    heading, phrase = _GATEWAY_WORDING.get(event.event, ("Gateway event", "Webhook {webhook}: {name}"))
    headline = phrase.format(
        webhook=f"“{name}”" if name else "(unnamed)",
        failures=dig(value, "health", "consecutiveFailures") or "several",
        reason=dig(value, "health", "disabledReason") or "failing",
        event=one_line(dig(value, "delivery", "event")) or "an",
        attempt=dig(value, "delivery", "attempt") or "all its",
        name=event.event,
    )
    labelled = [
        ("Webhook", one_line(dig(value, "webhook", "id"))),
        ("Target", one_line(dig(value, "webhook", "host"))),
        ("Delivery", one_line(dig(value, "delivery", "id"))),
        ("Error", error),
    ]
    return EventSummary(
        heading=heading,
        headline=f"{headline}: {error}" if error else headline,
        action="system",
        kind="webhook",
        title=name,
        timestamp=iso_time(event.occurred_at),
        details=[(label, text) for label, text in labelled if text],
    )


def summarize(event: DeliveryContext, blue_url: str | None = DEFAULT_BLUE_URL) -> EventSummary:
    """The summary of one event, for every catalog family, the health check and unknown names alike."""
    after, before = event.current_value, event.previous_value
    value = after if isinstance(after, Mapping) else before if isinstance(before, Mapping) else {}
    name, group = event.event, event.group
    if name == "WEBHOOK_HEALTH_CHECK":
        return EventSummary(
            heading="Test message",
            headline="Blue Gateway test message: this webhook is connected.",
            action="system",
            kind="test",
            timestamp=iso_time(event.occurred_at),
        )
    if group == "gateway":
        return _gateway_summary(event)
    if group == "checklist":
        kind = "checklist item" if "_ITEM" in name else "checklist"
    else:
        kind = _KINDS.get(group, "item")
    wording = wording_for(name, bool(dig(after, "done")))
    actor = _actor(event, group, value)
    own_title = one_line(dig(value, "name") if group == "custom field" else dig(value, "title"), TITLE_CHARS)
    project = _project(value)
    shows_text = group == "comment" or name == "TODO_CREATED"
    phrase = wording.phrase.format(**_fills(name, group, kind, value, after, before))
    return EventSummary(
        heading=wording.heading,
        headline=f"{actor or 'Someone'} {phrase}",
        action=_action(name),
        kind=kind,
        title=one_line(dig(value, "todo", "title"), TITLE_CHARS) if group == "comment" else own_title,
        actor=actor,
        project=one_line(dig(project, "name"), 100),
        link=_link(project, blue_url),
        excerpt=one_line(dig(value, "text"), EXCERPT_CHARS) if shows_text else None,
        timestamp=iso_time(event.occurred_at),
        details=details(name, group, value, after, before)[:MAX_DETAILS],
    )
