"""listen sessions: the leases of the temporary webhooks that ``blue-gateway listen`` relays

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listen_sessions",
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id"),
    )
    with op.batch_alter_table("listen_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listen_sessions_lease_until"), ["lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("listen_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listen_sessions_lease_until"))
    op.drop_table("listen_sessions")
