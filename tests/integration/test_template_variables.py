"""Over HTTP: one template renders the same on every loaded connector, plugins included."""

from __future__ import annotations

import orjson

from connectors.api import TEMPLATE_VARIABLES, sample
from tests.conftest import Gateway

TEMPLATE = {"body": "{{ {" + ", ".join(f"'{name}': {name}" for name in TEMPLATE_VARIABLES) + "} | tojson }}"}


async def test_a_template_sees_the_same_variables_on_every_connector(gateway: Gateway) -> None:
    auth = await gateway.token()
    names = [c["name"] for c in (await gateway.client.get("/v1/connectors", headers=auth)).json()]
    assert {"webhook", "zapier", "pabbly", "slack", "discord", "teams", "make", "n8n"} <= set(names)
    for event in ("TODO_CREATED", "TODO_DELETED", "COMMENT_CREATED"):
        bodies = {}
        for name in names:
            resp = await gateway.client.post(
                "/v1/templates/preview",
                json={"template": TEMPLATE, "connector": name, "event": {**sample(event), "id": "e1"}},
                headers=auth,
            )
            assert resp.status_code == 200, (name, resp.text)
            body = orjson.loads(resp.json()["body"])
            for stamp in ("createdAt", "updatedAt"):  # the preview's stand-in webhook is made per request
                body["webhook"].pop(stamp)
            bodies[name] = body
        reference = bodies["webhook"]
        assert list(reference) == list(TEMPLATE_VARIABLES) and reference["event"] == event
        assert reference["eventId"] == "e1"
        assert reference["currentValue"] or reference["previousValue"]  # the record is there
        differ = {n: {k: v for k, v in b.items() if v != reference[k]} for n, b in bodies.items()}
        assert not any(differ.values()), differ
