"""The OpenAPI document types every route's success response, and the answers match what it says."""

from __future__ import annotations

from typing import Any

from tests.conftest import Gateway, Receiver

HTTP_METHODS = ("get", "post", "put", "patch", "delete")

FREE_FORM = {
    ("get", "/metrics"),  # Prometheus text
    ("get", "/v1/zapier/samples/{event}"),  # flat samples whose keys depend on the event
    ("get", "/v1/listen/{webhook_id}/stream"),  # a server-sent event stream
}
"""Operations whose success body is documented as free-form on purpose."""

WEBHOOK_FIELDS = [
    "id",
    "uid",
    "name",
    "url",
    "connector",
    "events",
    "projectIds",
    "filter",
    "template",
    "enabled",
    "status",
    "disabledReason",
    "signing",
    "headers",
    "options",
    "metadata",
    "createdById",
    "createdAt",
    "updatedAt",
    "secret",
    "timeout",
    "retrySchedule",
    "maxRate",
    "ordering",
    "orderingKey",
]
DELIVERY_FIELDS = [
    "id",
    "webhookId",
    "eventId",
    "event",
    "messageId",
    "status",
    "attemptCount",
    "nextAttemptAt",
    "createdAt",
    "updatedAt",
    "attempts",
]
ATTEMPT_FIELDS = ["n", "at", "durationMs", "statusCode", "error", "responseBody"]


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def _members(schema: dict[str, Any], doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a ``oneOf``/``anyOf`` (``null`` left out), else the schema itself, resolved."""
    schema = _resolve(schema, doc)
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives is None:
        return [schema]
    return [m for alt in alternatives for m in _members(alt, doc) if m.get("type") != "null"]


def _typed(schema: dict[str, Any], doc: dict[str, Any]) -> bool:
    """An object with properties, or an array of such (every alternative of a union must be typed)."""
    members = _members(schema, doc)
    for member in members:
        if member.get("type") == "array":
            if not _typed(member.get("items", {}), doc):
                return False
        elif not member.get("properties"):
            return False
    return bool(members)


def _props(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    (member,) = _members(schema, doc)
    return member["properties"]  # type: ignore[no-any-return]


def _items(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    (member,) = _members(schema, doc)
    assert member["type"] == "array", member
    return member["items"]  # type: ignore[no-any-return]


def _success_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses = doc["paths"][path][method]["responses"]
    code = next(c for c in sorted(responses) if c.startswith("2") and "content" in responses[c])
    return responses[code]["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def _check_body(body: Any, schema: dict[str, Any], doc: dict[str, Any], where: str) -> None:
    """The JSON answer has no field the schema lacks and every field the schema requires."""
    if body is None:
        return
    members = _members(schema, doc)
    if len(members) != 1:
        return  # a union: the structural checks above cover it
    (member,) = members
    if member.get("type") == "array":
        assert isinstance(body, list), where
        for i, item in enumerate(body):
            _check_body(item, member.get("items", {}), doc, f"{where}[{i}]")
    elif member.get("properties"):
        assert isinstance(body, dict), where
        assert set(body) <= set(member["properties"]), (where, set(body) - set(member["properties"]))
        assert set(member.get("required", ())) <= set(body), (where, set(member["required"]) - set(body))
        for key, value in body.items():
            _check_body(value, member["properties"][key], doc, f"{where}.{key}")


async def test_every_operation_has_a_typed_success_response(gateway: Gateway) -> None:
    resp = await gateway.client.get("/schema/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    operations = [(m, p) for p, item in doc["paths"].items() for m in item if m in HTTP_METHODS]
    assert len(operations) >= 30
    untyped = []
    for method, path in operations:
        responses = doc["paths"][path][method]["responses"]
        success = {code: r for code, r in responses.items() if code.startswith("2")}
        assert success, f"{method.upper()} {path} documents no success response"
        if (method, path) in FREE_FORM:
            continue
        for code, response in success.items():
            content = response.get("content")
            if not content:
                assert method == "delete" and code == "204", f"{method.upper()} {path} {code} has no body schema"
                continue
            for media_type, entry in content.items():
                if not _typed(entry.get("schema", {}), doc):
                    untyped.append(f"{method.upper()} {path} {code} {media_type}: {entry.get('schema')}")
    assert not untyped, "untyped success responses:\n" + "\n".join(untyped)

    # The documented free-form bodies are what they claim to be.
    assert "text/plain" in next(iter(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]))
    stream = doc["paths"]["/v1/listen/{webhook_id}/stream"]["get"]["responses"]["200"]["content"]
    assert next(iter(stream)) == "text/event-stream"
    samples = _success_schema(doc, "/v1/zapier/samples/{event}", "get")
    assert _resolve(samples, doc)["type"] == "array"


async def test_named_fields_are_documented(gateway: Gateway) -> None:
    doc = (await gateway.client.get("/schema/openapi.json")).json()

    webhook = _props(_success_schema(doc, "/v1/webhooks", "post"), doc)
    assert set(WEBHOOK_FIELDS) <= set(webhook), set(WEBHOOK_FIELDS) - set(webhook)
    assert set(_props(webhook["metadata"], doc)) == {"events", "projectIds"}
    for path, method in [
        ("/v1/webhooks/{webhook_id}", "get"),
        ("/v1/webhooks/{webhook_id}", "patch"),
        ("/v1/webhooks/{webhook_id}/rotate-secret", "post"),
        ("/v1/webhooks/{webhook_id}/enable", "post"),
        ("/v1/webhooks/{webhook_id}/disable", "post"),
    ]:
        assert _props(_success_schema(doc, path, method), doc) == webhook, (method, path)
    page = _props(_success_schema(doc, "/v1/webhooks", "get"), doc)
    assert set(page) == {"data", "nextCursor"}
    assert _props(_items(page["data"], doc), doc) == webhook

    delivery = _props(_success_schema(doc, "/v1/deliveries/{delivery_id}", "get"), doc)
    assert set(DELIVERY_FIELDS) <= set(delivery), set(DELIVERY_FIELDS) - set(delivery)
    attempt = _props(_items(delivery["attempts"], doc), doc)
    assert set(ATTEMPT_FIELDS) <= set(attempt), set(ATTEMPT_FIELDS) - set(attempt)
    assert _props(_success_schema(doc, "/v1/webhooks/{webhook_id}/test", "post"), doc) == delivery
    deliveries = _props(_success_schema(doc, "/v1/webhooks/{webhook_id}/deliveries", "get"), doc)
    assert _props(_items(deliveries["data"], doc), doc) == delivery

    accepted = _props(_success_schema(doc, "/v1/events", "post"), doc)
    assert set(accepted) == {"id", "deliveries", "duplicate"}
    assert "200" in doc["paths"]["/v1/events"]["post"]["responses"]  # the duplicate answer
    batch = _props(_success_schema(doc, "/v1/events/batch", "post"), doc)
    assert _props(_items(batch["results"], doc), doc) == accepted

    event_type = _props(_items(_success_schema(doc, "/v1/event-types", "get"), doc), doc)
    assert set(event_type) == {"name", "group", "description", "sample"}
    connector = _props(_items(_success_schema(doc, "/v1/connectors", "get"), doc), doc)
    assert set(connector) == {"name", "description", "signs", "optionsSchema"}
    preview = _props(_success_schema(doc, "/v1/templates/preview", "post"), doc)
    assert set(preview) == {"method", "url", "headers", "body", "previewSecret"}
    source = _props(_success_schema(doc, "/v1/sources", "post"), doc)
    assert {"id", "name", "ingestPath"} <= set(source)
    assert set(_props(_success_schema(doc, "/v1/webhooks/{webhook_id}/recover", "post"), doc)) == {"requeued"}
    assert set(_props(_success_schema(doc, "/v1/deliveries/{delivery_id}/retry", "post"), doc)) == {"id", "status"}
    assert set(_props(_success_schema(doc, "/readyz", "get"), doc)) == {"status", "database", "broker"}
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]
    assert set(_props(_success_schema(doc, "/v1/zapier/me", "get"), doc)) == {
        "company",
        "user",
        "role",
        "projects",
    }


async def test_answers_match_their_schemas_in_order(gateway: Gateway, receiver: Receiver) -> None:
    doc = (await gateway.client.get("/schema/openapi.json")).json()
    auth = await gateway.token()

    hook = await gateway.webhook(auth, url=receiver.url + "/hook", events=["TODO_CREATED"], headers={"X-K": "v"})
    assert list(hook) == WEBHOOK_FIELDS  # field order is part of the unchanged output
    assert hook["secret"] and hook["headers"] == {"X-K": "***"}
    _check_body(hook, _success_schema(doc, "/v1/webhooks", "post"), doc, "webhook")

    listed = (await gateway.client.get("/v1/webhooks", headers=auth)).json()
    assert list(listed) == ["data", "nextCursor"]
    assert listed["data"][0]["secret"] is None
    _check_body(listed, _success_schema(doc, "/v1/webhooks", "get"), doc, "webhooks")

    tested = await gateway.client.post(f"/v1/webhooks/{hook['id']}/test", json={}, headers=auth)
    assert tested.status_code == 202, tested.text
    delivery = tested.json()
    assert list(delivery) == DELIVERY_FIELDS[:-1]  # no attempts unless one delivery is read
    _check_body(delivery, _success_schema(doc, "/v1/webhooks/{webhook_id}/test", "post"), doc, "test")

    read = (await gateway.client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
    assert list(read) == DELIVERY_FIELDS
    assert read["attempts"] and list(read["attempts"][0]) == ATTEMPT_FIELDS
    _check_body(read, _success_schema(doc, "/v1/deliveries/{delivery_id}", "get"), doc, "delivery")

    page = (await gateway.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth)).json()
    assert "attempts" not in page["data"][0]
    _check_body(page, _success_schema(doc, "/v1/webhooks/{webhook_id}/deliveries", "get"), doc, "deliveries")

    for path in ["/v1/event-types", "/v1/connectors", "/v1/zapier/me", "/healthz", "/readyz"]:
        resp = await gateway.client.get(path, headers=auth)
        assert resp.status_code == 200, (path, resp.text)
        _check_body(resp.json(), _success_schema(doc, path, "get"), doc, path)
    assert (await gateway.client.get("/readyz")).json() == {"status": "ready", "database": True, "broker": True}


async def test_webhook_request_bodies_publish_their_limits_and_the_filter_and_template_shapes(
    gateway: Gateway,
) -> None:
    doc = (await gateway.client.get("/schema/openapi.json")).json()
    create = _resolve(
        doc["paths"]["/v1/webhooks"]["post"]["requestBody"]["content"]["application/json"]["schema"], doc
    )
    props = create["properties"]
    assert create["required"] == ["url"]
    assert (props["url"]["maxLength"], props["name"]["maxLength"]) == (2048, 200)
    assert (props["secret"]["minLength"], props["secret"]["maxLength"]) == (8, 256)
    assert {"all", "any", "path", "op", "value"} == set(props["filter"]["properties"])
    assert "regex" in props["filter"]["properties"]["op"]["enum"]
    assert {"body", "fields", "name", "contentType", "headers"} == set(props["template"]["properties"])
    operation = doc["paths"]["/v1/webhooks/{webhook_id}"]["patch"]
    patch = _resolve(operation["requestBody"]["content"]["application/json"]["schema"], doc)
    assert not patch.get("required")  # every field optional
    assert set(patch["properties"]) == set(props) - {"secret"}  # rotate-secret changes the secret
    assert patch["properties"]["url"]["maxLength"] == 2048
