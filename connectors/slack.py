"""The ``slack`` connector: a Slack incoming-webhook message, in Block Kit or as plain text."""

from __future__ import annotations

from typing import Any, ClassVar

from connectors.base import Outcome, OutcomeKind, ResponseInfo
from connectors.messages import MessageConnector, answer_text

__all__ = ["SlackConnector"]


class SlackConnector(MessageConnector):
    """Posts to ``https://hooks.slack.com/services/...``; reads Slack's documented answers.

    Slack answers ``200 ok``, or a status with a short error code as the body: ``404 no_service`` /
    ``no_team`` / ``channel_not_found``, ``410 channel_is_archived`` / ``team_disabled`` and
    ``403 invalid_token`` mean the webhook no longer works (gone); ``400 invalid_payload`` and the other
    ``400``/``403`` codes mean Slack will never take this message (failed with Slack's reason); ``429`` is
    retried after ``Retry-After``; ``5xx`` (``rollup_error``) is retried.
    """

    name = "slack"
    description = "A Slack incoming-webhook message (Block Kit or text) for every Blue event."
    default_template = "slack"
    option_properties: ClassVar[dict[str, Any]] = {
        "style": {
            "enum": ["blocks", "text"],
            "default": "blocks",
            "description": "blocks: a Block Kit message with details and a link; text: one line of text.",
        }
    }

    def classify(self, response: ResponseInfo) -> Outcome:
        """Slack's answers to an incoming webhook, as documented."""
        status, code = response.status, answer_text(response)
        if 200 <= status < 300:
            return Outcome(OutcomeKind.DELIVERED)
        reason = f"slack {status} {code}".rstrip()
        if status in (404, 410) or (status == 403 and code == "invalid_token"):
            return Outcome(OutcomeKind.GONE, reason=reason)
        if status in (400, 403):
            return Outcome(OutcomeKind.FAIL, reason=reason)
        return self.otherwise(response, reason)
