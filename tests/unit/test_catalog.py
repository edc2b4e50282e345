"""The event catalog and project id derivation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.core.catalog import (
    CATALOG,
    EVENT_TYPES,
    HEALTH_CHECK,
    OPERATIONAL_EVENT_TYPES,
    SUBSCRIBABLE,
    EventType,
    derive_project_id,
    get_event_type,
    sample_event,
)

CONTRACT_GROUPS: dict[str, list[str]] = {
    "record": [
        "TODO_CREATED",
        "TODO_DELETED",
        "TODO_MOVED",
        "TODO_NAME_CHANGED",
        "TODO_DONE_STATUS_UPDATED",
        "TODO_DUE_DATE_ADDED",
        "TODO_DUE_DATE_UPDATED",
        "TODO_DUE_DATE_REMOVED",
        "TODO_ASSIGNEE_ADDED",
        "TODO_ASSIGNEE_REMOVED",
        "TODO_TAG_ADDED",
        "TODO_TAG_REMOVED",
        "TODO_CUSTOM_FIELD_UPDATED",
    ],
    "checklist": [
        "TODO_CHECKLIST_CREATED",
        "TODO_CHECKLIST_NAME_CHANGED",
        "TODO_CHECKLIST_DELETED",
        "TODO_CHECKLIST_ITEM_CREATED",
        "TODO_CHECKLIST_ITEM_NAME_CHANGED",
        "TODO_CHECKLIST_ITEM_DELETED",
        "TODO_CHECKLIST_ITEM_DUE_DATE_ADDED",
        "TODO_CHECKLIST_ITEM_DUE_DATE_UPDATED",
        "TODO_CHECKLIST_ITEM_DUE_DATE_REMOVED",
        "TODO_CHECKLIST_ITEM_ASSIGNEE_ADDED",
        "TODO_CHECKLIST_ITEM_ASSIGNEE_REMOVED",
        "TODO_CHECKLIST_ITEM_DONE_STATUS_UPDATED",
    ],
    "list": ["TODO_LIST_CREATED", "TODO_LIST_DELETED", "TODO_LIST_NAME_CHANGED"],
    "custom field": ["CUSTOM_FIELD_CREATED", "CUSTOM_FIELD_DELETED", "CUSTOM_FIELD_UPDATED"],
    "tag": ["TAG_CREATED", "TAG_DELETED", "TAG_UPDATED"],
    "comment": ["COMMENT_CREATED", "COMMENT_DELETED", "COMMENT_UPDATED"],
}
CONTRACT_ORDER = [(name, group) for group, names in CONTRACT_GROUPS.items() for name in names]
ENVELOPE_KEYS = {"event", "occurredAt", "projectId", "user", "previousValue", "currentValue"}


def by_name(name: str) -> EventType:
    """The catalog entry for a name the test knows exists."""
    event_type = get_event_type(name)
    assert event_type is not None
    return event_type


def test_catalog_lists_every_contract_event_once_in_order_and_group() -> None:
    assert [(t.name, t.group) for t in EVENT_TYPES] == CONTRACT_ORDER


GATEWAY_EVENTS = {
    "gateway.webhook.unhealthy",
    "gateway.webhook.disabled",
    "gateway.webhook.recovered",
    "gateway.delivery.exhausted",
    "gateway.template.error",
}


def test_subscribable_is_exactly_the_catalog_names() -> None:
    assert frozenset(name for name, _ in CONTRACT_ORDER) | GATEWAY_EVENTS == SUBSCRIBABLE


def test_gateway_events_are_their_own_group_after_blues_with_samples() -> None:
    assert [t.name for t in CATALOG[: len(EVENT_TYPES)]] == [t.name for t in EVENT_TYPES]
    assert {t.name for t in OPERATIONAL_EVENT_TYPES} == GATEWAY_EVENTS
    for event_type in OPERATIONAL_EVENT_TYPES:
        assert event_type.group == "gateway" and event_type.description
        assert set(event_type.sample) == ENVELOPE_KEYS
        assert event_type.sample["event"] == event_type.name
        webhook = event_type.sample["currentValue"]["webhook"]
        assert "url" not in webhook and "secret" not in webhook


def test_health_check_is_known_but_not_subscribable() -> None:
    assert HEALTH_CHECK.name == "WEBHOOK_HEALTH_CHECK"
    assert HEALTH_CHECK.group == "system"
    assert HEALTH_CHECK.name not in SUBSCRIBABLE
    assert HEALTH_CHECK not in EVENT_TYPES
    assert get_event_type("WEBHOOK_HEALTH_CHECK") is HEALTH_CHECK
    assert sample_event("WEBHOOK_HEALTH_CHECK")["event"] == "WEBHOOK_HEALTH_CHECK"


def test_unknown_names_are_not_in_the_catalog() -> None:
    assert get_event_type("TODO_EXPLODED") is None
    with pytest.raises(KeyError):
        sample_event("TODO_EXPLODED")


def test_event_types_are_hashable_value_objects() -> None:
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.name)
def test_every_sample_is_a_full_envelope_with_a_description(event_type: EventType) -> None:
    sample = event_type.sample
    assert set(sample) == ENVELOPE_KEYS
    assert sample["event"] == event_type.name
    assert sample["occurredAt"].startswith("2026-")
    assert sample["occurredAt"].endswith("Z")
    assert set(sample["user"]) == {"id", "fullName", "email"}
    assert event_type.description.endswith(".")
    assert sample["previousValue"] is not None or sample["currentValue"] is not None


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.name)
def test_project_is_derivable_from_every_sample_without_top_level_project_id(event_type: EventType) -> None:
    envelope = sample_event(event_type.name)
    assert derive_project_id(envelope) == "project_1"
    del envelope["projectId"]
    assert derive_project_id(envelope) == "project_1"


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.name)
def test_changes_have_the_right_null_side(event_type: EventType) -> None:
    previous, current = event_type.sample["previousValue"], event_type.sample["currentValue"]
    if event_type.name.endswith("_CREATED"):
        assert previous is None
        assert isinstance(current, dict)
    elif event_type.name.endswith("_DELETED"):
        assert current is None
        assert isinstance(previous, dict)
    else:
        assert isinstance(previous, dict)
        assert isinstance(current, dict)
        assert previous != current


@pytest.mark.parametrize(
    ("name", "path", "before", "after"),
    [
        ("TODO_MOVED", ("todoList", "id"), "list_1", "list_2"),
        ("TODO_NAME_CHANGED", ("title",), "Prepare launch plan", "Prepare Q2 launch plan"),
        ("TODO_DONE_STATUS_UPDATED", ("done",), False, True),
        ("TODO_DUE_DATE_ADDED", ("duedAt",), None, "2026-03-13T17:00:00.000Z"),
        ("TODO_DUE_DATE_REMOVED", ("duedAt",), "2026-03-13T17:00:00.000Z", None),
        ("TODO_CHECKLIST_ITEM_DONE_STATUS_UPDATED", ("done",), False, True),
        ("TODO_LIST_NAME_CHANGED", ("title",), "In progress", "Doing"),
        ("CUSTOM_FIELD_UPDATED", ("name",), "Priority", "Urgency"),
    ],
)
def test_updates_change_the_named_field(name: str, path: tuple[str, ...], before: Any, after: Any) -> None:
    sample = by_name(name).sample

    def dig(value: Any) -> Any:
        for key in path:
            value = value[key]
        return value

    assert dig(sample["previousValue"]) == before
    assert dig(sample["currentValue"]) == after


def test_tag_added_adds_to_todo_tags() -> None:
    sample = by_name("TODO_TAG_ADDED").sample
    before = [t["tag"]["title"] for t in sample["previousValue"]["todoTags"]]
    after = [t["tag"]["title"] for t in sample["currentValue"]["todoTags"]]
    assert before == ["urgent"]
    assert after == ["urgent", "marketing"]


def test_assignee_added_adds_a_user() -> None:
    sample = by_name("TODO_ASSIGNEE_ADDED").sample
    assert len(sample["currentValue"]["users"]) == len(sample["previousValue"]["users"]) + 1


def test_record_sample_nests_list_project_and_company() -> None:
    record = by_name("TODO_CREATED").sample["currentValue"]
    for key in ("id", "uid", "title", "text", "html", "position", "startedAt", "duedAt", "done", "archived"):
        assert key in record
    assert record["todoList"]["project"]["company"]["id"] == "company_1"
    assert record["todoList"]["project"]["companyId"] == "company_1"
    assert set(record["users"][0]) == {"id", "uid", "fullName", "email"}
    assert set(record["todoTags"][0]["tag"]) == {"id", "uid", "title", "color"}
    assert set(record["customFields"][0]["customField"]) == {"id", "uid", "name", "type"}
    assert record["checklists"][0]["checklistItems"]


def test_checklist_and_comment_samples_nest_the_record() -> None:
    for name in ("TODO_CHECKLIST_CREATED", "TODO_CHECKLIST_ITEM_CREATED", "COMMENT_CREATED"):
        todo = by_name(name).sample["currentValue"]["todo"]
        assert todo["id"] == "todo_1"
        assert todo["todoList"]["project"]["company"]["id"] == "company_1"


def test_sample_event_returns_an_independent_copy() -> None:
    first = sample_event("TODO_CREATED")
    first["currentValue"]["todoList"]["project"]["id"] = "mutated"
    first["currentValue"]["todoTags"].append({"tag": {"title": "mutated"}})
    first["event"] = "MUTATED"

    again = sample_event("TODO_CREATED")
    assert again == by_name("TODO_CREATED").sample
    assert again["event"] == "TODO_CREATED"
    assert again["currentValue"]["todoList"]["project"]["id"] == "project_1"
    assert len(again["currentValue"]["todoTags"]) == 1


def test_samples_share_no_mutable_objects_between_event_types() -> None:
    created = by_name("TODO_CREATED").sample
    deleted = by_name("TODO_DELETED").sample
    assert created["currentValue"]["todoList"] is not deleted["previousValue"]["todoList"]


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        pytest.param(
            {"projectId": "top", "currentValue": {"todoList": {"projectId": "cur"}}}, "top", id="top-level-wins"
        ),
        pytest.param(
            {"projectId": "", "currentValue": {"projectId": "cur"}}, "cur", id="empty-top-level-is-ignored"
        ),
        pytest.param(
            {"projectId": None, "currentValue": {"projectId": "cur"}}, "cur", id="null-top-level-is-ignored"
        ),
        pytest.param({"projectId": 42}, "42", id="number-is-converted"),
        pytest.param({"projectId": True, "currentValue": {"projectId": "cur"}}, "cur", id="bool-is-not-an-id"),
        pytest.param(
            {"currentValue": {"projectId": "cur"}, "previousValue": {"projectId": "prev"}},
            "cur",
            id="current-before-previous",
        ),
        pytest.param(
            {"currentValue": {"title": "no project"}, "previousValue": {"projectId": "prev"}},
            "prev",
            id="falls-back-to-previous",
        ),
        pytest.param(
            {"currentValue": None, "previousValue": {"todoList": {"projectId": "prev"}}},
            "prev",
            id="null-current-uses-previous",
        ),
        pytest.param({"currentValue": {"todoList": {"projectId": "p"}}}, "p", id="path-todoList.projectId"),
        pytest.param({"currentValue": {"todoList": {"project": {"id": "p"}}}}, "p", id="path-todoList.project.id"),
        pytest.param({"currentValue": {"projectId": "p"}}, "p", id="path-projectId"),
        pytest.param({"currentValue": {"project": {"id": "p"}}}, "p", id="path-project.id"),
        pytest.param(
            {"currentValue": {"todo": {"todoList": {"projectId": "p"}}}}, "p", id="path-todo.todoList.projectId"
        ),
        pytest.param({"currentValue": {"project": {"id": 7}}}, "7", id="nested-number-is-converted"),
        pytest.param(
            {
                "currentValue": {
                    "todo": {"todoList": {"projectId": "p5"}},
                    "project": {"id": "p4"},
                    "projectId": "p3",
                    "todoList": {"projectId": "p1", "project": {"id": "p2"}},
                }
            },
            "p1",
            id="order-1-todoList.projectId",
        ),
        pytest.param(
            {
                "currentValue": {
                    "todo": {"todoList": {"projectId": "p5"}},
                    "project": {"id": "p4"},
                    "projectId": "p3",
                    "todoList": {"project": {"id": "p2"}},
                }
            },
            "p2",
            id="order-2-todoList.project.id",
        ),
        pytest.param(
            {
                "currentValue": {
                    "todo": {"todoList": {"projectId": "p5"}},
                    "project": {"id": "p4"},
                    "projectId": "p3",
                }
            },
            "p3",
            id="order-3-projectId",
        ),
        pytest.param(
            {"currentValue": {"todo": {"todoList": {"projectId": "p5"}}, "project": {"id": "p4"}}},
            "p4",
            id="order-4-project.id",
        ),
        pytest.param(
            {"currentValue": {"todoList": {"projectId": ""}, "projectId": "p3"}},
            "p3",
            id="empty-string-skips-to-next-path",
        ),
        pytest.param(
            {"currentValue": {"todoList": "list_1", "project": ["p"]}}, None, id="non-mapping-steps-are-ignored"
        ),
        pytest.param({"previousValue": None, "currentValue": None}, None, id="nothing-to-find"),
        pytest.param({}, None, id="empty-envelope"),
    ],
)
def test_derive_project_id_follows_the_contract_order(envelope: dict[str, Any], expected: str | None) -> None:
    assert derive_project_id(envelope) == expected


def test_health_check_has_no_project() -> None:
    assert derive_project_id(HEALTH_CHECK.sample) is None


@pytest.mark.parametrize("event_type", [*EVENT_TYPES, HEALTH_CHECK], ids=lambda t: t.name)
def test_every_sample_survives_a_json_round_trip(event_type: EventType) -> None:
    assert json.loads(json.dumps(event_type.sample)) == event_type.sample
