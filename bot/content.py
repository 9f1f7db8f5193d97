"""What rcbot says to participants and owners, as neutral messages.

Wording matters here: participants are told exactly who sees what (answers are confidential,
not anonymous), and results are framed for discussion, never blame.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.messages import Actions, Button, Context, Fields, Header, Message, Text
from surveys.model import RoundStatus
from surveys.service import InvitationView

MINUTES_PER_ROLE = 1


def local_date(instant: datetime, timezone: str) -> str:
    return instant.astimezone(ZoneInfo(timezone)).strftime("%A %-d %B at %H:%M")


def invitation(view: InvitationView) -> Message:
    survey, participant = view.survey, view.participant
    roles = len(view.invitation.partner_roles)
    closes = local_date(view.round.closes_at, participant.effective_timezone(survey))
    minutes = max(2, roles * MINUTES_PER_ROLE + 1)
    return Message(
        text=f"{survey.name}: how well do the roles around your patients work together?",
        blocks=(
            Header(f"{survey.name}: working together survey"),
            Text(
                "This short survey asks how the roles you work with communicate and relate "
                "with your role, **" + view.invitation.role + "**: how often, how timely and "
                "accurate, how problems get solved, and whether you share goals, knowledge "
                "and respect. It is called Relational Coordination."
            ),
            Fields(
                (
                    ("Questions", f"7 about each of {roles} role{'s' * (roles != 1)}"),
                    ("Time", f"about {minutes} minutes; you can stop and come back"),
                    ("Closes", closes),
                )
            ),
            Text(
                "**Who sees what.** Your answers are confidential, not anonymous: rcbot knows "
                "who has answered so that it only reminds people who have not. Nobody sees "
                "your individual answers. Results are shown only for groups of "
                f"{survey.min_group_size} or more people."
            ),
            Actions((Button("Start", "rc_start", str(view.invitation.id), "primary"),)),
            *((Context(survey.instrument.notice),) if survey.instrument.notice else ()),
        ),
    )


def answered(view: InvitationView) -> Message:
    closes = local_date(view.round.closes_at, view.participant.effective_timezone(view.survey))
    return Message(
        text=f"Thank you: your answers to {view.survey.name} are saved.",
        blocks=(
            Text(
                f"**Thank you.** Your answers to {view.survey.name} are saved. You can change "
                f"them until {closes}."
            ),
            Actions((Button("Edit my answers", "rc_edit", str(view.invitation.id)),)),
        ),
    )


def status_lines(status: RoundStatus) -> list[tuple[str, str]]:
    """Response rate overall and per role, as label/value pairs."""
    rows = [("Overall", f"{status.completed}/{status.invited} ({status.rate:.0%})")]
    for role in status.by_role:
        note = "" if role.completed >= status.min_group_size else " (below group minimum)"
        rows.append((role.role, f"{role.completed}/{role.invited} ({role.rate:.0%}){note}"))
    return rows
