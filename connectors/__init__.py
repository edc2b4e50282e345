"""Connectors: pure functions from (event, webhook) to an outbound request, and from a response to an outcome."""

from __future__ import annotations

from connectors.base import (
    Connector,
    DeliveryContext,
    FailureKind,
    OutboundRequest,
    Outcome,
    OutcomeKind,
    ResponseInfo,
    WebhookView,
)

__all__ = [
    "Connector",
    "DeliveryContext",
    "FailureKind",
    "OutboundRequest",
    "Outcome",
    "OutcomeKind",
    "ResponseInfo",
    "WebhookView",
]
