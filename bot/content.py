"""What rcbot says to participants and owners, as neutral messages.

Wording matters here: participants are told exactly who sees what (answers are confidential,
not anonymous), and results are framed for discussion, never blame.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.messages import Actions, Block, Button, Context, Fields, Header, Message, Text
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


def reminder(view: InvitationView, status: RoundStatus, now: datetime) -> Message:
    """A reminder that gives a reason to answer: progress, time left, and whether the
    participant's own role has enough answers yet for its results to be shown."""
    survey, inv = view.survey, view.invitation
    left = view.round.time_left(now)
    days = left.days
    when = f"{days} day{'s' * (days != 1)}" if days >= 1 else "less than a day"
    closes = local_date(view.round.closes_at, view.participant.effective_timezone(survey))
    if view.progress.answered:
        lead = (
            f"You have answered {len(view.progress.answered)} of {view.progress.total} roles; "
            "you can finish where you left off."
        )
        button = Button("Continue", "rc_start", str(inv.id), "primary")
    else:
        lead = f"It takes about {max(2, view.progress.total + 1)} minutes."
        button = Button("Start", "rc_start", str(inv.id), "primary")
    role = next((r for r in status.by_role if r.role == inv.role), None)
    answered = role.completed if role else 0
    minimum = survey.min_group_size
    if answered < minimum:
        why = (
            f"Results for **{inv.role}** appear only with {minimum} or more answers; "
            f"{answered} so far."
        )
    else:
        why = f"{answered} {inv.role} have answered so far; every answer makes the picture truer."
    return Message(
        text=f"Reminder: {survey.name} closes in {when}.",
        blocks=(
            Text(f"**Reminder: {survey.name}** closes in {when} ({closes}). {lead}"),
            Text(why),
            Actions((button, Button("Don't remind me", "rc_stop_reminders", str(inv.id)))),
            Context("Your answers are confidential: nobody sees individual answers."),
        ),
    )


def digest(status: RoundStatus, undelivered: list[tuple[str, str]], now: datetime) -> Message:
    """The owner's daily digest: counts only, never who answered what."""
    r = status.round
    days = r.time_left(now).days
    lines = status_lines(status)
    blocks: list[Block] = [
        Header(f"{status.survey}: round {r.number}, {days} day{'s' * (days != 1)} left"),
        Fields(tuple(lines)),
    ]
    if undelivered:
        shown = "\n".join(f"• {who}: {why}" for who, why in undelivered[:10])
        more = f"\n…and {len(undelivered) - 10} more" if len(undelivered) > 10 else ""
        blocks.append(Text(f"**Not reached ({len(undelivered)}):**\n{shown}{more}"))
    blocks.append(
        Context(
            f"{status.started - status.completed} people have started but not finished; "
            f"{status.reminders_sent} reminders sent so far, only to those who had not "
            "answered, in their working hours."
        )
    )
    return Message(f"{status.survey}: {status.rate:.0%} answered so far", tuple(blocks))


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


def home_section(view: InvitationView) -> Message:
    """One open round on the participant's home tab, with their progress."""
    closes = local_date(view.round.closes_at, view.participant.effective_timezone(view.survey))
    progress = view.progress
    inv_id = str(view.invitation.id)
    if view.invitation.completed:
        state, button = "Answered, thank you.", Button("Edit my answers", "rc_edit", inv_id)
    elif progress.answered:
        state = f"{len(progress.answered)} of {progress.total} roles answered."
        button = Button("Continue", "rc_start", inv_id, "primary")
    else:
        state = "Not started yet."
        button = Button("Start", "rc_start", inv_id, "primary")
    return Message(
        f"{view.survey.name}: {state}",
        (
            Text(f"**{view.survey.name}**, round {view.round.number}: {state} Closes {closes}."),
            Actions((button,)),
        ),
    )


def status_lines(status: RoundStatus) -> list[tuple[str, str]]:
    """Response rate overall and per role, as label/value pairs."""
    rows = [("Overall", f"{status.completed}/{status.invited} ({status.rate:.0%})")]
    for role in status.by_role:
        note = "" if role.completed >= status.min_group_size else " (below group minimum)"
        rows.append((role.role, f"{role.completed}/{role.invited} ({role.rate:.0%}){note}"))
    return rows
