"""The ``teams`` connector: an Adaptive Card for a Microsoft Teams Workflows (Power Automate) webhook."""

from __future__ import annotations

from typing import Any, ClassVar

from connectors.base import Outcome, OutcomeKind, ResponseInfo, parse_retry_after
from connectors.messages import MessageConnector, answer_json, answer_text

__all__ = ["TeamsConnector"]

FLOW_OFF = "WorkflowTriggerIsNotEnabled"
"""Power Automate's error code when the flow behind the URL is turned off or deleted."""


class TeamsConnector(MessageConnector):
    """Posts ``{"type": "message", "attachments": [<Adaptive Card>]}`` to a Teams Workflows webhook URL.

    ``2xx`` (``202 Accepted``) delivers; ``429`` (Power Automate throttling) is retried after
    ``Retry-After``; a ``WorkflowTriggerIsNotEnabled`` error (the flow is off or deleted) and ``404`` mean
    the URL no longer takes messages (gone); other ``4xx`` fail with Power Automate's code and message;
    ``5xx`` is retried.
    """

    name = "teams"
    description = "An Adaptive Card for a Microsoft Teams Workflows webhook, for every Blue event."
    default_template = "teams"
    option_properties: ClassVar[dict[str, Any]] = {
        "fullWidth": {"type": "boolean", "default": True, "description": "Show the card at the channel's width."}
    }

    def classify(self, response: ResponseInfo) -> Outcome:
        """Power Automate's answers to a webhook trigger."""
        status = response.status
        if 200 <= status < 300:
            return Outcome(OutcomeKind.DELIVERED)
        error = answer_json(response).get("error")
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        reason = f"teams {status} {code}: {message}" if code else f"teams {status} {answer_text(response)}"
        if status == 429:
            return Outcome(OutcomeKind.RETRY, retry_after=parse_retry_after(response.headers), reason=reason)
        if code == FLOW_OFF or status in (404, 410):
            return Outcome(OutcomeKind.GONE, reason=reason)
        if 400 <= status < 500:
            return Outcome(OutcomeKind.FAIL, reason=reason)
        return self.otherwise(response, reason)
