"""Domain objects of a Relational Coordination survey and the rules that hold between them.

These are plain dataclasses; ``surveys.persistence`` maps them to and from the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, NewType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from surveys.errors import Conflict, InvalidInput
from surveys.instrument import Instrument
from surveys.policy import ReminderPolicy

SurveyId = NewType("SurveyId", int)
ParticipantId = NewType("ParticipantId", int)
RoundId = NewType("RoundId", int)
InvitationId = NewType("InvitationId", int)
Email = NewType("Email", str)
"""A normalised (trimmed, lower-case) e-mail address; build one with :func:`parse_email`."""

MIN_GROUP_FLOOR: Final = 3
MIN_GROUP_CEILING: Final = 25
DEFAULT_MIN_GROUP: Final = 5
DEFAULT_TIMEZONE: Final = "Europe/London"
MAX_ROLE_NAME: Final = 60
DEFAULT_RETAIN_DAYS: Final = 730
"""Raw answers and personal data are kept two years after a round closes, unless changed."""
MAX_SURVEY_NAME: Final = 100
"""Survey names head messages and cards (Slack headers hold 150 characters)."""

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class Platform(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"


class RoundState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNRESOLVED = "unresolved"
    """The participant could not be found on their chat platform."""


def parse_email(text: str) -> Email:
    """Trim and lower-case an e-mail address, refusing one that cannot be delivered to."""
    value = text.strip().lower()
    if not value:
        raise InvalidInput("the e-mail address is empty")
    if len(value) > 254 or not _EMAIL.match(value) or ".." in value:
        raise InvalidInput(f"'{text.strip()}' is not a valid e-mail address")
    return Email(value)


def check_timezone(name: str) -> str:
    """Return an IANA timezone name unchanged if it is known, else raise."""
    name = name.strip()
    if not name or name not in _timezones():
        raise InvalidInput(f"'{name}' is not a known IANA timezone (for example Europe/London)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - tzdata oddities
        raise InvalidInput(f"'{name}' is not a known IANA timezone") from exc
    return name


_TZ_CACHE: set[str] = set()


def _timezones() -> set[str]:
    if not _TZ_CACHE:
        _TZ_CACHE.update(available_timezones())
    return _TZ_CACHE


def check_min_group(size: int) -> int:
    if not MIN_GROUP_FLOOR <= size <= MIN_GROUP_CEILING:
        raise InvalidInput(
            f"the minimum group size must be between {MIN_GROUP_FLOOR} and "
            f"{MIN_GROUP_CEILING}, not {size}"
        )
    return size


def check_role_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("a role name is empty")
    if len(name) > MAX_ROLE_NAME:
        raise InvalidInput(
            f"the role name '{name[:20]}...' is longer than {MAX_ROLE_NAME} characters"
        )
    if "," in name:
        raise InvalidInput(f"the role name '{name}' contains a comma")
    return name


@dataclass(frozen=True)
class ChannelRef:
    """A channel on one platform, written ``slack:C0123`` or ``teams:19:...@thread.tacv2``."""

    platform: Platform
    channel_id: str

    @classmethod
    def parse(cls, text: str) -> ChannelRef:
        platform, sep, channel = text.strip().partition(":")
        if not sep or not channel.strip():
            raise InvalidInput(
                f"'{text}' is not a channel; write slack:CHANNEL_ID or teams:CHANNEL_ID"
            )
        try:
            kind = Platform(platform.strip().lower())
        except ValueError:
            raise InvalidInput(f"'{platform}' is not a chat platform; use slack or teams") from None
        return cls(kind, channel.strip())

    def __str__(self) -> str:
        return f"{self.platform.value}:{self.channel_id}"


@dataclass(frozen=True)
class Role:
    """A professional role in the survey; ``rates`` lists the partner roles it is asked about.

    ``rates`` of ``None`` means every role of the survey, the role itself included.
    """

    name: str
    rates: tuple[str, ...] | None = None


@dataclass
class Survey:
    name: str
    instrument: Instrument
    roles: tuple[Role, ...] = ()
    owners: tuple[Email, ...] = ()
    leadership_channels: tuple[ChannelRef, ...] = ()
    min_group_size: int = DEFAULT_MIN_GROUP
    timezone: str = DEFAULT_TIMEZONE
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    retain_days: int | None = DEFAULT_RETAIN_DAYS
    """Days after a round closes that its raw answers and personal data are kept; None:
    forever."""
    id: SurveyId | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.retain_days is not None and not 1 <= self.retain_days <= 36_500:
            raise InvalidInput("the retention period must be between 1 day and 100 years")
        if not self.name.strip():
            raise InvalidInput("the survey name is empty")
        if len(self.name) > MAX_SURVEY_NAME:
            raise InvalidInput(
                f"the survey name '{self.name[:20]}...' is longer than {MAX_SURVEY_NAME} characters"
            )
        check_min_group(self.min_group_size)
        check_timezone(self.timezone)
        names = [r.name for r in self.roles]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidInput(f"the role {duplicates[0]!r} is listed twice")
        for role in self.roles:
            for partner in role.rates or ():
                if partner not in names:
                    raise InvalidInput(
                        f"the role '{role.name}' rates '{partner}', which is not a role of "
                        f"this survey"
                    )

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.roles)

    def role(self, name: str) -> Role:
        """The survey's role whose name matches ``name``, ignoring case and spacing."""
        key = role_key(name)
        for role in self.roles:
            if role_key(role.name) == key:
                return role
        known = ", ".join(self.role_names) or "none yet"
        raise InvalidInput(f"'{name}' is not a role of the survey '{self.name}' (roles: {known})")

    def partner_roles_for(self, role_name: str) -> tuple[str, ...]:
        """The partner roles a participant in ``role_name`` is asked about, in survey order."""
        role = self.role(role_name)
        if role.rates is None:
            return self.role_names
        wanted = set(role.rates)
        return tuple(n for n in self.role_names if n in wanted)

    def with_roles_added(self, names: Iterable[str]) -> tuple[Role, ...]:
        """The survey's roles followed by any of ``names`` it does not have yet."""
        roles = list(self.roles)
        keys = {role_key(r.name) for r in roles}
        for name in names:
            clean = check_role_name(name)
            if role_key(clean) not in keys:
                roles.append(Role(clean))
                keys.add(role_key(clean))
        return tuple(roles)

    def with_partners(self, role_name: str, partners: Sequence[str] | None) -> tuple[Role, ...]:
        """The roles with ``role_name`` rating only ``partners`` (``None``: every role)."""
        target = self.role(role_name)
        rates = None if partners is None else tuple(self.role(p).name for p in partners)
        if rates is not None and not rates:
            raise InvalidInput(f"the role '{target.name}' must rate at least one partner role")
        return tuple(Role(r.name, rates) if r == target else r for r in self.roles)


def role_key(name: str) -> str:
    """Roles match ignoring case and spacing: 'Ward  nurses' is 'ward nurses'."""
    return " ".join(name.split()).casefold()


@dataclass
class Participant:
    survey_id: SurveyId
    email: Email
    name: str
    role: str
    platform: Platform = Platform.SLACK
    timezone: str | None = None
    team: str | None = None
    user_ids: dict[Platform, str] = field(default_factory=dict)
    """The person's user id on each chat platform, once known (imported or looked up)."""
    id: ParticipantId | None = None

    def effective_timezone(self, survey: Survey) -> str:
        return self.timezone or survey.timezone

    def platform_user_id(self, platform: Platform) -> str | None:
        """This person's user id on ``platform``, once known."""
        return self.user_ids.get(platform)


@dataclass
class Round:
    """One fielding of the survey, from opening to close."""

    survey_id: SurveyId
    number: int
    opens_at: datetime
    closes_at: datetime
    state: RoundState = RoundState.DRAFT
    closed_at: datetime | None = None
    purged_at: datetime | None = None
    """When its raw answers and personal data were deleted (retention or purge)."""
    id: RoundId | None = None

    def __post_init__(self) -> None:
        if self.closes_at <= self.opens_at:
            raise InvalidInput("a round must close after it opens")

    def open(self, now: datetime) -> None:
        if self.state is not RoundState.DRAFT:
            raise Conflict(f"round {self.number} is already {self.state.value}")
        if now >= self.closes_at:
            raise Conflict(f"round {self.number} would close before it opens")
        self.state = RoundState.OPEN
        self.opens_at = min(self.opens_at, now)

    def close(self, now: datetime) -> None:
        if self.state is RoundState.CLOSED:
            raise Conflict(f"round {self.number} is already closed")
        self.state = RoundState.CLOSED
        self.closed_at = now

    def accepts_answers(self, now: datetime) -> bool:
        return self.state is RoundState.OPEN and now < self.closes_at

    def time_left(self, now: datetime) -> timedelta:
        return max(self.closes_at - now, timedelta(0))


@dataclass
class Invitation:
    """A participant's place in a round: what they are asked, and how far they have got.

    ``role`` and ``partner_roles`` are copied from the survey when the round opens, so a
    later change to the participant or the survey cannot move answers already given.
    """

    round_id: RoundId
    participant_id: ParticipantId
    role: str
    partner_roles: tuple[str, ...]
    delivery: DeliveryState = DeliveryState.PENDING
    delivery_error: str | None = None
    delivered_at: datetime | None = None
    message_ref: str | None = None
    reminders_sent: int = 0
    last_reminded_at: datetime | None = None
    reminders_opt_out: bool = False
    started_at: datetime | None = None
    completed_at: datetime | None = None
    withdrawn_at: datetime | None = None
    """The person withdrew: their answers to this round were deleted."""
    id: InvitationId | None = None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    @property
    def started(self) -> bool:
        return self.started_at is not None


Score = int | None
"""A score 1-5, or ``None`` for "not applicable / don't work with them"."""


@dataclass(frozen=True)
class AnswerPage:
    """One partner role's seven answers, submitted together."""

    partner_role: str
    scores: Mapping[str, Score]


@dataclass(frozen=True)
class Progress:
    answered: tuple[str, ...]
    remaining: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.answered) + len(self.remaining)

    @property
    def complete(self) -> bool:
        return not self.remaining

    @property
    def next_role(self) -> str | None:
        return self.remaining[0] if self.remaining else None


def check_page(invitation: Invitation, instrument: Instrument, page: AnswerPage) -> AnswerPage:
    """Validate a submitted page against the invitation and instrument; return it normalised."""
    if page.partner_role not in invitation.partner_roles:
        raise InvalidInput(f"'{page.partner_role}' is not one of the roles you are asked about")
    expected = set(instrument.dimensions)
    given = set(page.scores)
    if given - expected:
        raise InvalidInput(f"unknown question(s): {', '.join(sorted(given - expected))}")
    if expected - given:
        missing = [d for d in instrument.dimensions if d not in given]
        raise InvalidInput(f"please answer every question (missing: {', '.join(missing)})")
    scores: dict[str, Score] = {}
    for dimension in instrument.dimensions:
        value = page.scores[dimension]
        if value is not None and (isinstance(value, bool) or value not in range(1, 6)):
            raise InvalidInput(f"the answer to {dimension} must be 1-5 or not applicable")
        scores[dimension] = value
    return AnswerPage(page.partner_role, scores)


NOT_APPLICABLE: Final = "na"
"""How a chat form sends "not applicable / don't work with them"."""
SCORE_VALUES: Final = ("1", "2", "3", "4", "5")


def parse_scores(
    dimensions: Sequence[str], values: Mapping[str, str | None]
) -> tuple[dict[str, Score], dict[str, str]]:
    """The scores chosen on a chat form (``"1"``..``"5"`` or ``"na"``), and what is wrong
    with each question left unanswered or answered out of range."""
    scores: dict[str, Score] = {}
    errors: dict[str, str] = {}
    for dimension in dimensions:
        raw = (values.get(dimension) or "").strip()
        if raw == NOT_APPLICABLE:
            scores[dimension] = None
        elif raw in SCORE_VALUES:
            scores[dimension] = int(raw)
        else:
            errors[dimension] = "Please choose an answer (or not applicable)."
    return scores, errors


def progress_of(invitation: Invitation, answered_roles: Iterable[str]) -> Progress:
    done = set(answered_roles)
    return Progress(
        answered=tuple(r for r in invitation.partner_roles if r in done),
        remaining=tuple(r for r in invitation.partner_roles if r not in done),
    )


@dataclass(frozen=True)
class RoleResponse:
    role: str
    invited: int
    started: int
    completed: int
    withdrew: int = 0

    @property
    def rate(self) -> float:
        return self.completed / self.invited if self.invited else 0.0


@dataclass(frozen=True)
class RoundStatus:
    survey: str
    round: Round
    by_role: tuple[RoleResponse, ...]
    delivery: Mapping[DeliveryState, int] = field(default_factory=dict)
    min_group_size: int = DEFAULT_MIN_GROUP
    reminders_sent: int = 0

    @property
    def invited(self) -> int:
        return sum(r.invited for r in self.by_role)

    @property
    def started(self) -> int:
        return sum(r.started for r in self.by_role)

    @property
    def completed(self) -> int:
        return sum(r.completed for r in self.by_role)

    @property
    def withdrew(self) -> int:
        return sum(r.withdrew for r in self.by_role)

    @property
    def rate(self) -> float:
        return self.completed / self.invited if self.invited else 0.0


@dataclass(frozen=True)
class InvitationCounts:
    """How many of a round's invitations have one role and one delivery state, and how many
    of those were started, completed and withdrawn (the status query counts these in the
    database; :func:`summarise_responses` counts loaded invitations)."""

    role: str
    delivery: DeliveryState
    invited: int
    started: int
    completed: int
    withdrew: int
    reminders_sent: int


def summarise_counts(
    survey_name: str,
    role_names: Iterable[str],
    min_group_size: int,
    round_: Round,
    counts: Iterable[InvitationCounts],
) -> RoundStatus:
    """Response counts overall and per role (roles in survey order, then any others)."""
    by_name: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in role_names}
    delivery: dict[DeliveryState, int] = dict.fromkeys(DeliveryState, 0)
    reminders = 0
    for c in counts:
        reminders += c.reminders_sent
        row = by_name.setdefault(c.role, [0, 0, 0, 0])
        row[0] += c.invited
        row[1] += c.started
        row[2] += c.completed
        row[3] += c.withdrew
        delivery[c.delivery] += c.invited
    by_role = tuple(RoleResponse(role, *c) for role, c in by_name.items() if c[0])
    return RoundStatus(survey_name, round_, by_role, delivery, min_group_size, reminders)


def summarise_responses(
    survey: Survey, round_: Round, invitations: Iterable[Invitation]
) -> RoundStatus:
    """Response counts overall and per role, from the round's invitations."""
    counts = (
        InvitationCounts(
            inv.role,
            inv.delivery,
            1,
            int(inv.started),
            int(inv.completed),
            int(inv.withdrawn),
            inv.reminders_sent,
        )
        for inv in invitations
    )
    return summarise_counts(survey.name, survey.role_names, survey.min_group_size, round_, counts)
