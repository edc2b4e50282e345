"""``GET /v1/zapier/projects``: the Zapier app's project dropdown, fed by the company's events and webhooks."""

from __future__ import annotations

from typing import Any

from tests.conftest import Gateway, GatewayFactory


def record_in(project: str, name: str | None, title: str = "t") -> dict[str, Any]:
    project_obj = {"id": project, **({"name": name} if name else {})}
    return {
        "event": "TODO_CREATED",
        "currentValue": {"title": title, "todoList": {"id": "L", "projectId": project, "project": project_obj}},
    }


async def test_projects_of_recent_events_newest_first_then_webhook_projects(gateway: Gateway) -> None:
    auth = await gateway.token()
    await gateway.event(auth, **record_in("p1", "Alpha", "first"))
    await gateway.event(auth, **record_in("p2", "Beta"))
    await gateway.event(auth, **record_in("p1", "Alpha renamed", "latest"))
    await gateway.event(auth, event="TAG_CREATED", currentValue={"id": "tag1", "title": "no project"})
    await gateway.webhook(auth, url="https://example.com/hook", projectIds=["p3", "p2"])
    other = await gateway.token("globex")
    await gateway.event(other, **record_in("secret-project", "Globex only"))

    resp = await gateway.client.get("/v1/zapier/projects", headers=auth)

    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert [(p["id"], p["name"]) for p in got] == [("p1", "Alpha renamed"), ("p2", "Beta"), ("p3", None)]
    assert got[0]["lastEventAt"] >= got[1]["lastEventAt"]
    assert got[0]["lastEventAt"].endswith("Z")
    assert got[2]["lastEventAt"] is None


async def test_projects_on_postgresql(pg_url: str, gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory(database_url=pg_url)
    auth = await gateway.token()
    await gateway.event(auth, **record_in("p1", "Alpha"))
    await gateway.event(auth, **record_in("p2", None))
    await gateway.event(auth, **record_in("p1", "Alpha again"))

    got = (await gateway.client.get("/v1/zapier/projects", headers=auth)).json()

    assert [(p["id"], p["name"]) for p in got] == [("p1", "Alpha again"), ("p2", None)]


async def test_project_admin_sees_only_its_projects_even_unseen_ones(gateway: Gateway) -> None:
    admin = await gateway.token()
    await gateway.event(admin, **record_in("p1", "Alpha"))
    await gateway.event(admin, **record_in("p2", "Beta"))
    scoped = await gateway.token(role="project-admin", projects=("p2", "p9"))

    got = (await gateway.client.get("/v1/zapier/projects", headers=scoped)).json()

    assert [(p["id"], p["name"]) for p in got] == [("p2", "Beta"), ("p9", None)]


async def test_projects_need_a_token_with_the_manage_scope(gateway: Gateway) -> None:
    ingest_only = await gateway.token(scopes=("ingest",))

    refused = await gateway.client.get("/v1/zapier/projects", headers=ingest_only)
    anonymous = await gateway.client.get("/v1/zapier/projects")

    assert refused.status_code == 403
    assert "manage" in refused.json()["detail"]
    assert anonymous.status_code == 401


async def test_a_company_without_events_has_an_empty_list(gateway: Gateway) -> None:
    auth = await gateway.token("newco")

    got = await gateway.client.get("/v1/zapier/projects", headers=auth)

    assert got.status_code == 200
    assert got.json() == []
