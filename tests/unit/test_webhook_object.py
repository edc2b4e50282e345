"""Blue's webhook object, built by the one function the API and deliveries share."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import orjson

from connectors.base import WebhookView
from gateway.core.webhook_object import BLUE_WEBHOOK_KEYS, blue_webhook_object, iso

BLUE_WEBHOOK = orjson.loads((Path(__file__).parent.parent / "fixtures" / "blue_delivery.json").read_bytes())[
    "webhook"
]


def test_keys_are_blues_in_blues_order() -> None:
    assert list(BLUE_WEBHOOK) == list(BLUE_WEBHOOK_KEYS)
    view = WebhookView(id="wh_1", uid="0" * 32, name="n", url="https://x.example/", connector="webhook")
    assert list(view.public()) == list(BLUE_WEBHOOK_KEYS)
    assert list(view.public()["metadata"]) == list(BLUE_WEBHOOK["metadata"])


def test_times_have_milliseconds_and_z() -> None:
    assert iso(1669878085.014) == "2022-12-01T07:01:25.014Z"
    assert iso(1669878085.0) == "2022-12-01T07:01:25.000Z"
    assert iso(None) is None


def test_a_stored_row_gives_blues_documented_example() -> None:
    row = SimpleNamespace(
        id=BLUE_WEBHOOK["id"],
        uid=BLUE_WEBHOOK["uid"],
        name=BLUE_WEBHOOK["name"],
        url=BLUE_WEBHOOK["url"],
        status="HEALTHY",
        enabled=True,
        events=BLUE_WEBHOOK["metadata"]["events"],
        project_ids=BLUE_WEBHOOK["metadata"]["projectIds"],
        created_by_id=BLUE_WEBHOOK["createdById"],
        created_at=1669878085.014,
        updated_at=1669893780.661,
    )
    assert blue_webhook_object(row, secret="") == BLUE_WEBHOOK
