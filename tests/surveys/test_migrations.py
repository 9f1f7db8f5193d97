"""Alembic creates the schema from empty on both databases, and matches the ORM models."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from surveys.persistence import migrate
from surveys.persistence.orm import Base

TABLES = {
    "surveys",
    "roles",
    "survey_owners",
    "leadership_channels",
    "participants",
    "rounds",
    "invitations",
    "answers",
    "outbox",
    "alembic_version",
}


def test_upgrade_from_empty_then_down_and_up_again(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert set(inspect(empty_engine).get_table_names()) >= TABLES
    migrate.downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


SURVEY_AND_ROLE = (
    "INSERT INTO surveys (id, name, instrument, min_group_size, timezone, created_at)"
    " VALUES (1, 'S', '{}', 5, 'Europe/London', :now)",
    "INSERT INTO roles (id, survey_id, name, position) VALUES (1, 1, 'R', 0)",
)
"""Survey 1 with role 1, written as raw SQL at any revision (the models are the newest)."""


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # sqlite3's datetime adapter
def test_accounts_shared_before_the_upgrade_are_cleared_for_a_fresh_look_up(
    empty_engine: Engine,
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import text

    migrate.upgrade(empty_engine, "0005")
    now = datetime(2026, 12, 4, tzinfo=UTC)
    with empty_engine.begin() as conn:
        for sql in SURVEY_AND_ROLE:
            conn.execute(text(sql), {"now": now})
        for pid, slack in ((1, "U1"), (2, "U1"), (3, "U2")):
            conn.execute(
                text(
                    "INSERT INTO participants (id, survey_id, email, name, role_id, platform,"
                    " slack_user_id, created_at, updated_at) VALUES (:id, 1, :email, 'P', 1,"
                    " 'slack', :slack, :now, :now)"
                ),
                {"id": pid, "email": f"p{pid}@x.org", "slack": slack, "now": now},
            )
    migrate.upgrade(empty_engine, "0006")
    with empty_engine.connect() as conn:
        rows = conn.execute(text("SELECT id, slack_user_id FROM participants ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(1, None), (2, None), (3, "U2")]


def test_the_quick_schema_check_agrees_with_alembic(empty_engine: Engine) -> None:
    """Commands check the schema without importing Alembic (the newest revision is read from
    the migration files, the database's from alembic_version): the same answers as Alembic's
    own, at every revision and on an empty database."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert migrate.head_revision() == script.get_current_head()

    def alembic_current() -> str | None:
        with empty_engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    assert migrate.current_revision(empty_engine) is None
    for revision in reversed([r.revision for r in script.walk_revisions()]):
        migrate.upgrade(empty_engine, revision)
        assert migrate.current_revision(empty_engine) == alembic_current() == revision
    migrate.downgrade(empty_engine, "base")
    assert migrate.current_revision(empty_engine) is None
    assert alembic_current() is None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # sqlite3's datetime adapter
def test_chat_identities_move_into_their_own_table_and_back(empty_engine: Engine) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import text

    migrate.upgrade(empty_engine, "0009")
    now = datetime(2026, 12, 4, tzinfo=UTC)
    people = ((1, "U1", None), (2, None, "aad-2"), (3, "U3", "aad-3"), (4, None, None))
    with empty_engine.begin() as conn:
        for sql in SURVEY_AND_ROLE:
            conn.execute(text(sql), {"now": now})
        for pid, slack, teams in people:
            conn.execute(
                text(
                    "INSERT INTO participants (id, survey_id, email, name, role_id, platform,"
                    " slack_user_id, teams_user_id, created_at, updated_at) VALUES (:id, 1,"
                    " :email, 'P', 1, 'slack', :slack, :teams, :now, :now)"
                ),
                {"id": pid, "email": f"p{pid}@x.org", "slack": slack, "teams": teams, "now": now},
            )
    migrate.upgrade(empty_engine, "0010")
    with empty_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT participant_id, survey_id, platform, user_id FROM participant_identities"
                " ORDER BY participant_id, platform"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, 1, "slack", "U1"),
        (2, 1, "teams", "aad-2"),
        (3, 1, "slack", "U3"),
        (3, 1, "teams", "aad-3"),
    ]
    migrate.downgrade(empty_engine, "0009")
    with empty_engine.connect() as conn:
        back = conn.execute(
            text("SELECT id, slack_user_id, teams_user_id FROM participants ORDER BY id")
        ).all()
    assert [tuple(r) for r in back] == list(people)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # sqlite3's datetime adapter
def test_upgrading_a_database_with_answers_keeps_every_row(empty_engine: Engine) -> None:
    """SQLite rebuilds a table to alter it: with foreign keys on, rebuilding ``participants``
    failed on (or cascaded into) its invitations. Every row survives the whole chain."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    migrate.upgrade(empty_engine, "0001")
    now = datetime(2026, 12, 4, tzinfo=UTC)
    later = datetime(2026, 12, 18, tzinfo=UTC)
    with empty_engine.begin() as conn:
        for sql in (
            *SURVEY_AND_ROLE,
            "INSERT INTO participants (id, survey_id, email, name, role_id, platform,"
            " slack_user_id, created_at, updated_at) VALUES (1, 1, 'a@x.org', 'A', 1, 'slack',"
            " 'U1', :now, :now)",
            "INSERT INTO rounds (id, survey_id, number, state, opens_at, closes_at)"
            " VALUES (1, 1, 1, 'open', :now, :later)",
            "INSERT INTO invitations (id, round_id, participant_id, role, partner_roles,"
            " delivery, reminders_sent, reminders_opt_out) VALUES (1, 1, 1, 'R', '[]',"
            " 'delivered', 0, false)",
            "INSERT INTO answers (id, invitation_id, partner_role, dimension, score, answered_at)"
            " VALUES (1, 1, 'R', 'frequent', 4, :now)",
        ):
            conn.execute(text(sql), {"now": now, "later": later})
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        counts = [
            conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("participants", "invitations", "answers", "participant_identities")
        ]
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert counts == [1, 1, 1, 1]
