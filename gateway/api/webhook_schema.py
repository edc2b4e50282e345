"""Request bodies of ``/v1/webhooks`` and their validation into column values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jsonschema
import msgspec

from connectors.registry import ConnectorRegistry
from gateway.api.errors import Unprocessable, template_unprocessable
from gateway.core.catalog import SUBSCRIBABLE
from gateway.core.filters import FilterError, compile_filter
from gateway.core.signing import SIGNING_SCHEMES
from gateway.core.ssrf import TargetRefused, check_url
from gateway.core.templating import TemplateError

__all__ = ["WebhookCreate", "WebhookPatch", "validate_webhook_fields"]

UNSET: Any = msgspec.UNSET
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "user-agent",
        "x-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-hub-signature-256",
        "x-blue-event",
    }
)
DEFAULT_SIGNING = ["blue", "standard"]


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /v1/webhooks``; only ``url`` is required."""

    url: str
    name: str = ""
    connector: str = "webhook"
    events: list[str] = msgspec.field(default_factory=list)
    projectIds: list[str] = msgspec.field(default_factory=list)
    filter: dict[str, Any] | None = None
    template: dict[str, Any] | None = None
    secret: str | None = None
    enabled: bool = True
    signing: list[str] | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    options: dict[str, Any] = msgspec.field(default_factory=dict)


class WebhookPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PATCH /v1/webhooks/{id}``: the fields it names replace the stored ones."""

    url: str | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    connector: str | msgspec.UnsetType = msgspec.UNSET
    events: list[str] | msgspec.UnsetType = msgspec.UNSET
    projectIds: list[str] | msgspec.UnsetType = msgspec.UNSET
    filter: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    template: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    signing: list[str] | msgspec.UnsetType = msgspec.UNSET
    headers: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    options: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


def validate_webhook_fields(
    fields: Mapping[str, Any],
    *,
    connectors: ConnectorRegistry,
    allow_private: bool,
    compile_template: Any,
) -> dict[str, Any]:
    """Check every given field; returns column values. Raises :class:`Unprocessable` naming the field."""
    out: dict[str, Any] = {}
    if "url" in fields:
        url = fields["url"]
        if not isinstance(url, str) or len(url) > 2048:
            raise Unprocessable("url", "must be a URL of at most 2048 characters")
        try:
            check_url(url, allow_private=allow_private)
        except TargetRefused as exc:
            raise Unprocessable("url", str(exc)) from None
        out["url"] = url
    if "name" in fields:
        if len(fields["name"]) > 200:
            raise Unprocessable("name", "at most 200 characters")
        out["name"] = fields["name"]
    if "connector" in fields:
        if connectors.get(fields["connector"]) is None:
            raise Unprocessable(
                "connector", f"unknown connector {fields['connector']!r}; known: " + ", ".join(connectors.names())
            )
        out["connector"] = fields["connector"]
    if "events" in fields:
        bad = sorted({e for e in fields["events"] if e not in SUBSCRIBABLE})
        if bad:
            raise Unprocessable("events", "not in the event catalog: " + ", ".join(bad))
        out["events"] = sorted(set(fields["events"]))
    if "projectIds" in fields:
        ids = fields["projectIds"]
        if any(not p or len(p) > 128 for p in ids):
            raise Unprocessable("projectIds", "ids must be 1 to 128 characters")
        out["project_ids"] = sorted(set(ids))
    if "filter" in fields:
        try:
            compile_filter(fields["filter"])
        except FilterError as exc:
            raise Unprocessable("filter", str(exc)) from None
        out["filter"] = fields["filter"] or None
    if "template" in fields:
        out["template"] = _checked_template(fields["template"], fields.get("connector"), compile_template)
    if "enabled" in fields:
        out["enabled"] = bool(fields["enabled"])
    if "signing" in fields:
        schemes = fields["signing"]
        bad = sorted(set(schemes) - SIGNING_SCHEMES)
        if bad:
            raise Unprocessable("signing", "unknown schemes: " + ", ".join(bad) + "; use blue, standard, github")
        out["signing"] = list(dict.fromkeys(schemes))
    if "headers" in fields:
        out["headers"] = _checked_headers(fields["headers"])
    if "options" in fields:
        reserved = sorted(k for k in fields["options"] if k.startswith("_"))
        if reserved:
            raise Unprocessable("options", "keys starting with '_' are reserved: " + ", ".join(reserved))
        connector = connectors.get(fields.get("connector", "webhook"))
        if connector is not None:
            _check_options(fields["options"], connector.options_schema)
        out["options"] = fields["options"]
    return out


def _checked_template(spec: Any, connector: str | None, compile_template: Any) -> dict[str, Any] | None:
    if not spec:
        return None
    try:
        compile_template(spec, connector or "webhook")
    except TemplateError as exc:
        raise template_unprocessable(exc) from None
    return dict(spec)


def _checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    if len(headers) > 32:
        raise Unprocessable("headers", "at most 32 custom headers")
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise Unprocessable("headers", f"{name!r} is not a valid header name")
        if name.lower() in _RESERVED_HEADERS:
            raise Unprocessable("headers", f"{name} is set by the gateway and cannot be overridden")
        if "\r" in value or "\n" in value or len(value) > 4096:
            raise Unprocessable("headers", f"value of {name} must be one line of at most 4096 characters")
    return dict(headers)


def _check_options(options: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Options must satisfy the connector's JSON Schema (``optionsSchema`` in ``GET /v1/connectors``)."""
    try:
        validator = jsonschema.Draft202012Validator(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(options))
    except jsonschema.exceptions.SchemaError:
        return  # a plugin's broken schema must not block its users; the plugin author sees it in tests
    if error is not None:
        where = "options" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
        raise Unprocessable(where, error.message)
