"""Every connector's templates see the same variables, the event's record included."""

from __future__ import annotations

import pytest

from connectors.api import TEMPLATE_VARIABLES, WebhookView, event_types, sample_context, template_variables
from connectors.registry import load_connectors

REGISTRY = load_connectors()
WEBHOOK = WebhookView(id="wh_1", uid="0" * 32, name="n", url="https://example.com/", connector="any")


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_connector_gives_templates_the_same_variables(name: str) -> None:
    connector = REGISTRY.get(name)
    assert connector is not None
    for event in event_types():
        context = sample_context(event)
        variables = connector.template_context(context, WEBHOOK)
        expected = template_variables(context, WEBHOOK)
        assert list(expected) == list(TEMPLATE_VARIABLES)
        assert {key: variables.get(key) for key in TEMPLATE_VARIABLES} == expected, (name, event)
        record = context.current_value if context.current_value is not None else context.previous_value
        assert record and record in (variables["currentValue"], variables["previousValue"])


def test_a_plugin_with_its_own_body_keeps_the_standard_variables() -> None:
    chat = REGISTRY.get("chat")  # the example plugin replaces the body with {"text": ...}
    if chat is None:
        pytest.skip("the example plugin is not installed")
    variables = chat.template_context(sample_context("TODO_CREATED"), WEBHOOK)
    assert variables["text"].startswith("todo created: ")
    assert variables["currentValue"]["id"] == "todo_1"
