"""Application services: the operations owners, participants and the scheduler perform.

Each public method is one transaction. Chat handlers, the CLI and the scheduler call these
and hold no rules of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from surveys.clock import Clock, ensure_utc
from surveys.errors import Conflict, InvalidInput, no_round
from surveys.importing import (
    PLATFORM_ID_COLUMNS,
    ImportRejected,
    ParticipantRecord,
    RawTable,
    RowProblem,
    check_table,
    identity_key,
)
from surveys.instrument import Instrument, default_instrument
from surveys.model import (
    DEFAULT_MIN_GROUP,
    DEFAULT_RETAIN_DAYS,
    DEFAULT_TIMEZONE,
    AnswerPage,
    ChannelRef,
    DeliveryState,
    Email,
    Invitation,
    InvitationId,
    Participant,
    ParticipantId,
    Platform,
    Progress,
    Round,
    RoundId,
    RoundState,
    RoundStatus,
    Survey,
    SurveyId,
    check_page,
    check_role_name,
    parse_email,
    parse_scores,
    progress_of,
)
from surveys.outbox import Address, NewMessage, OutboxKind
from surveys.persistence import status
from surveys.persistence.repositories import AnswerRecord, InvitationParts
from surveys.persistence.uow import UnitOfWork, read_invitation
from surveys.policy import ReminderPolicy
from surveys.publishing import notice_key, publications_needing_notice, record_close
from surveys.reminders import nudge_allowed, reminder_due

T = TypeVar("T")


@dataclass(frozen=True)
class NewSurvey:
    name: str
    owners: Sequence[str]
    leadership_channels: Sequence[str] = ()
    roles: Sequence[str] = ()
    min_group_size: int = DEFAULT_MIN_GROUP
    timezone: str = DEFAULT_TIMEZONE
    instrument: Instrument | None = None
    retain_days: int | None = DEFAULT_RETAIN_DAYS


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int
    roles_added: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass(frozen=True)
class InvitationView:
    """Everything a chat handler needs to show one participant their survey."""

    survey: Survey
    round: Round
    invitation: Invitation
    participant: Participant
    progress: Progress
    pages: dict[str, dict[str, int | None]]


@dataclass(frozen=True)
class PageOutcome:
    """What happened to a page submitted in chat, and the invitation as it is now."""

    view: InvitationView
    refused: str | None = None
    """Why this person may not answer (the round closed, not their invitation...)."""
    errors: Mapping[str, str] = field(default_factory=dict)
    """Dimension -> what to fix; nothing was saved."""
    progress: Progress | None = None
    """Set when the page was saved."""


UserIds = str | tuple[str, ...]
"""Who pressed: one platform user id, or every id the platform gave for the same person
(Teams sends both the Entra object id and the Teams user id; a participant may be stored
with either)."""


def answering_refusal(
    view: InvitationView, platform: Platform, user_id: UserIds, now: datetime
) -> str | None:
    """The rules of who may answer, and when: only the invited person, only while the
    round is open. None when they may; else a polite sentence saying why not."""
    known = view.participant.platform_user_id(platform)
    given = (user_id,) if isinstance(user_id, str) else user_id
    if known is None or identity_key(known) not in {identity_key(i) for i in given}:
        return "This survey invitation belongs to someone else."
    if view.invitation.withdrawn:
        return (
            f"You withdrew from round {view.round.number} of {view.survey.name} and your "
            "answers were deleted, so there is nothing more to answer."
        )
    if not view.round.accepts_answers(now):
        return (
            f"Round {view.round.number} of {view.survey.name} has closed, so answers can "
            "no longer be given or changed. Thank you for taking part."
        )
    return None


def decide_page(
    view: InvitationView,
    platform: Platform,
    user_id: UserIds,
    partner_role: str,
    values: Mapping[str, str | None],
    now: datetime,
) -> PageOutcome:
    """What submitting a page to the invitation as ``view`` shows it comes to, saving
    nothing: refused (who may answer, and when; the partner roles), the questions to fix,
    or the invitation as it is once the page is saved. The one rule for answering a page:
    :meth:`SurveyService.answer_page` saves what it decides, and a chat server may use it
    on the invitation as it last read it to answer at once (then checks the saved result)."""
    refused = answering_refusal(view, platform, user_id, now)
    if refused is None and partner_role not in view.invitation.partner_roles:
        refused = f"{partner_role} is not one of the roles you are asked about."
    if refused is not None:
        return PageOutcome(view, refused=refused)
    scores, errors = parse_scores(view.survey.instrument.dimensions, values)
    if errors:
        return PageOutcome(view, errors=errors)
    progress = progress_of(view.invitation, {*view.progress.answered, partner_role})
    after = replace(view, progress=progress, pages={**view.pages, partner_role: scores})
    return PageOutcome(after, progress=progress)


class SurveyService:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def _now(self) -> datetime:
        return ensure_utc(self.clock.now())

    # --- surveys -----------------------------------------------------------------------

    def create_survey(self, spec: NewSurvey) -> Survey:
        name = " ".join(spec.name.split())
        owners = tuple(sorted({parse_email(o) for o in spec.owners}))
        if not owners:
            raise InvalidInput("a survey needs at least one owner (--owner EMAIL)")
        channels = tuple(ChannelRef.parse(c) for c in spec.leadership_channels)
        draft = Survey(
            name=name,
            instrument=spec.instrument or default_instrument(),
            owners=owners,
            leadership_channels=channels,
            min_group_size=spec.min_group_size,
            timezone=spec.timezone,
            retain_days=spec.retain_days,
        )
        survey = replace(draft, roles=draft.with_roles_added(spec.roles))
        with self._uow() as uow:
            if uow.surveys.exists(survey.name):
                raise Conflict(f"a survey called '{survey.name}' already exists")
            return uow.surveys.add(survey, self._now())

    def list_surveys(self) -> list[Survey]:
        with self._uow() as uow:
            return uow.surveys.all()

    def get_survey(self, name: str) -> Survey:
        with self._uow() as uow:
            return uow.surveys.get(name)

    def get_survey_by_id(self, survey_id: SurveyId) -> Survey:
        with self._uow() as uow:
            return uow.surveys.get_by_id(survey_id)

    def set_partner_roles(
        self, survey_name: str, role: str, partners: Sequence[str] | None
    ) -> Survey:
        """Choose which partner roles ``role`` is asked about (``None``: every role)."""
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            updated = replace(survey, roles=survey.with_partners(role, partners))
            return uow.surveys.save(updated)

    # --- participants ------------------------------------------------------------------

    def import_participants(
        self,
        survey_name: str,
        table: RawTable,
        default_platform: Platform = Platform.SLACK,
    ) -> ImportReport:
        """Import all of ``table`` or nothing; re-importing the same file changes nothing."""
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            known = survey.role_names or None
            records = check_table(table, known_roles=known, default_platform=default_platform)
            assert survey.id is not None
            _refuse_shared_identities(table.source, records, uow.participants.for_survey(survey.id))
            new_roles: tuple[str, ...] = ()
            if known is None:
                roles = survey.with_roles_added(r.role for r in records)
                new_roles = tuple(r.name for r in roles)
                survey = uow.surveys.save(replace(survey, roles=roles))
            assert survey.id is not None
            counts = uow.participants.upsert(survey.id, records, self._now())
            return ImportReport(counts.created, counts.updated, counts.unchanged, new_roles)

    def list_participants(self, survey_name: str) -> list[Participant]:
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            assert survey.id is not None
            return uow.participants.for_survey(survey.id)

    def set_platform_id(
        self,
        participant: Participant,
        platform: Platform,
        user_id: str,
    ) -> None:
        assert participant.id is not None
        refused = self.remember_platform_ids(platform, {participant.id: user_id})
        if refused:
            raise Conflict(refused[participant.id])

    def remember_platform_ids(
        self, platform: Platform, found: Mapping[ParticipantId, str]
    ) -> dict[ParticipantId, str]:
        """Store many people's platform user ids in one transaction.

        One chat account is one participant per survey: an id that another participant of
        the same survey already holds, or that the look-up found for two people of one
        survey at once, is not stored for anyone new. Returns, for each participant refused,
        a sentence for the owners saying why (the dispatcher lists it as unreachable).
        """
        refused: dict[ParticipantId, str] = {}
        if not found:
            return refused
        with self._uow() as uow:
            people = uow.participants.by_ids(found)
            holders: dict[tuple[SurveyId, str], list[Participant]] = {}
            for survey_id in {p.survey_id for p in people.values()}:
                for other in uow.participants.for_survey(survey_id):
                    held = other.platform_user_id(platform)
                    if held:
                        holders.setdefault((survey_id, identity_key(held)), []).append(other)
            wanted: dict[tuple[SurveyId, str], list[ParticipantId]] = {}
            for participant_id, user_id in found.items():
                person = people[participant_id]
                wanted.setdefault((person.survey_id, identity_key(user_id)), []).append(
                    participant_id
                )
            for key, claimants in wanted.items():
                others = [h for h in holders.get(key, []) if h.id not in claimants]
                if len(claimants) > 1 or others:
                    for participant_id in claimants:
                        rivals = sorted(
                            {o.email for o in others}
                            | {people[c].email for c in claimants if c != participant_id}
                        )
                        refused[participant_id] = (
                            f"the {platform.value} account found for this e-mail also belongs "
                            f"to {', '.join(rivals)}; one chat account can answer for one "
                            "participant only, so fix the e-mail or user id"
                        )
                    continue
                for participant_id in claimants:
                    uow.participants.set_platform_id(
                        participant_id, platform, found[participant_id]
                    )
        return refused

    # --- rounds ------------------------------------------------------------------------

    def open_round(
        self, survey_name: str, closes_at: datetime, opens_at: datetime | None = None
    ) -> Round:
        """Open a round now, or schedule it for ``opens_at`` (it stays a draft until then)."""
        now = self._now()
        closes_at = ensure_utc(closes_at)
        start = now if opens_at is None else ensure_utc(opens_at)
        if closes_at <= max(now, start):
            raise InvalidInput("the closing time must be in the future and after the opening")
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            assert survey.id is not None
            latest = uow.rounds.latest(survey.id)
            if latest is not None and latest.state is not RoundState.CLOSED:
                raise Conflict(
                    f"round {latest.number} of '{survey.name}' is still {latest.state.value}; "
                    "close it before opening another"
                )
            if uow.participants.count(survey.id) == 0:
                raise InvalidInput(
                    f"'{survey.name}' has no participants yet; run `rcbot participants import`"
                )
            number = 1 if latest is None else latest.number + 1
            round_ = uow.rounds.add(Round(survey.id, number, start, closes_at))
            if start <= now:
                self._start(uow, survey, round_, now)
            return round_

    def open_due_rounds(self) -> list[Round]:
        """Open every scheduled round whose opening time has come; for the scheduler."""
        now = self._now()
        opened = []
        with self._uow() as uow:
            for round_ in uow.rounds.in_state(RoundState.DRAFT):
                if round_.opens_at <= now:
                    survey = uow.surveys.get_by_id(round_.survey_id)
                    self._start(uow, survey, round_, now)
                    opened.append(round_)
        return opened

    def _start(self, uow: UnitOfWork, survey: Survey, round_: Round, now: datetime) -> None:
        assert survey.id is not None
        assert round_.id is not None
        round_.open(now)
        uow.rounds.save(round_)
        participants = uow.participants.for_survey(survey.id)
        round_id = round_.id
        uow.invitations.add_many(
            Invitation(
                round_id=round_id,
                participant_id=p.id,
                role=p.role,
                partner_roles=survey.partner_roles_for(p.role),
            )
            for p in participants
            if p.id is not None
        )

    def rounds(self, survey_name: str) -> list[Round]:
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            assert survey.id is not None
            return uow.rounds.for_survey(survey.id)

    def _round(self, uow: UnitOfWork, survey: Survey, number: int | None) -> Round:
        assert survey.id is not None
        if number is None:
            latest = uow.rounds.latest(survey.id)
            if latest is None:
                raise no_round(survey.name, None)
            return latest
        for round_ in uow.rounds.for_survey(survey.id):
            if round_.number == number:
                return round_
        raise no_round(survey.name, number)

    def round_status(self, survey_name: str, number: int | None = None) -> RoundStatus:
        """Response counts of round ``number`` (None: the latest), counted by the database."""
        with status.engine_queries(self.engine) as query:
            return status.round_status(query, survey_name, number)

    def status_of(self, round_id: RoundId) -> RoundStatus:
        with status.engine_queries(self.engine) as query:
            return status.status_of(query, round_id)

    def close_round(self, survey_name: str) -> Round:
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            round_ = self._round(uow, survey, None)
            now = self._now()
            round_.close(now)
            uow.rounds.save(round_)
            record_close(uow.session, round_, now)
            return round_

    def close_due_rounds(self) -> list[Round]:
        """Close every open round whose closing time has passed; for the scheduler."""
        now = self._now()
        closed = []
        with self._uow() as uow:
            for round_ in uow.rounds.in_state(RoundState.OPEN):
                if round_.closes_at <= now:
                    round_.close(now)
                    uow.rounds.save(round_)
                    record_close(uow.session, round_, now)
                    closed.append(round_)
        return closed

    def invitations(self, survey_name: str, number: int | None = None) -> list[Invitation]:
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            round_ = self._round(uow, survey, number)
            assert round_.id is not None
            return uow.invitations.for_round(round_.id)

    def answers(self, survey_name: str, number: int | None = None) -> list[AnswerRecord]:
        """A round's answers keyed by pseudonymous respondent ids, for analytics."""
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            round_ = self._round(uow, survey, number)
            assert round_.id is not None
            return uow.answers.for_round(round_.id)

    # --- invitations and answers -------------------------------------------------------

    def view(self, invitation_id: InvitationId) -> InvitationView:
        """The invitation as it is now (one statement, no transaction)."""
        return self._view_of(read_invitation(self.engine, invitation_id))

    def _view(self, uow: UnitOfWork, invitation_id: InvitationId) -> InvitationView:
        return self._view_of(uow.views.parts(invitation_id))

    @staticmethod
    def _view_of(found: InvitationParts) -> InvitationView:
        items = len(found.survey.instrument.items)
        done = [r for r, scores in found.pages.items() if len(scores) == items]
        return InvitationView(
            found.survey,
            found.round,
            found.invitation,
            found.participant,
            progress_of(found.invitation, done),
            found.pages,
        )

    def views_for_user(self, platform: Platform, user_id: str) -> list[InvitationView]:
        """The person's invitations in open rounds, for their App Home or personal tab."""
        views = []
        with self._uow() as uow:
            for person in uow.participants.by_platform_user(platform, user_id):
                assert person.id is not None
                latest = uow.rounds.latest(person.survey_id)
                if latest is None or latest.state is not RoundState.OPEN:
                    continue
                assert latest.id is not None
                invitation = uow.invitations.of_participant(latest.id, person.id)
                if invitation is not None and invitation.id is not None:
                    views.append(self._view(uow, invitation.id))
        return views

    def withdrawable_views(self, platform: Platform, user_id: str) -> list[InvitationView]:
        """The person's invitations in closed rounds whose raw answers rcbot still holds, so
        they can withdraw them (open rounds are in :meth:`views_for_user`)."""
        views = []
        with self._uow() as uow:
            for person in uow.participants.by_platform_user(platform, user_id):
                assert person.id is not None
                for round_ in uow.rounds.for_survey(person.survey_id):
                    if round_.state is not RoundState.CLOSED or round_.purged_at is not None:
                        continue
                    assert round_.id is not None
                    invitation = uow.invitations.of_participant(round_.id, person.id)
                    if invitation is None or invitation.id is None:
                        continue
                    if uow.answers.pages(invitation.id):
                        views.append(self._view(uow, invitation.id))
        return views

    def record_delivery(
        self,
        invitation_id: InvitationId,
        state: DeliveryState,
        *,
        message_ref: str | None = None,
        error: str | None = None,
    ) -> None:
        with self._uow() as uow:
            invitation = uow.invitations.get(invitation_id)
            invitation.delivery = state
            invitation.delivery_error = error
            if state is DeliveryState.SENT:
                invitation.delivered_at = self._now()
                invitation.message_ref = message_ref
            uow.invitations.save(invitation)

    def view_for(
        self, invitation_id: InvitationId, platform: Platform, user_id: UserIds
    ) -> tuple[InvitationView, str | None]:
        """The invitation, and why ``user_id`` may not answer it (None: they may)."""
        view = self.view(invitation_id)
        return view, answering_refusal(view, platform, user_id, self._now())

    def stop_reminders(
        self, invitation_id: InvitationId, platform: Platform, user_id: UserIds
    ) -> str | None:
        """ "Don't remind me", in one transaction; returns a refusal or None when done."""
        with self._uow() as uow:
            view = self._view(uow, invitation_id)
            refused = answering_refusal(view, platform, user_id, self._now())
            if refused is None:
                view.invitation.reminders_opt_out = True
                uow.invitations.save(view.invitation)
            return refused

    def answer_page(
        self,
        invitation_id: InvitationId,
        platform: Platform,
        user_id: UserIds,
        partner_role: str,
        values: Mapping[str, str | None],
    ) -> PageOutcome:
        """Check, validate and save one page typed in chat, and read the invitation back:
        all in one transaction."""
        return self._retry_on_conflict(
            lambda: self._answer_page(invitation_id, platform, user_id, partner_role, values)
        )

    def _answer_page(
        self,
        invitation_id: InvitationId,
        platform: Platform,
        user_id: UserIds,
        partner_role: str,
        values: Mapping[str, str | None],
    ) -> PageOutcome:
        now = self._now()
        with self._uow() as uow:
            view = self._view(uow, invitation_id)
            decided = decide_page(view, platform, user_id, partner_role, values, now)
            if decided.progress is None:
                return decided  # refused, or questions to fix: nothing saved
            # The invitation as saved, without reading it all back (half the queries of a
            # submission): a page is saved whole (check_page), and _save_page updates the
            # invitation object the decided view shares.
            scores = decided.view.pages[partner_role]
            self._save_page(uow, view, AnswerPage(partner_role, scores), now)
            return decided

    def submit_page(self, invitation_id: InvitationId, page: AnswerPage) -> Progress:
        """Save one partner role's answers. Resubmitting the same page changes nothing."""
        return self._retry_on_conflict(lambda: self._submit_page(invitation_id, page))

    def _submit_page(self, invitation_id: InvitationId, page: AnswerPage) -> Progress:
        now = self._now()
        with self._uow() as uow:
            view = self._view(uow, invitation_id)
            if view.invitation.withdrawn:
                raise Conflict(
                    f"you withdrew from round {view.round.number} of '{view.survey.name}' and "
                    "your answers were deleted, so nothing more can be saved"
                )
            if not view.round.accepts_answers(now):
                raise Conflict(
                    f"round {view.round.number} of '{view.survey.name}' has closed, so answers "
                    "can no longer be changed; thank you for taking part"
                )
            return self._save_page(uow, view, page, now)

    def _save_page(
        self, uow: UnitOfWork, view: InvitationView, page: AnswerPage, now: datetime
    ) -> Progress:
        clean = check_page(view.invitation, view.survey.instrument, page)
        invitation = view.invitation
        assert invitation.id is not None
        uow.answers.put_page(
            invitation.id,
            clean.partner_role,
            clean.scores,
            now,
            stored=view.pages.get(clean.partner_role, {}),
        )
        done = set(view.progress.answered) | {clean.partner_role}
        progress = progress_of(invitation, done)
        started, completed = invitation.started_at, invitation.completed_at
        if invitation.started_at is None:
            invitation.started_at = now
        if progress.complete and invitation.completed_at is None:
            invitation.completed_at = now
        if (started, completed) != (invitation.started_at, invitation.completed_at):
            assert invitation.started_at is not None
            uow.invitations.mark_progress(
                invitation.id, invitation.started_at, invitation.completed_at
            )
        return progress

    def _retry_on_conflict(self, action: Callable[[], T]) -> T:
        """Run ``action`` again once when a concurrent double submit hit a unique key."""
        try:
            return action()
        except IntegrityError:
            return action()

    def undelivered(self) -> list[InvitationView]:
        """Invitations of open rounds that have not been handed to a platform yet."""
        views: list[InvitationView] = []
        with self._uow() as uow:
            for round_ in uow.rounds.in_state(RoundState.OPEN):
                assert round_.id is not None
                pending = uow.invitations.undelivered(round_.id)
                if not pending:
                    continue
                survey = uow.surveys.get_by_id(round_.survey_id)
                people = uow.participants.by_ids(i.participant_id for i in pending)
                views.extend(
                    InvitationView(
                        survey, round_, inv, people[inv.participant_id], progress_of(inv, ()), {}
                    )
                    for inv in pending
                )
        return views

    def participants_by_id(self, ids: Iterable[ParticipantId]) -> dict[ParticipantId, Participant]:
        with self._uow() as uow:
            return uow.participants.by_ids(ids)

    # --- reminders ---------------------------------------------------------------------

    def set_reminder_policy(self, survey_name: str, policy: ReminderPolicy) -> Survey:
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            return uow.surveys.save(replace(survey, reminders=policy))

    def plan_reminders(self) -> int:
        """Queue the reminders due now under each survey's policy; return how many.

        The invitation's reminder count and the outbox row are written in one transaction,
        so a crash can neither lose a reminder nor send one twice.
        """
        now = self._now()
        planned = 0
        with self._uow() as uow:
            for round_, survey in self._open_rounds(uow):
                assert round_.id is not None
                policy = survey.reminders
                invitations = uow.invitations.awaiting_answers(round_.id, policy.max_reminders)
                people = uow.participants.by_ids(i.participant_id for i in invitations)
                messages = []
                for inv in invitations:
                    person = people[inv.participant_id]
                    zone = person.effective_timezone(survey)
                    if not reminder_due(survey.reminders, inv, round_, zone, now):
                        continue
                    inv.reminders_sent += 1
                    inv.last_reminded_at = now
                    uow.invitations.save(inv)
                    messages.append(
                        self._reminder(
                            f"reminder:{inv.id}:{inv.reminders_sent}",
                            OutboxKind.REMINDER,
                            round_,
                            inv,
                            person,
                            now,
                        )
                    )
                planned += uow.outbox.add(messages, now)
        return planned

    def nudge(self, survey_name: str) -> int:
        """An owner's nudge: remind every non-responder not reminded in the last day.

        Each nudge arrives inside the participant's working hours; return how many.
        """
        now = self._now()
        with self._uow() as uow:
            survey = uow.surveys.get(survey_name)
            round_ = self._round(uow, survey, None)
            if not round_.accepts_answers(now):
                raise Conflict(f"round {round_.number} of '{survey.name}' is not open")
            assert survey.id is not None
            assert round_.id is not None
            people = {p.id: p for p in uow.participants.for_survey(survey.id)}
            messages = []
            for inv in uow.invitations.for_round(round_.id):
                if not nudge_allowed(survey.reminders, inv, round_, now):
                    continue
                person = people[inv.participant_id]
                inv.last_reminded_at = now
                uow.invitations.save(inv)
                zone = person.effective_timezone(survey)
                at = survey.reminders.next_working_moment(now, zone)
                key = f"nudge:{inv.id}:{now:%Y%m%dT%H%M%S}"
                messages.append(self._reminder(key, OutboxKind.NUDGE, round_, inv, person, at))
            return uow.outbox.add(messages, now)

    def plan_digests(self) -> int:
        """Queue each owner's daily digest of every open round, once per local working day."""
        now = self._now()
        messages: list[NewMessage] = []
        with self._uow() as uow:
            for round_, survey in self._open_rounds(uow):
                policy = survey.reminders
                if not policy.in_working_hours(now, survey.timezone):
                    continue
                day = now.astimezone(ZoneInfo(survey.timezone)).date().isoformat()
                platform = self._owners_platform(uow, survey)
                messages.extend(
                    NewMessage(
                        key=f"digest:{round_.id}:{day}:{owner}",
                        kind=OutboxKind.DIGEST,
                        survey_id=round_.survey_id,
                        platform=platform,
                        recipient=Address.owner(owner),
                        round_id=round_.id,
                        payload={"template": "digest"},
                    )
                    for owner in survey.owners
                )
            return uow.outbox.add(messages, now)

    def plan_result_notices(self) -> int:
        """Tell each owner privately when a round's results could not be delivered (the
        publication was given up, or the summary or the workbook failed for good), once per
        publication; the notice says why and what to do, composed when it is sent."""
        now = self._now()
        messages: list[NewMessage] = []
        with self._uow() as uow:
            for round_id, survey_id, generation in publications_needing_notice(uow.session):
                survey = uow.surveys.get_by_id(survey_id)
                platform = self._owners_platform(uow, survey)
                messages.extend(
                    NewMessage(
                        key=notice_key(round_id, generation, owner),
                        kind=OutboxKind.NOTICE,
                        survey_id=survey_id,
                        platform=platform,
                        recipient=Address.owner(owner),
                        round_id=round_id,
                        payload={"template": "results_notice"},
                    )
                    for owner in survey.owners
                )
            return uow.outbox.add(messages, now)

    def _reminder(
        self,
        key: str,
        kind: OutboxKind,
        round_: Round,
        invitation: Invitation,
        person: Participant,
        not_before: datetime,
    ) -> NewMessage:
        return NewMessage(
            key=key,
            kind=kind,
            survey_id=round_.survey_id,
            platform=person.platform,
            recipient=Address.participant(person.id),
            round_id=round_.id,
            invitation_id=invitation.id,
            payload={"template": "reminder"},
            not_before=not_before,
        )

    def owners_platform(self, survey_id: SurveyId) -> Platform:
        """Where a survey's owners get direct messages (digests, the results workbook)."""
        with self._uow() as uow:
            return self._owners_platform(uow, uow.surveys.get_by_id(survey_id))

    def _owners_platform(self, uow: UnitOfWork, survey: Survey) -> Platform:
        # The leadership channel's platform, else the one most participants use: a survey
        # without a leadership channel still reaches its owners.
        if survey.leadership_channels:
            return survey.leadership_channels[0].platform
        assert survey.id is not None
        return uow.participants.main_platform(survey.id) or Platform.SLACK

    def _open_rounds(self, uow: UnitOfWork) -> Iterator[tuple[Round, Survey]]:
        for round_ in uow.rounds.in_state(RoundState.OPEN):
            yield round_, uow.surveys.get_by_id(round_.survey_id)

    def set_reminders_opt_out(self, invitation_id: InvitationId, opt_out: bool) -> None:
        with self._uow() as uow:
            invitation = uow.invitations.get(invitation_id)
            invitation.reminders_opt_out = opt_out
            uow.invitations.save(invitation)


def _refuse_shared_identities(
    source: str, records: Sequence[ParticipantRecord], existing: Sequence[Participant]
) -> None:
    """Refuse an import after which one chat user id would belong to two participants: a
    row whose id is held by a participant of the survey that this file does not update."""
    in_file = {r.email for r in records}
    held: dict[tuple[Platform, str], Email] = {}
    for person in existing:
        if person.email in in_file:
            continue  # the file's row replaces what is stored
        for platform, user_id in person.user_ids.items():
            held[(platform, identity_key(user_id))] = person.email
    problems: list[RowProblem] = []
    for record in records:
        for platform, given in record.user_ids.items():
            holder = held.get((platform, identity_key(given)))
            if holder is not None:
                problems.append(
                    RowProblem(
                        record.line,
                        PLATFORM_ID_COLUMNS[platform],
                        f"{given} already belongs to {holder}, a participant not in this "
                        "file; one chat account can belong to one participant only",
                    )
                )
    if problems:
        raise ImportRejected(source, problems)


def check_roles_argument(text: str) -> list[str]:
    """Split a comma-separated ``--roles`` value into clean role names."""
    return [check_role_name(part) for part in text.split(",") if part.strip()]
