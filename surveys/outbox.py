"""The outbox: every outbound chat message is a row, sent at most once.

Producers (opening a round, the reminder policy, a nudge, closing) *enqueue* messages with a
unique key, so planning the same message twice stores it once. The sender *claims* due rows
(a lease, so two workers never take the same row), sends them, and marks each sent or failed.
A transient failure is retried with backoff; a permanent one (user not found, app not
installed) is recorded and reported, never silently dropped.

Crash safety: a row whose lease ran out while it was being sent may or may not have reached
the person. It is resent only when the platform can check its own history for the message's
key; otherwise it is marked ``uncertain`` and reported, because a duplicate survey
invitation is worse than a missing one the owner can see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from surveys.model import InvitationId, Platform, RoundId, SurveyId

LEASE: Final = timedelta(minutes=5)
MAX_ATTEMPTS: Final = 8


class OutboxKind(StrEnum):
    INVITATION = "invitation"
    REMINDER = "reminder"
    NUDGE = "nudge"
    DIGEST = "digest"
    SUMMARY = "summary"
    NOTICE = "notice"
    WORKBOOK = "workbook"
    """The owners' results workbook, sent privately when a round is published."""


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    CANCELLED = "cancelled"
    """No longer wanted when its turn came (the person answered, the round closed)."""


@dataclass(frozen=True)
class NewMessage:
    key: str
    kind: OutboxKind
    survey_id: SurveyId
    platform: Platform
    recipient: str
    round_id: RoundId | None = None
    invitation_id: InvitationId | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    not_before: datetime | None = None


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    kind: OutboxKind
    survey_id: SurveyId
    platform: Platform
    recipient: str
    round_id: RoundId | None
    invitation_id: InvitationId | None
    payload: Mapping[str, Any]
    state: OutboxState
    attempts: int
    not_before: datetime
    sent_at: datetime | None
    message_ref: str | None
    last_error: str | None


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 30 minutes."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(minutes=30))
