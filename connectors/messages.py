"""What the chat and automation connectors share: ``summary`` and ``options`` for templates, and answer reading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from connectors.base import (
    Connector,
    DeliveryContext,
    Outcome,
    OutcomeKind,
    ResponseInfo,
    WebhookView,
    parse_retry_after,
)
from connectors.summary import DEFAULT_BLUE_URL, summarize

__all__ = ["BLUE_URL_OPTION", "MessageConnector", "answer_json", "answer_text"]

BLUE_URL_OPTION: dict[str, Any] = {
    "type": "string",
    "pattern": "^(https?://[^\\s]+)?$",
    "default": DEFAULT_BLUE_URL,
    "description": "Base URL of the Blue app for links back to the project; an empty string sends no link.",
}
"""The ``blueUrl`` option every message connector takes."""


def answer_text(response: ResponseInfo, limit: int = 200) -> str:
    """The response body as one short line (what a service put in its error answer)."""
    text = " ".join(response.body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answer_json(response: ResponseInfo) -> dict[str, Any]:
    """The response body as a JSON object, or ``{}`` when it is none."""
    try:
        parsed = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class MessageConnector(Connector):
    """A connector whose default template lays out a human summary of the event.

    Templates on it see the usual variables plus ``summary`` (see ``connectors.summary``) and ``options``: the
    webhook's options with this connector's defaults filled in.
    """

    signs = False
    option_properties: ClassVar[dict[str, Any]] = {}
    """This connector's own options, besides ``blueUrl``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.options_schema = {
            "type": "object",
            "properties": {"blueUrl": BLUE_URL_OPTION, **cls.option_properties},
            "additionalProperties": False,
        }

    def options(self, webhook: WebhookView) -> dict[str, Any]:
        """The webhook's options over the schema's defaults (the gateway's own ``_`` keys left out)."""
        properties: Mapping[str, Any] = self.options_schema.get("properties", {})
        merged = {key: spec["default"] for key, spec in properties.items() if "default" in spec}
        merged.update({k: v for k, v in webhook.options.items() if not k.startswith("_")})
        return merged

    def template_context(self, event: DeliveryContext, webhook: WebhookView) -> dict[str, Any]:
        """The usual variables plus ``summary`` and ``options``."""
        options = self.options(webhook)
        blue_url = options.get("blueUrl")
        summary = summarize(event, blue_url if isinstance(blue_url, str) else DEFAULT_BLUE_URL)
        return {**super().template_context(event, webhook), "summary": summary.as_dict(), "options": options}

    def otherwise(self, response: ResponseInfo, reason: str) -> Outcome:
        """The gateway's usual rules, keeping the service's words as the reason.

        2xx delivered; 410 gone; 429 and 503 retried after ``Retry-After``; anything else retried.
        """
        status = response.status
        if 200 <= status < 300:
            return Outcome(OutcomeKind.DELIVERED)
        if status == 410:
            return Outcome(OutcomeKind.GONE, reason=reason)
        if status in (429, 503):
            return Outcome(OutcomeKind.RETRY, retry_after=parse_retry_after(response.headers), reason=reason)
        return Outcome(OutcomeKind.RETRY, reason=reason)
