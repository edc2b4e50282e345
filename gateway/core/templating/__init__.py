"""Payload templates: compile a template spec once, render it safely per delivery.

Template specs
--------------
``{"body": "<Jinja2>", "contentType": "application/json", "headers": {"X-K": "{{ event }}"}}``
    A Jinja2 body (and optional Jinja2 header values) rendered in a sandbox.
``{"fields": {"title": "$.currentValue.title"}}``
    A flat JSON object built from JSONPath expressions over the event envelope: one match gives the value,
    several matches give a list, none gives ``null``. ``contentType`` (a JSON type) and ``headers`` are
    optional here too.
``{"name": "record"}``
    A named built-in template: ``loader(name)`` returns its Jinja2 source, compiled like ``body``.
``None`` / ``{}``
    The ``default`` spec when one is given, else the raw envelope as compact JSON. A spec holding only
    ``contentType`` and/or ``headers`` applies them on top of that default.

Everything (Jinja2 compilation, JSONPath parsing, validation of names and types) happens in
:func:`compile_template`, which raises :class:`TemplateError` naming the field (``template.body``,
``template.fields.title``, ``template.headers.X-K`` ...) and, for syntax errors, the line and column.
:meth:`CompiledTemplate.render` never parses and never lets anything but :class:`TemplateError` escape.

Template variables are the envelope's keys (``event``, ``currentValue``, ``previousValue``, ``user``,
``company``, ``project`` ...) plus ``webhook``. Missing keys are chainable: ``{{ a.b.c }}`` renders
nothing and ``{{ a.b|tojson }}`` renders ``null`` when ``a`` is missing; a ``{% for %}`` over ``null``
iterates nothing.

Helpers: ``tojson`` (filter; orjson, compact, keys kept in order, output not HTML-escaped),
``jsonpath(expr[, data])`` (list of matches, over the whole envelope by default), ``jsonpath_first(expr[,
data])`` (first match or ``None``), and the ``date(fmt="%Y-%m-%d")`` / ``datetime(fmt=None)`` filters,
which take RFC 3339 strings or epoch numbers (seconds; values >= 1e11 are taken as milliseconds) and
default to RFC 3339 output for ``datetime``. ``range``, ``dict`` and Jinja's built-in filters and tests
are available, minus ``pprint`` and ``urlize``; ``cycler``, ``joiner``, ``namespace`` and ``lipsum`` are
not. ``{% break %}`` / ``{% continue %}`` work.

The sandbox
-----------
* An immutable :class:`~jinja2.sandbox.SandboxedEnvironment` without a loader: ``{% include %}``,
  ``{% import %}`` and ``{% extends %}`` are refused at compile time, as are ``self`` and dunder
  attributes such as ``__class__``. At render time any ``_``-prefixed attribute of a non-mapping is
  refused (``SecurityError`` → ``TemplateError("unsafe ...")``), and only an allow-list of methods of
  ``str``/``list``/``dict``/... may be called (``str.to_bytes``, ``dict.fromkeys`` & co. are refused).
* **Time**: a deadline (``time_limit``, default 1 s) is checked on every loop iteration, call, filter,
  test, operator, attribute access and output chunk. Loops are rewritten at compile time so every
  ``{% for %}`` iterates through a deadline-checking wrapper.
* **Size**: the body may not exceed ``max_output_bytes`` (default 256 KiB), counted while rendering
  chunk by chunk. Every value the template builds (operators, ``~``, list/dict literals, call and filter
  results) and the sum of everything written into buffers (``{% set %}`` blocks, macros, filter blocks)
  must stay under ``max_value_bytes`` (default 4 MiB), estimated *before* allocating for the operations
  that can amplify (``*``, ``**``, ``+``, ``%``, ``~``, ``center``/``ljust``/``rjust``/``zfill``/
  ``replace``/``join``/``format``/``indent``/``wordwrap``/``batch``/``slice``/``sum``); sizes count
  shared references as often as they would print, so ``[x, x]`` doubling chains are caught. ``range()`` is
  Jinja's ``safe_range``: at most ``MAX_RANGE`` (100 000) items.
* **Isolation**: a spec holding Jinja a tenant wrote (a ``body`` or ``headers``) carries a
  :class:`~gateway.core.templating.rendering.TemplateRecipe`; :class:`~gateway.core.templating.pool.RenderPool`
  renders such templates in separate processes and kills one whose render overruns the time limit.
"""

from __future__ import annotations

from gateway.core.headers import RESERVED_HEADERS
from gateway.core.templating.errors import TemplateError
from gateway.core.templating.limits import (
    DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_TIME_LIMIT,
    MAX_HEADER_VALUE_BYTES,
    MAX_HEADERS,
    MAX_SOURCE_CHARS,
)

# Public but never in __all__; kept importable from here as before the split.
from gateway.core.templating.limits import MAX_FIELDS as MAX_FIELDS
from gateway.core.templating.rendering import CompiledTemplate, RenderedBody, is_json_content_type
from gateway.core.templating.spec import DEFAULT_CONTENT_TYPE, compile_template

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_MAX_OUTPUT_BYTES",
    "DEFAULT_MAX_VALUE_BYTES",
    "DEFAULT_TIME_LIMIT",
    "MAX_HEADERS",
    "MAX_HEADER_VALUE_BYTES",
    "MAX_SOURCE_CHARS",
    "RESERVED_HEADERS",
    "CompiledTemplate",
    "RenderedBody",
    "TemplateError",
    "compile_template",
    "is_json_content_type",
]
