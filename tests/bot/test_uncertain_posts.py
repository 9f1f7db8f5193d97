"""A post that Slack answers with a 5xx may have gone out: nothing repeats it blindly (not
slack_sdk's retry handlers, not the outbox); the conversation's history decides, as after a
crash. Against the local fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.dispatch import Dispatcher, plan_invitations
from bot.messages import Message
from bot.platform import ChatPlatform, DeliveryError, PlatformUserId
from bot.platforms.slack.client import SlackPlatform, make_client
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.model import Platform
from surveys.outbox import OutboxState
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY
from tests.fakes.slack_api import FakeSlack

TOKEN = "xoxb-t"
PEOPLE = "email,name,role\nann@nhs.net,Ann,Nurses\nbob@nhs.net,Bob,Doctors\n"


async def test_the_library_never_repeats_a_post_after_a_server_error() -> None:
    async with FakeSlack.start(token=TOKEN) as slack:
        ann = PlatformUserId(slack.add_user("ann@nhs.net"))
        platform = SlackPlatform(make_client(TOKEN, slack.url))
        for status in (500, 503):
            slack.fail_next("chat.postMessage", status, after=True)
            with pytest.raises(DeliveryError) as failed:
                await platform.send_direct(ann, Message("hi"), key=f"k{status}")
            assert failed.value.uncertain
            assert not failed.value.permanent
        assert len(slack.calls("chat.postMessage")) == 2
        assert len(slack.dm_messages(ann)) == 2
        # A read is still retried by the library after a 500.
        slack.fail_next("conversations.history", 500)
        assert await platform.find_sent(ann, "k500") is not None


@pytest.mark.parametrize("after", [True, False], ids=["posted", "not-posted"])
async def test_a_500_on_an_invitation_yields_exactly_one_message(
    engine: Engine, clock: FixedClock, after: bool
) -> None:
    service = SurveyService(engine, clock)
    service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"], min_group_size=3))
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    outbox = Outbox(engine, clock)
    plan_invitations(service, outbox)
    async with FakeSlack.start(token=TOKEN) as slack:
        users = {e: slack.add_user(e) for e in ("ann@nhs.net", "bob@nhs.net")}
        platforms: dict[Platform, ChatPlatform] = {
            Platform.SLACK: SlackPlatform(make_client(TOKEN, slack.url))
        }
        dispatcher = Dispatcher(service, outbox, platforms, concurrency=1)
        # Every post of the first drain is answered 500 (after posting, or instead of it).
        slack.fail_next("chat.postMessage", 500, times=2, after=after)
        first = await dispatcher.drain()
        assert first.sent == 0
        assert first.retrying == 2
        assert len(slack.calls("chat.postMessage")) == 2
        # The next drain looks in the history first, then sends only what did not go out.
        second = await dispatcher.drain()
        assert second.uncertain == 0
        for user in users.values():
            assert len(slack.dm_messages(user)) == 1
        assert len(slack.calls("chat.postMessage")) == (2 if after else 4)
        assert {i.state for i in outbox.items()} == {OutboxState.SENT}
