"""The reminder policy: pure rules with an explicit clock."""

from datetime import UTC, datetime, time, timedelta

import pytest

from surveys.errors import InvalidInput
from surveys.model import (
    DeliveryState,
    Invitation,
    ParticipantId,
    Round,
    RoundId,
    RoundState,
    SurveyId,
)
from surveys.policy import ReminderPolicy
from surveys.reminders import nudge_allowed, reminder_due
from tests.conftest import MONDAY

POLICY = ReminderPolicy()
LONDON = "Europe/London"


def open_round(days: int = 14) -> Round:
    return Round(SurveyId(1), 1, MONDAY, MONDAY + timedelta(days=days), RoundState.OPEN)


def invited(**kw: object) -> Invitation:
    values: dict[str, object] = {
        "delivery": DeliveryState.SENT,
        "delivered_at": MONDAY,
    }
    values.update(kw)
    return Invitation(RoundId(1), ParticipantId(1), "Nurses", ("Nurses",), **values)  # type: ignore[arg-type]


def due(inv: Invitation, at: datetime, zone: str = LONDON, round_: Round | None = None) -> bool:
    return reminder_due(POLICY, inv, round_ or open_round(), zone, at)


def test_moments_are_the_offsets_and_a_day_before_close() -> None:
    assert POLICY.moments(MONDAY, open_round()) == [
        MONDAY + timedelta(days=3),
        MONDAY + timedelta(days=5),
        MONDAY + timedelta(days=13),
    ]
    # A short round drops moments at or after close.
    assert POLICY.moments(MONDAY, open_round(4)) == [MONDAY + timedelta(days=3)]


def test_first_reminder_comes_three_days_after_the_invitation() -> None:
    inv = invited()
    assert not due(inv, MONDAY + timedelta(days=2, hours=23))
    assert due(inv, MONDAY + timedelta(days=3))


def test_only_in_local_working_hours_on_weekdays() -> None:
    inv = invited()
    thursday = MONDAY + timedelta(days=3)  # 09:00 UTC = 09:00 in London in March
    assert due(inv, thursday + timedelta(hours=7, minutes=59))
    assert not due(inv, thursday + timedelta(hours=8))  # 17:00
    assert not due(inv, thursday - timedelta(minutes=1) + timedelta(days=1, hours=-9))
    saturday = MONDAY + timedelta(days=5, hours=3)
    assert not due(inv, saturday)
    # In New York 09:00 London is 04:00: wait for their morning.
    assert not due(inv, thursday, "America/New_York")
    assert due(inv, thursday + timedelta(hours=5), "America/New_York")


def test_never_to_those_who_finished_opted_out_or_never_got_the_invitation() -> None:
    at = MONDAY + timedelta(days=3)
    assert not due(invited(completed_at=MONDAY), at)
    assert not due(invited(reminders_opt_out=True), at)
    assert not due(invited(delivery=DeliveryState.UNRESOLVED, delivered_at=None), at)
    # Started but not finished: still reminded (to finish where they left off).
    assert due(invited(started_at=MONDAY), at)


def test_at_most_once_a_day_and_at_most_the_maximum() -> None:
    at = MONDAY + timedelta(days=7)  # the next Monday, after the +5 d moment
    assert not due(invited(reminders_sent=1, last_reminded_at=at - timedelta(hours=23)), at)
    assert due(invited(reminders_sent=1, last_reminded_at=at - timedelta(days=4)), at)
    assert not due(invited(reminders_sent=3, last_reminded_at=MONDAY), MONDAY + timedelta(days=13))


def test_moments_already_covered_by_a_reminder_are_not_repeated() -> None:
    inv = invited(reminders_sent=1, last_reminded_at=MONDAY + timedelta(days=3, hours=2))
    assert not due(inv, MONDAY + timedelta(days=4, hours=3))
    assert due(inv, MONDAY + timedelta(days=7))  # the +5 d moment fell on a Saturday


def test_none_after_close() -> None:
    closed = open_round()
    closed.close(MONDAY + timedelta(days=2))
    assert not due(invited(), MONDAY + timedelta(days=3), round_=closed)
    assert not due(invited(), MONDAY + timedelta(days=14, hours=1))


def test_nudges_respect_the_daily_gap() -> None:
    r = open_round()
    now = MONDAY + timedelta(days=1)
    assert nudge_allowed(POLICY, invited(), r, now)
    assert not nudge_allowed(POLICY, invited(last_reminded_at=now - timedelta(hours=3)), r, now)
    assert not nudge_allowed(POLICY, invited(completed_at=MONDAY), r, now)


def test_next_working_moment() -> None:
    friday_evening = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    monday_morning = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    assert POLICY.next_working_moment(friday_evening, LONDON) == monday_morning
    inside = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    assert POLICY.next_working_moment(inside, LONDON) == inside


def test_policy_round_trip_and_validation() -> None:
    custom = ReminderPolicy(
        offsets=(timedelta(days=2),),
        before_close=None,
        max_reminders=1,
        work_start=time(8, 30),
        work_end=time(18, 0),
        workdays=frozenset({0, 1, 2, 3, 4, 5}),
    )
    assert ReminderPolicy.from_dict(custom.to_dict()) == custom
    assert ReminderPolicy.from_dict(None) == ReminderPolicy()
    with pytest.raises(InvalidInput):
        ReminderPolicy(work_start=time(17), work_end=time(9))
    with pytest.raises(InvalidInput):
        ReminderPolicy(workdays=frozenset({7}))
