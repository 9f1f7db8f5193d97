"""A survey's reminder settings. Kept free of other domain types so Survey can hold one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from surveys.errors import InvalidInput

if TYPE_CHECKING:
    from surveys.model import Round


@dataclass(frozen=True)
class ReminderPolicy:
    offsets: tuple[timedelta, ...] = (timedelta(days=3), timedelta(days=5))
    before_close: timedelta | None = timedelta(hours=24)
    max_reminders: int = 3
    min_gap: timedelta = timedelta(hours=24)
    work_start: time = time(9, 0)
    work_end: time = time(17, 0)
    workdays: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    """Weekdays on which reminders may arrive, Monday = 0."""

    def __post_init__(self) -> None:
        if self.max_reminders < 0:
            raise InvalidInput("the maximum number of reminders cannot be negative")
        if self.work_start >= self.work_end:
            raise InvalidInput("working hours must start before they end")
        if not self.workdays or not self.workdays <= set(range(7)):
            raise InvalidInput("working days must be weekdays numbered 0 (Monday) to 6")

    def moments(self, delivered_at: datetime, round_: Round) -> list[datetime]:
        """The scheduled reminder moments for one invitation, in order, before close."""
        points = [delivered_at + o for o in self.offsets]
        if self.before_close is not None:
            points.append(round_.closes_at - self.before_close)
        return sorted({p for p in points if delivered_at < p < round_.closes_at})

    def in_working_hours(self, instant: datetime, timezone: str) -> bool:
        local = instant.astimezone(ZoneInfo(timezone))
        return local.weekday() in self.workdays and self.work_start <= local.time() < self.work_end

    def next_working_moment(self, instant: datetime, timezone: str) -> datetime:
        """``instant`` if it is inside working hours, else when they next begin."""
        zone = ZoneInfo(timezone)
        local = instant.astimezone(zone)
        for days in range(8):
            day = (local + timedelta(days=days)).date()
            if day.weekday() not in self.workdays:
                continue
            start = datetime.combine(day, self.work_start, zone)
            end = datetime.combine(day, self.work_end, zone)
            if local < end:
                return max(start, local).astimezone(instant.tzinfo)
        raise AssertionError("no working day within a week")  # pragma: no cover

    def to_dict(self) -> dict[str, Any]:
        return {
            "offsets_hours": [o.total_seconds() / 3600 for o in self.offsets],
            "before_close_hours": None
            if self.before_close is None
            else self.before_close.total_seconds() / 3600,
            "max_reminders": self.max_reminders,
            "min_gap_hours": self.min_gap.total_seconds() / 3600,
            "work_start": self.work_start.isoformat("minutes"),
            "work_end": self.work_end.isoformat("minutes"),
            "workdays": sorted(self.workdays),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ReminderPolicy:
        if not data:
            return cls()
        before = data.get("before_close_hours")
        return cls(
            offsets=tuple(timedelta(hours=h) for h in data["offsets_hours"]),
            before_close=None if before is None else timedelta(hours=before),
            max_reminders=int(data["max_reminders"]),
            min_gap=timedelta(hours=data["min_gap_hours"]),
            work_start=time.fromisoformat(data["work_start"]),
            work_end=time.fromisoformat(data["work_end"]),
            workdays=frozenset(data["workdays"]),
        )
