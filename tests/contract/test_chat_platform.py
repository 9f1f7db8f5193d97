"""The ChatPlatform contract. Every adapter (fake, Slack, Teams) must pass these tests.

An adapter joins by adding a harness factory to HARNESSES: the harness gives the platform
under test and a way to see what a user or channel received on the platform's side.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp
import pytest
from microsoft_agents.hosting.aiohttp import CloudAdapter

from bot.files import PublishedFiles
from bot.messages import Actions, Attachment, Button, Fields, Header, Message, Text
from bot.platform import ChannelId, ChatPlatform, DeliveryError, MessageRef, PlatformUserId
from bot.platforms.fake import FakeChatPlatform
from bot.platforms.slack.client import SlackPlatform, make_client
from bot.platforms.teams.client import TeamsPlatform
from bot.platforms.teams.graph import GraphClient
from surveys.clock import FixedClock
from surveys.conversations import ConversationRef, ConversationStore
from surveys.links import LinkStore
from surveys.model import Email, Platform
from surveys.persistence import migrate
from surveys.persistence.db import make_engine
from tests.conftest import MONDAY
from tests.fakes.slack_api import FakeSlack
from tests.fakes.teams_connector import Conversation, FakeConnector
from tests.fakes.teams_graph import FakeGraph
from tests.fakes.teams_sdk import anonymous_connection_manager


class Harness(Protocol):
    @property
    def platform(self) -> ChatPlatform: ...

    def add_user(self, email: Email) -> PlatformUserId: ...

    def add_channel(self, name: str) -> ChannelId: ...

    def seen_by(self, user: PlatformUserId) -> list[str]:
        """The current text of each message the user has from the bot, oldest first."""
        ...

    def channel_files(self, channel: ChannelId) -> list[str]:
        """File names posted to the channel, oldest first."""
        ...

    def files_of(self, user: PlatformUserId) -> list[str]:
        """File names the bot sent the user directly, oldest first."""
        ...


@dataclass
class FakeHarness:
    platform: FakeChatPlatform

    def add_user(self, email: Email) -> PlatformUserId:
        return self.platform.add_user(email)

    def add_channel(self, name: str) -> ChannelId:
        return self.platform.add_channel(ChannelId(f"C-{name}"))

    def seen_by(self, user: PlatformUserId) -> list[str]:
        return [p.message.plain() for p in self.platform.inbox(user)]

    def channel_files(self, channel: ChannelId) -> list[str]:
        return [a.filename for p in self.platform.channel_posts(channel) for a in p.attachments]

    def files_of(self, user: PlatformUserId) -> list[str]:
        return [a.filename for p in self.platform.inbox(user) for a in p.attachments]


async def fake_harness() -> AsyncIterator[Harness]:
    yield FakeHarness(FakeChatPlatform(Platform.SLACK))


@dataclass
class SlackHarness:
    """The real Slack adapter against the local fake Slack Web API."""

    platform: SlackPlatform
    server: FakeSlack

    def add_user(self, email: Email) -> PlatformUserId:
        return PlatformUserId(self.server.add_user(email))

    def add_channel(self, name: str) -> ChannelId:
        channel = f"C{name.upper()[:8]}"
        self.server.add_channel(channel, name=name)
        return ChannelId(channel)

    def seen_by(self, user: PlatformUserId) -> list[str]:
        return [
            "\n".join([m.get("text", "")] + [json.dumps(b) for b in m.get("blocks", [])])
            for m in self.server.dm_messages(user)
        ]

    def channel_files(self, channel: ChannelId) -> list[str]:
        return [f.name for f in self.server.files(channel)]

    def files_of(self, user: PlatformUserId) -> list[str]:
        return [f.name for f in self.server.files(self.server.dm_channel(user))]


async def slack_harness() -> AsyncIterator[Harness]:
    async with FakeSlack.start(token="xoxb-contract") as server:
        client = make_client("xoxb-contract", server.url)
        yield SlackHarness(SlackPlatform(client), server)


TEAMS_APP = "5d7e9f00-0000-4000-8000-0000000c0de5"
TEAMS_CATALOG = "cafe0000-0000-4000-8000-000000000002"


@dataclass
class TeamsHarness:
    """The real Teams adapter (Agents SDK, Graph) against the local Teams fakes."""

    platform: TeamsPlatform
    connector: FakeConnector
    graph: FakeGraph

    def add_user(self, email: Email) -> PlatformUserId:
        user = self.graph.add_user(email)
        self.graph.install(user, TEAMS_CATALOG)  # as if the person had added rcbot
        chat = self.graph.chat_id_for(user)
        self.connector.conversations[chat] = Conversation(chat, None, None, [])
        self.platform.conversations.put(
            ConversationRef(Platform.TEAMS, user.id, chat, self.connector.service_url)
        )
        return PlatformUserId(user.id)

    def add_channel(self, name: str) -> ChannelId:
        channel = f"19:{name}@thread.tacv2"
        self.connector.conversations[channel] = Conversation(channel, None, None, [])
        return ChannelId(channel)

    def _cards(self, conversation: str) -> list[str]:
        sent = [a for a in self.connector.activities(conversation) if a.kind == "send"]
        return [json.dumps(self.connector.current(conversation, a.activity_id)) for a in sent]

    def seen_by(self, user: PlatformUserId) -> list[str]:
        ref = self.platform.conversations.get(Platform.TEAMS, user)
        return [] if ref is None else self._cards(ref.conversation_id)

    def channel_files(self, channel: ChannelId) -> list[str]:
        return [
            n
            for card in self._cards(channel)
            for n in re.findall(r"/files/[^/]+/([^)\"]+)\)", card)
        ]

    def files_of(self, user: PlatformUserId) -> list[str]:
        ref = self.platform.conversations.get(Platform.TEAMS, user)
        assert ref is not None
        return self.channel_files(ChannelId(ref.conversation_id))


async def teams_harness() -> AsyncIterator[Harness]:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/refs.db")
        migrate.upgrade(engine)
        async with (
            FakeConnector(None, allow_unknown_conversations=False) as connector,
            FakeGraph(None, bot_app_id=TEAMS_APP) as graph,
        ):
            graph.add_app(TEAMS_CATALOG, external_id=TEAMS_APP)
            adapter = CloudAdapter(connection_manager=anonymous_connection_manager())
            adapter.on_turn_error = None
            async with aiohttp.ClientSession() as session:

                async def token() -> str:
                    return "local"

                platform = TeamsPlatform(
                    adapter,
                    TEAMS_APP,
                    ConversationStore(engine, FixedClock(MONDAY)),
                    service_url=connector.service_url,
                    graph=GraphClient(graph.graph_url, token, session),
                    files=PublishedFiles(
                        Path(folder) / "files",
                        "https://rcbot.example.org",
                        LinkStore(engine, FixedClock(MONDAY)),
                    ),
                    anonymous=True,
                )
                yield TeamsHarness(platform, connector, graph)
        engine.dispose()


HARNESSES: dict[str, Callable[[], AsyncIterator[Harness]]] = {
    "fake": fake_harness,
    "slack": slack_harness,
    "teams": teams_harness,
}


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for h in HARNESSES[request.param]():
        yield h


MESSAGE = Message(
    "Please answer the survey",
    (
        Header("Working together survey"),
        Text("How do the roles around your patients **work together**?"),
        Fields((("Closes", "Friday"),)),
        Actions((Button("Start", "rc_start", "42", "primary"),)),
    ),
)


def test_the_harness_platform_satisfies_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.platform, ChatPlatform)
    assert harness.platform.platform in set(Platform)


async def test_resolve_users_reports_who_was_not_found(harness: Harness) -> None:
    ann = harness.add_user(Email("ann@nhs.net"))
    result = await harness.platform.resolve_users([Email("ann@nhs.net"), Email("ghost@nhs.net")])
    assert result.found == {"ann@nhs.net": ann}
    assert list(result.missing) == ["ghost@nhs.net"]
    assert result.missing[Email("ghost@nhs.net")]


async def test_send_direct_then_update(harness: Harness) -> None:
    ann = harness.add_user(Email("ann@nhs.net"))
    ref = await harness.platform.send_direct(ann, MESSAGE)
    assert isinstance(ref, MessageRef)
    assert MessageRef.decode(ref.encode()) == ref
    assert ref.platform is harness.platform.platform
    seen = harness.seen_by(ann)
    assert len(seen) == 1
    assert "work together" in seen[0]
    assert "Start" in seen[0]
    await harness.platform.update_message(ref, Message("Thank you", (Text("Answers saved"),)))
    seen = harness.seen_by(ann)
    assert len(seen) == 1
    assert "Answers saved" in seen[0]
    assert "Start" not in seen[0]


async def test_messages_to_different_users_stay_apart(harness: Harness) -> None:
    ann = harness.add_user(Email("ann@nhs.net"))
    bob = harness.add_user(Email("bob@nhs.net"))
    await harness.platform.send_direct(ann, Message("for Ann"))
    await harness.platform.send_direct(bob, Message("for Bob"))
    (to_ann,) = harness.seen_by(ann)
    (to_bob,) = harness.seen_by(bob)
    assert "for Ann" in to_ann
    assert "for Bob" not in to_ann
    assert "for Bob" in to_bob


async def test_sending_to_an_unknown_user_is_a_permanent_failure(harness: Harness) -> None:
    with pytest.raises(DeliveryError) as caught:
        await harness.platform.send_direct(PlatformUserId("UNOBODY"), MESSAGE)
    assert caught.value.permanent


async def test_post_to_channel_with_attachments(harness: Harness) -> None:
    channel = harness.add_channel("leadership")
    png = Attachment("heatmap.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png", "Heat map")
    ref = await harness.platform.post_to_channel(channel, Message("Results"), [png])
    assert ref.platform is harness.platform.platform
    assert harness.channel_files(channel) == ["heatmap.png"]


async def test_send_direct_with_a_file(harness: Harness) -> None:
    ann = harness.add_user(Email("ann@nhs.net"))
    xlsx = Attachment("report.xlsx", b"PK\x03\x04" + b"0" * 64, "application/octet-stream")
    await harness.platform.send_direct(ann, Message("Your workbook"), attachments=[xlsx])
    assert harness.files_of(ann) == ["report.xlsx"]


async def test_posting_to_a_channel_the_bot_is_not_in_fails(harness: Harness) -> None:
    with pytest.raises(DeliveryError) as caught:
        await harness.platform.post_to_channel(ChannelId("C-nowhere"), Message("x"))
    assert caught.value.permanent
