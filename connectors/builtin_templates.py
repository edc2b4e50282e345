"""Built-in templates shipped inside the wheel (``templates/``), read with :mod:`importlib.resources`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

from gateway.core.templating import CompiledTemplate, TemplateError, compile_template

__all__ = ["BUILTIN_TEMPLATES", "builtin_source", "builtin_template", "compiled_default"]

BUILTIN_TEMPLATES: dict[str, str] = {
    "record": "webhook/record.j2",
    "zapier": "zapier/flat.j2",
    "flat": "zapier/flat.j2",
    "slack": "slack/message.j2",
    "discord": "discord/message.j2",
    "teams": "teams/card.j2",
    "make": "make/event.j2",
    "n8n": "n8n/event.j2",
}
"""Names a webhook may pick with ``{"template": {"name": ...}}`` -> file under ``templates/``."""

PACKAGE = "blue_gateway_templates"


@functools.cache
def builtin_source(name: str) -> str:
    """The Jinja2 source of a built-in template; ``TemplateError`` names the known ones otherwise."""
    path = BUILTIN_TEMPLATES.get(name)
    if path is None:
        known = ", ".join(sorted(BUILTIN_TEMPLATES))
        raise TemplateError(f"unknown built-in template {name!r}; known: {known}", field="template.name")
    return resources.files(PACKAGE).joinpath(path).read_text(encoding="utf-8")


@functools.cache
def builtin_template(name: str) -> CompiledTemplate:
    """A built-in template, compiled once per process."""
    return compile_template({"name": name}, loader=builtin_source)


_DEFAULTS: dict[type, CompiledTemplate] = {}


def compiled_default(owner: type, spec: Mapping[str, Any]) -> CompiledTemplate:
    """The default template a connector class declares in its own words, compiled once per class."""
    compiled = _DEFAULTS.get(owner)
    if compiled is None:
        compiled = _DEFAULTS[owner] = compile_template(spec, loader=builtin_source)
    return compiled
