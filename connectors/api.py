"""The stable import path for connector plugins: the contract, and the event catalog's names and samples.

A plugin imports everything it needs from here (``from connectors.api import Connector, ...``); the names
below keep their meaning across releases, whatever module defines them inside the gateway.
"""

from __future__ import annotations

from typing import Any

from connectors.base import (
    TEMPLATE_VARIABLES,
    Connector,
    DeliveryContext,
    FailureKind,
    OutboundRequest,
    Outcome,
    OutcomeKind,
    ResponseInfo,
    WebhookView,
    parse_retry_after,
    template_variables,
)
from gateway.core.catalog import CATALOG, get_event_type, sample_event

__all__ = [
    "SAMPLE_COMPANY_ID",
    "TEMPLATE_VARIABLES",
    "Connector",
    "DeliveryContext",
    "FailureKind",
    "OutboundRequest",
    "Outcome",
    "OutcomeKind",
    "ResponseInfo",
    "WebhookView",
    "event_group",
    "event_types",
    "parse_retry_after",
    "sample",
    "sample_context",
    "template_variables",
]

SAMPLE_COMPANY_ID = "company_1"
"""The company every catalog sample belongs to."""


def event_types() -> tuple[str, ...]:
    """The names of every event a webhook may subscribe to, in catalog order (health check excluded)."""
    return tuple(event_type.name for event_type in CATALOG)


def event_group(name: str) -> str:
    """The catalog family of an event (``record``, ``checklist``, ...), ``other`` when unknown."""
    known = get_event_type(name)
    return known.group if known is not None else "other"


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of the catalog's sample envelope for ``name`` (``WEBHOOK_HEALTH_CHECK`` included).

    The envelope is what ``POST /v1/events`` takes: ``event``, ``occurredAt``, ``projectId``, ``user``,
    ``previousValue`` and ``currentValue``. Raises ``KeyError`` for a name the catalog does not know.
    """
    return sample_event(name)


def sample_context(name: str) -> DeliveryContext:
    """The catalog's sample for ``name`` as the engine hands it to ``render``: a ready test input."""
    envelope = sample(name)
    return DeliveryContext.from_envelope(
        {**envelope, "companyId": SAMPLE_COMPANY_ID, "id": f"evt_sample_{name.lower()}"}
    )
