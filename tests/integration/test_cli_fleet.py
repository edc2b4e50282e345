"""``blue-gateway webhooks list`` and ``deliveries retry`` against a running gateway's database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.db.models import Delivery
from tests.conftest import Gateway, GatewayFactory, Receiver, eventually
from tests.integration.processes import BIN, gateway_env

pytestmark = pytest.mark.slow  # runs the real blue-gateway command


async def cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run the command without blocking the loop the in-process gateway serves on."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN), *args, cwd=tmp_path, env=gateway_env(tmp_path), stdout=-1, stderr=-1
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def _failed(gateway: Gateway, webhook_id: str) -> str | None:
    async with gateway.db.connect() as conn:
        status = await conn.scalar(select(Delivery.status).where(Delivery.webhook_id == webhook_id))
    return status if status == "failed" else None


async def _event(gateway: Gateway, auth: dict[str, str], key: str) -> None:
    await gateway.event(auth, id=key, event="TODO_CREATED", currentValue={"id": key})


async def test_webhooks_list_and_bulk_retry_of_failed_deliveries(
    tmp_path: Path, gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gateway: Gateway = await gateway_factory(retry_schedule="0")  # one attempt: a 500 fails the delivery
    receiver.default = (500, {}, "down")
    acme, globex = await gateway.token("acme"), await gateway.token("globex")
    hooks = {
        "acme": await gateway.webhook(acme, url=receiver.url + "/acme", name="acme hook"),
        "off": await gateway.webhook(acme, url=receiver.url + "/off", name="to disable"),
        "globex": await gateway.webhook(globex, url=receiver.url + "/globex", name="globex hook"),
    }
    await _event(gateway, acme, "e1")
    await _event(gateway, globex, "e2")
    for hook in hooks.values():
        await eventually(lambda h=hook: _failed(gateway, h["id"]), timeout=30)
    disabled = await gateway.client.post(f"/v1/webhooks/{hooks['off']['id']}/disable", headers=acme)
    assert disabled.status_code == 200, disabled.text

    code, out, err = await cli(tmp_path, "webhooks", "list")
    assert code == 0, err
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert set(rows) == {h["id"] for h in hooks.values()}
    assert rows[hooks["globex"]["id"]][1] == "globex" and rows[hooks["off"]["id"]][4].startswith("disabled")
    code, out, err = await cli(tmp_path, "webhooks", "list", "--company", "acme")
    assert code == 0, err
    assert {line.split("\t")[0] for line in out.splitlines()} == {hooks["acme"]["id"], hooks["off"]["id"]}

    receiver.default = (200, {}, "ok")
    code, out, err = await cli(
        tmp_path, "deliveries", "retry", "--status", "failed", "--since", "2h", "--company", "acme"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{hooks['acme']['id']}\t1"
    assert lines[-1] == "requeued 1 failed deliveries of 1 webhooks; left 1 of disabled webhooks"

    async def delivered() -> bool:
        return (
            sum(r.path == "/acme" for r in receiver.requests) == 2
            and (await _status(gateway, hooks["acme"]["id"])) == "delivered"
        )

    await eventually(delivered, timeout=30, interval=0.1)
    assert await _status(gateway, hooks["globex"]["id"]) == "failed"  # another company's was not touched
    assert await _status(gateway, hooks["off"]["id"]) == "failed"

    code, out, err = await cli(
        tmp_path, "deliveries", "retry", "--since", "2h", "--webhook", hooks["globex"]["id"]
    )
    assert code == 0, err
    assert out.splitlines()[-1] == "requeued 1 failed deliveries of 1 webhooks; left 0 of disabled webhooks"


async def _status(gateway: Gateway, webhook_id: str) -> str | None:
    async with gateway.db.connect() as conn:
        return await conn.scalar(select(Delivery.status).where(Delivery.webhook_id == webhook_id))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "two hours"], "--since takes a whole number"),
        (["--since", "15d"], "at most 14 days"),
        (["--since", "2h", "--status", "delivered"], "--status must be one of failed, discarded"),
    ],
)
async def test_deliveries_retry_refuses_bad_options(tmp_path: Path, args: list[str], needle: str) -> None:
    code, _, err = await cli(tmp_path, "deliveries", "retry", *args)
    assert code == 2 and needle in err, err
