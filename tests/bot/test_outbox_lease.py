"""Outbox leases: a crash leaves messages mid-send for about a minute, while a healthy but
slow sender keeps renewing its batch's leases, so nobody else settles (and resends) them
under it. Simulated time: the domain clock only moves when the test moves it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import Engine

from bot.delivery.dispatch import Dispatcher, plan_invitations
from bot.messages import Attachment, Message
from bot.platform import ChatPlatform, MessageRef, PlatformUserId
from bot.platforms.fake import FakeChatPlatform
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.model import Email, Platform
from surveys.outbox import LEASE, OutboxState
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY

PEOPLE = "email,name,role\nann@nhs.net,Ann,Nurses\nbob@nhs.net,Bob,Doctors\n"


class HeldPlatform(FakeChatPlatform):
    """Sends to ``held`` wait until the test lets them go (a very slow workspace)."""

    def __init__(self) -> None:
        super().__init__(Platform.SLACK)
        self.held: set[PlatformUserId] = set()
        self.waiting = 0
        self.go = asyncio.Event()

    async def send_direct(
        self,
        user: PlatformUserId,
        message: Message,
        *,
        key: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> MessageRef:
        if user in self.held:
            self.waiting += 1
            await self.go.wait()
        return await super().send_direct(user, message, key=key, attachments=attachments)


async def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def invitations_planned(engine: Engine, clock: FixedClock) -> tuple[SurveyService, Outbox]:
    """An open round of two people whose invitations wait in the outbox."""
    service = SurveyService(engine, clock)
    service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"]))
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    outbox = Outbox(engine, clock)
    plan_invitations(service, outbox)
    return service, outbox


def test_a_lease_is_about_a_minute() -> None:
    assert timedelta(seconds=30) <= LEASE <= timedelta(minutes=1)


async def test_a_slow_sender_keeps_its_leases_and_nothing_is_sent_twice(
    engine: Engine, clock: FixedClock
) -> None:
    service, outbox = invitations_planned(engine, clock)
    chat = HeldPlatform()
    ann, bob = (chat.add_user(Email(e)) for e in ("ann@nhs.net", "bob@nhs.net"))
    chat.held = {ann, bob}
    platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: chat}
    slow = Dispatcher(service, outbox, platforms, renew_seconds=0.01)
    sending = asyncio.create_task(slow.drain())
    await until(lambda: chat.waiting == 2)

    def leases_ahead() -> bool:
        items = outbox.items(states=[OutboxState.SENDING])
        now = clock.now()
        return len(items) == 2 and all(
            i.lease_until is not None and i.lease_until > now + LEASE * 0.9 for i in items
        )

    other = Dispatcher(service, outbox, platforms)
    for _ in range(10):  # five minutes of simulated time, half a lease at a time
        clock.advance(LEASE / 2)
        assert outbox.expired_leases() == []
        # Another sender (a new leader) finds nothing to settle or claim meanwhile.
        report = await other.drain()
        assert (report.handled, report.uncertain) == (0, 0)
        await until(leases_ahead)
    chat.go.set()
    report = await sending
    assert report.sent == 2
    assert [len(chat.inbox(u)) for u in (ann, bob)] == [1, 1]
    assert {i.state for i in outbox.items()} == {OutboxState.SENT}


async def test_a_crashed_senders_messages_are_settled_after_a_minute(
    engine: Engine, clock: FixedClock
) -> None:
    service, outbox = invitations_planned(engine, clock)
    chat = FakeChatPlatform(Platform.SLACK)
    users = [chat.add_user(Email(e)) for e in ("ann@nhs.net", "bob@nhs.net")]
    service.remember_platform_ids(
        Platform.SLACK,
        {p.id: users[i] for i, p in enumerate(service.list_participants("Chemo")) if p.id},
    )
    assert len(outbox.claim(10)) == 2  # a sender claims them, then dies
    dispatcher = Dispatcher(service, outbox, {Platform.SLACK: chat})
    clock.advance(LEASE / 2)
    assert (await dispatcher.drain()).handled == 0  # still the dead sender's
    clock.advance(LEASE / 2 + timedelta(seconds=1))
    report = await dispatcher.drain()
    assert report.sent == 2  # not in the history: sent now, once each
    assert [len(chat.inbox(u)) for u in users] == [1, 1]
