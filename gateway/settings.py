"""One :class:`Settings` object, read from ``BLUE_GATEWAY_*`` environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gateway.core.policy import DEFAULT_SCHEDULE, RetrySchedule, parse_duration

__all__ = ["PREFIX", "Settings", "SettingsError"]

PREFIX = "BLUE_GATEWAY_"


class SettingsError(ValueError):
    """A ``BLUE_GATEWAY_*`` variable has a value that cannot be used."""


def _doc(text: str) -> dict[str, Any]:
    return {"doc": text}


@dataclass(frozen=True)
class Settings:
    """Every setting, its default and what it does. The env name is ``BLUE_GATEWAY_`` + the upper-case name."""

    database_url: str = field(
        default="sqlite+aiosqlite:///./blue-gateway.db",
        metadata=_doc("SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://..."),
    )
    broker_url: str = field(
        default="memory://", metadata=_doc("taskiq broker: memory://, redis://, amqp:// or nats://")
    )
    host: str = field(default="127.0.0.1", metadata=_doc("address `serve` (and `worker`'s probes) listen on"))
    port: int = field(default=8080, metadata=_doc("port `serve` listens on"))
    secret_key: str = field(
        default="", metadata=_doc("key that encrypts webhook secrets at rest; empty = key file beside SQLite db")
    )
    allow_private_targets: bool = field(
        default=False, metadata=_doc("allow loopback/private target URLs (local development only)")
    )
    retry_schedule: str = field(default=DEFAULT_SCHEDULE, metadata=_doc("delays before each attempt"))
    attempt_timeout: float = field(default=15.0, metadata=_doc("seconds one delivery attempt may take"))
    max_body_bytes: int = field(default=1024 * 1024, metadata=_doc("largest accepted request body (bytes)"))
    ingest_rate: int = field(
        default=0, metadata=_doc("events per second each company may post (0 = no quota); over it: 429")
    )
    ingest_burst: int = field(
        default=500, metadata=_doc("events a company may post at once before ingest_rate applies (a full batch)")
    )
    disable_after: float = field(
        default=5 * 86400.0, metadata=_doc("disable a webhook failing with no success for this long")
    )
    retention: float = field(default=30 * 86400.0, metadata=_doc("how long deliveries and events are kept"))
    lease_seconds: float = field(
        default=30.0,
        metadata=_doc("how long an enqueued or claimed delivery stays reserved before it is due again"),
    )
    scheduler_interval: float = field(
        default=1.0, metadata=_doc("how often due retries and expired leases are moved to the broker")
    )
    shutdown_grace: float = field(
        default=5.0,
        metadata=_doc("on SIGTERM/SIGINT, how long attempts under way may finish before they are cut off"),
    )
    worker_concurrency: int = field(default=256, metadata=_doc("concurrent attempts per worker process"))
    webhook_concurrency: int = field(default=32, metadata=_doc("concurrent attempts per webhook"))
    connections_per_host: int = field(default=64, metadata=_doc("outbound connection pool size per host"))
    render_processes: int = field(
        default=2, metadata=_doc("processes that render tenant-written templates (started on first use)")
    )
    template_time_limit: float = field(
        default=1.0, metadata=_doc("seconds one template render may take; past it the render is stopped")
    )
    log_level: str = field(default="INFO", metadata=_doc("DEBUG, INFO, WARNING or ERROR"))
    log_format: str = field(
        default="text", metadata=_doc("text (one line per record) or json (one object per line)")
    )
    broker_prefix: str = field(
        default="blue_gateway", metadata=_doc("prefix of the broker's list, queue, exchange, stream and subject")
    )
    public_url: str = field(
        default="",
        metadata=_doc("the gateway's address as users open it, for portal links; empty = http://HOST:PORT"),
    )
    worker_port: int = field(
        default=8081, metadata=_doc("port `worker` serves /healthz, /readyz and /metrics on (0 = none)")
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every field from ``BLUE_GATEWAY_<NAME>``; ``overrides`` win over the environment."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        values.update(overrides)
        settings = cls(**values)
        settings.schedule()  # fail fast on a bad schedule
        if settings.render_processes < 1:
            raise SettingsError(f"{PREFIX}RENDER_PROCESSES must be at least 1")
        if not settings.template_time_limit > 0:
            raise SettingsError(f"{PREFIX}TEMPLATE_TIME_LIMIT must be positive")
        if settings.log_format not in ("text", "json"):
            raise SettingsError(f"{PREFIX}LOG_FORMAT must be text or json")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", settings.broker_prefix):
            raise SettingsError(f"{PREFIX}BROKER_PREFIX takes 1 to 64 letters, digits, '_' or '-'")
        if settings.public_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", settings.public_url):
            raise SettingsError(
                f"{PREFIX}PUBLIC_URL must be an http:// or https:// address such as https://hooks.example.com"
            )
        if not 0 <= settings.worker_port <= 65535:
            raise SettingsError(f"{PREFIX}WORKER_PORT must be from 0 to 65535")
        if not settings.secret_key and not settings.is_sqlite:
            raise SettingsError(
                f"{PREFIX}SECRET_KEY is required with {settings.database_url.split(':', 1)[0]}: every process "
                "must encrypt and decrypt webhook secrets with the same key (the key file is for SQLite only)"
            )
        return settings

    def schedule(self) -> RetrySchedule:
        """The parsed retry schedule."""
        try:
            return RetrySchedule.parse(self.retry_schedule)
        except ValueError as exc:
            raise SettingsError(f"{PREFIX}RETRY_SCHEDULE: {exc}") from None

    @property
    def base_url(self) -> str:
        """Where users reach the gateway: ``public_url``, else ``http://host:port``."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        """True on the embedded database."""
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for in-memory or another database."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[-1].split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path)

    @property
    def key_file(self) -> Path:
        """Where the generated secret key lives on the embedded default."""
        db = self.sqlite_path
        return (db.parent if db else Path(".")) / "blue-gateway.key"


def _convert(name: str, kind: Any, raw: str) -> Any:
    kind = str(kind)
    try:
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return parse_duration(raw)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name.upper()}={raw!r}: {exc}") from None
    return raw


def documented_settings() -> dict[str, str]:
    """Env name -> description, for docs and the docs test."""
    return {PREFIX + f.name.upper(): str(f.metadata.get("doc", "")) for f in fields(Settings)}
