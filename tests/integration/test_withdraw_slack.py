"""Withdrawing in Slack, before and after close: `rcbot serve` against the fake Slack, with
signed requests playing the people, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.conversation.content import WITHDRAW
from surveys.model import InvitationId
from tests.conftest import MONDAY
from tests.integration.slack_user import TEAM
from tests.integration.test_slack_round import Served, served  # noqa: F401 - fixture


def withdraw_value(message: dict[str, Any]) -> str:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == "rc_withdraw":
                return str(element["value"])
    raise AssertionError("no withdraw button")


async def withdraw_in_dm(s: Served, email: str) -> str:
    user = s.users[email]
    (message,) = s.slack.dm_messages(user)
    before = len(s.slack.ephemeral_messages(user))
    status, _ = await s.side.click(
        user,
        "rc_withdraw",
        withdraw_value(message),
        s.slack.new_trigger(user),
        s.slack.dm_channel(user),
    )
    assert status == 200
    await s.until(lambda: len(s.slack.ephemeral_messages(user)) > before)
    return str(s.slack.ephemeral_messages(user)[-1]["text"])


async def next_view(s: Served, reply: dict[str, Any], updates: int) -> dict[str, Any]:
    """The page after a submit: in the acknowledgement, or (on a busy machine, which answers
    "Saving your answers..." first) by the views.update that follows."""
    if "Saving your answers" not in json.dumps(reply.get("view", {})):
        return reply["view"]  # type: ignore[no-any-return]
    await s.until(lambda: len(s.slack.calls("views.update")) > updates)
    return s.slack.calls("views.update")[-1]["view"]  # type: ignore[no-any-return]


async def answer_all(s: Served, email: str) -> None:
    view = await s.open_page(email)
    updates = len(s.slack.calls("views.update"))
    reply = await s.answer(email, view)
    await s.answer(email, await next_view(s, reply, updates))


async def test_withdraw_before_and_after_close_in_slack(served: Served) -> None:  # noqa: F811
    s = served
    s.service.open_round("Chemo", MONDAY + timedelta(days=14))
    people = ("ann@nhs.net", "bob@nhs.net", "cy@nhs.net")
    await s.until(lambda: all(s.slack.dm_messages(s.users[e]) for e in people))
    invitation = s.slack.dm_messages(s.users["ann@nhs.net"])[0]
    text = json.dumps(invitation["blocks"])
    assert WITHDRAW in text
    assert "results already published stay as published" in text
    button = next(
        e
        for b in invitation["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == "rc_withdraw"
    )
    assert button["style"] == "danger"
    assert "confirm" in button

    for email in people:
        await answer_all(s, email)

    # Bob withdraws before close: answers gone at once, counted, no more reminders.
    bob_invitation = InvitationId(
        int(withdraw_value(s.slack.dm_messages(s.users["bob@nhs.net"])[0]))
    )
    said = await withdraw_in_dm(s, "bob@nhs.net")
    assert said.startswith("Done: you have withdrawn")
    assert "no more reminders" in said
    view = s.service.view(bob_invitation)
    assert view.pages == {}
    assert view.invitation.reminders_opt_out
    assert not view.invitation.completed
    status = s.service.round_status("Chemo")
    assert (status.completed, status.withdrew) == (2, 1)
    # His invitation message no longer offers Start.
    await s.until(lambda: "Start" not in json.dumps(s.slack.dm_messages(s.users["bob@nhs.net"])))
    owner = await s.side.command(s.users["lead@nhs.net"], "status")
    assert "Withdrew" in json.dumps(owner)

    # The round closes; Ann withdraws after close: raw answers go, the published stay.
    closed = await s.side.command(s.users["lead@nhs.net"], "close")
    assert "is closed" in json.dumps(closed)
    ann = InvitationId(int(withdraw_value(s.slack.dm_messages(s.users["ann@nhs.net"])[0])))
    assert s.service.view(ann).pages
    said = await withdraw_in_dm(s, "ann@nhs.net")
    assert "results already published stay as published" in said
    assert s.service.view(ann).pages == {}
    assert s.service.round_status("Chemo").completed == 2  # as published

    # After close, the App Home still offers Cy the withdraw button for the closed round.
    cy = s.users["cy@nhs.net"]
    await s.side.event({"type": "app_home_opened", "user": cy, "tab": "home"})
    await s.until(lambda: WITHDRAW in json.dumps(s.slack.home_view(cy) or {}))
    home = s.slack.home_view(cy)
    assert home is not None
    assert "closed" in json.dumps(home)
    value = withdraw_value({"blocks": home["blocks"]})
    published = len(s.slack.calls("views.publish"))
    status_code, _ = await s.side.interact(
        {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": cy},
            "api_app_id": "A0APP",
            "trigger_id": s.slack.new_trigger(cy),
            "container": {"type": "view", "view_id": "V1"},
            "view": {"id": "V1", "type": "home"},
            "actions": [
                {"type": "button", "action_id": "rc_withdraw", "value": value, "block_id": "b"}
            ],
        }
    )
    assert status_code == 200
    await s.until(lambda: len(s.slack.calls("views.publish")) > published)
    await s.until(lambda: WITHDRAW not in json.dumps(s.slack.home_view(cy) or {}))
    assert s.service.view(InvitationId(int(value))).pages == {}
    # Someone else's withdraw button does nothing to the owner's answers.
    nosy = s.users["nosy@nhs.net"]
    status_code, _ = await s.side.click(nosy, "rc_withdraw", value, s.slack.new_trigger(nosy), nosy)
    assert status_code == 200
    await s.until(lambda: bool(s.slack.ephemeral_messages(nosy)))
    assert "belongs to someone else" in s.slack.ephemeral_messages(nosy)[-1]["text"]
