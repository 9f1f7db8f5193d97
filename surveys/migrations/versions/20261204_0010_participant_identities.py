"""Chat identities in one table: a participant's user id on each platform is a row of
``participant_identities`` (participant, platform, user id), unique per survey, instead of
one column per platform on ``participants``. Adding a platform no longer changes the schema.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("slack", "slack_user_id", "uq_participants_slack_user", 64),
    ("teams", "teams_user_id", "uq_participants_teams_user", 200),
)


def upgrade() -> None:
    # The ids are read first and the columns dropped before the new table exists: on SQLite,
    # batch mode rebuilds ``participants``, and dropping the old copy would cascade into any
    # table that refers to it.
    participants = sa.table(
        "participants",
        sa.column("id", sa.Integer),
        sa.column("survey_id", sa.Integer),
        sa.column("slack_user_id", sa.String),
        sa.column("teams_user_id", sa.String),
    )
    bind = op.get_bind()
    carried: list[dict[str, object]] = []
    for platform, column, _, _ in COLUMNS:
        col = participants.c[column]
        rows = bind.execute(
            sa.select(participants.c.id, participants.c.survey_id, col).where(col.is_not(None))
        ).all()
        carried.extend(
            {"participant_id": pid, "survey_id": sid, "platform": platform, "user_id": uid}
            for pid, sid, uid in rows
        )
    with op.batch_alter_table("participants") as batch:
        for _, column, constraint, _ in COLUMNS:
            batch.drop_constraint(constraint, type_="unique")
            batch.drop_column(column)
    identities = op.create_table(
        "participant_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "participant_id",
            sa.Integer(),
            sa.ForeignKey("participants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "survey_id",
            sa.Integer(),
            sa.ForeignKey("surveys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.UniqueConstraint("participant_id", "platform", name="uq_identities_participant"),
        sa.UniqueConstraint("survey_id", "platform", "user_id", name="uq_identities_user"),
    )
    op.create_index("ix_identities_user", "participant_identities", ["platform", "user_id"])
    if carried:
        op.bulk_insert(identities, carried)


def downgrade() -> None:
    identities = sa.table(
        "participant_identities",
        sa.column("participant_id", sa.Integer),
        sa.column("platform", sa.String),
        sa.column("user_id", sa.String),
    )
    bind = op.get_bind()
    held = bind.execute(
        sa.select(identities.c.participant_id, identities.c.platform, identities.c.user_id)
    ).all()
    op.drop_index("ix_identities_user", table_name="participant_identities")
    op.drop_table("participant_identities")
    with op.batch_alter_table("participants") as batch:
        for _, column, _, length in COLUMNS:
            batch.add_column(sa.Column(column, sa.String(length), nullable=True))
    participants = sa.table(
        "participants",
        sa.column("id", sa.Integer),
        sa.column("slack_user_id", sa.String),
        sa.column("teams_user_id", sa.String),
    )
    columns = {platform: column for platform, column, _, _ in COLUMNS}
    for pid, platform, uid in held:
        if platform in columns:
            bind.execute(
                participants.update()
                .where(participants.c.id == pid)
                .values({columns[platform]: uid})
            )
    with op.batch_alter_table("participants") as batch:
        for _, column, constraint, _ in COLUMNS:
            batch.create_unique_constraint(constraint, ["survey_id", column])
