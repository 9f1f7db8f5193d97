"""Answering a survey in chat, independent of the platform.

Slack shows a :class:`QuestionPage` as a modal, Teams as an Adaptive Card; both send the
chosen values back here. The rules (who may answer and when, the partner roles, the score
range, saving, what comes next) live in :mod:`surveys` (``answering_refusal``,
``parse_scores``, ``SurveyService.answer_page``); this module only turns them into pages and
outcomes. Every method but :meth:`Answering.predict` is blocking database work: call it
through :func:`bot.db_boundary.run_db`. Submitting a page is one transaction.

A busy server answers a submitted page at once: :meth:`Answering.predict` applies the same
rule (:func:`surveys.service.decide_page`) to the invitation as this server last read it
(kept briefly in :class:`RecentViews`), the next page is shown, and the page is saved after;
should the saved outcome differ (the round closed meanwhile, say), the screen is corrected.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from bot.conversation.content import local_date, withdrawn
from surveys.clock import ensure_utc
from surveys.errors import DomainError, NotFound
from surveys.instrument import Instrument
from surveys.model import NOT_APPLICABLE, InvitationId, Platform, Score, parse_scores
from surveys.protection import DataProtection
from surveys.service import InvitationView, PageOutcome, SurveyService, UserIds, decide_page

__all__ = [
    "NOT_APPLICABLE",
    "Answering",
    "Finished",
    "Invalid",
    "QuestionPage",
    "Refused",
    "Withdrawn",
    "parse_values",
    "same_screen",
]


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

    @property
    def closes(self) -> str:
        """The day (in the person's time zone) until which answers can be changed."""
        zone = self.view.participant.effective_timezone(self.view.survey)
        return local_date(self.view.round.closes_at, zone)


@dataclass(frozen=True)
class Invalid:
    page: QuestionPage
    errors: Mapping[str, str]
    """Dimension -> what to fix."""


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Withdrawn:
    """A withdrawal done: the confirmation, and the invitation message to update."""

    text: str
    message_ref: str | None


Outcome = QuestionPage | Finished | Invalid | Refused


def same_screen(shown: Outcome, saved: Outcome) -> bool:
    """Whether the person already sees what ``saved`` would show (a page answered at once
    from :meth:`Answering.predict` needs no correction)."""
    if isinstance(shown, QuestionPage) and isinstance(saved, QuestionPage):
        return shown == saved
    if isinstance(shown, Finished) and isinstance(saved, Finished):
        return shown.closes == saved.closes
    return False


RECENT_VIEWS: Final = 2048
"""Invitations whose last-read state a server keeps to answer a submitted page at once."""
RECENT_SECONDS: Final = 600.0
"""How long such a state may be used (a page left open longer is answered after saving)."""


class RecentViews:
    """The invitations recently shown, as this server last read (or predicted) them, by id:
    bounded in number and age, safe to use from the event loop and the database threads.
    It holds what the person sees on their screen anyway; an entry is used for at most
    :data:`RECENT_SECONDS` and dropped at the next use of the cache after that. An
    invitation is forgotten when its page is refused, finished or saved differently from
    what was predicted, and when it is withdrawn through this server (before and after the
    withdrawal's transaction, so a save finishing meanwhile cannot bring it back)."""

    def __init__(self, size: int = RECENT_VIEWS, seconds: float = RECENT_SECONDS) -> None:
        self.size, self.seconds = size, seconds
        self._views: OrderedDict[InvitationId, tuple[float, InvitationView]] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        """Drop the entries too old to use (the oldest first: entries are in time order)."""
        while self._views:
            key, (at, _) = next(iter(self._views.items()))
            if now - at <= self.seconds:
                return
            del self._views[key]

    def remember(self, view: InvitationView) -> None:
        key = view.invitation.id
        if key is None:
            return
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            self._views[key] = (now, view)
            self._views.move_to_end(key)
            while len(self._views) > self.size:
                self._views.popitem(last=False)

    def get(self, key: InvitationId) -> InvitationView | None:
        with self._lock:
            self._expire(time.monotonic())
            found = self._views.get(key)
            return None if found is None else found[1]

    def forget(self, key: InvitationId) -> None:
        with self._lock:
            self._views.pop(key, None)

    def __len__(self) -> int:
        return len(self._views)


def _value(score: Score) -> str:
    return NOT_APPLICABLE if score is None else str(score)


@lru_cache(maxsize=256)
def questions_about(instrument: Instrument, partner_role: str) -> tuple[Question, ...]:
    """The seven questions about one partner role (the same for every page about it, so
    made once per instrument and role)."""
    return tuple(
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


def build_page(view: InvitationView, partner_role: str, *, editing: bool) -> QuestionPage:
    instrument = view.survey.instrument
    roles = view.invitation.partner_roles
    questions = questions_about(instrument, partner_role)
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
    """The scores chosen on a page, and what is wrong with the questions left unanswered
    (the rule is :func:`surveys.model.parse_scores`)."""
    return parse_scores([q.dimension for q in page.questions], values)


class Answering:
    """Answering in chat. Every method but :meth:`predict` is blocking database work."""

    def __init__(self, service: SurveyService, *, recent: RecentViews | None = None) -> None:
        """``recent``: where to keep invitations as last read, for :meth:`predict` (a
        platform that answers a page at once); without it nothing is kept."""
        self.service = service
        self.recent = recent

    def forget(self, invitation_id: InvitationId) -> None:
        """Drop what this server holds of the invitation (its predicted state is wrong)."""
        if self.recent is not None:
            self.recent.forget(invitation_id)

    def withdraw(
        self, invitation_id: InvitationId, platform: Platform, user_id: UserIds
    ) -> Withdrawn | Refused:
        """ "Withdraw and delete my answers": possible before and after close, for as long
        as rcbot holds the person's answers to the round. One transaction (see
        :meth:`surveys.protection.DataProtection.withdraw`)."""
        protection = DataProtection(self.service.engine, self.service.clock)
        self.forget(invitation_id)
        try:
            done = protection.withdraw(invitation_id, platform, user_id)
        except NotFound:
            return Refused("There is nothing to withdraw: rcbot no longer holds these answers.")
        except DomainError as exc:
            return Refused(str(exc)[0].upper() + str(exc)[1:] + ".")
        self.forget(invitation_id)  # again: a save may have finished meanwhile
        text = withdrawn(done.survey, done.round_number, done.after_close)
        return Withdrawn(text, done.message_ref)

    def stop_reminders(
        self, invitation_id: InvitationId, platform: Platform, user_id: UserIds
    ) -> Refused | None:
        """ "Don't remind me": no more reminders for this round (answering stays possible)."""
        refused = self.service.stop_reminders(invitation_id, platform, user_id)
        return None if refused is None else Refused(refused)

    def start(self, invitation_id: InvitationId, platform: Platform, user_id: UserIds) -> Outcome:
        """The page to show when someone presses Start (or Edit)."""
        view, refused = self.service.view_for(invitation_id, platform, user_id)
        if refused is not None:
            return Refused(refused)
        if self.recent is not None:
            self.recent.remember(view)
        if view.progress.complete:
            return build_page(view, view.invitation.partner_roles[0], editing=True)
        role = view.progress.next_role
        assert role is not None
        return build_page(view, role, editing=False)

    def submit(
        self,
        invitation_id: InvitationId,
        platform: Platform,
        user_id: UserIds,
        partner_role: str,
        values: Mapping[str, str | None],
        *,
        editing: bool = False,
        predicted: bool = False,
    ) -> Outcome:
        """Save one page (one transaction) and say what comes next. ``predicted``: the page
        was answered at once by :meth:`predict`, which already keeps the state it predicted
        (a later page may have been predicted from it since: this save must not put back
        an older state); the caller forgets it if the outcome differs."""
        outcome = self.service.answer_page(invitation_id, platform, user_id, partner_role, values)
        shown = self._next(outcome, partner_role, editing=editing)
        if self.recent is not None:
            if not isinstance(shown, QuestionPage):  # refused, to fix or finished
                self.recent.forget(invitation_id)
            elif not predicted:
                self.recent.remember(outcome.view)
        return shown

    def predict(
        self,
        invitation_id: InvitationId,
        platform: Platform,
        user_id: UserIds,
        partner_role: str,
        values: Mapping[str, str | None],
        *,
        editing: bool = False,
    ) -> QuestionPage | None:
        """The next page :meth:`submit` will answer with, decided now on the invitation as
        this server last read it, without the database (safe on the event loop). None when
        it cannot tell (not read recently), when the page would not be saved (refused or
        incomplete) and when it is the last page: the thanks says "your answers are saved",
        so it waits for the database's word, as refusals and questions to fix do. The caller
        still submits, and corrects the screen if the saved outcome differs
        (:func:`same_screen`); the state it predicts is remembered, so the page after can be
        answered at once too."""
        if self.recent is None or (view := self.recent.get(invitation_id)) is None:
            return None
        now = ensure_utc(self.service.clock.now())
        decided = decide_page(view, platform, user_id, partner_role, values, now)
        if decided.progress is None:
            return None
        outcome = self._next(decided, partner_role, editing=editing)
        if not isinstance(outcome, QuestionPage):
            return None
        self.recent.remember(decided.view)
        return outcome

    def _next(self, outcome: PageOutcome, partner_role: str, *, editing: bool) -> Outcome:
        """What a page's outcome shows next: the refusal, the page again with what to fix,
        the next page, or the thanks."""
        if outcome.refused is not None:
            return Refused(outcome.refused)
        if outcome.errors:
            return Invalid(build_page(outcome.view, partner_role, editing=editing), outcome.errors)
        after, progress = outcome.view, outcome.progress
        assert progress is not None
        roles = after.invitation.partner_roles
        if editing:
            position = roles.index(partner_role)
            if position + 1 < len(roles):
                return build_page(after, roles[position + 1], editing=True)
            return Finished(after)
        if progress.next_role is not None:
            return build_page(after, progress.next_role, editing=False)
        return Finished(after)
