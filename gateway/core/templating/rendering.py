"""A compiled template and how it renders: chunk by chunk, under the deadline and the byte limits."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from jinja2 import Template

from gateway.core.templating.errors import TemplateError, render_reason, template_line, truncate
from gateway.core.templating.filters import find_values, json_default
from gateway.core.templating.limits import (
    DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_TIME_LIMIT,
    MAX_HEADER_VALUE_BYTES,
    RENDER_STATE,
    LimitExceeded,
    RenderState,
)

__all__ = ["CompiledTemplate", "RenderedBody", "TemplateRecipe", "is_json_content_type"]


@dataclass(frozen=True)
class RenderedBody:
    """The result of :meth:`CompiledTemplate.render`: the exact body bytes, its content type and the
    template's rendered headers (``content-type`` is not among them)."""

    body: bytes
    content_type: str
    headers: dict[str, str]


@dataclass(frozen=True)
class TemplateRecipe:
    """How to compile a template again elsewhere: the spec, its default, the named sources it loaded and
    its limits (all JSON values), so a render process builds exactly the template the gateway checked."""

    spec: Mapping[str, Any] | None
    default: Mapping[str, Any] | None
    named: Mapping[str, str]
    time_limit: float
    max_output_bytes: int
    max_value_bytes: int

    @functools.cached_property
    def json(self) -> bytes:
        """The recipe as JSON (what a render process receives)."""
        return orjson.dumps(
            {
                "spec": self.spec,
                "default": self.default,
                "named": self.named,
                "time_limit": self.time_limit,
                "max_output_bytes": self.max_output_bytes,
                "max_value_bytes": self.max_value_bytes,
            }
        )

    @functools.cached_property
    def key(self) -> str:
        """A digest of :attr:`json`: render processes keep compiled templates under it."""
        return hashlib.blake2b(self.json, digest_size=16).hexdigest()


def is_json_content_type(content_type: str) -> bool:
    """Whether ``content_type`` is ``application/json`` or a ``+json`` type (parameters ignored)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class CompiledTemplate:
    """A validated, pre-compiled template; :meth:`render` it once per delivery (thread-safe)."""

    __slots__ = (
        "_fields",
        "_headers",
        "_template",
        "content_type",
        "kind",
        "max_output_bytes",
        "max_value_bytes",
        "recipe",
        "time_limit",
    )

    def __init__(
        self,
        *,
        kind: str,
        content_type: str,
        template: Template | None = None,
        fields: list[tuple[str, Any]] | None = None,
        headers: list[tuple[str, Template]] | None = None,
        time_limit: float = DEFAULT_TIME_LIMIT,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        self.kind = kind
        """``"jinja"`` (body or named template), ``"fields"`` or ``"raw"`` (the envelope as JSON)."""
        self.content_type = content_type
        self._template = template
        self._fields = fields or []
        self._headers = headers or []
        self.time_limit = time_limit
        self.max_output_bytes = max_output_bytes
        self.max_value_bytes = max_value_bytes
        self.recipe: TemplateRecipe | None = None
        """Set when the spec holds Jinja a tenant wrote (a body or headers): such templates render in a
        separate process (see :mod:`gateway.core.templating.pool`); ``None`` for trusted ones."""

    @property
    def header_names(self) -> list[str]:
        """Names of the headers this template sets."""
        return [name for name, _ in self._headers]

    def with_overrides(self, content_type: str | None, headers: list[tuple[str, Template]]) -> CompiledTemplate:
        merged = {name.lower(): (name, tmpl) for name, tmpl in self._headers}
        merged.update({name.lower(): (name, tmpl) for name, tmpl in headers})
        return CompiledTemplate(
            kind=self.kind,
            content_type=content_type or self.content_type,
            template=self._template,
            fields=self._fields,
            headers=list(merged.values()),
            time_limit=self.time_limit,
            max_output_bytes=self.max_output_bytes,
            max_value_bytes=self.max_value_bytes,
        )

    def render(
        self, context: Mapping[str, Any], *, time_limit: float | None = None, max_output_bytes: int | None = None
    ) -> RenderedBody:
        """Render the body and headers for one event.

        ``context`` is the event envelope's keys plus ``webhook``. Raises only :class:`TemplateError`
        (render errors, exceeded bounds, invalid JSON for a JSON content type).
        """
        limit = self.time_limit if time_limit is None else time_limit
        max_bytes = self.max_output_bytes if max_output_bytes is None else max_output_bytes
        field = {"jinja": "template.body", "fields": "template.fields"}.get(self.kind, "template")
        try:
            variables = dict(context)
            state = RenderState(time.monotonic() + limit, max(self.max_value_bytes, max_bytes), variables)
            token = RENDER_STATE.set(state)
        except Exception as exc:
            raise TemplateError(truncate(f"invalid render context: {exc}"), field=field) from None
        try:
            body = self._render_body(variables, state, max_bytes)
            headers: dict[str, str] = {}
            for name, header_template in self._headers:
                field = f"template.headers.{name}"
                raw = _render_jinja(header_template, variables, state, MAX_HEADER_VALUE_BYTES)
                value = raw.decode("utf-8").strip()
                if any(ch in value for ch in "\r\n\0"):
                    raise TemplateError("rendered header value contains CR, LF or NUL", field=field)
                headers[name] = value
        except TemplateError:
            raise
        except LimitExceeded as exc:
            raise TemplateError(exc.reason, field=field, line=template_line(exc)) from None
        except Exception as exc:
            raise TemplateError(render_reason(exc), field=field, line=template_line(exc)) from None
        finally:
            RENDER_STATE.reset(token)
        if self.kind == "jinja" and is_json_content_type(self.content_type):
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise TemplateError(
                    truncate(f"rendered body is not valid JSON: {exc}"), field="template.body"
                ) from None
        return RenderedBody(body=body, content_type=self.content_type, headers=headers)

    def _render_body(self, variables: dict[str, Any], state: RenderState, max_bytes: int) -> bytes:
        if self._template is not None:
            return _render_jinja(self._template, variables, state, max_bytes)
        data: Any
        if self.kind == "fields":
            data = {}
            for key, path in self._fields:
                state.tick()
                values = find_values(path, variables)
                data[key] = None if not values else values[0] if len(values) == 1 else values
        else:
            data = variables
        body = orjson.dumps(data, default=json_default, option=orjson.OPT_NON_STR_KEYS)
        if self.kind == "fields" and len(body) > max_bytes:
            raise LimitExceeded(f"output exceeds {max_bytes} bytes")
        return body


def _render_jinja(template: Template, variables: dict[str, Any], state: RenderState, max_bytes: int) -> bytes:
    """Render chunk by chunk, checking the deadline and the byte count as output is produced."""
    chunks: list[bytes] = []
    total = 0
    generator = template.generate(variables)
    try:
        for chunk in generator:
            state.tick()
            data = chunk.encode("utf-8")
            total += len(data)
            if total > max_bytes:
                raise LimitExceeded(f"output exceeds {max_bytes} bytes")
            chunks.append(data)
    finally:
        close = getattr(generator, "close", None)
        if close is not None:
            close()
    return b"".join(chunks)
