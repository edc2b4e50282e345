"""The files of a new connector plugin package, as ``string.Template`` sources (see ``gateway.scaffold``)."""

from __future__ import annotations

from string import Template

__all__ = ["FILES"]

_PYPROJECT = Template("""\
[build-system]
requires = ["setuptools>=64"]  # 64: editable installs (pip install -e)
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "A Blue Gateway connector: $name."
requires-python = ">=3.11"
# No dependencies: the package runs inside the gateway's environment and imports connectors.api from it.

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points."blue_gateway.connectors"]
$name = "$module.connector:$cls"

[tool.setuptools]
packages = ["$module"]

[tool.setuptools.package-data]
"$module" = ["*.j2"]

[tool.pytest.ini_options]
testpaths = ["tests"]
""")

_README = Template("""\
# $dist

A Blue Gateway connector named `$name`.

    pip install -e .                 # into the gateway's environment, on every gateway process
    python -m pytest                 # its tests: every catalog event rendered, every answer classified

Restart the gateway: its start-up log lists `$name` among the loaded connectors, and a webhook with
`"connector": "$name"` delivers through it.

- `$module/connector.py`: the connector (`render` through the default template, `classify`).
- `$module/default.json.j2`: the body sent when a webhook has no template of its own.
- `OPTIONS_SCHEMA` in the connector module: the JSON Schema of a webhook's `options`.
""")

_INIT = Template('''\
"""The `$name` connector for Blue Gateway."""

from __future__ import annotations

from $module.connector import OPTIONS_SCHEMA, $cls

__all__ = ["OPTIONS_SCHEMA", "$cls"]
''')

_CONNECTOR = Template('''\
"""The `$name` connector: a JSON summary of each Blue event, posted to the webhook's URL."""

from __future__ import annotations

from importlib import resources
from typing import Any, ClassVar

from connectors.api import Connector, DeliveryContext, Outcome, OutcomeKind, ResponseInfo, WebhookView

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prefix": {"type": "string", "maxLength": 100, "description": "text put before every title"},
    },
    "additionalProperties": False,
}
"""What a webhook's ``options`` may hold; the gateway refuses anything else with a 422."""

DEFAULT_TEMPLATE = resources.files(__package__).joinpath("default.json.j2").read_text(encoding="utf-8")


class $cls(Connector):
    """Posts a JSON summary of every event; 404 means the endpoint is gone."""

    name = "$name"
    description = "$name: a JSON summary of each Blue event."
    signs = True
    options_schema: ClassVar[dict[str, Any]] = OPTIONS_SCHEMA

    @classmethod
    def default_spec(cls) -> dict[str, Any] | None:
        return {"body": DEFAULT_TEMPLATE, "contentType": "application/json"}

    def template_context(self, event: DeliveryContext, webhook: WebhookView) -> dict[str, Any]:
        # Options are read defensively: they were checked when saved, not when the connector changed.
        prefix = webhook.options.get("prefix", "")
        return {**super().template_context(event, webhook), "prefix": prefix if isinstance(prefix, str) else ""}

    def classify(self, response: ResponseInfo) -> Outcome:
        status = response.status
        if status == 404:
            return Outcome(OutcomeKind.GONE, reason="endpoint removed")
        if status in (400, 401, 403, 422):
            # The endpoint refuses this request for good: retrying sends the same bytes again.
            answer = response.body[:200].decode(errors="replace")
            return Outcome(OutcomeKind.FAIL, reason=f"http {status}: {answer}")
        return super().classify(response)
''')

_TEMPLATE = """\
{#- Variables: event, eventGroup, eventId, occurredAt, previousValue, currentValue, company, project,
    user, webhook, and this connector's own `prefix`. -#}
{%- set value = currentValue if currentValue is mapping else previousValue -%}
{%- set value = value if value is mapping else {} -%}
{%- set title = value.get("title") or value.get("name") or value.get("text") or event -%}
{
  "event": {{ event | tojson }},
  "group": {{ eventGroup | tojson }},
  "title": {{ (prefix ~ title) | tojson }},
  "project": {{ project.id | tojson }},
  "user": {{ (user.id if user else none) | tojson }},
  "occurredAt": {{ occurredAt | tojson }},
  "eventId": {{ eventId | tojson }}
}
"""

_TESTS = Template('''\
"""The `$name` connector: every catalog event renders, every answer is classified."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from connectors.api import OutcomeKind, ResponseInfo, WebhookView, event_types, sample, sample_context
from $module import OPTIONS_SCHEMA, $cls

CONNECTOR = $cls()
WEBHOOK = WebhookView(
    id="wh_1", uid="0" * 32, name="test", url="https://example.com/hook", connector="$name",
    options={"prefix": "> "},
)


@pytest.mark.parametrize("name", event_types())
def test_every_catalog_event_renders_to_json(name: str) -> None:
    request = CONNECTOR.render(sample_context(name), WEBHOOK)
    body = json.loads(request.body)
    assert request.content_type == "application/json"
    assert body["event"] == name
    assert body["project"] == sample(name)["projectId"]
    assert body["title"].startswith("> ") and len(body["title"]) > 2


def test_options_schema_is_a_valid_schema() -> None:
    Draft202012Validator.check_schema(OPTIONS_SCHEMA)
    assert not Draft202012Validator(OPTIONS_SCHEMA).is_valid({"prefix": 5})


@pytest.mark.parametrize(
    ("status", "headers", "kind"),
    [
        (200, {}, OutcomeKind.DELIVERED),
        (204, {}, OutcomeKind.DELIVERED),
        (404, {}, OutcomeKind.GONE),
        (410, {}, OutcomeKind.GONE),
        (400, {}, OutcomeKind.FAIL),
        (429, {"Retry-After": "30"}, OutcomeKind.RETRY),
        (500, {}, OutcomeKind.RETRY),
    ],
)
def test_classify_maps_each_answer(status: int, headers: dict[str, str], kind: OutcomeKind) -> None:
    outcome = CONNECTOR.classify(ResponseInfo(status, headers, b"refused"))
    assert outcome.kind is kind
    if status == 429:
        assert outcome.retry_after == 30.0
''')

FILES: dict[str, Template] = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    "$module/__init__.py": _INIT,
    "$module/connector.py": _CONNECTOR,
    "$module/default.json.j2": Template(_TEMPLATE.replace("$", "$$")),
    "tests/test_$module.py": _TESTS,
}
"""Relative path (itself a template) -> file content."""
