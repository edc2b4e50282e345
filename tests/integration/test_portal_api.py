"""What the portal reads: the event log, the delivery search, a source, a webhook's stats; each per tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Gateway, Receiver, eventually


async def _get(gateway: Gateway, url: str, auth: dict[str, str], **params: Any) -> Any:
    resp = await gateway.client.get(url, params=params, headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def _settled(gateway: Gateway, auth: dict[str, str], delivery_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await _get(gateway, f"/v1/deliveries/{delivery_id}", auth)
        return body if body["status"] == status else None

    return await eventually(check)  # type: ignore[no-any-return]


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_event_log_lists_newest_first_filters_pages_and_shows_deliveries(
    gateway: Gateway, receiver: Receiver
) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    before = datetime.now(UTC) - timedelta(seconds=1)
    created = await gateway.event(auth, event="TODO_CREATED", id="ext-1", currentValue={"title": "a"})
    deleted = await gateway.event(auth, event="TODO_DELETED", id="ext-2")
    second = await gateway.event(auth, event="TODO_CREATED", id="ext-3")

    page = await _get(gateway, "/v1/events", auth)
    assert [e["id"] for e in page["data"]] == [second["id"], deleted["id"], created["id"]]
    assert page["nextCursor"] is None
    assert page["data"][2]["externalId"] == "ext-1"
    assert page["data"][2]["payload"]["currentValue"] == {"title": "a"}

    only_created = await _get(gateway, "/v1/events", auth, event="TODO_CREATED")
    assert [e["id"] for e in only_created["data"]] == [second["id"], created["id"]]

    first = await _get(gateway, "/v1/events", auth, limit=2)
    assert [e["id"] for e in first["data"]] == [second["id"], deleted["id"]]
    rest = await _get(gateway, "/v1/events", auth, limit=2, cursor=first["nextCursor"])
    assert [e["id"] for e in rest["data"]] == [created["id"]] and rest["nextCursor"] is None

    later = _rfc3339(datetime.now(UTC) + timedelta(hours=1))
    assert (await _get(gateway, "/v1/events", auth, since=later))["data"] == []
    assert len((await _get(gateway, "/v1/events", auth, since=_rfc3339(before), until=later))["data"]) == 3
    bad = await gateway.client.get("/v1/events", params={"since": "yesterday"}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["extra"][0]["key"] == "since"

    detail = await _get(gateway, f"/v1/events/{created['id']}", auth)
    assert detail["event"] == "TODO_CREATED"
    [delivery] = detail["deliveries"]
    assert delivery["webhookId"] == hook["id"] and delivery["eventId"] == created["id"]
    assert (await _get(gateway, f"/v1/events/{deleted['id']}", auth))["deliveries"] == []
    assert (await gateway.client.get("/v1/events/evt_nope", headers=auth)).status_code == 404


async def test_delivery_search_filters_across_webhooks(gateway: Gateway, receiver: Receiver) -> None:
    auth = await gateway.token()
    ok_hook = await gateway.webhook(auth, url=receiver.url + "/ok", events=["TODO_CREATED"])
    other_hook = await gateway.webhook(auth, url=receiver.url + "/other", events=["TODO_CREATED", "TODO_DELETED"])
    one = await gateway.event(auth, event="TODO_CREATED", id="e1")
    two = await gateway.event(auth, event="TODO_DELETED", id="e2")

    everything = await _get(gateway, "/v1/deliveries", auth)
    assert len(everything["data"]) == 3
    ids = [d["id"] for d in everything["data"]]
    assert ids == sorted(ids, reverse=True)  # newest first

    by_hook = await _get(gateway, "/v1/deliveries", auth, webhookId=ok_hook["id"])
    assert [d["eventId"] for d in by_hook["data"]] == [one["id"]]
    by_event = await _get(gateway, "/v1/deliveries", auth, eventId=one["id"])
    assert {d["webhookId"] for d in by_event["data"]} == {ok_hook["id"], other_hook["id"]}
    by_type = await _get(gateway, "/v1/deliveries", auth, event="TODO_DELETED")
    assert [d["eventId"] for d in by_type["data"]] == [two["id"]]

    for d in everything["data"]:
        await _settled(gateway, auth, d["id"], "delivered")
    assert len((await _get(gateway, "/v1/deliveries", auth, status="delivered"))["data"]) == 3
    assert (await _get(gateway, "/v1/deliveries", auth, status="failed"))["data"] == []
    future = _rfc3339(datetime.now(UTC) + timedelta(hours=1))
    assert (await _get(gateway, "/v1/deliveries", auth, since=future))["data"] == []

    first = await _get(gateway, "/v1/deliveries", auth, limit=2)
    rest = await _get(gateway, "/v1/deliveries", auth, limit=2, cursor=first["nextCursor"])
    assert [d["id"] for d in first["data"] + rest["data"]] == ids and rest["nextCursor"] is None
    wrong = await gateway.client.get("/v1/deliveries", params={"status": "lost"}, headers=auth)
    assert wrong.status_code == 422 and "status" in wrong.text


async def test_webhook_stats_count_attempts_and_successes_of_the_last_day(
    gateway: Gateway, receiver: Receiver
) -> None:
    auth = await gateway.token()
    hook = await gateway.webhook(auth, url=receiver.url, events=["TODO_CREATED"])
    empty = await _get(gateway, f"/v1/webhooks/{hook['id']}/stats", auth)
    assert empty["attempts"] == 0 and empty["successRate"] is None and empty["lastDelivery"] is None
    assert len(empty["hours"]) == 24

    receiver.respond((500, {}, "down"))  # the first attempt fails, the retry succeeds
    event = await gateway.event(auth, event="TODO_CREATED", id="s1")
    [delivery] = (await _get(gateway, "/v1/deliveries", auth, eventId=event["id"]))["data"]
    await _settled(gateway, auth, delivery["id"], "delivered")

    stats = await _get(gateway, f"/v1/webhooks/{hook['id']}/stats", auth)
    assert (stats["attempts"], stats["succeeded"], stats["successRate"]) == (2, 1, 0.5)
    assert sum(h["attempts"] for h in stats["hours"]) == 2
    assert stats["hours"][-1]["start"] > stats["hours"][0]["start"]
    assert stats["lastDelivery"]["id"] == delivery["id"]
    assert stats["lastDelivery"]["status"] == "delivered"


async def test_a_source_is_read_by_id_without_its_secret(gateway: Gateway) -> None:
    auth = await gateway.token()
    created = await gateway.client.post(
        "/v1/sources", json={"name": "Blue", "secret": "s3cret-value", "projectIds": ["p1"]}, headers=auth
    )
    assert created.status_code == 201, created.text
    source = await _get(gateway, f"/v1/sources/{created.json()['id']}", auth)
    assert source == created.json()
    assert source["hasSecret"] is True and "s3cret-value" not in str(source)
    assert source["ingestPath"] == f"/v1/sources/{source['id']}/events"
    assert (await gateway.client.get("/v1/sources/src_nope", headers=auth)).status_code == 404


async def test_another_company_sees_none_of_it(gateway: Gateway, receiver: Receiver) -> None:
    acme = await gateway.token("acme")
    globex = await gateway.token("globex", user="g")
    hook = await gateway.webhook(acme, url=receiver.url, events=["TODO_CREATED"])
    event = await gateway.event(acme, event="TODO_CREATED", id="t1")
    source = (await gateway.client.post("/v1/sources", json={"name": "Blue"}, headers=acme)).json()
    [delivery] = (await _get(gateway, "/v1/deliveries", acme))["data"]

    for url in (
        f"/v1/events/{event['id']}",
        f"/v1/webhooks/{hook['id']}/stats",
        f"/v1/sources/{source['id']}",
        f"/v1/deliveries/{delivery['id']}",
    ):
        resp = await gateway.client.get(url, headers=globex)
        assert resp.status_code == 404, url
    assert (await _get(gateway, "/v1/events", globex))["data"] == []
    assert (await _get(gateway, "/v1/deliveries", globex))["data"] == []
    assert (await _get(gateway, "/v1/deliveries", globex, webhookId=hook["id"]))["data"] == []
    assert (await _get(gateway, "/v1/deliveries", globex, eventId=event["id"]))["data"] == []
    for url in ("/v1/events", "/v1/deliveries", f"/v1/sources/{source['id']}"):
        assert (await gateway.client.get(url)).status_code == 401, url


async def test_a_project_admin_sees_only_its_projects(gateway: Gateway, receiver: Receiver) -> None:
    admin = await gateway.token()
    p1 = await gateway.token(role="project-admin", projects=("p1",), user="pa")
    mine = await gateway.webhook(p1, url=receiver.url, events=["TODO_CREATED"], projectIds=["p1"])
    company_wide = await gateway.webhook(admin, url=receiver.url, events=["TODO_CREATED"])
    in_p1 = await gateway.event(admin, event="TODO_CREATED", id="a", projectId="p1")
    in_p2 = await gateway.event(admin, event="TODO_CREATED", id="b", projectId="p2")
    no_project = await gateway.event(admin, event="TODO_CREATED", id="c")

    assert [e["id"] for e in (await _get(gateway, "/v1/events", p1))["data"]] == [in_p1["id"]]
    for hidden in (in_p2, no_project):
        assert (await gateway.client.get(f"/v1/events/{hidden['id']}", headers=p1)).status_code == 404
    # The event reached both webhooks; the project-admin sees only the delivery to the one it covers.
    assert len((await _get(gateway, f"/v1/events/{in_p1['id']}", admin))["deliveries"]) == 2
    [seen] = (await _get(gateway, f"/v1/events/{in_p1['id']}", p1))["deliveries"]
    assert seen["webhookId"] == mine["id"]

    searched = (await _get(gateway, "/v1/deliveries", p1))["data"]
    assert {d["webhookId"] for d in searched} == {mine["id"]}
    assert len((await _get(gateway, "/v1/deliveries", admin))["data"]) == 4
    assert (await _get(gateway, "/v1/deliveries", p1, webhookId=company_wide["id"]))["data"] == []
    stats = await gateway.client.get(f"/v1/webhooks/{company_wide['id']}/stats", headers=p1)
    assert stats.status_code == 404
    assert (await gateway.client.get(f"/v1/webhooks/{mine['id']}/stats", headers=p1)).status_code == 200
    source = (await gateway.client.post("/v1/sources", json={"name": "Blue"}, headers=admin)).json()
    assert (await gateway.client.get(f"/v1/sources/{source['id']}", headers=p1)).status_code == 403
