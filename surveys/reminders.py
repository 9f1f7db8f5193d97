"""Who gets a reminder, and when. Pure functions; the clock is passed in.

Reminders are the main lever on response rates, and also the main way to annoy people, so the
rules are strict: only people who have not finished, only inside their own working hours,
never two within a day, never more than the maximum, never after close, never to someone who
asked not to be reminded.

A reminder is due when one of the scheduled moments (``offsets`` after the invitation was
delivered, and ``before_close`` before the round closes) has passed since the participant's
last reminder. Several moments passed at once (over a weekend, say) give one reminder.
"""

from __future__ import annotations

from datetime import datetime

from surveys.model import DeliveryState, Invitation, Round
from surveys.policy import ReminderPolicy


def wants_reminding(invitation: Invitation) -> bool:
    """Delivered, not finished, not opted out."""
    return (
        invitation.delivery is DeliveryState.SENT
        and invitation.delivered_at is not None
        and invitation.completed_at is None
        and not invitation.reminders_opt_out
    )


def reminder_due(
    policy: ReminderPolicy,
    invitation: Invitation,
    round_: Round,
    timezone: str,
    now: datetime,
) -> bool:
    if not wants_reminding(invitation) or not round_.accepts_answers(now):
        return False
    if invitation.reminders_sent >= policy.max_reminders:
        return False
    last = invitation.last_reminded_at
    if last is not None and now - last < policy.min_gap:
        return False
    assert invitation.delivered_at is not None
    passed = [
        m
        for m in policy.moments(invitation.delivered_at, round_)
        if m <= now and (last is None or m > last)
    ]
    return bool(passed) and policy.in_working_hours(now, timezone)


def nudge_allowed(
    policy: ReminderPolicy, invitation: Invitation, round_: Round, now: datetime
) -> bool:
    """An owner's nudge reaches a non-responder at most once in ``min_gap``."""
    if not wants_reminding(invitation) or not round_.accepts_answers(now):
        return False
    last = invitation.last_reminded_at
    return last is None or now - last >= policy.min_gap
