"""From a closed round to published results: analytics files, the leadership summary, and
the owners' workbook, all through the outbox.

Only what :mod:`analytics` publishes (suppression already applied) reaches any message or
file; the summary is framed for a facilitated conversation, not for blame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from analytics.outputs import HEATMAP_PNG, NETWORK_PNG, REPORT_XLSX
from bot.files import PRIVATE_FILE, private_dir, sha256
from bot.messages import Context, Fields, Header, Image, Message, Text, message_to_dict
from surveys.model import (
    Invitation,
    Participant,
    ParticipantId,
    Platform,
    Round,
    RoundStatus,
    Survey,
)
from surveys.outbox import Address, NewMessage, OutboxKind
from surveys.persistence.repositories import AnswerRecord
from surveys.protection import DataProtection
from surveys.publishing import result_key
from surveys.service import SurveyService

if TYPE_CHECKING:
    import pandas as pd

    from analytics import Analysis

log = logging.getLogger(__name__)
# pandas and the analytics are imported when a round is analysed, not with this module: the
# server imports it at start and analyses in a process of its own.

QUESTIONS = (
    "What makes our strongest ties work, and what could other roles borrow from them?",
    "For the weakest ties, how does each side see the work between them? Ties are "
    "asymmetric: compare how A describes B with how B describes A.",
    "Which one or two ties matter most for our patients, and what small change could we "
    "try before the next round?",
)


def answers_frame(records: Sequence[AnswerRecord]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "respondent": [r.respondent for r in records],
            "respondent_role": [r.respondent_role for r in records],
            "partner_role": [r.partner_role for r in records],
            "dimension": [r.dimension for r in records],
            "score": [float("nan") if r.score is None else float(r.score) for r in records],
        }
    )
    for column in ("respondent", "respondent_role", "partner_role", "dimension"):
        frame[column] = frame[column].astype("category")
    return frame


def invitations_frame(
    invitations: Sequence[Invitation], people: dict[ParticipantId, Participant]
) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "respondent": [f"r{i.id}" for i in invitations],
            "role": [i.role for i in invitations],
            "completed": [i.completed for i in invitations],
            "team": [people[i.participant_id].team or "" for i in invitations],
        }
    )


@dataclass(frozen=True)
class RoundReport:
    survey: Survey
    round: Round
    status: RoundStatus
    analysis: Analysis | None
    """None only for a round without invitations (and so without answers)."""
    files: tuple[Path, ...]
    folder: Path


def report_folder(reports_dir: Path, survey: Survey, number: int) -> Path:
    """Where a round's files live: keyed by the survey's id and the round number, never by
    its name, so two surveys can never share (or overwrite) a folder."""
    assert survey.id is not None
    return reports_dir / f"survey-{int(survey.id)}" / f"round-{int(number)}"


def _keep_private(reports_dir: Path, folder: Path, files: Sequence[Path]) -> None:
    """Folders 0700 and files 0600: reports are for rcbot's user only."""
    for directory in (reports_dir, folder.parent, folder):
        private_dir(directory)
    for path in files:
        path.chmod(PRIVATE_FILE)


def build_report(
    service: SurveyService, survey_name: str, number: int | None, reports_dir: Path
) -> RoundReport:
    """Analyse a round (against the one before it, if any) and write every output file."""
    from analytics import AnswersError, analyze, write_outputs

    survey = service.get_survey(survey_name)
    status = service.round_status(survey_name, number)
    round_ = status.round
    folder = report_folder(reports_dir, survey, round_.number)
    records = service.answers(survey_name, round_.number)
    previous_records = service.answers(survey_name, round_.number - 1) if round_.number > 1 else []
    previous_summary = None
    if round_.number > 1 and not previous_records:
        # The previous round's answers were deleted (retention): its stored aggregates
        # still give the trend.
        previous = service.rounds(survey_name)[round_.number - 2]
        if previous.purged_at is not None and previous.id is not None:
            stored = DataProtection(service.engine, service.clock).aggregates_of(previous.id)
            previous_summary = (stored or {}).get("trend")
    invitations = service.invitations(survey_name, round_.number)
    people = service.participants_by_id(i.participant_id for i in invitations)
    if not records and not invitations:
        return RoundReport(survey, round_, status, None, (), folder)
    try:
        # Every role of the survey is listed, and a round nobody answered is analysed like
        # one whose answers are all hidden: whether a small group is empty never shows.
        analysis = analyze(
            answers_frame(records),
            min_group=survey.min_group_size,
            previous=answers_frame(previous_records) if previous_records else None,
            previous_summary=previous_summary,
            invitations=invitations_frame(invitations, people),
            roles=survey.role_names,
        )
    except AnswersError as exc:  # pragma: no cover - the database only holds valid answers
        log.error("round %s of %s could not be analysed: %s", round_.number, survey.name, exc)
        raise
    private_dir(reports_dir)
    files = tuple(write_outputs(analysis, folder))
    _keep_private(reports_dir, folder, files)
    return RoundReport(survey, round_, status, analysis, files, folder)


def _published_rate(report: RoundReport) -> str:
    """The overall response rate as published (complementary suppression applied), so the
    summary never shows a count the report hides."""
    rates = None if report.analysis is None else report.analysis.response_rates
    if rates is not None:
        total = rates[rates["by"] == "all"].iloc[0]
        if not bool(total["suppressed"]):
            return (
                f"{float(total['rate']):.0%} ({int(total['completed'])} of {int(total['invited'])})"
            )
    return f"not shown (fewer than {report.survey.min_group_size}, to keep answers confidential)"


def _tie_text(row: pd.Series) -> str:
    return (
        f"{row['respondent_role']} about {row['partner_role']}: "
        f"{float(row['rc_index']):.2f} ({row['band']}, n={int(row['n'])})"
    )


def summary_message(report: RoundReport) -> Message:
    """The leadership summary: rate, overall RC, strongest and weakest ties, the trend, and
    questions for a facilitated discussion. Suppressed groups never appear."""
    survey, analysis = report.survey, report.analysis
    title = f"{survey.name}: Relational Coordination, round {report.round.number}"
    facts = [("Response rate", _published_rate(report))]
    status = report.status
    if status.withdrew >= survey.min_group_size:
        # A count like any other: shown only when it reaches the minimum group size.
        facts.append(("Withdrew", str(status.withdrew)))
    if analysis is None or analysis.overall.suppressed:
        text = (
            f"Not enough answers to show results: no group reached {survey.min_group_size} "
            "respondents, so nothing is shown to protect confidentiality."
        )
        return Message(title, (Header(title), Fields(tuple(facts)), Text(text)))
    overall = analysis.overall
    facts.append(("Overall RC", f"{overall.rc:.2f} of 5 ({overall.band})"))
    if overall.within_role is not None and overall.between_role is not None:
        facts.append(
            ("Within / between roles", f"{overall.within_role:.2f} / {overall.between_role:.2f}")
        )
    blocks: list[Text | Header | Fields | Image | Context] = [Header(title), Fields(tuple(facts))]
    shown = analysis.ties[~analysis.ties["suppressed"]].sort_values(
        ["rc_index", "respondent_role", "partner_role"], ascending=[False, True, True]
    )
    between = shown[shown["respondent_role"] != shown["partner_role"]]
    pool = between if len(between) >= 2 else shown
    count = min(3, max(1, len(pool) // 2))
    strongest = "\n".join(f"• {_tie_text(r)}" for _, r in pool.head(count).iterrows())
    weakest = "\n".join(f"• {_tie_text(r)}" for _, r in pool.tail(count)[::-1].iterrows())
    blocks.append(Text(f"**Strongest ties**\n{strongest}"))
    blocks.append(Text(f"**Weakest ties**\n{weakest}"))
    if analysis.trends is not None and analysis.trends.overall is not None:
        change = analysis.trends.overall
        noise = "within the noise" if change.within_noise else "beyond the noise"
        blocks.append(Text(f"**Since the last round:** overall RC {change.change:+.2f} ({noise})."))
    blocks.append(Image(HEATMAP_PNG, "Heat map of RC between roles"))
    blocks.append(Image(NETWORK_PNG, "Network of roles"))
    questions = "\n".join(f"{i}. {q}" for i, q in enumerate(QUESTIONS, start=1))
    blocks.append(Text(f"**For the conversation**\n{questions}"))
    blocks.append(
        Context(
            "These scores describe how roles experience working together: a property of how "
            "the work is organised, not a verdict on anyone. Groups below "
            f"{survey.min_group_size} respondents are not shown."
        )
    )
    return Message(f"{title}: overall {overall.rc:.2f} ({overall.band})", tuple(blocks))


def file_spec(path: Path, mime_type: str, title: str = "") -> dict[str, str]:
    """An attachment for the outbox: the file and the hash of the bytes that were analysed,
    so that the sender sends exactly those bytes or nothing."""
    return {
        "path": str(path),
        "name": path.name,
        "mime_type": mime_type,
        "title": title,
        "sha256": sha256(path.read_bytes()),
    }


def results_messages(
    report: RoundReport, owners_platform: Platform, generation: int = 1
) -> list[NewMessage]:
    """The summary (with the heat map and network) to each leadership channel, and the
    workbook privately to each owner (a file in their direct messages; also when the survey
    has no leadership channel). Keyed by round and generation, so queuing them twice
    stores them once."""
    message = message_to_dict(summary_message(report))
    by_name = {p.name: p for p in report.files}
    images = [
        file_spec(by_name[name], "image/png", title)
        for name, title in ((HEATMAP_PNG, "Heat map"), (NETWORK_PNG, "Network of roles"))
        if name in by_name
    ]
    round_id = report.round.id
    assert round_id is not None
    messages = [
        NewMessage(
            key=result_key(OutboxKind.SUMMARY, round_id, generation, str(channel)),
            kind=OutboxKind.SUMMARY,
            survey_id=report.round.survey_id,
            platform=channel.platform,
            recipient=Address.channel(channel.channel_id),
            round_id=round_id,
            payload={"message": message, "files": images, "generation": generation},
        )
        for channel in report.survey.leadership_channels
    ]
    if REPORT_XLSX in by_name:
        note = Message(
            f"The workbook for {report.survey.name}, round {report.round.number}",
            (
                Text(
                    f"The full results of **{report.survey.name}**, round "
                    f"{report.round.number}, are in the workbook with this message "
                    "(report.xlsx). Only figures safe to publish are in it; please share them "
                    "for discussion, not for ranking people or teams."
                ),
            ),
        )
        workbook = file_spec(
            by_name[REPORT_XLSX],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "Workbook",
        )
        messages.extend(
            NewMessage(
                key=result_key(OutboxKind.WORKBOOK, round_id, generation, owner),
                kind=OutboxKind.WORKBOOK,
                survey_id=report.round.survey_id,
                platform=owners_platform,
                recipient=Address.owner(owner),
                round_id=round_id,
                payload={
                    "message": message_to_dict(note),
                    "files": [workbook],
                    "generation": generation,
                },
            )
            for owner in report.survey.owners
        )
    return messages
