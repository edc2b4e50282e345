"""Sources: Blue's own webhooks pointed at the gateway; managed per company, received by signature."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.ids import new_id
from gateway.core.secretbox import SecretBox, SecretUnreadable
from gateway.core.ttlcache import TtlCache
from gateway.db.models import Company, Source, record_fields, table
from gateway.services.errors import Invalid, NotFound
from gateway.services.events import EventService, IngestResult

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = ["SOURCE_CACHE_SECONDS", "SourceKey", "SourceRecord", "SourceService", "new_source_cache"]

SOURCE_CACHE_SECONDS = 10.0
"""A deleted source stops being accepted by other API processes within this many seconds."""


@dataclass(frozen=True)
class SourceRecord:
    """A stored source, never its secret; ``has_secret`` is None when the stored secret is unreadable."""

    id: str
    company_id: str
    name: str
    has_secret: bool | None
    project_ids: tuple[str, ...]
    created_at: float

    @classmethod
    def from_row(cls, row: Row[Any], secretbox: SecretBox) -> SourceRecord:
        """The record of a ``sources`` row."""
        try:
            has_secret: bool | None = bool(secretbox.decrypt(row.secret_ct))
        except SecretUnreadable:
            has_secret = None
        return cls(**record_fields(cls, row, has_secret=has_secret, project_ids=tuple(row.project_ids or ())))


@dataclass(frozen=True)
class SourceKey:
    """What receiving needs: the secret Blue signs with, the company, and the projects taken in."""

    secret: str
    company_id: str
    project_ids: frozenset[str]


def new_source_cache() -> TtlCache[str, SourceKey]:
    """Sources as the receiving path needs them, trusted for ``SOURCE_CACHE_SECONDS``."""
    return TtlCache(SOURCE_CACHE_SECONDS)


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > 200:
        raise Invalid("name", "must be 1 to 200 characters")


def _check_secret(secret: str) -> None:
    if not 8 <= len(secret) <= 256:
        raise Invalid("secret", "must be 8 to 256 characters")


class SourceService:
    """One company's sources, and the events Blue sends to them."""

    def __init__(self, runtime: Runtime, cache: TtlCache[str, SourceKey], events: EventService) -> None:
        self._runtime = runtime
        self._cache = cache
        self._events = events

    async def create(
        self, company_id: str, name: str, secret: str | None, project_ids: Sequence[str]
    ) -> SourceRecord:
        """Store a source (creating the company on first use); ``secret`` may be set later."""
        _check_name(name)
        if secret is not None:
            _check_secret(secret)
        runtime = self._runtime
        now = runtime.clock()
        values: dict[str, Any] = {
            "id": new_id("src"),
            "company_id": company_id,
            "name": name,
            "secret_ct": runtime.secretbox.encrypt(secret or ""),
            "project_ids": sorted(set(project_ids)),
            "created_at": now,
        }

        async def write(conn: AsyncConnection) -> Row[Any]:
            if await conn.scalar(select(Company.id).where(Company.id == company_id)) is None:
                await conn.execute(table(Company).insert().values(id=company_id, created_at=now))
            await conn.execute(table(Source).insert().values(**values))
            return (await conn.execute(select(table(Source)).where(Source.id == values["id"]))).one()

        return SourceRecord.from_row(await runtime.committer.submit(write), runtime.secretbox)

    async def update(
        self,
        company_id: str,
        source_id: str,
        *,
        name: str | None = None,
        secret: str | None = None,
        project_ids: Sequence[str] | None = None,
    ) -> SourceRecord:
        """Replace the fields given (None: keep)."""
        runtime = self._runtime
        values: dict[str, Any] = {}
        if name is not None:
            _check_name(name)
            values["name"] = name
        if secret is not None:
            _check_secret(secret)
            values["secret_ct"] = runtime.secretbox.encrypt(secret)
        if project_ids is not None:
            values["project_ids"] = sorted(set(project_ids))
        mine = (Source.id == source_id) & (Source.company_id == company_id)

        async def write(conn: AsyncConnection) -> Row[Any] | None:
            if values:
                await conn.execute(update(table(Source)).where(mine).values(**values))
            return (await conn.execute(select(table(Source)).where(mine))).first()

        row = await runtime.committer.submit(write)
        if row is None:
            raise NotFound("source")
        self._cache.pop(source_id)
        return SourceRecord.from_row(row, runtime.secretbox)

    async def get(self, company_id: str, source_id: str) -> SourceRecord:
        """One source of the company; another company's is not found."""
        runtime = self._runtime
        async with runtime.db.connect() as conn:
            row = (
                await conn.execute(
                    select(table(Source)).where(Source.id == source_id, Source.company_id == company_id)
                )
            ).first()
        if row is None:
            raise NotFound("source")
        return SourceRecord.from_row(row, runtime.secretbox)

    async def list_all(self, company_id: str) -> list[SourceRecord]:
        """Every source of the company, newest first."""
        runtime = self._runtime
        async with runtime.db.connect() as conn:
            rows = await conn.execute(
                select(table(Source)).where(Source.company_id == company_id).order_by(Source.id.desc())
            )
            return [SourceRecord.from_row(r, runtime.secretbox) for r in rows]

    async def delete(self, company_id: str, source_id: str) -> None:
        """Delete a source; Blue's deliveries to it are refused afterwards."""

        async def write(conn: AsyncConnection) -> int:
            result = await conn.execute(
                delete(table(Source)).where(Source.id == source_id, Source.company_id == company_id)
            )
            return int(result.rowcount or 0)

        if not await self._runtime.committer.submit(write):
            raise NotFound("source")
        self._cache.pop(source_id)

    async def key(self, source_id: str) -> SourceKey:
        """The source's secret, company and projects; raises :class:`SecretUnreadable` for a lost key."""
        hit, cached = self._cache.get(source_id)
        if hit and cached is not None:
            return cached
        runtime = self._runtime
        async with runtime.db.connect() as conn:
            row = (await conn.execute(select(table(Source)).where(Source.id == source_id))).first()
        if row is None:
            raise NotFound("source")
        key = SourceKey(runtime.secretbox.decrypt(row.secret_ct), row.company_id, frozenset(row.project_ids or ()))
        self._cache.put(source_id, key)
        return key

    async def receive(
        self, source_id: str, key: SourceKey, body_hash: str, payload: object
    ) -> IngestResult | None:
        """Ingest a verified delivery's event; None when its project is not one of the source's."""
        (prepared,) = self._events.prepare(key.company_id, [payload])
        if key.project_ids and prepared.project_id not in key.project_ids:
            return None
        return await self._events.ingest_received(prepared, source_id, body_hash)
