"""Clocks are injected so that rules about time can be tested and demos can run fast.

Every instant the domain handles is timezone-aware UTC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that only moves when told to; for tests."""

    current: datetime

    def __post_init__(self) -> None:
        self.current = ensure_utc(self.current)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current

    def set(self, instant: datetime) -> None:
        self.current = ensure_utc(instant)


@dataclass
class SimulatedClock:
    """A shared accelerated clock: ``now = start + (real_now - anchor) * scale``.

    ``anchor`` is the real unix time at which the simulated clock reads ``start``; every
    process configured with the same three values agrees on the simulated time.
    """

    start: datetime
    scale: float = 1.0
    anchor: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError("the time scale must be positive")
        self.start = ensure_utc(self.start)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.anchor) * self.scale)

    def real_time_of(self, instant: datetime) -> float:
        """The real unix time at which the simulated clock will read ``instant``."""
        return self.anchor + (ensure_utc(instant) - self.start).total_seconds() / self.scale


def ensure_utc(instant: datetime) -> datetime:
    """Return ``instant`` in UTC; naive datetimes are refused because their zone is a guess."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no timezone offset")
    return instant.astimezone(UTC)
