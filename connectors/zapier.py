"""The ``zapier`` connector: a flat JSON object per event, REST Hooks semantics (contract §5)."""

from __future__ import annotations

from connectors.base import Connector, Outcome, OutcomeKind, ResponseInfo

__all__ = ["ZapierConnector"]


class ZapierConnector(Connector):
    """Flat snake_case payloads for Zapier catch hooks and REST Hooks subscriptions.

    2xx delivers; 410 means the Zap is off (the REST Hooks subscription is deleted, a plain webhook is
    disabled); 429 backs off honouring ``Retry-After``; at most 30 requests per second per hook URL.
    """

    name = "zapier"
    description = "Flat, human-readable JSON for Zapier (catch hooks and REST Hooks subscriptions)."
    signs = False
    default_template = "zapier"
    max_requests_per_second = 30.0

    def classify(self, response: ResponseInfo) -> Outcome:
        """Zapier answers 410 once a Zap is turned off or deleted."""
        if response.status == 410:
            return Outcome(OutcomeKind.GONE, reason="zap turned off (410)")
        return super().classify(response)
