"""webhook delivery controls: timeout, retry schedule, rate, ordering

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 05:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN_DELIVERIES = "status IN ('pending', 'delivering')"


def upgrade() -> None:
    # All nullable: existing webhooks keep the server's settings, existing deliveries have no record key.
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timeout", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("retry_schedule", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("max_rate", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("ordering", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("ordering_key", sa.String(length=16), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_key", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ix_deliveries_open_sequence",
            ["webhook_id", "record_key", "id"],
            unique=False,
            postgresql_where=sa.text(OPEN_DELIVERIES),
            sqlite_where=sa.text(OPEN_DELIVERIES),
        )
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_open_sequence")
        batch_op.drop_column("record_key")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("ordering_key")
        batch_op.drop_column("ordering")
        batch_op.drop_column("max_rate")
        batch_op.drop_column("retry_schedule")
        batch_op.drop_column("timeout")
