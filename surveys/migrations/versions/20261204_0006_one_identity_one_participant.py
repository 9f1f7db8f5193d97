"""One chat identity, one participant: a Slack or Teams user id is unique within a survey.

Ids that two participants of one survey already share are cleared first (on every one of
them), so the next message looks each person up by e-mail again and any remaining clash is
reported to the owners instead of letting one account answer twice.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("slack_user_id", "uq_participants_slack_user"),
    ("teams_user_id", "uq_participants_teams_user"),
)


def upgrade() -> None:
    participants = sa.table(
        "participants",
        sa.column("id", sa.Integer),
        sa.column("survey_id", sa.Integer),
        sa.column("slack_user_id", sa.String),
        sa.column("teams_user_id", sa.String),
    )
    for column, _ in COLUMNS:
        col = participants.c[column]
        shared = (
            sa.select(participants.c.survey_id, col)
            .where(col.is_not(None))
            .group_by(participants.c.survey_id, col)
            .having(sa.func.count() > 1)
        )
        rows = op.get_bind().execute(shared).all()
        for survey_id, user_id in rows:
            op.execute(
                participants.update()
                .where(participants.c.survey_id == survey_id, col == user_id)
                .values({column: None})
            )
    with op.batch_alter_table("participants") as batch:
        for column, name in COLUMNS:
            batch.create_unique_constraint(name, ["survey_id", column])


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        for _, name in reversed(COLUMNS):
            batch.drop_constraint(name, type_="unique")
