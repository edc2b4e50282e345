"""The webhook form: what the browser posts turned into the fields the webhook service checks, and back.

The form only reshapes; the webhook service checks every value exactly as it does for the API, so the
portal can accept nothing the API would refuse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from litestar.datastructures import FormMultiDict

from gateway.core.catalog import CATALOG, EventType
from gateway.core.jsonlimits import JsonLimitExceeded, MalformedJson, decode_bounded
from gateway.services.errors import Invalid
from gateway.services.webhooks import WebhookRecord

__all__ = [
    "FILTER_OPS",
    "SIGNING",
    "Condition",
    "OptionField",
    "WebhookForm",
    "event_groups",
    "option_fields",
    "parse_webhook_form",
]

FILTER_OPS: Final = ("eq", "ne", "in", "nin", "contains", "exists", "gt", "gte", "lt", "lte", "regex")
SIGNING: Final = (
    ("blue", "Blue (X-Signature, hex HMAC-SHA256)"),
    ("standard", "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)"),
    ("github", "GitHub style (X-Hub-Signature-256)"),
)
MAX_CONDITIONS: Final = 20
MAX_HEADERS: Final = 32


@dataclass(frozen=True)
class Condition:
    """One row of the filter builder."""

    path: str = ""
    op: str = "eq"
    value: str = ""


@dataclass(frozen=True)
class OptionField:
    """One connector option as a form control, read from the connector's options schema."""

    name: str
    kind: str  # "bool", "number", "choice", "text" or "json"
    label: str
    description: str
    value: str
    choices: tuple[str, ...] = ()


@dataclass
class WebhookForm:
    """The form's values as shown again (after an error, or when editing)."""

    name: str = ""
    url: str = ""
    connector: str = "webhook"
    events: list[str] = field(default_factory=list)
    projects: str = ""
    filter_mode: str = "all"
    conditions: list[Condition] = field(default_factory=list)
    filter_json: str = ""
    signing: list[str] = field(default_factory=lambda: ["blue", "standard"])
    header_names: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, record: WebhookRecord) -> WebhookForm:
        """The form of a stored webhook (header values are never shown)."""
        mode, conditions = _conditions_of(record.filter)
        flat = _flat(record.filter)
        return cls(
            name=record.name,
            url=record.url,
            connector=record.connector,
            events=list(record.events),
            projects=", ".join(record.project_ids),
            filter_mode=mode,
            conditions=conditions if flat else [],
            filter_json="" if flat else json.dumps(record.filter, indent=2),
            signing=list(record.signing),
            header_names=list(record.header_names),
            options={k: v for k, v in record.options.items() if not k.startswith("_")},
        )


def event_groups() -> list[tuple[str, list[EventType]]]:
    """The catalog by family, in catalog order."""
    groups: dict[str, list[EventType]] = {}
    for event_type in CATALOG:
        groups.setdefault(event_type.group, []).append(event_type)
    return list(groups.items())


def option_fields(schema: dict[str, Any], values: dict[str, Any]) -> list[OptionField]:
    """Form controls for a connector's options schema (its top-level properties)."""
    out: list[OptionField] = []
    properties = schema.get("properties") or {}
    for name, spec in properties.items():
        if not isinstance(spec, dict) or name.startswith("_"):
            continue
        current = values.get(name, spec.get("default"))
        kind = spec.get("type")
        if "enum" in spec:
            choices = tuple(str(c) for c in spec["enum"])
            out.append(_field(name, "choice", spec, "" if current is None else str(current), choices))
        elif kind == "boolean":
            out.append(_field(name, "bool", spec, "true" if current else ""))
        elif kind in ("integer", "number"):
            out.append(_field(name, "number", spec, "" if current is None else str(current)))
        elif kind == "string":
            out.append(_field(name, "text", spec, "" if current is None else str(current)))
        else:
            out.append(_field(name, "json", spec, "" if current is None else json.dumps(current)))
    return out


def _field(name: str, kind: str, spec: dict[str, Any], value: str, choices: tuple[str, ...] = ()) -> OptionField:
    label = str(spec.get("title") or name)
    return OptionField(name, kind, label, str(spec.get("description") or ""), value, choices)


def _conditions_of(spec: dict[str, Any] | None) -> tuple[str, list[Condition]]:
    if not spec:
        return "all", []
    mode = "any" if "any" in spec else "all"
    children = spec.get(mode)
    if not isinstance(children, list):
        children = [spec]
    rows = []
    for child in children:
        if isinstance(child, dict) and "path" in child:
            value = child.get("value")
            text = value if isinstance(value, str) else "" if value is None else json.dumps(value)
            rows.append(Condition(str(child["path"]), str(child.get("op", "eq")), text))
    return mode, rows


def _flat(spec: dict[str, Any] | None) -> bool:
    """Can the builder show this filter: nothing, or one all/any group of plain conditions?"""
    if not spec:
        return True
    if set(spec) - {"all", "any"} or len(spec) != 1:
        return False
    children = next(iter(spec.values()))
    return isinstance(children, list) and all(
        isinstance(c, dict) and set(c) <= {"path", "op", "value"} and "path" in c for c in children
    )


def _json(text: str, field: str) -> Any:
    """Typed JSON, held to the same limits as an API body (depth, integer range); :class:`Invalid` otherwise."""
    try:
        return decode_bounded(text.encode("utf-8", "surrogatepass"))
    except JsonLimitExceeded as exc:
        raise Invalid(field, f"the JSON breaks a limit at {exc.path}: {exc.message}") from None
    except MalformedJson as exc:
        raise Invalid(field, f"not JSON: {exc}") from None


def _value(op: str, text: str) -> Any:
    """A condition's value: JSON when it reads as JSON (numbers, lists, true), else the text itself."""
    text = text.strip()
    if op == "exists":
        return text.lower() not in ("false", "no", "0")
    if op in ("in", "nin") and not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    if op in ("regex", "contains", "eq", "ne") and not text:
        return text
    try:
        return _json(text, "filter")
    except Invalid as exc:
        if "breaks a limit" in exc.message:
            raise
        return text


def _filter(form: FormMultiDict) -> tuple[str, list[Condition], dict[str, Any] | None]:
    raw = str(form.get("filter_json") or "").strip()
    if raw:
        spec = _json(raw, "filter")
        if not isinstance(spec, dict):
            raise Invalid("filter", 'the JSON filter must be an object such as {"all": [...]}')
        return "all", [], spec or None
    mode = str(form.get("filter_mode") or "all")
    if mode not in ("all", "any"):
        raise Invalid("filter", "choose all or any")
    paths, ops, values = (
        form.getall("filter_path", []),
        form.getall("filter_op", []),
        form.getall("filter_value", []),
    )
    rows: list[Condition] = []
    for i, path in enumerate(paths):
        path = str(path).strip()
        op = str(ops[i]) if i < len(ops) else "eq"
        value = str(values[i]) if i < len(values) else ""
        if not path:
            continue
        rows.append(Condition(path, op, value))
    if len(rows) > MAX_CONDITIONS:
        raise Invalid("filter", f"at most {MAX_CONDITIONS} conditions")
    spec = {mode: [{"path": r.path, "op": r.op, "value": _value(r.op, r.value)} for r in rows]} if rows else None
    return mode, rows, spec


def _options(form: FormMultiDict, schema: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for f in option_fields(schema, {}):
        raw = str(form.get("opt_" + f.name) or "").strip()
        if f.kind == "bool":
            options[f.name] = raw == "true"
        elif not raw:
            continue
        elif f.kind == "number":
            try:
                options[f.name] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
            except ValueError:
                raise Invalid(f"options.{f.name}", "must be a number") from None
        elif f.kind == "json":
            options[f.name] = _json(raw, f"options.{f.name}")
        else:
            options[f.name] = raw
    return options


def parse_webhook_form(
    form: FormMultiDict, schemas: dict[str, dict[str, Any]], *, editing: WebhookRecord | None = None
) -> tuple[WebhookForm, dict[str, Any]]:
    """The values to show again and the fields for the webhook service; :class:`Invalid` for a bad shape."""
    shown = WebhookForm(
        name=str(form.get("name") or "").strip(),
        url=str(form.get("url") or "").strip(),
        connector=str(form.get("connector") or "webhook"),
        events=[str(e) for e in form.getall("events", [])],
        projects=str(form.get("projects") or ""),
        signing=[str(s) for s in form.getall("signing", [])],
        header_names=[str(n).strip() for n in form.getall("header_name", []) if str(n).strip()],
    )
    fields: dict[str, Any] = {
        "name": shown.name,
        "url": shown.url,
        "connector": shown.connector,
        "events": shown.events,
        "projectIds": [p.strip() for p in shown.projects.split(",") if p.strip()],
        "signing": shown.signing,
    }
    shown.filter_json = str(form.get("filter_json") or "")
    shown.filter_mode, shown.conditions, fields["filter"] = _filter(form)
    schema = schemas.get(shown.connector)
    if schema is None:
        raise Invalid("connector", f"unknown connector {shown.connector!r}")
    shown.options = fields["options"] = _options(form, schema)
    names, values = form.getall("header_name", []), form.getall("header_value", [])
    headers = {
        str(n).strip(): str(values[i])
        for i, n in enumerate(names)
        if str(n).strip() and i < len(values) and values[i]
    }
    if len(headers) > MAX_HEADERS:
        raise Invalid("headers", f"at most {MAX_HEADERS} headers")
    # Stored header values are never shown: on edit, typing any value replaces them all; so does "remove".
    if editing is None or headers or form.get("clear_headers") == "true":
        fields["headers"] = headers
        shown.header_names = sorted(headers)
    return shown, fields
