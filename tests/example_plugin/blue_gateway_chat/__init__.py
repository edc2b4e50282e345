"""An example plugin: a connector that posts ``{"text": "..."}`` to a chat incoming-webhook URL.

It lives outside the gateway's packages and registers itself only through the
``blue_gateway.connectors`` entry point, exactly as a third party would.
"""

from __future__ import annotations

from typing import Any, ClassVar

from connectors.base import Connector, DeliveryContext, Outcome, OutcomeKind, ResponseInfo, WebhookView


class ChatConnector(Connector):
    """Turns any Blue event into one human-readable chat line."""

    name = "chat"
    description = 'Example plugin: a one-line chat message ({"text": ...}) for Slack-style incoming webhooks.'
    signs = False
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"prefix": {"type": "string", "description": "text put before every message"}},
        "additionalProperties": False,
    }

    def context(self, event: DeliveryContext, webhook: WebhookView) -> dict[str, Any]:
        value = event.current_value if isinstance(event.current_value, dict) else event.previous_value or {}
        title = value.get("title") or value.get("name") or value.get("id") or "?"
        prefix = str(webhook.options.get("prefix", ""))
        return {"text": f"{prefix}{event.event.replace('_', ' ').lower()}: {title}"}

    def classify(self, response: ResponseInfo) -> Outcome:
        # Chat services answer 404 for a deleted incoming webhook: treat it like 410.
        if response.status == 404:
            return Outcome(OutcomeKind.GONE, reason="chat webhook removed")
        return super().classify(response)
