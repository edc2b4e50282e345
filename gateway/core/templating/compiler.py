"""compile_template: validate a template spec (body, fields, name, contentType, headers) and compile it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from jinja2 import Template

from gateway.core.templating.errors import TemplateError
from gateway.core.templating.jsonpath import _parse_jsonpath
from gateway.core.templating.limits import (
    DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_TIME_LIMIT,
    MAX_FIELDS,
    MAX_HEADER_VALUE_BYTES,
    MAX_HEADERS,
)
from gateway.core.templating.rendering import CompiledTemplate, TemplateRecipe, is_json_content_type
from gateway.core.templating.source import _compile_jinja

DEFAULT_CONTENT_TYPE: Final = "application/json"
"""Content type when a template names none."""
RESERVED_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "webhook-id",
        "webhook-signature",
        "webhook-timestamp",
        "x-blue-event",
        "x-hub-signature-256",
        "x-signature",
    }
)
"""Header names (lower case) a template may not set: framing, ``content-type`` (use ``contentType``),
the gateway's own ``user-agent`` / ``x-blue-event`` and the signature headers. ``proxy-*`` is refused too."""

_SPEC_KEYS: Final = ("body", "fields", "name", "contentType", "headers")
_HEADER_NAME_RE: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$")
_MEDIA_CHARS: Final = r"[A-Za-z0-9!#$&^_.+\-]+"
_CONTENT_TYPE_RE: Final = re.compile(
    rf'^{_MEDIA_CHARS}/{_MEDIA_CHARS}(?:[ \t]*;[ \t]*{_MEDIA_CHARS}=(?:{_MEDIA_CHARS}|"[^"\\\r\n]*"))*[ \t]*$'
)
_TEMPLATE_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,99}$")


def _validate_content_type(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255 or not _CONTENT_TYPE_RE.match(value):
        raise TemplateError("must be a media type such as 'application/json'", field="template.contentType")
    return value


def _compile_headers(raw: Any) -> list[tuple[str, Template]]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise TemplateError("must be an object of header names to template strings", field="template.headers")
    if len(raw) > MAX_HEADERS:
        raise TemplateError(f"at most {MAX_HEADERS} headers", field="template.headers")
    compiled: list[tuple[str, Template]] = []
    seen: set[str] = set()
    for name, value in raw.items():
        field = f"template.headers.{name}"
        if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
            raise TemplateError("invalid header name", field=field)
        lower = name.lower()
        if lower == "content-type":
            raise TemplateError("set the content type with 'contentType'", field=field)
        if lower in RESERVED_HEADERS or lower.startswith("proxy-"):
            raise TemplateError(f"header {name!r} is set by the gateway and cannot be templated", field=field)
        if lower in seen:
            raise TemplateError("duplicate header name (names are case-insensitive)", field=field)
        seen.add(lower)
        if not isinstance(value, str):
            raise TemplateError("must be a string", field=field)
        if len(value) > MAX_HEADER_VALUE_BYTES:
            raise TemplateError(f"longer than {MAX_HEADER_VALUE_BYTES} characters", field=field)
        if any(ch in value for ch in "\r\n\0"):
            raise TemplateError("header value must not contain CR, LF or NUL", field=field)
        compiled.append((name, _compile_jinja(value, field)))
    return compiled


def _compile_fields(raw: Any) -> list[tuple[str, Any]]:
    if not isinstance(raw, Mapping) or not raw:
        raise TemplateError("must be a non-empty object of names to JSONPath expressions", field="template.fields")
    if len(raw) > MAX_FIELDS:
        raise TemplateError(f"at most {MAX_FIELDS} fields", field="template.fields")
    compiled: list[tuple[str, Any]] = []
    for key, expr in raw.items():
        field = f"template.fields.{key}"
        if not isinstance(key, str) or not key or len(key) > 200:
            raise TemplateError("field names must be non-empty strings of at most 200 characters", field=field)
        if not isinstance(expr, str):
            raise TemplateError("must be a JSONPath string", field=field)
        path, error = _parse_jsonpath(expr)
        if error is not None:
            raise TemplateError(error, field=field)
        compiled.append((key, path))
    return compiled


def _positive(value: float, name: str) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive")


def compile_template(
    spec: Mapping[str, Any] | None,
    *,
    default: Mapping[str, Any] | None = None,
    loader: Callable[[str], str] | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> CompiledTemplate:
    """Validate and compile a template spec (see the module docstring for the forms).

    ``default`` is used when ``spec`` is ``None`` or ``{}`` (else the raw envelope is sent as JSON);
    ``loader(name)`` returns the Jinja2 source of a named built-in template. The limits become the
    defaults of :meth:`CompiledTemplate.render`. Raises :class:`TemplateError`.
    """
    _positive(time_limit, "time_limit")
    _positive(max_output_bytes, "max_output_bytes")
    _positive(max_value_bytes, "max_value_bytes")
    limits: dict[str, Any] = {
        "time_limit": time_limit,
        "max_output_bytes": max_output_bytes,
        "max_value_bytes": max_value_bytes,
    }

    named: dict[str, str] = {}

    def load(name: Any) -> str:
        source = _load_named(name, loader)
        named[name] = source
        return source

    def build(current: Mapping[str, Any] | None, fallback: Mapping[str, Any] | None) -> CompiledTemplate:
        if current is None or (isinstance(current, Mapping) and not current):
            if fallback:
                return build(fallback, None)
            return CompiledTemplate(kind="raw", content_type=DEFAULT_CONTENT_TYPE, **limits)
        if not isinstance(current, Mapping):
            raise TemplateError("must be an object")
        for key in current:
            if key not in _SPEC_KEYS:
                raise TemplateError(
                    "unknown key; allowed: body, fields, name, contentType, headers", field=f"template.{key}"
                )
        kinds = [key for key in ("body", "fields", "name") if key in current]
        if len(kinds) > 1:
            raise TemplateError("use only one of 'body', 'fields' or 'name'")
        content_type = _validate_content_type(current.get("contentType"))
        headers = _compile_headers(current.get("headers"))
        if not kinds:
            return build(None, fallback)._with_overrides(content_type, headers)
        kind = kinds[0]
        if kind == "fields":
            if content_type is not None and not is_json_content_type(content_type):
                raise TemplateError(
                    "fields templates render JSON: use a JSON media type", field="template.contentType"
                )
            fields = _compile_fields(current["fields"])
            return CompiledTemplate(
                kind="fields",
                content_type=content_type or DEFAULT_CONTENT_TYPE,
                fields=fields,
                headers=headers,
                **limits,
            )
        if kind == "body":
            template = _compile_jinja(current["body"], "template.body")
        else:
            template = _compile_jinja(load(current["name"]), "template.name")
        return CompiledTemplate(
            kind="jinja",
            content_type=content_type or DEFAULT_CONTENT_TYPE,
            template=template,
            headers=headers,
            **limits,
        )

    compiled = build(spec, default)
    # Only the caller's ``spec`` is tenant-written: a ``body`` or header in it is Jinja someone else wrote,
    # while named templates and the ``default`` are the gateway's own sources.
    tenant_jinja = isinstance(spec, Mapping) and ("body" in spec or bool(spec.get("headers")))
    if tenant_jinja:
        compiled.recipe = TemplateRecipe(spec=spec, default=default, named=named, **limits)
    return compiled


def _load_named(name: Any, loader: Callable[[str], str] | None) -> str:
    if not isinstance(name, str) or not _TEMPLATE_NAME_RE.match(name) or ".." in name:
        raise TemplateError("must be a template name such as 'record'", field="template.name")
    if loader is None:
        raise TemplateError(f"unknown template {name!r} (no built-in templates available)", field="template.name")
    try:
        source = loader(name)
    except TemplateError:
        raise
    except (LookupError, OSError, ValueError):
        raise TemplateError(f"unknown template {name!r}", field="template.name") from None
    if not isinstance(source, str):
        raise TemplateError(f"unknown template {name!r}", field="template.name")
    return source
