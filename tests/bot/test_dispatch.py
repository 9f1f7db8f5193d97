"""The outbox and its sender, against SQLite and PostgreSQL, through the fake platform."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.delivery.dispatch import Dispatcher, plan_invitations
from bot.messages import Attachment, Message, message_from_dict, message_to_dict
from bot.platform import ChatPlatform, DeliveryError, MessageRef, PlatformUserId, Resolution
from bot.platforms.fake import FakeChatPlatform
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.model import DeliveryState, Email, Platform
from surveys.outbox import LEASE, Address, NewMessage, OutboxKind, OutboxState, backoff
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY

PEOPLE = """email,name,role,platform
ann@nhs.net,Ann,Nurses,slack
bob@nhs.net,Bob,Doctors,slack
cy@nhs.net,Cy,Nurses,teams
ghost@nhs.net,Gone,Doctors,slack
"""


@dataclass
class World:
    service: SurveyService
    outbox: Outbox
    slack: FakeChatPlatform
    teams: FakeChatPlatform
    clock: FixedClock

    def dispatcher(self, **kw: object) -> Dispatcher:
        platforms: dict[Platform, ChatPlatform] = {
            Platform.SLACK: self.slack,
            Platform.TEAMS: self.teams,
        }
        return Dispatcher(self.service, self.outbox, platforms, **kw)  # type: ignore[arg-type]

    def inv(self, email: str) -> int:
        people = {p.id: p.email for p in self.service.list_participants("Chemo")}
        return next(
            i.id for i in self.service.invitations("Chemo") if people[i.participant_id] == email
        )  # type: ignore[return-value]


@pytest.fixture
def world(engine: Engine, clock: FixedClock) -> World:
    service = SurveyService(engine, clock)
    service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"], min_group_size=3))
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    slack, teams = FakeChatPlatform(Platform.SLACK), FakeChatPlatform(Platform.TEAMS)
    for email in ("ann@nhs.net", "bob@nhs.net"):
        slack.add_user(Email(email))
    teams.add_user(Email("cy@nhs.net"))
    return World(service, Outbox(engine, clock), slack, teams, clock)


def test_messages_survive_the_round_trip_through_json() -> None:
    from bot.messages import Actions, Button, Context, Divider, Fields, Header, Image, Text

    message = Message(
        "hi",
        (
            Header("H"),
            Text("**t**"),
            Fields((("a", "b"),)),
            Context("c"),
            Divider(),
            Image("heat.png", "Heat map"),
            Actions((Button("Go", "go", "1", "primary"),)),
        ),
    )
    assert message_from_dict(message_to_dict(message)) == message


def test_enqueue_is_idempotent_by_key(world: World) -> None:
    assert plan_invitations(world.service, world.outbox) == 4
    assert plan_invitations(world.service, world.outbox) == 0
    assert len(world.outbox.items(kinds=[OutboxKind.INVITATION])) == 4


async def test_drain_sends_each_invitation_once_and_reports_who_was_not_found(
    world: World,
) -> None:
    plan_invitations(world.service, world.outbox)
    report = await world.dispatcher().drain()
    assert (report.sent, report.failed) == (3, 1)
    assert report.problems == [("ghost@nhs.net", "no user with this e-mail")]
    ann = world.slack.users[Email("ann@nhs.net")]
    (posted,) = world.slack.inbox(ann)
    assert "Start" in posted.message.plain()
    assert posted.key == f"invitation:{world.inv('ann@nhs.net')}"
    assert len(world.teams.inbox(world.teams.users[Email("cy@nhs.net")])) == 1
    # The platform ids found by e-mail are remembered for next time.
    assert {
        p.email: p.platform_user_id(Platform.SLACK)
        for p in world.service.list_participants("Chemo")
    }[Email("ann@nhs.net")] == ann
    states = {i.delivery for i in world.service.invitations("Chemo")}
    assert states == {DeliveryState.SENT, DeliveryState.UNRESOLVED}
    # Nothing is sent twice, however often the sender runs or the plan is made.
    plan_invitations(world.service, world.outbox)
    again = await world.dispatcher().drain()
    assert again.handled == 0
    assert len(world.slack.inbox(ann)) == 1


async def test_a_transient_failure_is_retried_with_backoff(world: World) -> None:
    plan_invitations(world.service, world.outbox)
    bob = world.slack.users[Email("bob@nhs.net")]
    world.slack.fail_for(bob, DeliveryError("service unavailable"))
    report = await world.dispatcher().drain()
    assert report.retrying == 1
    del world.slack.failures[bob]
    assert (await world.dispatcher().drain()).handled == 0  # not due yet
    world.clock.advance(backoff(1))
    assert (await world.dispatcher().drain()).sent == 1
    assert len(world.slack.inbox(bob)) == 1


async def test_a_permanent_failure_is_recorded_not_retried(world: World) -> None:
    plan_invitations(world.service, world.outbox)
    bob = world.slack.users[Email("bob@nhs.net")]
    world.slack.fail_for(bob, DeliveryError("app not installed", permanent=True))
    report = await world.dispatcher().drain()
    assert ("bob@nhs.net", "app not installed") in report.problems
    failed = world.service.view(world.inv("bob@nhs.net")).invitation  # type: ignore[arg-type]
    assert failed.delivery is DeliveryState.FAILED
    assert failed.delivery_error == "app not installed"
    world.clock.advance(timedelta(days=1))
    assert (await world.dispatcher().drain()).handled == 0


async def test_rate_limits_delay_without_using_attempts(world: World) -> None:
    plan_invitations(world.service, world.outbox)
    bob = world.slack.users[Email("bob@nhs.net")]
    world.slack.fail_for(bob, DeliveryError("ratelimited", retry_after=7))
    await world.dispatcher().drain()
    (item,) = [i for i in world.outbox.items() if i.state is OutboxState.PENDING]
    assert item.attempts == 0
    assert item.not_before == MONDAY + timedelta(seconds=7)


async def test_after_a_crash_a_message_is_never_sent_twice(world: World) -> None:
    plan_invitations(world.service, world.outbox)
    # A sender claims everything, delivers Ann's invitation, then dies before recording it.
    claimed = world.outbox.claim(10)
    ann_item = next(i for i in claimed if i.invitation_id == world.inv("ann@nhs.net"))
    ann = world.slack.users[Email("ann@nhs.net")]
    person = next(p for p in world.service.list_participants("Chemo") if p.email == "ann@nhs.net")
    world.service.set_platform_id(person, Platform.SLACK, ann)  # ids are stored before sending
    await world.slack.send_direct(ann, Message("invitation"), key=ann_item.key)
    world.clock.advance(LEASE + timedelta(seconds=1))
    report = await world.dispatcher().drain()
    # Ann's is found in the platform's history; Bob and Cy had no id yet, so surely unsent.
    assert len(world.slack.inbox(ann)) == 1
    bob = world.slack.users[Email("bob@nhs.net")]
    assert len(world.slack.inbox(bob)) == 1
    assert report.sent == 2  # Bob and Cy
    sent = world.service.view(world.inv("ann@nhs.net")).invitation  # type: ignore[arg-type]
    assert sent.delivery is DeliveryState.SENT


class NoHistory:
    """A platform that cannot search its history (like Teams without Graph)."""

    def __init__(self, inner: FakeChatPlatform) -> None:
        self.inner = inner

    @property
    def platform(self) -> Platform:
        return self.inner.platform

    async def resolve_users(self, emails: Sequence[Email]) -> Resolution:
        return await self.inner.resolve_users(emails)

    async def send_direct(
        self,
        user: PlatformUserId,
        message: Message,
        *,
        key: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> MessageRef:
        return await self.inner.send_direct(user, message, key=key, attachments=attachments)

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        return await self.inner.update_message(ref, message)

    async def post_to_channel(self, channel, message, attachments=(), *, key=None):  # type: ignore[no-untyped-def]
        return await self.inner.post_to_channel(channel, message, attachments, key=key)


async def test_without_history_a_crashed_send_is_reported_as_uncertain(world: World) -> None:
    plan_invitations(world.service, world.outbox)
    await world.dispatcher().drain()  # resolves everyone's ids
    world.outbox.enqueue(
        [
            NewMessage(
                key="reminder:test",
                kind=OutboxKind.REMINDER,
                survey_id=world.service.get_survey("Chemo").id,  # type: ignore[arg-type]
                platform=Platform.TEAMS,
                recipient=Address.participant(world.service.list_participants("Chemo")[2].id),
                payload={"message": message_to_dict(Message("reminder"))},
            )
        ]
    )
    world.outbox.claim(10)
    world.clock.advance(LEASE + timedelta(seconds=1))
    platforms: dict[Platform, ChatPlatform] = {
        Platform.SLACK: world.slack,
        Platform.TEAMS: NoHistory(world.teams),
    }
    report = await Dispatcher(world.service, world.outbox, platforms).drain()
    assert report.uncertain == 1
    (item,) = world.outbox.items(states=[OutboxState.UNCERTAIN])
    assert item.key == "reminder:test"
    assert len(world.teams.inbox(world.teams.users[Email("cy@nhs.net")])) == 1


async def test_two_senders_at_once_send_each_message_once(world: World) -> None:
    plan_invitations(world.service, world.outbox)
    first, second = world.dispatcher(batch=1), world.dispatcher(batch=1)
    reports = await asyncio.gather(first.drain(), second.drain())
    assert sum(r.sent for r in reports) == 3
    for email in ("ann@nhs.net", "bob@nhs.net"):
        assert len(world.slack.inbox(world.slack.users[Email(email)])) == 1


async def test_an_account_found_for_two_people_is_reported_not_shared(world: World) -> None:
    # Regression (issue 14, item 4): Slack's look-up by e-mail finds Ann's account for Bob
    # too (an alias); Bob is listed as unreachable with the reason, and Ann keeps hers.
    ann = world.slack.users[Email("ann@nhs.net")]
    (ann_person,) = [
        p for p in world.service.list_participants("Chemo") if p.email == "ann@nhs.net"
    ]
    world.service.set_platform_id(ann_person, Platform.SLACK, ann)
    world.slack.users[Email("bob@nhs.net")] = ann
    plan_invitations(world.service, world.outbox)
    report = await world.dispatcher().drain()
    reasons = dict(report.problems)
    assert "also belongs to ann@nhs.net" in reasons["bob@nhs.net"]
    assert len(world.slack.inbox(ann)) == 1
    (round_,) = world.service.rounds("Chemo")
    assert round_.id is not None
    listed = dict(world.outbox.undeliverable(round_.id))
    assert "also belongs to ann@nhs.net" in listed["bob@nhs.net"]
