"""The ``discord`` connector: a Discord webhook message with an embed (or plain content)."""

from __future__ import annotations

from typing import Any, ClassVar

from connectors.base import Outcome, OutcomeKind, ResponseInfo, parse_retry_after
from connectors.messages import MessageConnector, answer_json, answer_text
from gateway.core.policy import MAX_RETRY_AFTER

__all__ = ["DiscordConnector"]

GONE_CODES = {10015: "Unknown Webhook", 50027: "Invalid Webhook Token"}


def _first_error(errors: Any, path: str = "") -> str | None:
    """The first ``path: message`` of Discord's nested ``errors`` object (``embeds.0.title: Must be ...``)."""
    if not isinstance(errors, dict):
        return None
    found = errors.get("_errors")
    if isinstance(found, list) and found and isinstance(found[0], dict):
        return f"{path}: {found[0].get('message', '')}".lstrip(": ")
    for key, sub in errors.items():
        deeper = _first_error(sub, f"{path}.{key}" if path else str(key))
        if deeper:
            return deeper
    return None


def _retry_after(response: ResponseInfo, body: dict[str, Any]) -> float | None:
    """Discord's JSON ``retry_after`` (seconds, a float), else the ``Retry-After`` header."""
    value = body.get("retry_after")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return min(float(value), MAX_RETRY_AFTER)
    return parse_retry_after(response.headers)


class DiscordConnector(MessageConnector):
    """Posts to ``https://discord.com/api/webhooks/<id>/<token>``; reads Discord's documented answers.

    ``2xx`` (``204 No Content``) delivers; ``404`` (``{"code": 10015, "message": "Unknown Webhook"}``) and
    ``401`` (``50027 Invalid Webhook Token``) mean the webhook was deleted (gone); ``429`` is retried after
    the JSON ``retry_after`` seconds; other ``4xx`` (``50035 Invalid Form Body``) fail with Discord's reason.
    Mentions are never parsed, so a title such as ``@everyone`` pings nobody.
    """

    name = "discord"
    description = "A Discord webhook message (an embed, or plain content) for every Blue event."
    default_template = "discord"
    option_properties: ClassVar[dict[str, Any]] = {
        "style": {
            "enum": ["embed", "text"],
            "default": "embed",
            "description": "embed: a rich embed with details and a link; text: one line of content.",
        },
        "username": {"type": "string", "minLength": 1, "maxLength": 80, "description": "Overrides the name."},
        "avatarUrl": {"type": "string", "pattern": "^https?://", "description": "Overrides the avatar image."},
    }

    def classify(self, response: ResponseInfo) -> Outcome:
        """Discord's answers to an Execute Webhook request, as documented."""
        status = response.status
        if 200 <= status < 300:
            return Outcome(OutcomeKind.DELIVERED)
        body = answer_json(response)
        code = body.get("code")
        message = str(body.get("message") or answer_text(response))
        reason = f"discord {status} {code}: {message}" if code is not None else f"discord {status} {message}"
        if status == 429:
            return Outcome(OutcomeKind.RETRY, retry_after=_retry_after(response, body), reason=reason)
        if status == 404 or code in GONE_CODES:
            return Outcome(OutcomeKind.GONE, reason=reason)
        if 400 <= status < 500:
            detail = _first_error(body.get("errors"))
            return Outcome(OutcomeKind.FAIL, reason=f"{reason} ({detail})" if detail else reason)
        return self.otherwise(response, reason)
