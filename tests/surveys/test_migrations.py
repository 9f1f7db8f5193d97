"""Alembic creates the schema from empty on both databases, and matches the ORM models."""

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
