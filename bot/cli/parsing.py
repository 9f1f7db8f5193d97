"""Parsing command-line values: durations such as ``14d`` and ISO instants."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from surveys.errors import InvalidInput
from surveys.policy import ReminderPolicy

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_PART = re.compile(r"(\d+)\s*([wdhm])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """``14d``, ``2w``, ``36h``, ``90m`` or combinations such as ``1d12h``."""
    clean = text.strip().lower().replace(" ", "")
    if not clean or _PART.sub("", clean):
        raise InvalidInput(f"'{text}' is not a duration; write for example 14d, 2w or 36h")
    delta = timedelta()
    for amount, unit in _PART.findall(clean):
        delta += timedelta(**{_UNITS[unit]: int(amount)})
    if delta <= timedelta(0):
        raise InvalidInput(f"'{text}' is not a positive duration")
    return delta


def parse_instant(text: str, timezone: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is read in ``timezone``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"'{text}' is not an ISO date-time; write for example 2026-03-16T17:00"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value


def parse_days(text: str) -> frozenset[int]:
    """``mon-fri``, ``mon,wed,fri`` or a mix; Monday is 0."""
    chosen: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise InvalidInput(f"'{text}' is not a list of days; write for example mon-fri")
        start = DAYS.index(first)
        end = DAYS.index(last) if last else start
        chosen.update(
            range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)]
        )
    return frozenset(chosen)


def parse_hours(text: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(p.strip()) for p in text.split("-"))
    except ValueError:
        raise InvalidInput(
            f"'{text}' is not working hours; write for example 09:00-17:00"
        ) from None
    return start, end


def parse_policy_changes(
    policy: ReminderPolicy,
    after: str | None,
    before_close: str | None,
    max_reminders: int | None,
    hours: str | None,
    days: str | None,
) -> ReminderPolicy:
    changes: dict[str, object] = {}
    if after is not None:
        offsets = [parse_duration(p) for p in after.split(",") if p.strip()]
        changes["offsets"] = tuple(sorted(offsets))
    if before_close is not None:
        changes["before_close"] = (
            None if before_close.strip().lower() == "none" else parse_duration(before_close)
        )
    if max_reminders is not None:
        changes["max_reminders"] = max_reminders
    if hours is not None:
        changes["work_start"], changes["work_end"] = parse_hours(hours)
    if days is not None:
        changes["workdays"] = parse_days(days)
    return replace(policy, **changes)  # type: ignore[arg-type]


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours % 24 == 0 else f"{hours:g}h"


def describe_policy(policy: ReminderPolicy) -> str:
    after = ", ".join(_span(o) for o in policy.offsets) or "none"
    last = "none" if policy.before_close is None else _span(policy.before_close)
    days = ",".join(DAYS[d] for d in sorted(policy.workdays))
    return (
        f"Reminders {after} after the invitation, and {last} before close; at most "
        f"{policy.max_reminders}, never two within {_span(policy.min_gap)}, only between "
        f"{policy.work_start:%H:%M} and {policy.work_end:%H:%M} local time on {days}."
    )


_YEARS = re.compile(r"^(\d+)\s*y$")


def parse_retention(text: str) -> int | None:
    """A retention period in whole days: ``365d``, ``2y``, ``52w``, or ``forever`` (None)."""
    clean = text.strip().lower()
    if clean in {"forever", "never", "none"}:
        return None
    years = _YEARS.match(clean)
    if years:
        days = int(years.group(1)) * 365
    else:
        try:
            delta = parse_duration(clean)
        except InvalidInput:
            raise InvalidInput(
                f"'{text}' is not a retention period; write for example 365d, 2y or forever"
            ) from None
        days = -(-int(delta.total_seconds()) // 86_400)
    if not 1 <= days <= 36_500:
        raise InvalidInput("the retention period must be between 1 day and 100 years")
    return days
