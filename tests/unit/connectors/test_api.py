"""The stable plugin module: catalog accessors, and the loaded connectors logged with their origin."""

from __future__ import annotations

import logging

import pytest

from connectors import api, base
from connectors.registry import load_connectors
from gateway.core.catalog import SUBSCRIBABLE, sample_event


def test_event_types_lists_every_subscribable_event_once() -> None:
    names = api.event_types()
    assert len(names) == len(set(names)) and set(names) == SUBSCRIBABLE
    assert "WEBHOOK_HEALTH_CHECK" not in names


def test_sample_is_a_fresh_copy_and_unknown_names_raise() -> None:
    first = api.sample("TODO_CREATED")
    first["currentValue"]["title"] = "changed"
    assert api.sample("TODO_CREATED") == sample_event("TODO_CREATED") != first
    with pytest.raises(KeyError):
        api.sample("NOT_AN_EVENT")


def test_sample_context_is_what_render_takes() -> None:
    context = api.sample_context("TAG_CREATED")
    assert context.event == "TAG_CREATED" and context.company_id == api.SAMPLE_COMPANY_ID
    assert context.project_id == "project_1" and context.group == api.event_group("TAG_CREATED") == "tag"


def test_the_contract_is_the_same_objects_as_connectors_base() -> None:
    for name in ("Connector", "DeliveryContext", "WebhookView", "OutboundRequest", "Outcome", "OutcomeKind"):
        assert getattr(api, name) is getattr(base, name)


def test_loading_logs_each_connector_with_its_origin(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.connectors"):
        load_connectors()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("connectors loaded: ")]
    assert len(lines) == 1
    assert "webhook from connectors.webhook:WebhookConnector (blue-gateway " in lines[0]
