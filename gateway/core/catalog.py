"""The event catalog: every Blue event type the gateway knows, with a realistic sample envelope.

The samples use Blue's nested record shape (record -> todoList -> project -> company) with one
fixed company (``company_1``), project (``project_1``) and lists (``list_1``, ``list_2``), so the
project id of every sample can be derived by :func:`derive_project_id`.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.operational import (
    DELIVERY_EXHAUSTED,
    OPERATIONAL_DESCRIPTIONS,
    TEMPLATE_ERROR,
    WEBHOOK_DISABLED,
    WEBHOOK_RECOVERED,
    WEBHOOK_UNHEALTHY,
    Notice,
    Subject,
    operational_envelope,
)

__all__ = [
    "CATALOG",
    "EVENT_TYPES",
    "HEALTH_CHECK",
    "OPERATIONAL_EVENT_TYPES",
    "SUBSCRIBABLE",
    "EventType",
    "derive_project_id",
    "get_event_type",
    "sample_event",
]


@dataclass(frozen=True)
class EventType:
    """One Blue event type: its name, catalog group, a human description and a sample envelope.

    ``sample`` is shared catalog data: treat it as read-only and use :func:`sample_event` for a copy.
    """

    name: str
    group: str
    description: str
    sample: dict[str, Any] = field(hash=False, repr=False)


# --- project id derivation -------------------------------------------------------

_PROJECT_ID_PATHS: tuple[tuple[str, ...], ...] = (
    ("todoList", "projectId"),
    ("todoList", "project", "id"),
    ("projectId",),
    ("project", "id"),
    ("todo", "todoList", "projectId"),
)


def _as_project_id(value: object) -> str | None:
    """Return ``value`` as a project id when it is a non-empty string or a finite number, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    return None


def _dig(value: object, path: tuple[str, ...]) -> object:
    """Follow ``path`` through nested mappings; None as soon as a step is missing."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def derive_project_id(envelope: Mapping[str, Any]) -> str | None:
    """Find an event's project id: top-level ``projectId``, else the first known path in the values.

    The paths (``todoList.projectId``, ``todoList.project.id``, ``projectId``, ``project.id``,
    ``todo.todoList.projectId``) are tried in order under ``currentValue``, then under
    ``previousValue``. Only non-empty strings and numbers (converted with ``str``) count.
    """
    explicit = _as_project_id(envelope.get("projectId"))
    if explicit is not None:
        return explicit
    for side in ("currentValue", "previousValue"):
        value = envelope.get(side)
        if not isinstance(value, Mapping):
            continue
        for path in _PROJECT_ID_PATHS:
            found = _as_project_id(_dig(value, path))
            if found is not None:
                return found
    return None


# --- sample building blocks ----------------------------------------------------------------------

_CREATED_AT = "2026-03-02T09:15:00.000Z"
_OCCURRED_AT = "2026-03-03T10:30:00.000Z"
_DUE_AT = "2026-03-13T17:00:00.000Z"
_DUE_AT_LATER = "2026-03-20T17:00:00.000Z"


def _uid(seed: str) -> str:
    """A stable 32-hex uid for a sample object, like the uids Blue gives its objects."""
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def _user(n: int, full_name: str) -> dict[str, Any]:
    """A Blue user as it appears among assignees."""
    email = full_name.lower().replace(" ", ".") + "@example.com"
    return {"id": f"user_{n}", "uid": _uid(f"user_{n}"), "fullName": full_name, "email": email}


_ACTOR = {"id": "user_1", "fullName": "Ada Lovelace", "email": "ada.lovelace@example.com"}
_ADA = _user(1, "Ada Lovelace")
_GRACE = _user(2, "Grace Hopper")

_COMPANY = {"id": "company_1", "uid": _uid("company_1"), "name": "Acme Corp", "slug": "acme-corp"}
_PROJECT = {
    "id": "project_1",
    "uid": _uid("project_1"),
    "name": "Website Relaunch",
    "slug": "website-relaunch",
    "companyId": "company_1",
    "company": _COMPANY,
}


def _todo_list(n: int, title: str, position: float) -> dict[str, Any]:
    """A todo list (a column of records) inside the sample project."""
    return {
        "id": f"list_{n}",
        "uid": _uid(f"list_{n}"),
        "title": title,
        "position": position,
        "projectId": "project_1",
        "project": _PROJECT,
    }


_LIST_TODO = _todo_list(1, "To do", 65535.0)
_LIST_DOING = _todo_list(2, "In progress", 131070.0)


def _tag(n: int, title: str, color: str) -> dict[str, Any]:
    """A tag as nested in a record's ``todoTags``."""
    return {"id": f"tag_{n}", "uid": _uid(f"tag_{n}"), "title": title, "color": color}


_TAG_URGENT = _tag(1, "urgent", "#ef4444")
_TAG_MARKETING = _tag(2, "marketing", "#3b82f6")

_CF_BUDGET = {"id": "custom_field_1", "uid": _uid("custom_field_1"), "name": "Budget", "type": "CURRENCY"}
_CF_PRIORITY = {
    "id": "custom_field_2",
    "uid": _uid("custom_field_2"),
    "name": "Priority",
    "type": "SELECT_SINGLE",
}


def _checklist_item(title: str = "Book the venue", **changes: Any) -> dict[str, Any]:
    """A checklist item as nested in a checklist (no back references)."""
    item = {
        "id": "checklist_item_1",
        "uid": _uid("checklist_item_1"),
        "title": title,
        "position": 65535.0,
        "done": False,
        "startedAt": None,
        "duedAt": _DUE_AT,
        "createdAt": _CREATED_AT,
        "updatedAt": _CREATED_AT,
        "users": [_ADA],
    }
    return item | changes


def _checklist_summary(title: str = "Launch prep") -> dict[str, Any]:
    """A checklist without its items or record, as referenced from an item."""
    return {"id": "checklist_1", "uid": _uid("checklist_1"), "title": title, "position": 65535.0}


def _record(*, with_checklists: bool = True, **changes: Any) -> dict[str, Any]:
    """The sample record (a Blue ``todo``), optionally with some fields changed."""
    record: dict[str, Any] = {
        "id": "todo_1",
        "uid": _uid("todo_1"),
        "title": "Prepare launch plan",
        "text": "Draft the launch plan and share it with the team.",
        "html": "<p>Draft the launch plan and share it with the team.</p>",
        "position": 65535.0,
        "startedAt": "2026-03-02T09:00:00.000Z",
        "duedAt": _DUE_AT,
        "timezone": "Europe/London",
        "color": None,
        "done": False,
        "archived": False,
        "commentCount": 1,
        "createdAt": _CREATED_AT,
        "updatedAt": _CREATED_AT,
        "createdBy": _ADA,
        "todoList": _LIST_TODO,
        "users": [_ADA],
        "todoTags": [{"tag": _TAG_URGENT}],
        "customFields": [
            {"customField": _CF_BUDGET, "value": 12500},
            {"customField": _CF_PRIORITY, "value": "High"},
        ],
    }
    if with_checklists:
        checklist = _checklist_summary() | {"checklistItems": [_checklist_item()]}
        record["checklists"] = [checklist]
    record.update(changes)
    return record


def _record_ref() -> dict[str, Any]:
    """The record as nested inside a checklist, checklist item or comment."""
    return _record(with_checklists=False)


def _checklist(title: str = "Launch prep") -> dict[str, Any]:
    """A checklist as carried by checklist events: its items and the record it belongs to."""
    return _checklist_summary(title) | {
        "createdAt": _CREATED_AT,
        "updatedAt": _CREATED_AT,
        "checklistItems": [_checklist_item()],
        "todo": _record_ref(),
    }


def _item_event_value(**changes: Any) -> dict[str, Any]:
    """A checklist item as carried by item events: with its checklist and record."""
    return _checklist_item(**changes) | {"checklist": _checklist_summary(), "todo": _record_ref()}


def _list_value(title: str = "In progress") -> dict[str, Any]:
    """A todo list as carried by list events."""
    return _LIST_DOING | {
        "title": title,
        "isDisabled": False,
        "isLocked": False,
        "completed": False,
        "createdAt": _CREATED_AT,
        "updatedAt": _CREATED_AT,
    }


def _custom_field_value(name: str = "Priority") -> dict[str, Any]:
    """A custom field definition as carried by custom field events."""
    return _CF_PRIORITY | {
        "name": name,
        "description": "How urgent the record is.",
        "position": 65535.0,
        "customFieldOptions": [
            {"id": "option_1", "uid": _uid("option_1"), "title": "High", "color": "#ef4444", "position": 1},
            {"id": "option_2", "uid": _uid("option_2"), "title": "Low", "color": "#22c55e", "position": 2},
        ],
        "createdAt": _CREATED_AT,
        "updatedAt": _CREATED_AT,
        "projectId": "project_1",
        "project": _PROJECT,
    }


def _tag_value(color: str = "#3b82f6") -> dict[str, Any]:
    """A tag as carried by tag events."""
    return _TAG_MARKETING | {
        "color": color,
        "createdAt": _CREATED_AT,
        "updatedAt": _CREATED_AT,
        "projectId": "project_1",
        "project": _PROJECT,
    }


def _comment_value(text: str = "Venue options are in the shared folder.") -> dict[str, Any]:
    """A comment on the sample record as carried by comment events."""
    return {
        "id": "comment_1",
        "uid": _uid("comment_1"),
        "text": text,
        "html": f"<p>{text}</p>",
        "category": "TODO",
        "categoryId": "todo_1",
        "createdAt": _CREATED_AT,
        "updatedAt": _CREATED_AT,
        "user": _ADA,
        "todo": _record_ref(),
    }


def _event(name: str, group: str, description: str, previous: Any, current: Any) -> EventType:
    """Build an EventType whose sample is a full, independent ``POST /v1/events`` envelope.

    For updates the changed object's ``updatedAt`` becomes the event time; ``previous`` keeps its own.
    """
    if previous is not None and current is not None:
        current = current | {"updatedAt": _OCCURRED_AT}
    sample = {
        "event": name,
        "occurredAt": _OCCURRED_AT,
        "projectId": "project_1",
        "user": _ACTOR,
        "previousValue": previous,
        "currentValue": current,
    }
    return EventType(name, group, description, copy.deepcopy(sample))


# --- the catalog -------------------------------------------------------------------

_REC = "record"
_CHK = "checklist"
_LST = "list"
_CF = "custom field"
_TAG = "tag"
_CMT = "comment"

EVENT_TYPES: tuple[EventType, ...] = (
    _event("TODO_CREATED", _REC, "A record was created.", None, _record()),
    _event("TODO_DELETED", _REC, "A record was deleted.", _record(), None),
    _event("TODO_MOVED", _REC, "A record was moved to another list.", _record(), _record(todoList=_LIST_DOING)),
    _event(
        "TODO_NAME_CHANGED",
        _REC,
        "A record was renamed.",
        _record(),
        _record(title="Prepare Q2 launch plan"),
    ),
    _event(
        "TODO_DONE_STATUS_UPDATED",
        _REC,
        "A record was marked done or not done.",
        _record(),
        _record(done=True),
    ),
    _event(
        "TODO_DUE_DATE_ADDED",
        _REC,
        "A due date was set on a record.",
        _record(duedAt=None),
        _record(),
    ),
    _event(
        "TODO_DUE_DATE_UPDATED",
        _REC,
        "A record's due date was changed.",
        _record(),
        _record(duedAt=_DUE_AT_LATER),
    ),
    _event(
        "TODO_DUE_DATE_REMOVED",
        _REC,
        "A record's due date was removed.",
        _record(),
        _record(duedAt=None),
    ),
    _event(
        "TODO_ASSIGNEE_ADDED",
        _REC,
        "Someone was assigned to a record.",
        _record(),
        _record(users=[_ADA, _GRACE]),
    ),
    _event(
        "TODO_ASSIGNEE_REMOVED",
        _REC,
        "Someone was unassigned from a record.",
        _record(users=[_ADA, _GRACE]),
        _record(),
    ),
    _event(
        "TODO_TAG_ADDED",
        _REC,
        "A tag was added to a record.",
        _record(),
        _record(todoTags=[{"tag": _TAG_URGENT}, {"tag": _TAG_MARKETING}]),
    ),
    _event(
        "TODO_TAG_REMOVED",
        _REC,
        "A tag was removed from a record.",
        _record(todoTags=[{"tag": _TAG_URGENT}, {"tag": _TAG_MARKETING}]),
        _record(),
    ),
    _event(
        "TODO_CUSTOM_FIELD_UPDATED",
        _REC,
        "A custom field value on a record was changed.",
        _record(),
        _record(
            customFields=[
                {"customField": _CF_BUDGET, "value": 15000},
                {"customField": _CF_PRIORITY, "value": "High"},
            ]
        ),
    ),
    _event("TODO_CHECKLIST_CREATED", _CHK, "A checklist was added to a record.", None, _checklist()),
    _event(
        "TODO_CHECKLIST_NAME_CHANGED",
        _CHK,
        "A checklist was renamed.",
        _checklist(),
        _checklist("Launch checklist"),
    ),
    _event("TODO_CHECKLIST_DELETED", _CHK, "A checklist was deleted.", _checklist(), None),
    _event("TODO_CHECKLIST_ITEM_CREATED", _CHK, "A checklist item was created.", None, _item_event_value()),
    _event(
        "TODO_CHECKLIST_ITEM_NAME_CHANGED",
        _CHK,
        "A checklist item was renamed.",
        _item_event_value(),
        _item_event_value(title="Book the venue and catering"),
    ),
    _event("TODO_CHECKLIST_ITEM_DELETED", _CHK, "A checklist item was deleted.", _item_event_value(), None),
    _event(
        "TODO_CHECKLIST_ITEM_DUE_DATE_ADDED",
        _CHK,
        "A due date was set on a checklist item.",
        _item_event_value(duedAt=None),
        _item_event_value(),
    ),
    _event(
        "TODO_CHECKLIST_ITEM_DUE_DATE_UPDATED",
        _CHK,
        "A checklist item's due date was changed.",
        _item_event_value(),
        _item_event_value(duedAt=_DUE_AT_LATER),
    ),
    _event(
        "TODO_CHECKLIST_ITEM_DUE_DATE_REMOVED",
        _CHK,
        "A checklist item's due date was removed.",
        _item_event_value(),
        _item_event_value(duedAt=None),
    ),
    _event(
        "TODO_CHECKLIST_ITEM_ASSIGNEE_ADDED",
        _CHK,
        "Someone was assigned to a checklist item.",
        _item_event_value(),
        _item_event_value(users=[_ADA, _GRACE]),
    ),
    _event(
        "TODO_CHECKLIST_ITEM_ASSIGNEE_REMOVED",
        _CHK,
        "Someone was unassigned from a checklist item.",
        _item_event_value(users=[_ADA, _GRACE]),
        _item_event_value(),
    ),
    _event(
        "TODO_CHECKLIST_ITEM_DONE_STATUS_UPDATED",
        _CHK,
        "A checklist item was marked done or not done.",
        _item_event_value(),
        _item_event_value(done=True),
    ),
    _event("TODO_LIST_CREATED", _LST, "A list was created in a project.", None, _list_value()),
    _event("TODO_LIST_DELETED", _LST, "A list was deleted from a project.", _list_value(), None),
    _event(
        "TODO_LIST_NAME_CHANGED",
        _LST,
        "A list was renamed.",
        _list_value(),
        _list_value("Doing"),
    ),
    _event("CUSTOM_FIELD_CREATED", _CF, "A custom field was created.", None, _custom_field_value()),
    _event("CUSTOM_FIELD_DELETED", _CF, "A custom field was deleted.", _custom_field_value(), None),
    _event(
        "CUSTOM_FIELD_UPDATED",
        _CF,
        "A custom field's settings were changed.",
        _custom_field_value(),
        _custom_field_value("Urgency"),
    ),
    _event("TAG_CREATED", _TAG, "A tag was created in a project.", None, _tag_value()),
    _event("TAG_DELETED", _TAG, "A tag was deleted from a project.", _tag_value(), None),
    _event("TAG_UPDATED", _TAG, "A tag was renamed or recoloured.", _tag_value(), _tag_value("#8b5cf6")),
    _event("COMMENT_CREATED", _CMT, "A comment was posted.", None, _comment_value()),
    _event("COMMENT_DELETED", _CMT, "A comment was deleted.", _comment_value(), None),
    _event(
        "COMMENT_UPDATED",
        _CMT,
        "A comment was edited.",
        _comment_value(),
        _comment_value("Venue options and quotes are in the shared folder."),
    ),
)
"""Every subscribable Blue event type, grouped by family."""

HEALTH_CHECK = EventType(
    name="WEBHOOK_HEALTH_CHECK",
    group="system",
    description="A check that the webhook endpoint is reachable; sent on enable and test.",
    sample={
        "event": "WEBHOOK_HEALTH_CHECK",
        "occurredAt": _OCCURRED_AT,
        "projectId": None,
        "user": dict(_ACTOR),
        "previousValue": None,
        "currentValue": None,
    },
)
"""The health-check event: known to the catalog but never subscribable."""


# --- the gateway's own events --------------------------------------------------------

_SUBJECT = Subject(
    id="wh_sample",
    uid=_uid("wh_sample"),
    company_id="company_1",
    name="Orders to the CRM",
    connector="webhook",
    url="https://crm.example.com/hooks/blue",
    project_ids=("project_1",),
)
_SAMPLE_AT = 1772533800.0  # the catalog's event time, 2026-03-03T10:30:00Z


def _sample_delivery(status: str, attempt: int, error: str | None) -> dict[str, Any]:
    return {
        "id": "dlv_sample",
        "messageId": "msg_sample",
        "event": "TODO_CREATED",
        "attempt": attempt,
        "status": status,
        "error": error,
    }


def _sample_health(status: str, failures: int, *, disabled: str | None = None) -> dict[str, Any]:
    return {
        "status": status,
        "enabled": disabled is None,
        "disabledReason": disabled,
        "deleted": False,
        "consecutiveFailures": failures,
        "failingSince": "2026-03-03T10:00:00.000Z" if failures else None,
    }


_NOTICES = (
    Notice(
        WEBHOOK_UNHEALTHY,
        _SUBJECT,
        {"health": _sample_health("UNHEALTHY", 5), "delivery": _sample_delivery("pending", 5, "http 503")},
        {"health": {"status": "HEALTHY"}},
    ),
    Notice(
        WEBHOOK_DISABLED,
        _SUBJECT,
        {
            "health": _sample_health("UNHEALTHY", 1, disabled="gone"),
            "delivery": _sample_delivery("discarded", 1, "http 410"),
        },
        {"health": {"enabled": True}},
    ),
    Notice(
        WEBHOOK_RECOVERED,
        _SUBJECT,
        {"health": _sample_health("HEALTHY", 0), "delivery": _sample_delivery("delivered", 6, None)},
        {"health": {"status": "UNHEALTHY"}},
    ),
    Notice(DELIVERY_EXHAUSTED, _SUBJECT, {"delivery": _sample_delivery("failed", 8, "timeout")}),
    Notice(
        TEMPLATE_ERROR,
        _SUBJECT,
        {"delivery": _sample_delivery("failed", 1, "template_error: 'dict object' has no attribute 'x' (line 1)")},
    ),
)


def _operational(notice: Notice) -> EventType:
    envelope = operational_envelope(notice, "evt_sample", _SAMPLE_AT)
    sample = {
        key: envelope[key] for key in ("event", "occurredAt", "projectId", "user", "previousValue", "currentValue")
    }
    return EventType(notice.name, "gateway", OPERATIONAL_DESCRIPTIONS[notice.name], sample)


OPERATIONAL_EVENT_TYPES: tuple[EventType, ...] = tuple(_operational(notice) for notice in _NOTICES)
"""The gateway's own events about a company's webhooks and deliveries (the ``gateway`` group)."""

CATALOG: tuple[EventType, ...] = (*EVENT_TYPES, *OPERATIONAL_EVENT_TYPES)
"""Everything a webhook may subscribe to: Blue's events, then the gateway's own."""

SUBSCRIBABLE: frozenset[str] = frozenset(event_type.name for event_type in CATALOG)
"""Names a webhook may list in its ``events``."""

_BY_NAME: dict[str, EventType] = {event_type.name: event_type for event_type in (*CATALOG, HEALTH_CHECK)}


def get_event_type(name: str) -> EventType | None:
    """Return the catalog entry for ``name`` (including the health check), or None when unknown."""
    return _BY_NAME.get(name)


def sample_event(name: str) -> dict[str, Any]:
    """Return a deep copy of the sample envelope for ``name``; raise KeyError when it is unknown."""
    return copy.deepcopy(_BY_NAME[name].sample)
