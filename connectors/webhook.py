"""The raw ``webhook`` connector: Blue's delivery shape, signed."""

from __future__ import annotations

from connectors.base import Connector

__all__ = ["WebhookConnector"]


class WebhookConnector(Connector):
    """POSTs the event in the body Blue's own webhooks send, signed as configured on the webhook."""

    name = "webhook"
    description = "Raw Blue-shaped JSON, HMAC-signed (X-Signature and Standard Webhooks)."
    signs = True
