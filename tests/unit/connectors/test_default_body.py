"""A webhook whose template gives no body gets its connector's default, chosen by ``default_spec`` alone."""

from __future__ import annotations

from typing import ClassVar

import orjson

from connectors.base import Connector, DeliveryContext, WebhookView
from connectors.builtin_templates import builtin_source, builtin_template
from gateway.core.templating import compile_template

EVENT = DeliveryContext.from_envelope(
    {"event": "TODO_CREATED", "id": "evt_1", "companyId": "acme", "projectId": "p1", "currentValue": {"id": "t1"}}
)


class Plain(Connector):
    name = "plain"


class Named(Connector):
    name = "named"
    default_template: ClassVar[str | None] = "flat"


def _view(connector: Connector, spec: dict[str, object] | None) -> WebhookView:
    # Compiled as the engine does: the webhook's spec over the connector's default.
    template = compile_template(spec, default=connector.default_spec(), loader=builtin_source) if spec else None
    return WebhookView(
        id="wh_1", uid="u", name="n", url="https://x.example/", connector=connector.name, template=template
    )


def test_default_spec_names_the_built_in_template_or_none() -> None:
    assert Plain.default_spec() is None
    assert Named.default_spec() == {"name": "flat"}


def test_without_a_default_the_body_is_the_connectors_context() -> None:
    connector = Plain()
    view = _view(connector, None)
    request = connector.render(EVENT, view)
    assert orjson.loads(request.body) == connector.context(EVENT, view)


def test_headers_only_keep_the_connectors_own_body_and_add_the_headers() -> None:
    connector = Plain()
    view = _view(connector, {"contentType": "application/vnd.x+json", "headers": {"X-Team": "blue"}})
    request = connector.render(EVENT, view)
    assert orjson.loads(request.body) == connector.context(EVENT, view)
    assert (request.content_type, dict(request.headers)) == ("application/vnd.x+json", {"X-Team": "blue"})


def test_with_a_default_template_the_body_is_that_template_with_or_without_overrides() -> None:
    connector = Named()
    bare, styled = _view(connector, None), _view(connector, {"headers": {"X-Team": "blue"}})
    expected = builtin_template("flat").render(connector.template_context(EVENT, bare)).body
    assert connector.render(EVENT, bare).body == expected
    request = connector.render(EVENT, styled)
    assert orjson.loads(request.body) == orjson.loads(expected)
    assert dict(request.headers) == {"X-Team": "blue"}
