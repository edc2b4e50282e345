"""``blue-gateway serve | worker | migrate | config | tokens | connectors | webhooks | deliveries``."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import __version__
from gateway.cli_fleet import deliveries, webhooks
from gateway.db.engine import make_engine
from gateway.db.migrate import upgrade
from gateway.logs import configure_logging
from gateway.services.errors import Invalid
from gateway.services.portal_links import DEFAULT_LINK_MINUTES, PortalLinkService, link_path
from gateway.services.tokens import ROLES, SCOPES, TokenService, hash_token, new_token
from gateway.settings import Settings, SettingsError

__all__ = ["app", "main"]

T = TypeVar("T")
log = logging.getLogger("gateway")

app = typer.Typer(
    help="Blue Gateway: Blue events to signed webhooks, Zapier and Pabbly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
tokens = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
app.add_typer(tokens, name="tokens")
connectors = typer.Typer(help="Connector plugins: start a new one.", no_args_is_help=True)
app.add_typer(connectors, name="connectors")
app.add_typer(webhooks, name="webhooks")
app.add_typer(deliveries, name="deliveries")


def _settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(None, **{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _logging(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)


def _version(show: bool) -> None:
    if show:
        typer.echo(f"blue-gateway {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Blue Gateway: Blue events to signed webhooks, Zapier and Pabbly."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="listen address")] = None,
    port: Annotated[int | None, typer.Option(help="listen port")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API only; workers run elsewhere")] = False,
) -> None:
    """Run the HTTP API, the scheduler and retention, and (unless --no-worker) the delivery worker."""
    from gateway.server import run_server

    settings = _settings(host=host, port=port)
    _logging(settings)
    if no_worker and settings.broker_url.startswith("memory"):
        typer.echo(
            "error: --no-worker needs a shared broker (BLUE_GATEWAY_BROKER_URL=redis://, amqp:// or nats://)",
            err=True,
        )
        raise typer.Exit(2)
    run_server(settings, worker=not no_worker)


@app.command()
def worker(
    host: Annotated[str | None, typer.Option(help="address of /healthz, /readyz and /metrics")] = None,
    port: Annotated[int | None, typer.Option(help="port of /healthz, /readyz and /metrics; 0 = none")] = None,
) -> None:
    """Run a delivery worker (and scheduler) against a shared database and broker; serve its probes."""
    from gateway.probes import ProbeServer
    from gateway.runtime import Runtime

    settings = _settings(host=host, worker_port=port)
    _logging(settings)
    if settings.broker_url.startswith("memory"):
        typer.echo("error: a separate worker needs a shared broker (redis://, amqp:// or nats://)", err=True)
        raise typer.Exit(2)

    received: list[signal.Signals] = []

    async def run() -> None:
        runtime = Runtime(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            received.append(sig)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        probes = ProbeServer(runtime, settings.host, settings.worker_port) if settings.worker_port else None
        if probes is not None:
            try:
                await probes.start()  # before taking work: a taken port stops the worker at once, not later
            except OSError as exc:
                typer.echo(
                    f"error: cannot serve /healthz, /readyz and /metrics on {settings.host}:{settings.worker_port}"
                    f" ({exc.strerror or exc}); choose another with --port or BLUE_GATEWAY_WORKER_PORT (0 = none)",
                    err=True,
                )
                raise typer.Exit(1) from None
        await runtime.start(worker=True)
        log.info("worker started", extra={"probes": f"http://{settings.host}:{probes.port}" if probes else "off"})
        await stop.wait()
        log.info("worker stopping: attempts under way get %gs", settings.shutdown_grace)
        if probes is not None:
            await probes.stop()
        await runtime.stop()
        log.info("worker stopped")

    asyncio.run(run())
    if received:
        # Everything is saved and closed: end by the signal itself, as `serve` (uvicorn) does, which also
        # spares the supervisor the interpreter's slow teardown.
        signal.signal(received[0], signal.SIG_DFL)
        signal.raise_signal(received[0])


@app.command()
def migrate() -> None:
    """Apply database migrations (Alembic) up to the newest."""
    settings = _settings()
    _logging(settings)

    async def run() -> None:
        engine = make_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo("database is up to date", err=True)


def _on_database(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database (the embedded one is migrated first); errors end the command."""
    settings = _settings()

    async def run() -> T:
        engine = make_engine(settings.database_url)
        try:
            if settings.is_sqlite:
                await upgrade(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (OSError, SQLAlchemyError) as exc:
        typer.echo(f"error: the database at {settings.database_url.split('@')[-1]} failed: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def config() -> None:
    """Print the effective settings (secrets masked), what retention keeps, and the rows the database holds."""
    from gateway.config_report import held_lines, retention_lines, setting_lines

    settings = _settings()
    for line in [*setting_lines(settings), *retention_lines(settings)]:
        typer.echo(line)
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        typer.echo(f"held: no database yet at {settings.sqlite_path}")
        return
    for line in _on_database(held_lines):
        typer.echo(line)


_LIFETIME = re.compile(r"(\d+)([smhd])")
_LIFETIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_LIFETIME = 36500 * 86400


def _when(ts: float | None) -> str:
    """A listed time: RFC 3339 UTC to the second, or ``never``."""
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _split(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


@tokens.command("create")
def tokens_create(
    company: Annotated[str, typer.Option(help="company (tenant) id")],
    user: Annotated[str, typer.Option(help="user id recorded as creator")],
    role: Annotated[str, typer.Option(help="company-admin or project-admin")] = "company-admin",
    projects: Annotated[str | None, typer.Option(help="comma-separated project ids (project-admin)")] = None,
    scopes: Annotated[str, typer.Option(help="comma-separated: manage,ingest")] = "manage,ingest",
    expires_in: Annotated[
        str | None, typer.Option(help="lifetime such as 90d, 12h, 30m or 45s; without it the token never expires")
    ] = None,
) -> None:
    """Create a token and print it alone on stdout (it is shown only once)."""
    project_list, scope_list = _split(projects), _split(scopes)
    lifetime = None
    if expires_in is not None:
        match = _LIFETIME.fullmatch(expires_in.strip())
        lifetime = int(match.group(1)) * _LIFETIME_UNITS[match.group(2)] if match else 0
        if not 0 < lifetime <= _MAX_LIFETIME:
            typer.echo(
                "error: --expires-in takes a whole number and a unit, s, m, h or d, from 1s to 36500d (e.g. 90d)",
                err=True,
            )
            raise typer.Exit(2)
    if role not in ROLES:
        typer.echo(f"error: --role must be one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    if role == "project-admin" and not project_list:
        typer.echo("error: a project-admin token needs --projects", err=True)
        raise typer.Exit(2)
    bad = sorted(set(scope_list) - set(SCOPES))
    if bad or not scope_list:
        typer.echo(f"error: --scopes takes {', '.join(SCOPES)}", err=True)
        raise typer.Exit(2)
    token = new_token()

    async def run(engine: AsyncEngine) -> None:
        await TokenService(engine).create(
            hash_token(token),
            company=company,
            user=user,
            role=role,
            projects=project_list,
            scopes=scope_list,
            expires_at=time.time() + lifetime if lifetime else None,
        )

    _on_database(run)
    sys.stdout.write(token + "\n")


@tokens.command("list")
def tokens_list(company: Annotated[str | None, typer.Option(help="only this company")] = None) -> None:
    """List tokens (id, company, user, role, projects, scopes, state, expiry, last use), never the token itself."""
    now = time.time()
    for token in _on_database(lambda engine: TokenService(engine).list_all(company)):
        typer.echo(
            f"{token.id}\t{token.company_id}\t{token.user_id}\t{token.role}\t"
            f"{','.join(token.projects)}\t{','.join(token.scopes)}\t{token.state(now)}\t"
            f"expires={_when(token.expires_at)}\tlast-used={_when(token.last_used_at)}"
        )


@tokens.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="the token id shown by 'tokens list'")]) -> None:
    """Revoke a token by id; it stops working within seconds."""
    if not _on_database(lambda engine: TokenService(engine).revoke(token_id)):
        typer.echo(f"error: no active token {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {token_id}", err=True)


@app.command("portal-link")
def portal_link(
    company: Annotated[str, typer.Option(help="company (tenant) id the portal opens for")],
    projects: Annotated[
        str | None, typer.Option(help="comma-separated project ids: limit the session to these projects")
    ] = None,
    minutes: Annotated[int, typer.Option(help="how long the link may be opened, 1 to 60")] = DEFAULT_LINK_MINUTES,
    user: Annotated[
        str, typer.Option(help="user id recorded as the creator of what the session makes")
    ] = "portal",
) -> None:
    """Print a single-use portal link (at BLUE_GATEWAY_PUBLIC_URL, else http://HOST:PORT)."""
    settings = _settings()

    async def run(engine: AsyncEngine) -> str:
        _, token = await PortalLinkService(engine).create(
            company, projects=_split(projects), minutes=minutes, user_id=user, created_by="cli"
        )
        return token

    try:
        token = _on_database(run)
    except Invalid as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    sys.stdout.write(settings.base_url + link_path(token) + "\n")


@connectors.command("new")
def connectors_new(
    name: Annotated[str, typer.Argument(help="the connector's name, e.g. acme-crm")],
    directory: Annotated[
        Path, typer.Option("--directory", help="where the package folder is created (default: here)")
    ] = Path("."),
) -> None:
    """Write a ready connector plugin package (connector, options schema, default template, tests)."""
    from connectors.registry import load_connectors
    from gateway.scaffold import ScaffoldError, write_plugin

    try:
        root = write_plugin(name, directory, taken=load_connectors().names())
    except (ScaffoldError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2 if isinstance(exc, ScaffoldError) else 1) from None
    typer.echo(str(root))
    typer.echo(f"next: pip install -e {root} beside the gateway, then restart it", err=True)


def main() -> None:
    """Console-script entry point."""
    app()
