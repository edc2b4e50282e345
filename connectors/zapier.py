"""The ``zapier`` connector: a flat JSON object per event, REST Hooks semantics."""

from __future__ import annotations

from typing import Any

import orjson

from connectors.base import Connector, DeliveryContext, Outcome, OutcomeKind, ResponseInfo, WebhookView
from gateway.core.catalog import derive_project_id, sample_event

__all__ = ["ZapierConnector", "flat_sample"]


class ZapierConnector(Connector):
    """Flat snake_case payloads for Zapier catch hooks and REST Hooks subscriptions.

    2xx delivers; 410 means the Zap is off (the REST Hooks subscription is deleted, a plain webhook is
    disabled); 429 backs off honouring ``Retry-After``; a webhook's default ``maxRate`` is 30 requests per second,
    Zapier's limit for one hook.
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


def flat_sample(event: str, company_id: str) -> Any:
    """The flat object a live delivery of ``event`` carries, made from the catalog's sample."""
    sample = sample_event(event)
    envelope = {**sample, "id": "evt_sample", "companyId": company_id, "projectId": derive_project_id(sample)}
    view = WebhookView(
        id="wh_sample", uid="0" * 32, name="sample", url="https://hooks.zapier.com/", connector="zapier"
    )
    return orjson.loads(ZapierConnector().render(DeliveryContext.from_envelope(envelope), view).body)
