"""The connector contract: ``render`` and ``classify`` are pure; the engine owns all I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import orjson

from gateway.core.catalog import get_event_type
from gateway.core.policy import FailureKind, Outcome, OutcomeKind
from gateway.core.policy import parse_retry_after as _parse_retry_after_value
from gateway.core.webhook_object import blue_webhook_object

DELETE_ON_GONE_OPTION = "_deleteOnGone"
"""Webhook option set by subscription APIs (Zapier REST Hooks): a 410 deletes the webhook."""

__all__ = [
    "DELETE_ON_GONE_OPTION",
    "TEMPLATE_VARIABLES",
    "BodyTemplate",
    "Connector",
    "DeliveryContext",
    "FailureKind",
    "OutboundRequest",
    "Outcome",
    "OutcomeKind",
    "ResponseInfo",
    "WebhookView",
    "parse_retry_after",
    "template_variables",
]

TEMPLATE_VARIABLES = (
    "event",
    "webhook",
    "previousValue",
    "currentValue",
    "company",
    "project",
    "user",
    "eventId",
    "occurredAt",
    "eventGroup",
)
"""The variables a template sees on every connector, whatever the connector's own body looks like."""


class BodyTemplate(Protocol):
    """What a compiled template offers a connector (see ``gateway.core.templating``)."""

    def render(self, context: Mapping[str, Any]) -> Any:
        """Return an object with ``body: bytes``, ``content_type: str`` and ``headers: dict[str, str]``."""


@dataclass(frozen=True)
class WebhookView:
    """What a connector may know of a webhook: never its secret.

    ``status``, ``enabled`` and ``updated_at`` are the stored values when the delivery is rendered;
    times are Unix seconds.
    """

    id: str
    uid: str
    name: str
    url: str
    connector: str
    events: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    template: BodyTemplate | None = None
    status: str = "HEALTHY"
    enabled: bool = True
    created_by_id: str | None = None
    created_at: float | None = None
    updated_at: float | None = None

    def public(self) -> dict[str, Any]:
        """The webhook as payloads and templates carry it: Blue's webhook object, with ``secret`` empty."""
        return blue_webhook_object(self, secret="")


@dataclass(frozen=True)
class DeliveryContext:
    """The stored event as the engine hands it to a connector."""

    event: str
    company_id: str
    project_id: str | None
    user: Mapping[str, Any] | None
    previous_value: Any
    current_value: Any
    occurred_at: str | None = None
    event_id: str = ""

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any]) -> DeliveryContext:
        """From a stored event envelope (``event``, ``id``, ``companyId``, ``projectId``, ``user`` ...)."""
        user = envelope.get("user")
        return cls(
            event=str(envelope.get("event", "")),
            company_id=str(envelope.get("companyId", "")),
            project_id=envelope.get("projectId"),
            user=user if isinstance(user, Mapping) else None,
            previous_value=envelope.get("previousValue"),
            current_value=envelope.get("currentValue"),
            occurred_at=envelope.get("occurredAt"),
            event_id=str(envelope.get("id", "")),
        )

    @property
    def group(self) -> str:
        """The event's family in the catalog (``record``, ``checklist``, ...), ``other`` when unknown."""
        known = get_event_type(self.event)
        return known.group if known is not None else "other"

    def blue_envelope(self, webhook: WebhookView) -> dict[str, Any]:
        """Blue's delivery body: ``event``, Blue's ``webhook`` object, ``previousValue``, ``currentValue``,
        then the ``company``, ``project`` and ``user`` ids we add after Blue's keys."""
        user = dict(self.user) if isinstance(self.user, Mapping) else None
        return {
            "event": self.event,
            "webhook": webhook.public(),
            "previousValue": self.previous_value,
            "currentValue": self.current_value,
            "company": {"id": self.company_id},
            "project": {"id": self.project_id},
            "user": {"id": user.get("id")} if user else None,
        }


@dataclass(frozen=True)
class OutboundRequest:
    """The exact body to POST (every attempt is a POST); the engine adds signatures over ``body``."""

    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResponseInfo:
    """What came back from the endpoint (the body is cut to a few KiB)."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""


def template_variables(event: DeliveryContext, webhook: WebhookView) -> dict[str, Any]:
    """The :data:`TEMPLATE_VARIABLES`: Blue's delivery keys (the event's record included), ``eventId``,
    ``occurredAt`` and ``eventGroup``."""
    return {
        **event.blue_envelope(webhook),
        "eventId": event.event_id,
        "occurredAt": event.occurred_at,
        "eventGroup": event.group,
    }


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``Retry-After`` (delta or HTTP date), capped at one hour."""
    value = None
    for key, val in headers.items():
        if key.lower() == "retry-after":
            value = val
            break
    return _parse_retry_after_value(value)


class Connector:
    """Base class of every connector; subclasses set the class attributes and may override the two hooks."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    signs: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": True}
    default_template: ClassVar[str | None] = None
    """Name of a built-in template (see ``connectors.builtin_templates``) used when the webhook has none."""
    max_requests_per_second: ClassVar[float | None] = None
    """A per-target-URL rate the engine keeps to (``None``: no limit)."""

    def context(self, event: DeliveryContext, webhook: WebhookView) -> dict[str, Any]:
        """The body sent as JSON when there is no template."""
        return event.blue_envelope(webhook)

    def template_context(self, event: DeliveryContext, webhook: WebhookView) -> dict[str, Any]:
        """What templates see: the same :data:`TEMPLATE_VARIABLES` on every connector, plus the keys of this
        connector's own body (:meth:`context`) that do not take one of their names.

        A subclass adds variables of its own by extending ``super().template_context(...)``.
        """
        own = {} if type(self).context is Connector.context else self.context(event, webhook)
        return {**own, **template_variables(event, webhook)}

    @classmethod
    def default_spec(cls) -> dict[str, Any] | None:
        """The template behind the body a webhook gets when its template gives none (only ``contentType`` or
        ``headers``, or no template at all): the built-in ``default_template``, or None for :meth:`context`
        as JSON. A plugin may return any template spec (``{"body": ...}``) to ship its own default. The engine
        compiles a webhook's template over this, so the choice is made here only."""
        return {"name": cls.default_template} if cls.default_template is not None else None

    def template_for(self, webhook: WebhookView) -> BodyTemplate | None:
        """The webhook's own template, else the one :meth:`default_spec` names, else None (raw JSON)."""
        if webhook.template is not None:
            return webhook.template
        spec = self.default_spec()
        if spec is None:
            return None
        from connectors.builtin_templates import builtin_template, compiled_default

        if set(spec) == {"name"}:
            return builtin_template(spec["name"])
        # A plugin may ship its own default (``{"body": ...}``): compiled once per connector class.
        return compiled_default(type(self), spec)

    def render(self, event: DeliveryContext, webhook: WebhookView) -> OutboundRequest:
        """Turn the event into the request body; templates raise their own errors."""
        template = self.template_for(webhook)
        rendered = template.render(self.template_context(event, webhook)) if template is not None else None
        if rendered is None or getattr(template, "kind", None) == "raw":
            # No template gives a body (at most contentType/headers): the connector's own body, as JSON.
            body = orjson.dumps(self.context(event, webhook))
        else:
            body = rendered.body
        if rendered is None:
            return OutboundRequest(body=body)
        return OutboundRequest(body=body, content_type=rendered.content_type, headers=dict(rendered.headers))

    def classify(self, response: ResponseInfo) -> Outcome:
        """2xx delivered; 410 gone; 429/503 retry honouring Retry-After; anything else retried."""
        status = response.status
        if 200 <= status < 300:
            return Outcome(OutcomeKind.DELIVERED)
        if status == 410:
            return Outcome(OutcomeKind.GONE, reason="gone")
        if status in (429, 503):
            return Outcome(
                OutcomeKind.RETRY, retry_after=parse_retry_after(response.headers), reason=f"http {status}"
            )
        return Outcome(OutcomeKind.RETRY, reason=f"http {status}")
