"""RenderPool: tenant templates render in real render processes, overruns are killed, tenants take turns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from gateway.core.templating import CompiledTemplate, RenderedBody, TemplateError, compile_template
from gateway.core.templating.pool import RenderPool, RenderUnavailable
from tests.conftest import eventually, gone

RUNAWAY = '{{ ("x" * 600000)|wordwrap(1)|length }}'
CONTEXT = {"event": "TODO_CREATED", "currentValue": {"title": "Ship it", "tags": ["a", "b"]}}


@pytest.fixture
async def pool() -> AsyncIterator[RenderPool]:
    rp = RenderPool(1)
    yield rp
    await rp.close()


def tenant_template(body: str, **spec: Any) -> CompiledTemplate:
    return compile_template({"body": body, **spec}, time_limit=1.0)


async def test_a_render_process_renders_exactly_what_the_template_renders(pool: RenderPool) -> None:
    template = tenant_template(
        '{"t": {{ currentValue.title|tojson }}, "n": {{ currentValue.tags|length }}}',
        headers={"X-Title": "{{ currentValue.title|upper }}"},
    )
    assert template.recipe is not None
    rendered = await pool.render(template, CONTEXT)
    assert rendered == template.render(CONTEXT)
    assert rendered.headers == {"X-Title": "SHIP IT"}
    assert len(pool.pids) == 1


async def test_render_errors_keep_their_field_and_line(pool: RenderPool) -> None:
    template = tenant_template('{\n"a": {{ lipsum() }}\n}')
    with pytest.raises(TemplateError) as in_process:
        template.render(CONTEXT)
    with pytest.raises(TemplateError) as isolated:
        await pool.render(template, CONTEXT)
    assert isolated.value.to_dict() == in_process.value.to_dict()
    assert isolated.value.field == "template.body" and isolated.value.line == 2


async def test_trusted_templates_render_in_process(pool: RenderPool) -> None:
    for spec in ({"name": "record"}, {"fields": {"t": "$.currentValue.title"}}, {}):
        template = compile_template(spec, loader=lambda name: '{"builtin": {{ event|tojson }}}')
        assert template.recipe is None
        assert await pool.call(template, lambda t: t.render(CONTEXT).body) == template.render(CONTEXT).body
    assert pool.pids == [], "trusted templates must not start render processes"


async def test_an_overrun_is_killed_and_the_renders_behind_it_still_happen(pool: RenderPool) -> None:
    runaway = tenant_template(RUNAWAY, contentType="text/plain")
    quick = tenant_template('{"ok": {{ currentValue.title|tojson }}}')
    [first_pid] = [*pool.pids] or [None]
    started = time.monotonic()
    slow, fast = await asyncio.gather(
        pool.render(runaway, CONTEXT, tenant="a"), pool.render(quick, CONTEXT, tenant="a"), return_exceptions=True
    )
    took = time.monotonic() - started

    assert isinstance(slow, TemplateError)
    assert slow.reason == "render time limit exceeded (1 s): the render was stopped"
    assert fast == RenderedBody(b'{"ok": "Ship it"}', "application/json", {})
    assert pool.killed == 1
    assert took < 8, f"the kill came after {took:.1f}s"
    assert first_pid is None or gone(first_pid)
    assert await pool.render(quick, CONTEXT) == fast  # a fresh process took over


async def test_one_tenants_slow_renders_do_not_hold_up_another_tenant(pool: RenderPool) -> None:
    slow = tenant_template(
        '{% for a in range(400) %}{% for b in range(400) %}{{ "" }}{% endfor %}{% endfor %}{"s": 1}'
    )
    quick = tenant_template('{"q": 1}')
    await pool.render(slow, CONTEXT, tenant="a")  # the pool learns that this template is slow
    finished: list[str] = []

    async def run(template: CompiledTemplate, tenant: str, name: str) -> None:
        await pool.render(template, CONTEXT, tenant=tenant)
        finished.append(name)

    slow_ones = [asyncio.create_task(run(slow, "a", f"a{i}")) for i in range(5)]
    await asyncio.sleep(0)
    other = asyncio.create_task(run(quick, "b", "b"))
    await asyncio.gather(*slow_ones, other)
    assert finished.index("b") <= 2, f"tenant b waited behind tenant a's queue: {finished}"


async def test_the_connector_may_render_more_than_once(pool: RenderPool) -> None:
    template = tenant_template('{"v": {{ value|tojson }}}')

    def use(stand_in: Any) -> list[bytes]:
        return [stand_in.render({"value": value}).body for value in (1, 2)]

    assert await pool.call(template, use) == [b'{"v": 1}', b'{"v": 2}']


async def test_close_kills_the_processes_and_fails_what_waits() -> None:
    rp = RenderPool(1)
    runaway = tenant_template(RUNAWAY, contentType="text/plain")
    waiting = asyncio.create_task(rp.render(runaway, CONTEXT))
    await eventually(lambda: rp.pids, timeout=20)
    pids = rp.pids
    await asyncio.sleep(0.2)  # the runaway render is under way
    started = time.monotonic()
    await rp.close()
    assert time.monotonic() - started < 2
    with pytest.raises(RenderUnavailable):
        await waiting
    await eventually(lambda: all(gone(pid) for pid in pids), timeout=5)
    with pytest.raises(RenderUnavailable):
        await rp.render(runaway, CONTEXT)


async def test_contexts_must_be_json(pool: RenderPool) -> None:
    template = tenant_template("{{ x }}", contentType="text/plain")
    context: Mapping[str, Any] = {"x": object()}
    with pytest.raises(TemplateError, match="invalid render context"):
        await pool.render(template, context)
