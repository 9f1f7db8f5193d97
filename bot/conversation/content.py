"""What rcbot says to participants and owners, as neutral messages.

Wording matters here: participants are told exactly who sees what (answers are confidential,
not anonymous), and results are framed for discussion, never blame.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.messages import Actions, Block, Button, Context, Fields, Header, Message, Text
from surveys.model import Round, RoundStatus, Survey
from surveys.outbox import OutboxKind, OutboxState
from surveys.publishing import PublishState, PublishStatus
from surveys.service import InvitationView

MINUTES_PER_ROLE = 1
WITHDRAW = "Withdraw and delete my answers"
WITHDRAW_NOTE = (
    "**You can withdraw at any time** with the button below. Before the round closes this "
    "deletes your answers at once and stops all reminders. After it closes it deletes your "
    "answers too, but results already published stay as published: they are group figures "
    "that contain no individual answers."
)


def withdraw_button(view: InvitationView) -> Button:
    return Button(WITHDRAW, "rc_withdraw", str(view.invitation.id), "danger")


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
            Text(WITHDRAW_NOTE),
            Actions(
                (
                    Button("Start", "rc_start", str(view.invitation.id), "primary"),
                    withdraw_button(view),
                )
            ),
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
            Actions(
                (
                    button,
                    Button("Don't remind me", "rc_stop_reminders", str(inv.id)),
                    withdraw_button(view),
                )
            ),
            Context(
                "Your answers are confidential: nobody sees individual answers. Withdrawing "
                "deletes your answers; after the round closes, results already published stay."
            ),
        ),
    )


def digest(
    status: RoundStatus,
    undelivered: list[tuple[str, str]],
    now: datetime,
    previous_results: Sequence[str] = (),
) -> Message:
    """The owner's daily digest: counts only, never who answered what; and where the
    previous round's results stand (:func:`results_status`)."""
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
    if previous_results:
        blocks.append(Text("**Results of the last closed round:**\n" + "\n".join(previous_results)))
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
            Actions(
                (
                    Button("Edit my answers", "rc_edit", str(view.invitation.id)),
                    withdraw_button(view),
                )
            ),
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
            Actions((button, withdraw_button(view))),
        ),
    )


def closed_section(view: InvitationView) -> Message:
    """A closed round in which the person still has answers: they can still withdraw."""
    kept = ""
    retain = view.survey.retain_days
    if retain is not None and view.round.closed_at is not None:
        until = view.round.closed_at + timedelta(days=retain)
        zone = view.participant.effective_timezone(view.survey)
        kept = f" Your answers are kept until {local_date(until, zone)}, then deleted."
    return Message(
        f"{view.survey.name}, round {view.round.number}: closed",
        (
            Text(
                f"**{view.survey.name}**, round {view.round.number}: closed.{kept} You can "
                "withdraw and delete your answers now; results already published stay as "
                "published (they contain no individual answers)."
            ),
            Actions((withdraw_button(view),)),
        ),
    )


def withdrawn(survey: str, round_number: int, after_close: bool) -> str:
    """The one-sentence confirmation of a withdrawal."""
    if after_close:
        return (
            f"Done: your answers to {survey}, round {round_number}, are deleted; results "
            "already published stay as published, because they are group figures with no "
            "individual answers."
        )
    return (
        f"Done: you have withdrawn from {survey}, round {round_number}; your answers are "
        "deleted and you will get no more reminders."
    )


def withdrawn_message(survey: str, round_number: int, after_close: bool) -> Message:
    text = withdrawn(survey, round_number, after_close)
    return Message(text, (Text(text),))


def status_lines(status: RoundStatus) -> list[tuple[str, str]]:
    """Response rate overall and per role, as label/value pairs."""
    rows = [("Overall", f"{status.completed}/{status.invited} ({status.rate:.0%})")]
    if status.withdrew:
        rows.append(("Withdrew", str(status.withdrew)))
    for role in status.by_role:
        note = "" if role.completed >= status.min_group_size else " (below group minimum)"
        rows.append((role.role, f"{role.completed}/{role.invited} ({role.rate:.0%}){note}"))
    return rows


def _problem(error: str | None, survey: str) -> str:
    """A platform's reason for a failed post, in words an owner can act on."""
    reason = error or "unknown error"
    again = f"then run `rcbot round publish --survey '{survey}'` to post it again"
    if "not_in_channel" in reason or "not in channel" in reason:
        return (
            "rcbot is not a member of the leadership channel: invite it (`/invite @rcbot`), "
            f"{again}."
        )
    if "channel_not_found" in reason:
        return (
            "Slack could not find the leadership channel (a wrong id, or a private channel "
            f"rcbot was not invited to): check it with `rcbot survey show`, {again}."
        )
    if "is_archived" in reason:
        return f"the leadership channel is archived: unarchive it or choose another, {again}."
    if reason.startswith("Teams: HTTP 403") or reason.startswith("Teams: HTTP 404"):
        return (
            "Teams refused the post: add rcbot to the team that holds the leadership "
            f"channel, {again}."
        )
    if "not found" in reason:
        return f"{reason}; check the owner's e-mail address, {again}."
    return f"{reason}; {again}."


def results_status(
    survey: Survey, round_: Round, publication: PublishStatus, timezone: str | None = None
) -> list[str]:
    """Where a closed round's results are, honestly: posted where and when, still on their
    way, or failed and why, with what the owner can do. One sentence per line."""
    zone = timezone or survey.timezone
    name, number = survey.name, round_.number
    job = publication.job
    again = f"`rcbot round publish --survey '{name}'`"
    if job is None:
        return [
            f"Round {number} of {name} closed before rcbot recorded its publication; "
            f"{again} posts its results."
        ]
    if job.state is PublishState.FAILED:
        return [
            f"Publishing the results of round {number} of {name} failed after {job.attempts} "
            f"attempts ({job.last_error}). When the cause is fixed, {again} tries again."
        ]
    if job.state is not PublishState.DONE:
        channels = ", ".join(str(c) for c in survey.leadership_channels)
        where = f"posted to {channels}" if channels else "sent to the owners"
        if job.attempts and job.last_error:
            return [
                f"The results of round {number} of {name} are not published yet: the last "
                f"of {job.attempts} attempts failed ({job.last_error}); rcbot tries again "
                f"{local_date(job.not_before, zone)}."
            ]
        doing = "being analysed now" if job.state is PublishState.RUNNING else "waiting"
        return [
            f"The results of round {number} of {name} are {doing}; they will be {where} "
            "within a minute or two."
        ]
    lines: list[str] = []
    if not survey.leadership_channels:
        lines.append(f"{name} has no leadership channel, so no summary was posted.")
    for post in publication.posts:
        what = (
            f"The summary of round {number} to {post.platform.value}:{post.target}"
            if post.kind is OutboxKind.SUMMARY
            else f"The workbook of round {number} to {post.target}"
        )
        if post.state is OutboxState.SENT and post.sent_at is not None:
            lines.append(f"{what} was sent {local_date(post.sent_at, zone)}.")
        elif post.state in {OutboxState.PENDING, OutboxState.SENDING}:
            lines.append(f"{what} is on its way.")
        elif post.state is OutboxState.CANCELLED:
            lines.append(f"{what} was cancelled.")
        else:
            lines.append(f"{what} could not be sent: {_problem(post.error, name)}")
    if not publication.posts:
        lines.append(
            f"Round {number} of {name} had nothing to send (no leadership channel, and no "
            "answers for a workbook)."
        )
    if job.folder:
        lines.append(f"The files are in {job.folder}.")
    return lines


def results_notice(survey: Survey, round_: Round, publication: PublishStatus) -> Message:
    """To each owner, privately, when a round's results could not be delivered: what went
    wrong and what they can do (:func:`results_status`, composed when the notice is sent)."""
    lines = results_status(survey, round_, publication)
    return Message(
        f"The results of round {round_.number} of {survey.name} need your attention",
        (
            Header(f"{survey.name}, round {round_.number}: results not delivered"),
            Text("\n".join(lines)),
            Context("`results` (or `/rc results` in Slack) shows where they stand at any time."),
        ),
    )
