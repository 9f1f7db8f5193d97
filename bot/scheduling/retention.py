"""Retention: deleting a closed round's raw answers and personal data when its survey's
retention period has passed (or an owner asked for it), keeping its suppression-safe
aggregates so later trends still work; and removing expired file links.

The promise is in the database: a closed round plus its survey's retention period (or a
round's ``purge_requested_at``) says a purge is due; the scheduler's ``purge`` job runs every
tick and keeps it, so a crash or an outage only delays it. Each round is purged in one
transaction.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from bot.files import PublishedFiles
from surveys.model import Round
from surveys.protection import SCHEDULER, DataProtection, Purge
from surveys.service import SurveyService

log = logging.getLogger(__name__)


def _number(value: Any) -> float | int | str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, int | float | str) else str(value)


class Retention:
    def __init__(
        self,
        service: SurveyService,
        protection: DataProtection,
        files: PublishedFiles | None = None,
    ) -> None:
        self.service = service
        self.protection = protection
        self.files = files

    def aggregates(self, round_: Round) -> dict[str, Any] | None:
        """The round's published figures and what later trends need: nothing about any
        group below the survey's minimum."""
        from analytics import analyze, round_summary
        from bot.publishing.reporting import answers_frame, invitations_frame

        survey = self.service.get_survey_by_id(round_.survey_id)
        records = self.service.answers(survey.name, round_.number)
        status = self.service.round_status(survey.name, round_.number)
        response = {"invited": status.invited, "completed": status.completed}
        if status.withdrew >= survey.min_group_size:
            response["withdrew"] = status.withdrew
        if not records:
            return {"version": 1, "response": response}
        frame = answers_frame(records)
        invitations = self.service.invitations(survey.name, round_.number)
        people = self.service.participants_by_id(i.participant_id for i in invitations)
        analysis = analyze(
            frame,
            min_group=survey.min_group_size,
            invitations=invitations_frame(invitations, people),
        )
        shown = analysis.ties[~analysis.ties["suppressed"]]
        ties = [{str(k): _number(v) for k, v in row.items()} for row in shown.to_dict("records")]
        overall = analysis.overall
        return {
            "version": 1,
            "min_group": survey.min_group_size,
            "response": response,
            "overall": {
                "rc": overall.rc,
                "band": overall.band,
                "n_respondents": overall.n_respondents,
            },
            "ties": ties,
            "trend": round_summary(frame, min_group=survey.min_group_size),
        }

    def purge(self, round_: Round, actor: str, why: str) -> Purge | None:
        assert round_.id is not None
        if round_.purged_at is not None:
            return None
        aggregates = self.aggregates(round_)
        done = self.protection.purge_round(round_.id, aggregates, actor, why)
        if done is not None:
            log.info(
                "purged round %s of survey %s (%s): %d answers deleted",
                done.round_number,
                round_.survey_id,
                why,
                done.answers,
            )
        return done

    def purge_survey(self, survey_name: str, actor: str) -> tuple[list[Purge], list[int]]:
        """``rcbot survey purge``: record the request, then keep it now. Returns the purges
        done and the numbers of rounds left to the scheduler (results still publishing)."""
        done, waiting = [], []
        for round_ in self.protection.request_purge(survey_name, actor):
            result = self.purge(round_, actor, "an owner asked for it to be purged")
            if result is not None:
                done.append(result)
            else:
                waiting.append(round_.number)
        return done, waiting

    def run(self) -> int:
        """Purge every round that is due; remove expired file links. For the scheduler."""
        purged = 0
        for round_, why in self.protection.due_for_purge():
            if self.purge(round_, SCHEDULER, why) is not None:
                purged += 1
        if self.files is not None:
            self.files.remove_expired()
        return purged
