"""The ``make`` and ``n8n`` connectors: the event as JSON for a Make scenario or an n8n workflow webhook."""

from __future__ import annotations

from typing import Any, ClassVar

from connectors.base import Outcome, OutcomeKind, ResponseInfo, parse_retry_after
from connectors.messages import MessageConnector, answer_json, answer_text

__all__ = ["MakeConnector", "N8nConnector"]

_INCLUDE_VALUES = {
    "type": "boolean",
    "default": True,
    "description": "Send the record before and after the change (previousValue, currentValue) too.",
}


class MakeConnector(MessageConnector):
    """Posts to a Make custom webhook (``https://hook.<zone>.make.com/...``); reads Make's documented answers.

    ``200 Accepted`` delivers; ``410`` (``There is no scenario listening for this webhook``: the scenario is
    off or deleted, or the webhook expired) and ``404`` are gone; ``400 Queue is full`` is retried later;
    another ``400`` (the body does not match the webhook's data structure), ``401`` and ``403`` fail;
    ``429`` is retried after ``Retry-After``. Make takes up to 300 requests per 10 seconds: a webhook's
    default ``maxRate`` is 30 per second.
    """

    name = "make"
    description = "The event as JSON, with a readable summary, for a Make custom webhook."
    default_template = "make"
    max_requests_per_second = 30.0
    option_properties: ClassVar[dict[str, Any]] = {"includeValues": _INCLUDE_VALUES}

    def classify(self, response: ResponseInfo) -> Outcome:
        """Make's answers to a custom webhook."""
        status, text = response.status, answer_text(response)
        if 200 <= status < 300:
            return Outcome(OutcomeKind.DELIVERED)
        reason = f"make {status} {text}".rstrip()
        if status in (404, 410):
            return Outcome(OutcomeKind.GONE, reason=reason)
        if status == 400 and "queue is full" in text.lower():
            return Outcome(OutcomeKind.RETRY, retry_after=parse_retry_after(response.headers), reason=reason)
        if status in (400, 401, 403):
            return Outcome(OutcomeKind.FAIL, reason=reason)
        return self.otherwise(response, reason)


class N8nConnector(MessageConnector):
    """Posts to an n8n Webhook node's URL (``.../webhook/<path>``); reads n8n's answers.

    ``2xx`` delivers; ``404`` (``The requested webhook "POST <path>" is not registered``: the workflow is
    not active, or the test URL is not listening) is gone; ``401``/``403`` (the Webhook node's
    authentication refused the request) fail; ``429``, ``503`` and ``5xx`` are retried.
    """

    name = "n8n"
    description = "The event as JSON, with a readable summary, for an n8n Webhook node."
    default_template = "n8n"
    option_properties: ClassVar[dict[str, Any]] = {"includeValues": _INCLUDE_VALUES}

    def classify(self, response: ResponseInfo) -> Outcome:
        """n8n's answers to a production or test webhook URL."""
        status = response.status
        if 200 <= status < 300:
            return Outcome(OutcomeKind.DELIVERED)
        body = answer_json(response)
        message = str(body.get("message") or answer_text(response))
        reason = f"n8n {status} {message}".rstrip()
        if status == 404:
            return Outcome(OutcomeKind.GONE, reason=reason)
        if status in (401, 403):
            return Outcome(OutcomeKind.FAIL, reason=reason)
        return self.otherwise(response, reason)
