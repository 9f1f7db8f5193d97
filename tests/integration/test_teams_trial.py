"""The anonymous local trial mode (``RCBOT_TEAMS_ANONYMOUS=1``) against the fake connector:
unsigned requests are served, the connector is called without a token, people are reached
without Graph (a stored conversation, else ``POST /v3/conversations``), owners are known
from the connector's member lookup, and an owner's command typed in a channel is answered
in their 1:1 chat. The real Agents Playground is driven in ``test_teams_playground.py``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Engine

from bot.runtime import Runtime
from bot.settings import Settings
from bot.web.server import serve
from surveys.clock import FixedClock
from surveys.importing import parse_csv_text
from surveys.service import NewSurvey, SurveyService
from tests.bot.adaptive_cards import assert_microsoft_parses, assert_valid_card, elements
from tests.conftest import MONDAY
from tests.fakes.teams_channel import TeamsUser, action_execute_activity, message_activity
from tests.fakes.teams_common import guard_loopback_only
from tests.fakes.teams_connector import FakeConnector
from tests.integration.test_slack_round import free_port

TENANT = "00000000-0000-0000-0000-0000000000a1"
BOT = "00000000-0000-0000-0000-0000000000b0"
ANN = TeamsUser("00000000-0000-0000-0000-00000000a001", "Ann")
BOB = TeamsUser("00000000-0000-0000-0000-00000000b002", "Bob")
LEAD = TeamsUser("00000000-0000-0000-0000-00000000c003", "Lead")
NOSY = TeamsUser("00000000-0000-0000-0000-00000000d004", "Nosy")
CHANNEL = "19:leaders@thread.tacv2"


@dataclass
class Trial:
    connector: FakeConnector
    service: SurveyService
    endpoint: str
    base: str

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.endpoint, json=activity) as response,  # no Authorization
        ):
            text = await response.text()
            return response.status, json.loads(text) if text else None

    def activity(self, kind: str, user: TeamsUser, conversation: str, **kw: Any) -> dict[str, Any]:
        common: dict[str, Any] = {
            "service_url": self.connector.service_url,
            "bot_app_id": BOT,
            "tenant_id": TENANT,
            "user": user,
            "conversation_id": conversation,
        }
        if kind == "message":
            return message_activity(kw.pop("text"), **common)
        return action_execute_activity(kw.pop("verb"), kw.pop("data"), **common, **kw)

    async def until(self, condition: Any, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            await asyncio.sleep(0.05)


@pytest.fixture
async def trial(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Trial]:
    guard_loopback_only(monkeypatch)
    clock = FixedClock(MONDAY)
    async with FakeConnector(None) as connector, aiohttp.ClientSession() as session:
        for user, email in ((ANN, "ann"), (BOB, "bob"), (LEAD, "lead"), (NOSY, "nosy")):
            connector.add_member(
                user.channel_id, aad_object_id=user.aad_object_id, email=f"{email}@nhs.net"
            )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=engine.url.render_as_string(hide_password=False),
            teams_anonymous=True,
            teams_service_url=connector.service_url,
            public_url=base,
            reports_dir=tmp_path / "reports",
            tick=0.2,
        )
        rt = Runtime(settings, clock=clock)
        stop = asyncio.Event()
        ready = asyncio.Event()
        task = asyncio.create_task(
            serve(rt, "127.0.0.1", port, stop, on_ready=lambda _: ready.set())
        )
        await asyncio.wait_for(ready.wait(), 30)
        async with session.get(f"{base}/healthz") as r:
            assert (await r.json())["platforms"] == ["teams"]
        service = SurveyService(engine, clock)
        service.create_survey(
            NewSurvey(
                "Crisis",
                owners=["lead@nhs.net"],
                leadership_channels=[f"teams:{CHANNEL}"],
                min_group_size=3,
            )
        )
        people = (
            "email,name,role,platform,teams_user_id\n"
            f"ann@nhs.net,Ann,Doctor,teams,{ANN.aad_object_id}\n"
            f"bob@nhs.net,Bob,Police liaison officer,teams,{BOB.channel_id}\n"
        )
        service.import_participants("Crisis", parse_csv_text(people))
        try:
            yield Trial(connector, service, f"{base}/api/messages", base)
        finally:
            stop.set()
            await task
            rt.close()
        sent = [c for a in connector.all_activities() for c in a.adaptive_cards]
        for card in sent:
            assert_valid_card(card)
        assert_microsoft_parses(sent)
        # The connector was never sent a token.
        assert connector.requests
        assert not any(r.authorization for r in connector.requests)


def lead_chat_id(t: Trial) -> str:
    found = [c.id for c in t.connector.conversations.values() if LEAD.channel_id in c.member_ids]
    return found[0] if found else "(none yet)"


def verbs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["verb"]: a.get("data") or {} for a in elements(card, "Action.Execute")}


async def test_a_trial_round_without_credentials_or_graph(trial: Trial) -> None:
    t = trial
    # Ann opens the bot: Teams sends a conversationUpdate, and rcbot keeps the reference.
    installed = t.activity("message", ANN, "a:ann-personal", text="")
    installed.update(
        {"type": "conversationUpdate", "membersAdded": [{"id": f"28:{BOT}"}], "text": None}
    )
    del installed["text"]
    status, _ = await t.post(installed)
    assert status in {200, 202}

    t.service.open_round("Crisis", MONDAY + timedelta(days=14))
    # Ann through her stored conversation; Bob (stored by Teams id) through a new 1:1 chat.
    await t.until(lambda: bool(t.connector.activities("a:ann-personal")))
    await t.until(lambda: len(t.connector.all_activities()) >= 2)
    created = [r for r in t.connector.requests if r.path.endswith("/v3/conversations")]
    assert len(created) == 1
    bob_chat = next(c for c in t.connector.conversations.values() if BOB.channel_id in c.member_ids)
    invitation = t.connector.activities(bob_chat.id)[0].adaptive_cards[0]
    assert "Police liaison officer" in json.dumps(invitation)

    # Bob answers (his teams_user_id is the Teams id; the invoke also carries his Entra id).
    start = verbs(invitation)["rc_start"]
    status, body = await t.post(t.activity("invoke", BOB, bob_chat.id, verb="rc_start", data=start))
    assert status == 200, body
    page = body["value"]
    assert_valid_card(page)
    assert "About: Doctor" in json.dumps(page)
    # Ann answers with her Entra object id.
    ann_card = t.connector.activities("a:ann-personal")[0].adaptive_cards[0]
    ann_start = verbs(ann_card)["rc_start"]
    status, body = await t.post(
        t.activity("invoke", ANN, "a:ann-personal", verb="rc_start", data=ann_start)
    )
    assert status == 200
    assert "rc_page" in verbs(body["value"])
    # Someone else cannot use Ann's button.
    status, body = await t.post(
        t.activity("invoke", NOSY, "a:nosy", verb="rc_start", data=ann_start)
    )
    assert "belongs to someone else" in json.dumps(body)

    # A non-owner's command is refused; the owner is known from the connector's member lookup.
    before = len(t.connector.all_activities())
    await t.post(t.activity("message", NOSY, "a:nosy", text="status"))
    await t.until(lambda: bool(t.connector.activities("a:nosy")))
    assert "you own no survey" in json.dumps(t.connector.activities("a:nosy")[-1].body)

    # The owner types `status` in a channel: the answer goes to her 1:1 chat, not the channel.
    in_channel = t.activity("message", LEAD, CHANNEL, text="<at>rcbot</at> status")
    in_channel["conversation"]["conversationType"] = "channel"
    status, _ = await t.post(in_channel)
    assert status in {200, 202}
    await t.until(lambda: len(t.connector.all_activities()) > before + 1)
    # (The SDK may show "typing" there while the answer is prepared; no message goes there.)
    assert not [a for a in t.connector.activities(CHANNEL) if a.body.get("type") == "message"]
    lead_chat = next(
        c for c in t.connector.conversations.values() if LEAD.channel_id in c.member_ids
    )
    reply = json.dumps(t.connector.activities(lead_chat.id)[-1].body)
    assert "Crisis, round 1" in reply
