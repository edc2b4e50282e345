"""A webhook's request fields checked against what the runtime knows, turned into column values.

Shapes and lengths are declared on the request types; what is checked here needs the catalog, the
loaded connectors, the filter and template compilers or a DNS-free look at the URL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import jsonschema

from connectors.registry import ConnectorRegistry
from gateway.core.catalog import SUBSCRIBABLE
from gateway.core.delivery_controls import ControlBounds, ControlRefused, check_controls
from gateway.core.filters import FilterError, compile_filter
from gateway.core.headers import is_reserved_header
from gateway.core.signing import SIGNING_SCHEMES
from gateway.core.ssrf import TargetRefused, check_url
from gateway.core.templating import TemplateError
from gateway.services.errors import Invalid

__all__ = ["DEFAULT_SIGNING", "FieldChecker", "TemplateInvalid"]

DEFAULT_SIGNING: Final = ("blue", "standard")
"""The signature schemes of a webhook that names none."""
TemplateCompiler = Callable[[Mapping[str, Any], str], Any]


class TemplateInvalid(Invalid):
    """A template refused at save: the template error's own text, with its line and column."""

    def __init__(self, error: TemplateError) -> None:
        super().__init__(error.field, error.reason)
        self.details = {"line": error.line, "column": error.column}
        self.text = str(error)

    def __str__(self) -> str:
        return self.text


class FieldChecker:
    """Checks the webhook fields a create or an update names (camelCase keys) and returns column values."""

    def __init__(
        self,
        connectors: ConnectorRegistry,
        *,
        allow_private: bool,
        compile_template: TemplateCompiler,
        bounds: ControlBounds,
    ):
        self._connectors = connectors
        self._allow_private = allow_private
        self._compile_template = compile_template
        self._bounds = bounds

    def check(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Every given field checked; raises :class:`Invalid` naming the first one refused."""
        out: dict[str, Any] = {}
        if "url" in fields:
            try:
                check_url(fields["url"], allow_private=self._allow_private)
            except TargetRefused as exc:
                raise Invalid("url", str(exc)) from None
            out["url"] = fields["url"]
        if "name" in fields:
            out["name"] = fields["name"]
        if "connector" in fields:
            if self._connectors.get(fields["connector"]) is None:
                known = ", ".join(self._connectors.names())
                raise Invalid("connector", f"unknown connector {fields['connector']!r}; known: {known}")
            out["connector"] = fields["connector"]
        if "events" in fields:
            bad = sorted({e for e in fields["events"] if e not in SUBSCRIBABLE})
            if bad:
                raise Invalid("events", "not in the event catalog: " + ", ".join(bad))
            out["events"] = sorted(set(fields["events"]))
        if "projectIds" in fields:
            out["project_ids"] = sorted(set(fields["projectIds"]))
        if "filter" in fields:
            try:
                compile_filter(fields["filter"])
            except FilterError as exc:
                raise Invalid("filter", str(exc)) from None
            out["filter"] = fields["filter"] or None
        if "template" in fields:
            out["template"] = self._template(fields["template"], fields.get("connector"))
        if "enabled" in fields:
            out["enabled"] = bool(fields["enabled"])
        if "signing" in fields:
            bad = sorted(set(fields["signing"]) - SIGNING_SCHEMES)
            if bad:
                raise Invalid("signing", "unknown schemes: " + ", ".join(bad) + "; use blue, standard, github")
            out["signing"] = list(dict.fromkeys(fields["signing"]))
        if "headers" in fields:
            reserved = [name for name in fields["headers"] if is_reserved_header(name)]
            if reserved:
                raise Invalid("headers", f"{reserved[0]} is set by the gateway and cannot be overridden")
            out["headers"] = dict(fields["headers"])
        if "options" in fields:
            out["options"] = self._options(fields["options"], fields.get("connector", "webhook"))
        try:
            out.update(check_controls(fields, self._bounds))
        except ControlRefused as exc:
            raise Invalid(exc.field, str(exc)) from None
        return out

    def _template(self, spec: Mapping[str, Any] | None, connector: str | None) -> dict[str, Any] | None:
        if not spec:
            return None
        try:
            self._compile_template(spec, connector or "webhook")
        except TemplateError as exc:
            raise TemplateInvalid(exc) from None
        return dict(spec)

    def _options(self, options: Mapping[str, Any], connector_name: str) -> dict[str, Any]:
        reserved = sorted(k for k in options if k.startswith("_"))
        if reserved:
            raise Invalid("options", "keys starting with '_' are reserved: " + ", ".join(reserved))
        connector = self._connectors.get(connector_name)
        if connector is not None:
            _check_options(options, connector.options_schema)
        return dict(options)


def _check_options(options: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Options must satisfy the connector's JSON Schema (``optionsSchema`` in ``GET /v1/connectors``)."""
    try:
        validator = jsonschema.Draft202012Validator(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(options))
    except jsonschema.exceptions.SchemaError:
        return  # a plugin's broken schema must not block its users; the plugin author sees it in tests
    if error is not None:
        where = "options" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
        raise Invalid(where, error.message)
