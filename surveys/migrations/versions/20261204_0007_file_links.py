"""File links: the only tokens ``/files/`` serves, each with an expiry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "file_links",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_file_links")),
    )
    op.create_index(op.f("ix_file_links_expires_at"), "file_links", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_file_links_expires_at"), table_name="file_links")
    op.drop_table("file_links")
