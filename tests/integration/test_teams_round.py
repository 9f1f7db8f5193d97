"""A whole round in Microsoft Teams, and one round across Slack and Teams: `rcbot serve` on
the real Microsoft 365 Agents SDK against local fakes of Entra ID, the Bot Connector and
Microsoft Graph; signed activities play the people. No Microsoft host is ever contacted."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from bot.runtime import Runtime
from bot.settings import Settings
from bot.web.server import serve
from surveys.clock import FixedClock
from surveys.importing import parse_csv_text
from surveys.model import AnswerPage, DeliveryState
from surveys.service import NewSurvey, SurveyService
from tests.bot.adaptive_cards import assert_microsoft_parses, assert_valid_card, elements
from tests.conftest import MONDAY
from tests.fakes.slack_api import FakeSlack
from tests.fakes.teams_channel import TeamsChannel, TeamsUser
from tests.fakes.teams_common import TlsMaterial, guard_loopback_only
from tests.fakes.teams_connector import NOT_INSTALLED, FakeConnector
from tests.fakes.teams_graph import FakeGraph
from tests.fakes.teams_identity import FakeIdentity
from tests.fakes.teams_sdk import route_sdk_to_fakes
from tests.integration.slack_user import SlackSide
from tests.integration.test_slack_round import free_port

APP_ID = "3e1a5c70-0000-4000-8000-00000000a11b"
SECRET = "teams-secret"
CATALOG = "c0ffee00-0000-4000-8000-000000000001"
LEADERS = "19:leaders@thread.tacv2"
SLACK_SECRET = "slack-signing-secret"
PEOPLE = """email,name,role,platform
ann@nhs.net,Ann,Nurses,teams
bob@nhs.net,Bob,Doctors,teams
cy@nhs.net,Cy,Nurses,teams
fay@nhs.net,Fay,Nurses,teams
dan@nhs.net,Dan,Doctors,teams
eli@nhs.net,Eli,Doctors,teams
"""


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return TlsMaterial.create(tmp_path_factory.mktemp("tls"))


@dataclass
class TeamsWorld:
    service: SurveyService
    connector: FakeConnector
    graph: FakeGraph
    channel: TeamsChannel
    endpoint: str
    base: str
    users: dict[str, TeamsUser]
    clock: FixedClock | None = None
    slack: FakeSlack | None = None
    slack_side: SlackSide | None = None
    cards: list[dict[str, Any]] = field(default_factory=list)

    async def until(self, condition: Any, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            await asyncio.sleep(0.05)

    def chat(self, email: str) -> str:
        return self.graph.chat_id_for(self.graph.users[self.users[email].aad_object_id])

    def last_card(self, conversation: str) -> dict[str, Any]:
        activity = self.connector.activities(conversation)[-1]
        card = activity.adaptive_cards[0]
        self.cards.append(card)
        return card

    async def act(self, email: str, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        activity = self.channel.action_execute(verb, data, self.users[email], self.chat(email))
        status, body = await self.channel.post(self.endpoint, activity)
        assert status == 200, body
        assert body["statusCode"] == 200
        assert body["type"] == "application/vnd.microsoft.card.adaptive"
        self.cards.append(body["value"])
        return body["value"]  # type: ignore[no-any-return]

    async def say(self, email: str, text: str) -> dict[str, Any]:
        conversation = self.chat(email)
        before = len(self.connector.activities(conversation))
        status, _ = await self.channel.post(
            self.endpoint, self.channel.message(text, self.users[email], conversation)
        )
        assert status in {200, 202}
        await self.until(lambda: len(self.connector.activities(conversation)) > before)
        return self.last_card(conversation)


def inputs(card: dict[str, Any]) -> list[str]:
    return [e["id"] for e in elements(card, "Input.ChoiceSet")]


def action_data(card: dict[str, Any], verb: str) -> dict[str, Any]:
    for element in elements(card, "Action.Execute"):
        if element.get("verb") == verb:
            return dict(element.get("data") or {})
    raise AssertionError(f"no {verb} button in {json.dumps(card)[:300]}")


async def answer_page(
    world: TeamsWorld, email: str, card: dict[str, Any], value: str = "4"
) -> dict[str, Any]:
    data = action_data(card, "rc_page") | dict.fromkeys(inputs(card), value)
    return await world.act(email, "rc_page", data)


@pytest.fixture
async def world(
    engine: Engine,
    tls: TlsMaterial,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[TeamsWorld]:
    mixed = "mixed" in request.node.name
    guard_loopback_only(monkeypatch)
    clock = FixedClock(MONDAY)
    async with FakeIdentity(tls) as identity:
        identity.register_client(APP_ID, SECRET)
        route_sdk_to_fakes(monkeypatch, identity)
        async with (
            FakeConnector(identity) as connector,
            FakeGraph(identity, bot_app_id=APP_ID) as graph,
            FakeSlack.start(token="xoxb-mixed") as slack,
            aiohttp.ClientSession() as session,
        ):
            graph.add_app(CATALOG, external_id=APP_ID)
            users = {}
            everyone = [line.split(",")[0] for line in PEOPLE.splitlines()[1:]]
            for email in [*everyone, "lead@nhs.net", "nosy@nhs.net"]:
                graph_user = graph.add_user(email)
                users[email] = TeamsUser(graph_user.id, email.split("@")[0].title())
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            values: dict[str, Any] = {
                "database_url": engine.url.render_as_string(hide_password=False),
                "microsoft_app_id": APP_ID,
                "microsoft_app_password": SecretStr(SECRET),
                "microsoft_app_tenant_id": identity.tenant_id,
                "microsoft_authority": identity.authority,
                "teams_service_url": connector.service_url,
                "graph_url": graph.graph_url,
                "public_url": base,
                "reports_dir": tmp_path / "reports",
                "tick": 0.2,
            }
            if mixed:
                values |= {
                    "slack_bot_token": SecretStr("xoxb-mixed"),
                    "slack_signing_secret": SecretStr(SLACK_SECRET),
                    "slack_api_url": slack.url,
                }
            rt = Runtime(Settings(**values), clock=clock)
            stop = asyncio.Event()
            task = asyncio.create_task(serve(rt, "127.0.0.1", port, stop))
            for _ in range(300):
                try:
                    async with session.get(f"{base}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
            service = SurveyService(engine, clock)
            channels = [f"teams:{LEADERS}"] + (["slack:CLEAD"] if mixed else [])
            service.create_survey(
                NewSurvey(
                    "Crisis",
                    owners=["lead@nhs.net"],
                    leadership_channels=channels,
                    min_group_size=3,
                )
            )
            people = PEOPLE
            if mixed:
                slack.add_channel("CLEAD", name="leaders")
                people += "dee@nhs.net,Dee,Doctors,slack\neve@nhs.net,Eve,Nurses,slack\n"
            service.import_participants("Crisis", parse_csv_text(people))
            world = TeamsWorld(
                service,
                connector,
                graph,
                TeamsChannel(identity, bot_app_id=APP_ID, service_url=connector.service_url),
                f"{base}/api/messages",
                base,
                users,
                clock,
                slack if mixed else None,
                SlackSide(f"{base}/slack/events", SLACK_SECRET, session) if mixed else None,
            )
            try:
                yield world
            finally:
                stop.set()
                await task
                rt.close()
            sent = [c for a in connector.all_activities() for c in a.adaptive_cards]
            for card in [*world.cards, *sent]:
                assert_valid_card(card)
            assert_microsoft_parses([*world.cards, *sent])


async def test_a_whole_round_in_teams(world: TeamsWorld) -> None:
    w = world
    w.service.open_round("Crisis", MONDAY + timedelta(days=14))
    # rcbot installs itself for each person through Graph, then sends the invitation card.
    await w.until(
        lambda: all(
            w.connector.activities(w.chat(e)) for e in ("ann@nhs.net", "bob@nhs.net", "cy@nhs.net")
        )
    )
    invitation = w.last_card(w.chat("ann@nhs.net"))
    assert "confidential, not anonymous" in json.dumps(invitation)
    start = action_data(invitation, "rc_start")

    # Ann answers both roles; the card updates in place each time.
    page = await w.act("ann@nhs.net", "rc_start", start)
    assert len(inputs(page)) == 7
    assert "Role 1 of 2" in json.dumps(page)
    page = await answer_page(w, "ann@nhs.net", page)
    assert "Role 2 of 2" in json.dumps(page)
    ann_page = page
    done = await answer_page(w, "ann@nhs.net", page, "na")
    assert "You can change" in json.dumps(done)
    assert action_data(done, "rc_edit")

    # An unanswered question is pointed out, and nothing is saved.
    bob_start = action_data(w.last_card(w.chat("bob@nhs.net")), "rc_start")
    page = await w.act("bob@nhs.net", "rc_start", bob_start)
    partial = action_data(page, "rc_page") | dict.fromkeys(inputs(page)[:3], "3")
    again = await w.act("bob@nhs.net", "rc_page", partial)
    assert "Please choose an answer" in json.dumps(again)
    # Bob stops, then resumes where he left off; a double submit counts once.
    page = await answer_page(w, "bob@nhs.net", page, "3")
    await answer_page(w, "bob@nhs.net", page, "3")
    await answer_page(w, "bob@nhs.net", page, "3")

    # Someone else cannot use Ann's card.
    refused = await w.act("nosy@nhs.net", "rc_start", start)
    assert "belongs to someone else" in json.dumps(refused)

    status = w.service.round_status("Crisis")
    assert (status.invited, status.completed) == (6, 2)

    # Owner commands by chat; others are refused politely.
    w.graph.install(w.graph.users[w.users["lead@nhs.net"].aad_object_id], CATALOG)
    w.graph.install(w.graph.users[w.users["nosy@nhs.net"].aad_object_id], CATALOG)
    reply = await w.say("lead@nhs.net", "status")
    assert "2/6 (33%)" in json.dumps(reply)
    refused_card = await w.say("nosy@nhs.net", "close")
    assert "for survey owners" in json.dumps(refused_card)

    # Enough others answer (straight through the service) for the ties to be shown.
    dims = w.service.get_survey("Crisis").instrument.dimensions
    for inv in w.service.invitations("Crisis"):
        if not inv.completed and inv.id is not None:
            for partner in inv.partner_roles:
                w.service.submit_page(inv.id, AnswerPage(partner, dict.fromkeys(dims, 5)))

    # The owner closes the round: the summary goes to the leadership channel with images
    # the card loads from rcbot.
    await w.say("lead@nhs.net", "close")
    await w.until(lambda: bool(w.connector.activities(LEADERS)))
    summary = w.last_card(LEADERS)
    text = json.dumps(summary)
    assert "For the conversation" in text
    images = [e["url"] for e in elements(summary, "Image")]
    assert images
    async with aiohttp.ClientSession() as session:
        for url in images:
            async with session.get(url) as response:
                assert response.status == 200
                assert (await response.read()).startswith(b"\x89PNG")
    late = await answer_page(w, "ann@nhs.net", ann_page)
    assert "has closed" in json.dumps(late)


async def test_unauthenticated_requests_are_refused(world: TeamsWorld) -> None:
    w = world
    activity = w.channel.message("status", w.users["lead@nhs.net"], "a:1")
    for forged, expired in ((True, False), (False, True)):
        status, _ = await w.channel.post(w.endpoint, activity, forged=forged, expired=expired)
        assert status == 401
    status, _ = await w.channel.post(w.endpoint, activity, authorization="")
    assert status == 401


async def test_people_teams_cannot_reach_are_reported_not_dropped(world: TeamsWorld) -> None:
    w = world
    w.graph.users[w.users["cy@nhs.net"].aad_object_id].licensed = False
    w.service.open_round("Crisis", MONDAY + timedelta(days=14))
    await w.until(
        lambda: all(
            i.delivery is not DeliveryState.PENDING for i in w.service.invitations("Crisis")
        )
    )
    states = {i.delivery for i in w.service.invitations("Crisis")}
    assert states == {DeliveryState.SENT, DeliveryState.UNRESOLVED}
    unresolved = [
        (i.delivery_error, i.participant_id)
        for i in w.service.invitations("Crisis")
        if i.delivery is DeliveryState.UNRESOLVED
    ]
    assert len(unresolved) == 1, unresolved
    assert "cannot be installed" in (unresolved[0][0] or "")


async def test_a_mixed_round_across_slack_and_teams(world: TeamsWorld) -> None:
    w = world
    assert w.slack is not None
    assert w.slack_side is not None
    slack_ids = {e: w.slack.add_user(e) for e in ("dee@nhs.net", "eve@nhs.net", "lead@nhs.net")}
    w.service.open_round("Crisis", MONDAY + timedelta(days=14))
    await w.until(
        lambda: all(i.delivery is DeliveryState.SENT for i in w.service.invitations("Crisis"))
    )
    # Teams people got a card, Slack people a DM; status and the summary cover everyone.
    assert w.connector.activities(w.chat("ann@nhs.net"))
    assert len(w.slack.dm_messages(slack_ids["dee@nhs.net"])) == 1
    ann = action_data(w.last_card(w.chat("ann@nhs.net")), "rc_start")
    page = await w.act("ann@nhs.net", "rc_start", ann)
    page = await answer_page(w, "ann@nhs.net", page)
    await answer_page(w, "ann@nhs.net", page)
    reply = await w.slack_side.command(slack_ids["lead@nhs.net"], "status")
    assert "1/8 (12%)" in json.dumps(reply)
    await w.slack_side.command(slack_ids["lead@nhs.net"], "close")
    await w.until(lambda: bool(w.connector.activities(LEADERS)))
    await w.until(lambda: bool(w.slack.channel_messages("CLEAD")))
    assert "Response rate" in json.dumps(w.slack.channel_messages("CLEAD"))
    assert "Response rate" in json.dumps(w.last_card(LEADERS))


async def test_a_person_who_removed_rcbot_is_reported(world: TeamsWorld) -> None:
    w = world
    ann = w.graph.users[w.users["ann@nhs.net"].aad_object_id]
    w.graph.install(ann, CATALOG)
    w.connector.inject(NOT_INSTALLED, conversation_id=w.graph.chat_id_for(ann))
    w.service.open_round("Crisis", MONDAY + timedelta(days=14))
    await w.until(
        lambda: all(
            i.delivery is not DeliveryState.PENDING for i in w.service.invitations("Crisis")
        )
    )
    failed = [i for i in w.service.invitations("Crisis") if i.delivery is DeliveryState.FAILED]
    assert len(failed) == 1
    assert "not installed" in (failed[0].delivery_error or "")


async def test_throttling_delays_but_loses_nothing(world: TeamsWorld) -> None:
    w = world
    assert w.clock is not None
    w.connector.fail_next(429, "Throttled", "Too many requests.", count=3, retry_after=1)
    w.service.open_round("Crisis", MONDAY + timedelta(days=14))
    clock = w.clock

    def delivered() -> bool:
        clock.advance(timedelta(seconds=1))  # retries fall due after Retry-After
        return all(i.delivery is DeliveryState.SENT for i in w.service.invitations("Crisis"))

    await w.until(delivered)
    for email in ("ann@nhs.net", "bob@nhs.net", "cy@nhs.net", "fay@nhs.net"):
        sent = [a for a in w.connector.activities(w.chat(email)) if a.kind == "send"]
        assert len(sent) == 1, email
