"""Teams waits about 15 seconds for a bot's answer. When a card action or a command takes
longer than rcbot's budget (a slow database, a busy machine), rcbot answers at once with
"saving" / "working on it" and delivers the outcome afterwards: the card the person acted on
is replaced in place, and a command's reply arrives as a new message. The budget is set to
zero here, which takes the late path deterministically whatever the machine's speed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.platforms.teams import app as teams_app
from tests.conftest import MONDAY
from tests.integration.test_teams_round import (  # noqa: F401 (the fixture)
    CATALOG,
    TeamsWorld,
    action_data,
    inputs,
    tls,
    world,
)


async def test_a_slow_card_action_is_answered_at_once_then_replaced(
    world: TeamsWorld,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world
    w.service.open_round("Crisis", MONDAY + timedelta(days=14))
    chat = w.chat("ann@nhs.net")
    await w.until(lambda: w.connector.activities(chat))
    invitation = w.connector.activities(chat)[-1]
    start = action_data(w.last_card(chat), "rc_start")
    monkeypatch.setattr(teams_app, "ANSWER_BUDGET", 0.0)

    activity = w.channel.action_execute(
        "rc_start", start, w.users["ann@nhs.net"], chat, reply_to_id=invitation.activity_id
    )
    status, body = await w.channel.post(w.endpoint, activity)
    assert (status, body["statusCode"]) == (200, 200)
    assert "Saving" in json.dumps(body["value"])

    def replaced() -> list[str]:
        return [
            json.dumps(a.adaptive_cards)
            for a in w.connector.activities(chat)
            if a.kind == "update" and a.activity_id == invitation.activity_id
        ]

    await w.until(lambda: replaced())
    assert "Role 1 of 2" in replaced()[-1]

    # A page submitted late is saved, and the next page replaces the card.
    page = json.loads(replaced()[-1])[0]
    data = action_data(page, "rc_page") | dict.fromkeys(inputs(page), "4")
    activity = w.channel.action_execute(
        "rc_page", data, w.users["ann@nhs.net"], chat, reply_to_id=invitation.activity_id
    )
    status, body = await w.channel.post(w.endpoint, activity)
    assert (status, body["statusCode"]) == (200, 200)
    await w.until(lambda: len(replaced()) == 2)
    assert "Role 2 of 2" in replaced()[-1]
    view = w.service.invitations("Crisis")
    ann = next(i for i in view if i.id == int(start["value"]))
    assert ann.id is not None
    assert len(w.service.view(ann.id).progress.answered) == 1


async def test_a_slow_command_says_working_on_it_then_answers(
    world: TeamsWorld,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world
    w.service.open_round("Crisis", MONDAY + timedelta(days=14))
    w.graph.install(w.graph.users[w.users["lead@nhs.net"].aad_object_id], CATALOG)
    monkeypatch.setattr(teams_app, "ANSWER_BUDGET", 0.0)
    chat = w.chat("lead@nhs.net")
    before = len(w.connector.activities(chat))
    status, _ = await w.channel.post(
        w.endpoint, w.channel.message("status", w.users["lead@nhs.net"], chat)
    )
    assert status in {200, 202}
    await w.until(lambda: len(w.connector.activities(chat)) >= before + 2)
    sent = [json.dumps(a.adaptive_cards) for a in w.connector.activities(chat)[before:]]
    assert "Working on it" in sent[0]
    assert "0/6 (0%)" in sent[1]
