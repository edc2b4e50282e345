"""SQLAlchemy 2.0 typed models: the database is the source of truth."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "Attempt",
    "AuditEvent",
    "Base",
    "Company",
    "Delivery",
    "Event",
    "Meta",
    "PortalLink",
    "Source",
    "SourceReceipt",
    "Token",
    "Webhook",
    "record_fields",
    "table",
]


class Base(DeclarativeBase):
    """Declarative base; times are unix seconds (float) so every backend compares them alike."""

    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Company(Base):
    """A tenant."""

    __tablename__ = "companies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)


class Token(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    projects: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The token id that created this one through the API, or "cli"; NULL for tokens older than the column.
    created_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class AuditEvent(Base):
    """Who did what to which token, and when: kept for the company to read."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_company_at", "company_id", "at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)
    action: Mapped[str] = mapped_column(String(32))
    actor_token_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    actor_user_id: Mapped[str] = mapped_column(String(128))
    target_id: Mapped[str] = mapped_column(String(40), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Written at most once a minute per token and process, so it may lag real use by that much."""


class Webhook(Base):
    """A subscription: what to match and where and how to deliver it."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(Text)
    connector: Mapped[str] = mapped_column(String(64), default="webhook")
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    project_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    template: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    signing: Mapped[list[str]] = mapped_column(JSON, default=list)
    headers_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    header_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    previous_secret_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    previous_secret_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="HEALTHY")
    disabled_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    failing_since: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_by_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Event(Base):
    """A received event, stored with its full envelope."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("company_id", "external_id", name="uq_events_company_external"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(100))
    project_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, index=True)


class Delivery(Base):
    """One event for one webhook: the outbox row the engine works from."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_webhook_created", "webhook_id", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    webhook_id: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class Attempt(Base):
    """One HTTP attempt of a delivery."""

    __tablename__ = "attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(40), index=True)
    n: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Float)
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)


class Source(Base):
    """A Blue webhook pointed at the gateway."""

    __tablename__ = "sources"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_ct: Mapped[bytes] = mapped_column(LargeBinary)
    project_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[float] = mapped_column(Float)


class SourceReceipt(Base):
    """Body hashes of a source's recent deliveries, for the 24 h dedupe."""

    __tablename__ = "source_receipts"
    __table_args__ = (UniqueConstraint("source_id", "body_hash", name="uq_source_receipts"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(40))
    body_hash: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[float] = mapped_column(Float, index=True)


class PortalLink(Base):
    """A single-use link that opens a portal session for one company (or some of its projects)."""

    __tablename__ = "portal_links"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(128))
    projects: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Meta(Base):
    """Counters other processes poll, such as the webhook table's version."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


def table(model: type[Base]) -> Table:
    """A model's Core table, typed as such (``__table__`` is typed as a bare FromClause)."""
    return cast(Table, model.__table__)


def record_fields(record: type[DataclassInstance], row: Row[Any], **computed: Any) -> dict[str, Any]:
    """A record type's field values from a row: the column of the same name unless given in ``computed``."""
    columns = row._mapping
    return {
        f.name: computed[f.name] if f.name in computed else columns[f.name] for f in dataclasses.fields(record)
    }
