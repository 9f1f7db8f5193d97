"""The composition root: settings in, engine, clock and services out."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Engine

from bot.settings import Settings
from surveys.clock import Clock
from surveys.persistence import migrate
from surveys.persistence.db import make_engine, safe_url
from surveys.service import SurveyService


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self._clock = clock

    @cached_property
    def clock(self) -> Clock:
        return self._clock or self.settings.clock()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @property
    def safe_database_url(self) -> str:
        return safe_url(self.settings.database_url)

    def service(self) -> SurveyService:
        """The survey service, after checking the schema is present and current."""
        migrate.require_current(self.engine)
        return SurveyService(self.engine, self.clock)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
