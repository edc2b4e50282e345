"""``blue-gateway webhooks list`` and ``blue-gateway deliveries retry``: day-two commands on the database."""

from __future__ import annotations

import re
import time
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.services.bulk import RETRYABLE, BulkRetry, BulkService
from gateway.services.errors import Invalid

__all__ = ["deliveries", "webhooks"]

webhooks = typer.Typer(help="Webhooks of every company, read from the database.", no_args_is_help=True)
deliveries = typer.Typer(help="Deliveries in bulk: retry the failed ones.", no_args_is_help=True)

_SINCE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@webhooks.command("list")
def webhooks_list(company: Annotated[str | None, typer.Option(help="only this company")] = None) -> None:
    """List webhooks: id, company, name, connector, enabled/disabled, health, consecutive failures, URL."""
    from gateway.cli import _on_database

    for hook in _on_database(lambda engine: BulkService(engine).webhooks(company)):
        state = "enabled" if hook.enabled else f"disabled({hook.disabled_reason or 'manual'})"
        typer.echo(
            f"{hook.id}\t{hook.company_id}\t{hook.name}\t{hook.connector}\t{state}\t{hook.status}\t"
            f"failures={hook.consecutive_failures}\t{hook.url}"
        )


@deliveries.command("retry")
def deliveries_retry(
    since: Annotated[str, typer.Option(help="how far back deliveries were created: 30m, 2h, 7d (at most 14d)")],
    status: Annotated[str, typer.Option(help="failed or discarded")] = "failed",
    webhook: Annotated[str | None, typer.Option(help="only this webhook's deliveries")] = None,
    company: Annotated[str | None, typer.Option(help="only this company's deliveries")] = None,
) -> None:
    """Give every matching delivery one more attempt (sent by the running scheduler) and print the counts."""
    from gateway.cli import _on_database

    match = _SINCE.fullmatch(since.strip())
    if match is None:
        typer.echo("error: --since takes a whole number and a unit, s, m, h or d (e.g. 2h)", err=True)
        raise typer.Exit(2)
    if status not in RETRYABLE:
        typer.echo(f"error: --status must be one of {', '.join(RETRYABLE)}", err=True)
        raise typer.Exit(2)
    now = time.time()
    start = now - int(match.group(1)) * _UNITS[match.group(2)]

    async def run(engine: AsyncEngine) -> BulkRetry:
        return await BulkService(engine).retry(status, start, now, webhook=webhook, company=company)

    try:
        done = _on_database(run)
    except Invalid as exc:
        typer.echo(f"error: --{exc.field}: {exc.message}", err=True)
        raise typer.Exit(2) from None
    for hook_id, count in sorted(done.requeued.items()):
        typer.echo(f"{hook_id}\t{count}")
    typer.echo(
        f"requeued {done.total} {status} deliveries of {len(done.requeued)} webhooks;"
        f" left {done.skipped_disabled} of disabled webhooks"
    )
