"""Parsing command-line values: durations such as ``14d`` and ISO instants."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from surveys.errors import InvalidInput

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
