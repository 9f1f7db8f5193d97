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

from surveys.model import InvitationId, ParticipantId, Platform, RoundId, SurveyId

LEASE: Final = timedelta(minutes=1)
"""How long a claimed message is the sender's. A sender renews the leases of its batch while
it works (however slow the fan-out), so a lease runs out only when the sender is gone: a
crash leaves messages mid-send for about a minute."""
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


class AddressKind(StrEnum):
    PARTICIPANT = "participant"
    """A participant, by id: found on their platform through their stored user id."""
    OWNER = "email"
    """A survey owner, by e-mail: looked up on the platform when the message is sent."""
    CHANNEL = "channel"
    """A channel (the leadership channel), by the platform's channel id."""


@dataclass(frozen=True)
class Address:
    """Who an outbox message goes to: written and read only here. Stored as text
    (``participant:12``, ``email:lead@nhs.net``, ``channel:C123``) by the repository."""

    kind: AddressKind
    value: str

    @classmethod
    def participant(cls, participant_id: ParticipantId | int | None) -> Address:
        if participant_id is None:
            raise ValueError("a participant not yet stored has no address")
        return cls(AddressKind.PARTICIPANT, str(int(participant_id)))

    @classmethod
    def owner(cls, email: str) -> Address:
        return cls(AddressKind.OWNER, email)

    @classmethod
    def channel(cls, channel_id: str) -> Address:
        return cls(AddressKind.CHANNEL, channel_id)

    @classmethod
    def parse(cls, text: str) -> Address:
        kind, sep, value = text.partition(":")
        if not sep or not value or kind not in AddressKind._value2member_map_:
            raise ValueError(f"not an outbox address: {text!r}")
        address = cls(AddressKind(kind), value)
        if address.kind is AddressKind.PARTICIPANT and not value.isdigit():
            raise ValueError(f"not a participant id: {value!r}")
        return address

    @property
    def participant_id(self) -> ParticipantId | None:
        """The participant's id, or None when the address is an owner or a channel."""
        if self.kind is AddressKind.PARTICIPANT:
            return ParticipantId(int(self.value))
        return None

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.value}"


@dataclass(frozen=True)
class NewMessage:
    key: str
    kind: OutboxKind
    survey_id: SurveyId
    platform: Platform
    recipient: Address
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
    recipient: Address
    round_id: RoundId | None
    invitation_id: InvitationId | None
    payload: Mapping[str, Any]
    state: OutboxState
    attempts: int
    not_before: datetime
    sent_at: datetime | None
    message_ref: str | None
    last_error: str | None
    lease_until: datetime | None = None


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 30 minutes."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(minutes=30))
