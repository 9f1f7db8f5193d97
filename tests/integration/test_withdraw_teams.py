"""Withdrawing in Microsoft Teams, before and after close: `rcbot serve` on the real Agents
SDK against the local Entra, Connector and Graph fakes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.conversation.content import WITHDRAW
from surveys.model import AnswerPage, InvitationId
from tests.conftest import MONDAY
from tests.integration.test_teams_round import (  # noqa: F401 - fixtures
    TeamsWorld,
    action_data,
    answer_page,
    tls,
    world,
)


async def test_withdraw_before_and_after_close_in_teams(world: TeamsWorld) -> None:  # noqa: F811
    w = world
    w.service.open_round("Crisis", MONDAY + timedelta(days=14))
    people = ("ann@nhs.net", "bob@nhs.net", "cy@nhs.net")
    await w.until(lambda: all(w.connector.activities(w.chat(e)) for e in people))
    invitation = w.last_card(w.chat("ann@nhs.net"))
    text = json.dumps(invitation)
    assert WITHDRAW in text
    assert "results already published stay as published" in text
    ann_withdraw = action_data(invitation, "rc_withdraw")

    # Ann answers both roles; the thank-you card still offers to withdraw.
    page = await w.act("ann@nhs.net", "rc_start", action_data(invitation, "rc_start"))
    page = await answer_page(w, "ann@nhs.net", page)
    done = await answer_page(w, "ann@nhs.net", page)
    assert action_data(done, "rc_withdraw") == ann_withdraw

    # Bob answers one role, then withdraws before close.
    bob_card = w.last_card(w.chat("bob@nhs.net"))
    page = await w.act("bob@nhs.net", "rc_start", action_data(bob_card, "rc_start"))
    await answer_page(w, "bob@nhs.net", page)
    bob = InvitationId(int(action_data(bob_card, "rc_withdraw")["value"]))
    assert w.service.view(bob).pages
    reply = await w.act("bob@nhs.net", "rc_withdraw", action_data(bob_card, "rc_withdraw"))
    assert "Done: you have withdrawn" in json.dumps(reply)
    view = w.service.view(bob)
    assert view.pages == {}
    assert view.invitation.reminders_opt_out
    again = await w.act("bob@nhs.net", "rc_start", action_data(bob_card, "rc_start"))
    assert "You withdrew" in json.dumps(again)
    # Nobody else can withdraw Ann.
    refused = await w.act("nosy@nhs.net", "rc_withdraw", ann_withdraw)
    assert "belongs to someone else" in json.dumps(refused)

    # Cy answers; the round closes.
    cy_card = w.last_card(w.chat("cy@nhs.net"))
    cy = InvitationId(int(action_data(cy_card, "rc_withdraw")["value"]))
    dims = w.service.get_survey("Crisis").instrument.dimensions
    for partner in w.service.view(cy).invitation.partner_roles:
        w.service.submit_page(cy, AnswerPage(partner, dict.fromkeys(dims, 4)))
    w.service.close_round("Crisis")
    status = w.service.round_status("Crisis")
    assert (status.completed, status.withdrew) == (2, 1)

    # After close, Ann's old card still withdraws her raw answers; published figures stay.
    reply = await w.act("ann@nhs.net", "rc_withdraw", ann_withdraw)
    assert "results already published stay as published" in json.dumps(reply)
    assert w.service.view(InvitationId(int(ann_withdraw["value"]))).pages == {}
    assert w.service.round_status("Crisis").completed == 2

    # In the 1:1 chat, "my surveys" lists the closed round Cy still has answers in.
    card = await w.say("cy@nhs.net", "my surveys")
    assert "closed" in json.dumps(card)
    reply = await w.act("cy@nhs.net", "rc_withdraw", action_data(card, "rc_withdraw"))
    assert "results already published stay as published" in json.dumps(reply)
    assert w.service.view(cy).pages == {}
    empty = await w.say("cy@nhs.net", "my surveys")
    assert "holds no answers of yours" in json.dumps(empty)
