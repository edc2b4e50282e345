"""Event checks: shapes once in parse_event, values once in prepare, each error naming its field."""

from __future__ import annotations

import pytest

from gateway.services.events import EventIn, InvalidEvent, parse_event, prepare


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([1, 2], "body"),
        ({"currentValue": {}}, "event"),
        ({"event": 5}, "event"),
        ({"event": "TODO_CREATED", "id": True}, "id"),
        ({"event": "TODO_CREATED", "occurredAt": 5}, "occurredAt"),
        ({"event": "TODO_CREATED", "projectId": [1]}, "projectId"),
        ({"event": "TODO_CREATED", "user": "bob"}, "user"),
    ],
)
def test_wrong_shapes_are_refused_naming_the_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (EventIn(event=" "), "event"),
        (EventIn(event="TODO CREATED"), "event"),
        (EventIn(event="E" * 101), "event"),
        (EventIn(event="TODO_CREATED", id=""), "id"),
        (EventIn(event="TODO_CREATED", id="x" * 201), "id"),
        (EventIn(event="TODO_CREATED", occurredAt="yesterday"), "occurredAt"),
        (EventIn(event="TODO_CREATED", currentValue={"projectId": "p" * 129}), "projectId"),
    ],
)
def test_wrong_values_are_refused_naming_the_field(event: EventIn, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        prepare(event, "acme", None, 0.0)
    assert caught.value.field == field


def test_a_prepared_event_carries_the_envelope_sent_to_webhooks() -> None:
    prepared = prepare(parse_event({"event": "TODO_CREATED", "id": 7, "projectId": "p1"}), "acme", None, 0.0)
    assert prepared.external_id == "7"
    assert prepared.project_id == "p1"
    assert prepared.envelope["occurredAt"] == "1970-01-01T00:00:00.000Z"
    assert prepared.envelope["companyId"] == "acme"
    assert prepared.webhook_ids == ()
