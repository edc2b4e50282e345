"""Request bodies of ``/v1/webhooks``: field types whose limits are declared once and shown in OpenAPI.

``WebhookPatch`` is derived from ``WebhookCreate`` (every field optional, ``secret`` left out: rotate it
instead), so a field added to one is in both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import msgspec

from gateway.services.webhook_fields import DEFAULT_SIGNING

__all__ = [
    "HeaderName",
    "ProjectId",
    "Secret",
    "WebhookCreate",
    "WebhookName",
    "WebhookPatch",
    "WebhookUrl",
]

WebhookUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2048,
        description="http or https, no user name or password, not a private address",
    ),
]
WebhookName = Annotated[str, msgspec.Meta(max_length=200, description="A label")]
ProjectId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, description="A Blue project id")]
HeaderName = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$", description="An HTTP header name"),
]
HeaderValue = Annotated[str, msgspec.Meta(max_length=4096, pattern=r"^[^\r\n]*$", description="One line")]
Secret = Annotated[str, msgspec.Meta(min_length=8, max_length=256, description="The signing secret")]

_GROUP = {"type": "array", "items": {"type": "object"}, "description": "Child groups or conditions"}
FILTER_SCHEMA: dict[str, Any] = {
    "description": "A record filter: {all: [...]}, {any: [...]} or one condition {path, op, value}; "
    "groups nest; {} or null matches everything",
    "extra": {
        "properties": {
            "all": {**_GROUP, "description": "Every child must pass"},
            "any": {**_GROUP, "description": "At least one child must pass"},
            "path": {"type": "string", "description": "A JSONPath into the event, such as $.currentValue.id"},
            "op": {"enum": ["eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "exists", "regex"]},
            "value": {"description": "What the matched values are compared with"},
        },
    },
}
"""The shape of ``filter`` as OpenAPI shows it; compiling the filter at save is what enforces it."""
TEMPLATE_SCHEMA: dict[str, Any] = {
    "description": "A payload template: a Jinja2 body, or output fields picked by JSONPath",
    "extra": {
        "properties": {
            "body": {"type": "string", "description": "Jinja2 source of the request body"},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Output names to JSONPath expressions",
            },
            "name": {"type": "string", "description": "A named template shipped with the connector"},
            "contentType": {"type": "string", "description": "The request's Content-Type (application/json)"},
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Header names to Jinja2 value templates",
            },
        },
    },
}
"""The shape of ``template`` as OpenAPI shows it; compiling the template at save is what enforces it."""

Timeout = Annotated[
    float,
    msgspec.Meta(
        gt=0,
        description="Seconds one attempt may take (at most BLUE_GATEWAY_MAX_WEBHOOK_TIMEOUT); "
        "null: the server's BLUE_GATEWAY_ATTEMPT_TIMEOUT",
    ),
]
RetryDelay = Annotated[float, msgspec.Meta(ge=0, description="Seconds before this retry")]
RetryDelays = Annotated[
    list[RetryDelay],
    msgspec.Meta(
        description="Seconds to wait before each retry after a failed attempt, in order (±20 % jitter); the "
        "delivery fails when they run out; [] retries never; null: the server's BLUE_GATEWAY_RETRY_SCHEDULE"
    ),
]
MaxRate = Annotated[
    float,
    msgspec.Meta(
        gt=0,
        description="Most requests per second to this webhook, kept across every worker process (at most "
        "BLUE_GATEWAY_MAX_WEBHOOK_RATE); null: the connector's default (zapier, make: 30), else none",
    ),
]
OrderingMode = Annotated[
    Literal["fifo"],
    msgspec.Meta(
        description="fifo: a delivery is not sent until the one before it (same orderingKey) has been "
        "delivered or has finally failed; null: no ordering"
    ),
]
OrderingKeyName = Annotated[
    Literal["webhook", "record"],
    msgspec.Meta(
        description="With fifo, one sequence for the whole webhook (webhook) or one per record (record: the id "
        "of the event's currentValue, or previousValue for deletes)"
    ),
]
Filter = Annotated[dict[str, Any], msgspec.Meta(extra_json_schema=FILTER_SCHEMA)]
Template = Annotated[dict[str, Any], msgspec.Meta(extra_json_schema=TEMPLATE_SCHEMA)]


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /v1/webhooks``; only ``url`` is required."""

    url: WebhookUrl
    name: WebhookName = ""
    connector: str = "webhook"
    events: list[str] = msgspec.field(default_factory=list)
    projectIds: list[ProjectId] = msgspec.field(default_factory=list)
    filter: Filter | None = None
    template: Template | None = None
    secret: Secret | None = None
    enabled: bool = True
    signing: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_SIGNING))
    headers: Annotated[dict[HeaderName, HeaderValue], msgspec.Meta(max_length=32)] = msgspec.field(
        default_factory=dict
    )
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout: Timeout | None = None
    retrySchedule: RetryDelays | None = None
    maxRate: MaxRate | None = None
    ordering: OrderingMode | None = None
    orderingKey: OrderingKeyName = "webhook"


def _partial(base: type[msgspec.Struct], name: str, doc: str, *, leave_out: frozenset[str]) -> type[Any]:
    """``base`` with every field optional and absent by default (``UNSET``), minus ``leave_out``."""
    fields = [
        (f.name, f.type | msgspec.UnsetType, msgspec.UNSET)
        for f in msgspec.structs.fields(base)
        if f.name not in leave_out
    ]
    return msgspec.defstruct(name, fields, forbid_unknown_fields=True, module=__name__, namespace={"__doc__": doc})


if TYPE_CHECKING:
    # mypy cannot follow a type built at import; to it the partial reads as the body it is derived from.
    WebhookPatch: TypeAlias = WebhookCreate
else:
    WebhookPatch = _partial(
        WebhookCreate,
        "WebhookPatch",
        "Body of ``PATCH /v1/webhooks/{id}``: the fields it names replace the stored ones.",
        leave_out=frozenset({"secret"}),
    )
