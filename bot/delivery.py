"""Sending invitations through the chat platforms and recording what happened to each.

Nobody is dropped silently: a participant who cannot be found or reached is recorded as
unresolved or failed with the reason, and reported to the owner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot import content
from bot.platform import ChatPlatform, DeliveryError, PlatformUserId
from surveys.model import DeliveryState, Email, Participant, Platform
from surveys.service import SurveyService


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    unresolved: int = 0
    retry_later: int = 0
    problems: list[tuple[Email, str]] = field(default_factory=list)


def _platform_id(participant: Participant) -> str | None:
    if participant.platform is Platform.SLACK:
        return participant.slack_user_id
    return participant.teams_user_id


async def deliver_invitations(
    service: SurveyService,
    platforms: Mapping[Platform, ChatPlatform],
    survey_name: str,
    on_progress: Callable[[int], None] | None = None,
) -> DeliveryReport:
    """Send every pending invitation of the survey's current round once."""
    report = DeliveryReport()
    pending = [
        inv for inv in service.invitations(survey_name) if inv.delivery is DeliveryState.PENDING
    ]
    participants = {p.id: p for p in service.list_participants(survey_name)}
    targets: dict[int, PlatformUserId] = {}
    by_platform: dict[Platform, list[Participant]] = defaultdict(list)
    for inv in pending:
        person = participants[inv.participant_id]
        known = _platform_id(person)
        if known:
            targets[inv.participant_id] = PlatformUserId(known)
        else:
            by_platform[person.platform].append(person)
    for kind, people in by_platform.items():
        chat = platforms.get(kind)
        if chat is None:
            continue
        resolution = await chat.resolve_users([p.email for p in people])
        for person in people:
            user = resolution.found.get(person.email)
            if user is not None and person.id is not None:
                targets[person.id] = user
                if kind is Platform.SLACK:
                    service.set_platform_ids(person, slack_user_id=user)
                else:
                    service.set_platform_ids(person, teams_user_id=user)

    for inv in pending:
        assert inv.id is not None
        person = participants[inv.participant_id]
        chat = platforms.get(person.platform)
        user = targets.get(inv.participant_id)
        if chat is None:
            reason = f"rcbot is not connected to {person.platform.value}"
            service.record_delivery(inv.id, DeliveryState.UNRESOLVED, error=reason)
            report.unresolved += 1
            report.problems.append((person.email, reason))
        elif user is None:
            reason = f"not found on {person.platform.value} by e-mail"
            service.record_delivery(inv.id, DeliveryState.UNRESOLVED, error=reason)
            report.unresolved += 1
            report.problems.append((person.email, reason))
        else:
            try:
                ref = await chat.send_direct(user, content.invitation(service.view(inv.id)))
            except DeliveryError as exc:
                if exc.permanent:
                    service.record_delivery(inv.id, DeliveryState.FAILED, error=exc.reason)
                    report.failed += 1
                    report.problems.append((person.email, exc.reason))
                else:
                    report.retry_later += 1
            else:
                service.record_delivery(inv.id, DeliveryState.SENT, message_ref=ref.encode())
                report.sent += 1
        if on_progress is not None:
            on_progress(1)
    return report
