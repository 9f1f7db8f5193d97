"""SQLAlchemy 2.0 persistence for the survey domain. Alembic owns the schema.

The package itself imports nothing heavy (settings read the default URL from here without
importing SQLAlchemy); the modules below it do."""

from typing import Final

DEFAULT_DATABASE_URL: Final = "sqlite:///rcbot.db"
