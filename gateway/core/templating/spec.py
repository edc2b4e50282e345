"""compile_template: validate a template spec (body, fields, name, contentType, headers) and compile its
Jinja2 sources against the sandbox, refusing at save time what the sandbox never allows."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn

from jinja2 import Template, nodes
from jinja2.exceptions import TemplateSyntaxError

from gateway.core.headers import is_reserved_header
from gateway.core.jsonpath import parse_jsonpath
from gateway.core.templating.errors import TemplateError, syntax_error, truncate
from gateway.core.templating.guards import GuardTransformer
from gateway.core.templating.limits import (
    DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_TIME_LIMIT,
    MAX_FIELDS,
    MAX_HEADER_VALUE_BYTES,
    MAX_HEADERS,
    MAX_SOURCE_CHARS,
)
from gateway.core.templating.rendering import CompiledTemplate, TemplateRecipe, is_json_content_type
from gateway.core.templating.sandbox import ENV, is_dunder

__all__ = ["DEFAULT_CONTENT_TYPE", "compile_template"]

DEFAULT_CONTENT_TYPE: Final = "application/json"
"""Content type when a template names none."""
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
        if is_reserved_header(lower):
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
        path, error = parse_jsonpath(expr)
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
            return build(None, fallback).with_overrides(content_type, headers)
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


def _token_column(source: str, line: int | None, token: str | None) -> int | None:
    """1-based column of ``token`` on ``line`` of ``source`` (first ``{{``/``{%`` or 1 if not found)."""
    if line is None:
        return None
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not 1 <= line <= len(lines):
        return 1
    text = lines[line - 1]
    if token:
        index = text.find(token)
        if index >= 0:
            return index + 1
    starts = [i for i in (text.find("{{"), text.find("{%")) if i >= 0]
    return min(starts) + 1 if starts else 1


def _check_ast(ast: nodes.Template, source: str, field: str) -> None:
    """Refuse what the sandbox never allows, at save time, with a line and column."""

    def fail(reason: str, node: nodes.Node, token: str | None) -> NoReturn:
        raise TemplateError(
            reason, field=field, line=node.lineno, column=_token_column(source, node.lineno, token)
        )

    loaders = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
    for loader_node in ast.find_all(loaders):
        keyword = type(loader_node).__name__.lower().replace("fromimport", "from")
        fail(f"unsafe: {{% {keyword} %}} is not supported (templates cannot load files or other templates)",
             loader_node, keyword)  # fmt: skip
    for name_node in ast.find_all(nodes.Name):
        if name_node.name == "self":
            fail("unsafe: 'self' is not available in templates", name_node, "self")
    for attr_node in ast.find_all(nodes.Getattr):
        if is_dunder(attr_node.attr):
            fail(f"unsafe attribute access: {attr_node.attr!r}", attr_node, attr_node.attr)
    for item_node in ast.find_all(nodes.Getitem):
        arg = item_node.arg
        if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and is_dunder(arg.value):
            fail(f"unsafe attribute access: {arg.value!r}", item_node, arg.value)
    for filter_node in ast.find_all(nodes.Filter):
        if filter_node.name == "attr" and filter_node.args:
            first = filter_node.args[0]
            if isinstance(first, nodes.Const) and isinstance(first.value, str) and is_dunder(first.value):
                fail(f"unsafe attribute access: {first.value!r}", filter_node, first.value)
    # Pre-parse literal JSONPath arguments so rendering only hits the cache.
    for call_node in ast.find_all(nodes.Call):
        callee = call_node.node
        if not (isinstance(callee, nodes.Name) and callee.name in ("jsonpath", "jsonpath_first")):
            continue
        expr_node: nodes.Expr | None = call_node.args[0] if call_node.args else None
        for keyword_arg in call_node.kwargs:
            if keyword_arg.key == "expr":
                expr_node = keyword_arg.value
        if isinstance(expr_node, nodes.Const) and isinstance(expr_node.value, str):
            _, error = parse_jsonpath(expr_node.value)
            if error is not None:
                fail(error, call_node, callee.name)


def _compile_jinja(source: Any, field: str) -> Template:
    """Parse, check, guard and compile one Jinja2 source."""
    if not isinstance(source, str):
        raise TemplateError("must be a string", field=field)
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateError(f"template longer than {MAX_SOURCE_CHARS} characters", field=field)
    try:
        ast = ENV.parse(source)
        _check_ast(ast, source, field)
        GuardTransformer(ENV).visit(ast)
        return ENV.from_string(ast)
    except TemplateError:
        raise
    except TemplateSyntaxError as exc:
        raise syntax_error(source, exc, field) from None
    except RecursionError:
        raise TemplateError("template is nested too deeply", field=field) from None
    except Exception as exc:  # anything else Jinja may raise while compiling
        raise TemplateError(truncate(f"{type(exc).__name__}: {exc}"), field=field) from None
