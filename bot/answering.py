"""Answering a survey in chat, independent of the platform.

Slack shows a :class:`QuestionPage` as a modal, Teams as an Adaptive Card; both send the
chosen values back here. The rules (who may answer, validation, saving, what comes next) live
in :mod:`surveys`; this module only turns them into pages and outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bot.content import local_date
from surveys.errors import Conflict, InvalidInput
from surveys.model import AnswerPage, InvitationId, Platform, Score
from surveys.service import InvitationView, SurveyService

NOT_APPLICABLE: Final = "na"


@dataclass(frozen=True)
class Question:
    dimension: str
    text: str
    options: tuple[tuple[str, str], ...]
    """(value, label) pairs: "1".."5" weakest first, then "na"."""


@dataclass(frozen=True)
class QuestionPage:
    invitation_id: InvitationId
    survey: str
    partner_role: str
    index: int
    total: int
    questions: tuple[Question, ...]
    current: Mapping[str, str]
    """Values already chosen on this page (resuming or editing)."""
    closes: str
    editing: bool
    notice: str

    @property
    def is_last(self) -> bool:
        return self.index == self.total

    @property
    def progress(self) -> str:
        return f"Role {self.index} of {self.total}"


@dataclass(frozen=True)
class Finished:
    view: InvitationView


@dataclass(frozen=True)
class Invalid:
    page: QuestionPage
    errors: Mapping[str, str]
    """Dimension -> what to fix."""


@dataclass(frozen=True)
class Refused:
    reason: str


Outcome = QuestionPage | Finished | Invalid | Refused


def _value(score: Score) -> str:
    return NOT_APPLICABLE if score is None else str(score)


def build_page(view: InvitationView, partner_role: str, *, editing: bool) -> QuestionPage:
    instrument = view.survey.instrument
    roles = view.invitation.partner_roles
    questions = tuple(
        Question(
            item.dimension,
            item.ask(partner_role),
            (
                *((str(i), label) for i, label in enumerate(item.scale, start=1)),
                (NOT_APPLICABLE, instrument.not_applicable),
            ),
        )
        for item in instrument.items
    )
    current = {d: _value(s) for d, s in view.pages.get(partner_role, {}).items()}
    zone = view.participant.effective_timezone(view.survey)
    return QuestionPage(
        invitation_id=view.invitation.id or InvitationId(0),
        survey=view.survey.name,
        partner_role=partner_role,
        index=roles.index(partner_role) + 1,
        total=len(roles),
        questions=questions,
        current=current,
        closes=local_date(view.round.closes_at, zone),
        editing=editing,
        notice=instrument.notice,
    )


def parse_values(
    page: QuestionPage, values: Mapping[str, str | None]
) -> tuple[dict[str, Score], dict[str, str]]:
    """The scores chosen on a page, and what is wrong with the questions left unanswered."""
    scores: dict[str, Score] = {}
    errors: dict[str, str] = {}
    for question in page.questions:
        raw = (values.get(question.dimension) or "").strip()
        if raw == NOT_APPLICABLE:
            scores[question.dimension] = None
        elif raw in {"1", "2", "3", "4", "5"}:
            scores[question.dimension] = int(raw)
        else:
            errors[question.dimension] = "Please choose an answer (or not applicable)."
    return scores, errors


class Answering:
    def __init__(self, service: SurveyService) -> None:
        self.service = service

    def _check(self, view: InvitationView, platform: Platform, user_id: str) -> Refused | None:
        person = view.participant
        known = person.slack_user_id if platform is Platform.SLACK else person.teams_user_id
        if known != user_id:
            return Refused("This survey invitation belongs to someone else.")
        if not view.round.accepts_answers(self.service.clock.now()):
            return Refused(
                f"Round {view.round.number} of {view.survey.name} has closed, so answers can "
                "no longer be given or changed. Thank you for taking part."
            )
        return None

    def stop_reminders(
        self, invitation_id: InvitationId, platform: Platform, user_id: str
    ) -> Refused | None:
        """ "Don't remind me": no more reminders for this round (answering stays possible)."""
        view = self.service.view(invitation_id)
        refused = self._check(view, platform, user_id)
        if refused is not None:
            return refused
        self.service.set_reminders_opt_out(invitation_id, True)
        return None

    def start(self, invitation_id: InvitationId, platform: Platform, user_id: str) -> Outcome:
        """The page to show when someone presses Start (or Edit)."""
        view = self.service.view(invitation_id)
        refused = self._check(view, platform, user_id)
        if refused is not None:
            return refused
        if view.progress.complete:
            return build_page(view, view.invitation.partner_roles[0], editing=True)
        role = view.progress.next_role
        assert role is not None
        return build_page(view, role, editing=False)

    def submit(
        self,
        invitation_id: InvitationId,
        platform: Platform,
        user_id: str,
        partner_role: str,
        values: Mapping[str, str | None],
        *,
        editing: bool = False,
    ) -> Outcome:
        """Save one page and say what comes next."""
        view = self.service.view(invitation_id)
        refused = self._check(view, platform, user_id)
        if refused is not None:
            return refused
        if partner_role not in view.invitation.partner_roles:
            return Refused(f"{partner_role} is not one of the roles you are asked about.")
        page = build_page(view, partner_role, editing=editing)
        scores, errors = parse_values(page, values)
        if errors:
            return Invalid(page, errors)
        try:
            progress = self.service.submit_page(invitation_id, AnswerPage(partner_role, scores))
        except Conflict as exc:
            return Refused(str(exc)[0].upper() + str(exc)[1:] + ".")
        except InvalidInput as exc:
            return Invalid(page, {"": str(exc)})
        after = self.service.view(invitation_id)
        roles = after.invitation.partner_roles
        if editing:
            position = roles.index(partner_role)
            if position + 1 < len(roles):
                return build_page(after, roles[position + 1], editing=True)
            return Finished(after)
        if progress.next_role is not None:
            return build_page(after, progress.next_role, editing=False)
        return Finished(after)
