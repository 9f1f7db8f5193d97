"""Data protection: retention per survey, purged rounds keep their aggregates, withdrawals,
and an audit log.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("surveys") as batch:
        batch.add_column(
            sa.Column("retain_days", sa.Integer(), nullable=True, server_default="730")
        )
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("purge_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("aggregates", sa.JSON(), nullable=True))
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("survey", sa.String(length=120), nullable=True),
        sa.Column("subject", sa.String(length=254), nullable=True),
        sa.Column("detail", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_table("audit_events")
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("withdrawn_at")
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("aggregates")
        batch.drop_column("purge_requested_at")
        batch.drop_column("purged_at")
    with op.batch_alter_table("surveys") as batch:
        batch.drop_column("retain_days")
