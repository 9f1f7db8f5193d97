"""SQLAlchemy 2.0 persistence for the survey domain. Alembic owns the schema."""
