"""A whole round in Slack: `rcbot serve` against the local fake Slack Web API, with signed
requests playing the people, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from bot.conversation import answering
from bot.conversation.answering import Answering
from bot.db_boundary import UNAVAILABLE_TEXT
from bot.platforms.slack.app import BUSY_TEXT, FAILED_TEXT
from bot.runtime import Runtime
from bot.settings import Settings
from bot.web.server import serve
from surveys.clock import FixedClock
from surveys.importing import parse_csv_text
from surveys.model import DeliveryState, Invitation, Participant, RoundState
from surveys.publishing import PublishJobs, PublishState
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY
from tests.fakes.slack_api import FakeSlack
from tests.integration.slack_user import SlackSide

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test"
PEOPLE = """email,name,role
ann@nhs.net,Ann,Nurses
bob@nhs.net,Bob,Doctors
cy@nhs.net,Cy,Nurses
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    slack: FakeSlack
    side: SlackSide
    service: SurveyService
    clock: FixedClock
    users: dict[str, str]
    base: str
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def until(self, condition: Any, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            await asyncio.sleep(0.05)

    async def exactly_once_published(self) -> None:
        """The summary and the workbook arrived once, the job is done (its outbox keys are
        taken, so nothing more can be queued), and `/rc results` says where they went."""
        round_ = self.service.round_status("Chemo").round
        assert round_.id is not None
        jobs = PublishJobs(self.service.engine, self.clock)
        round_id = round_.id
        await self.until(lambda: not jobs.status(round_id).waiting_posts)
        reply = await self.side.command(self.users["lead@nhs.net"], "results")
        text = json.dumps(reply)
        assert "The summary of round 1 to slack:CLEAD was sent" in text, text
        assert "The workbook of round 1 to lead@nhs.net was sent" in text, text
        assert len(self.slack.files("CLEAD")) == 2
        assert len(self.slack.files(self.slack.dm_channel(self.users["lead@nhs.net"]))) == 1
        job = jobs.of_round(round_.id)
        assert job is not None
        assert job.state is PublishState.DONE

    def invitation_button(self, email: str) -> tuple[str, str]:
        user = self.users[email]
        (message,) = self.slack.dm_messages(user)
        for block in message["blocks"]:
            for element in block.get("elements", []):
                if element.get("action_id") in {"rc_start", "rc_edit"}:
                    return element["action_id"], element["value"]
        raise AssertionError("no button")

    def invitation_of(self, email: str) -> Invitation:
        (found,) = (
            i
            for i in self.service.invitations("Chemo")
            if any(p.id == i.participant_id and p.email == email for p in self.people())
        )
        return found

    def people(self) -> list[Participant]:
        return self.service.list_participants("Chemo")

    async def page_in_slack(self, email: str) -> tuple[str, dict[str, Any]]:
        """Open the round, press Start: the person's Slack id and their first page as Slack
        holds it (with its view id, so views.update can reach it)."""
        self.service.open_round("Chemo", MONDAY + timedelta(days=14))
        user = self.users[email]
        await self.until(lambda: bool(self.slack.dm_messages(user)))
        await self.open_page(email)
        (opened,) = self.slack.open_views(user)
        return user, opened

    async def open_page(self, email: str) -> dict[str, Any]:
        user = self.users[email]
        action, value = self.invitation_button(email)
        before = len(self.slack.calls("views.open"))
        status, _ = await self.side.click(
            user, action, value, self.slack.new_trigger(user), self.slack.dm_channel(user)
        )
        assert status == 200
        await self.until(lambda: len(self.slack.calls("views.open")) > before)
        return self.slack.calls("views.open")[-1]["view"]  # type: ignore[no-any-return]

    async def answer(self, email: str, view: dict[str, Any], value: str = "4") -> dict[str, Any]:
        """Submit a page; the reply as the person sees it: the acknowledgement, or, when
        rcbot acknowledged with "Saving your answers..." (a page not saved within its
        budget, as on a busy machine), the page that views.update showed next."""
        dims = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
        before = len(self.slack.calls("views.update"))
        reply = await self.side.submit(self.users[email], view, dict.fromkeys(dims, value))
        if "Saving your answers" not in json.dumps(reply.get("view", {})):
            return reply

        def updated() -> list[dict[str, Any]]:
            # Pages are submitted one at a time here, so the update that follows is this one.
            return self.slack.calls("views.update")[before:]

        await self.until(updated)
        return {"response_action": "update", "view": updated()[-1]["view"]}


@pytest.fixture
async def served(engine: Engine, tmp_path: Path) -> AsyncIterator[Served]:
    clock = FixedClock(MONDAY)
    async with FakeSlack.start(token=TOKEN) as slack, aiohttp.ClientSession() as session:
        users = {
            e: slack.add_user(e)
            for e in ["ann@nhs.net", "bob@nhs.net", "cy@nhs.net", "lead@nhs.net", "nosy@nhs.net"]
        }
        settings = Settings(
            database_url=engine.url.render_as_string(hide_password=False),
            slack_bot_token=SecretStr(TOKEN),
            slack_signing_secret=SecretStr(SECRET),
            slack_api_url=slack.url,
            tick=0.2,
            reports_dir=tmp_path / "reports",
        )
        rt = Runtime(settings, clock=clock)
        port = free_port()
        stop = asyncio.Event()
        task = asyncio.create_task(serve(rt, "127.0.0.1", port, stop))
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                async with session.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        service = SurveyService(engine, clock)
        service.create_survey(
            NewSurvey(
                "Chemo",
                owners=["lead@nhs.net"],
                leadership_channels=["slack:CLEAD"],
                min_group_size=3,
            )
        )
        slack.add_channel("CLEAD", name="leadership")
        service.import_participants("Chemo", parse_csv_text(PEOPLE))
        try:
            yield Served(
                slack,
                SlackSide(f"{base}/slack/events", SECRET, session),
                service,
                clock,
                users,
                base,
                stop,
                task,
            )
        finally:
            stop.set()
            await task
            rt.close()


async def test_a_whole_round_in_slack(served: Served) -> None:
    s = served
    s.service.open_round("Chemo", MONDAY + timedelta(days=14))
    # The scheduler sends every invitation once.
    await s.until(
        lambda: all(
            s.slack.dm_messages(u)
            for e, u in s.users.items()
            if e.endswith("nhs.net") and e[0] in "abc"
        )
    )
    invitation = s.slack.dm_messages(s.users["ann@nhs.net"])[0]
    text = json.dumps(invitation["blocks"])
    assert "confidential, not anonymous" in text
    assert "Start" in text

    # Ann answers every role in one go.
    view = ann_view = await s.open_page("ann@nhs.net")
    assert view["title"]["text"] == "Role 1 of 2"
    assert len([b for b in view["blocks"] if b["type"] == "input"]) == 7
    reply = await s.answer("ann@nhs.net", view)
    assert reply["response_action"] == "update"
    assert reply["view"]["title"]["text"] == "Role 2 of 2"
    reply = await s.answer("ann@nhs.net", reply["view"], "na")
    assert reply["view"]["title"]["text"] == "Thank you"
    await s.until(
        lambda: "Edit my answers" in json.dumps(s.slack.dm_messages(s.users["ann@nhs.net"])[0])
    )

    # Bob stops after one role, then resumes where he left off.
    first = await s.open_page("bob@nhs.net")
    await s.answer("bob@nhs.net", first)
    resumed = await s.open_page("bob@nhs.net")
    assert json.loads(resumed["private_metadata"])["role"] == "Doctors"
    # A double click on submit counts once.
    await s.answer("bob@nhs.net", resumed, "3")
    again = await s.answer("bob@nhs.net", resumed, "3")
    assert again["view"]["title"]["text"] == "Thank you"

    # Cy answers, then edits with her earlier answers shown.
    view = await s.open_page("cy@nhs.net")
    reply = await s.answer("cy@nhs.net", view, "2")
    await s.answer("cy@nhs.net", reply["view"], "2")
    edit = await s.open_page("cy@nhs.net")
    chosen = [
        b["element"].get("initial_option", {}).get("value")
        for b in edit["blocks"]
        if b["type"] == "input"
    ]
    assert chosen == ["2"] * 7
    reply = await s.answer("cy@nhs.net", edit, "5")
    assert reply["view"]["title"]["text"] == "Role 2 of 2"

    status = s.service.round_status("Chemo")
    assert (status.invited, status.completed) == (3, 3)
    answers = s.service.answers("Chemo")
    assert len(answers) == 3 * 2 * 7

    # An owner asks for the status; someone else is refused politely.
    reply = await s.side.command(s.users["lead@nhs.net"], "status")
    assert "3/3 (100%)" in json.dumps(reply)
    assert reply["response_type"] == "ephemeral"
    refused = await s.side.command(s.users["nosy@nhs.net"], "close")
    assert "for survey owners" in json.dumps(refused)
    help_reply = await s.side.command(s.users["nosy@nhs.net"], "")
    assert "rcbot commands" in json.dumps(help_reply)

    # The App Home shows the open round and the person's progress.
    status_code, _ = await s.side.event(
        {"type": "app_home_opened", "user": s.users["bob@nhs.net"], "tab": "home"}
    )
    assert status_code == 200
    await s.until(lambda: s.slack.home_view(s.users["bob@nhs.net"]) is not None)
    assert "Answered, thank you" in json.dumps(s.slack.home_view(s.users["bob@nhs.net"]))

    # The owner closes the round; a late answer is refused politely.
    closed = await s.side.command(s.users["lead@nhs.net"], "close")
    assert "is closed with 3 of 3 answered" in json.dumps(closed)
    late = await s.answer("ann@nhs.net", ann_view)
    assert "has closed" in json.dumps(late)
    # The summary reaches the leadership channel with the heat map and network map.
    await s.until(lambda: len(s.slack.files("CLEAD")) == 2)
    assert "Response rate" in json.dumps(s.slack.channel_messages("CLEAD"))
    assert {f.name for f in s.slack.files("CLEAD")} == {"heatmap.png", "network.png"}
    # The owner gets the workbook privately.
    await s.until(lambda: bool(s.slack.files(s.slack.dm_channel(s.users["lead@nhs.net"]))))
    await s.exactly_once_published()


async def test_forged_and_stale_requests_are_refused(served: Served) -> None:
    s = served
    body = '{"type":"url_verification","challenge":"x"}'
    status, _ = await s.side.post(body, "application/json", secret="not-the-secret")
    assert status == 401
    status, _ = await s.side.post(body, "application/json", timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    status, text = await s.side.post(body, "application/json")
    assert status == 200
    assert "x" in text


async def test_a_slack_retry_is_acknowledged_without_repeating_work(served: Served) -> None:
    s = served
    event = {"type": "app_home_opened", "user": s.users["ann@nhs.net"], "tab": "home"}
    await s.side.event(event, event_id="Ev42")
    await s.until(lambda: len(s.slack.calls("views.publish")) == 1)
    status, _ = await s.side.event(
        event,
        event_id="Ev42",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert status == 200
    await asyncio.sleep(0.3)
    assert len(s.slack.calls("views.publish")) == 1


async def test_rate_limits_slow_delivery_but_lose_nothing(served: Served) -> None:
    s = served
    s.slack.set_rate_limit("chat.postMessage", per_second=2, burst=1)
    s.service.open_round("Chemo", MONDAY + timedelta(days=14))
    await s.until(
        lambda: all(i.delivery is DeliveryState.SENT for i in s.service.invitations("Chemo")),
        seconds=20,
    )
    assert s.slack.ratelimited_count > 0
    for email in ("ann@nhs.net", "bob@nhs.net", "cy@nhs.net"):
        assert len(s.slack.dm_messages(s.users[email])) == 1


async def test_someone_else_cannot_open_your_survey(served: Served) -> None:
    s = served
    s.service.open_round("Chemo", MONDAY + timedelta(days=14))
    await s.until(lambda: bool(s.slack.dm_messages(s.users["ann@nhs.net"])))
    _, value = s.invitation_button("ann@nhs.net")
    nosy = s.users["nosy@nhs.net"]
    await s.side.click(nosy, "rc_start", value, s.slack.new_trigger(nosy), "D1")
    await s.until(lambda: bool(s.slack.calls("views.open")))
    assert "belongs to someone else" in json.dumps(s.slack.calls("views.open")[-1]["view"])


async def test_the_closing_time_publishes_once(served: Served) -> None:
    s = served
    s.service.open_round("Chemo", MONDAY + timedelta(days=14))
    await s.until(lambda: bool(s.slack.dm_messages(s.users["ann@nhs.net"])))
    reply = await s.answer("ann@nhs.net", await s.open_page("ann@nhs.net"))
    await s.answer("ann@nhs.net", reply["view"])
    s.clock.advance(timedelta(days=15))
    await s.until(lambda: len(s.slack.files("CLEAD")) == 2)
    await s.until(lambda: bool(s.slack.files(s.slack.dm_channel(s.users["lead@nhs.net"]))))
    await s.exactly_once_published()


def cli(url: str, *args: str, env: dict[str, str] | None = None) -> str:
    from typer.testing import CliRunner

    from bot.cli import app

    result = CliRunner().invoke(app, list(args), env={"DATABASE_URL": url, **(env or {})})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


async def test_rcbot_round_close_leaves_publishing_to_the_running_server(
    served: Served, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = served
    monkeypatch.chdir(tmp_path)
    s.service.open_round("Chemo", MONDAY + timedelta(days=14))
    await s.until(lambda: bool(s.slack.dm_messages(s.users["ann@nhs.net"])))
    reply = await s.answer("ann@nhs.net", await s.open_page("ann@nhs.net"))
    await s.answer("ann@nhs.net", reply["view"])
    url = engine.url.render_as_string(hide_password=False)
    # The CLI shares the server's (simulated) clock, as every rcbot process does.
    clock = {
        "RCBOT_CLOCK_START": MONDAY.isoformat(),
        "RCBOT_TIME_SCALE": "1",
        "RCBOT_CLOCK_ANCHOR": str(time.time()),
    }
    out = await asyncio.to_thread(cli, url, "round", "close", "--survey", "Chemo", env=clock)
    assert "A running rcbot server publishes the results within a minute" in out
    s.clock.advance(timedelta(minutes=1))
    await s.until(lambda: len(s.slack.files("CLEAD")) == 2)
    await s.until(lambda: bool(s.slack.files(s.slack.dm_channel(s.users["lead@nhs.net"]))))
    await s.exactly_once_published()


async def test_rcbot_round_close_without_a_server_publishes_itself(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    service = SurveyService(engine, FixedClock(MONDAY))
    service.create_survey(
        NewSurvey("Chemo", owners=["lead@nhs.net"], leadership_channels=["slack:CLEAD"])
    )
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    url = engine.url.render_as_string(hide_password=False)
    async with FakeSlack.start(token=TOKEN) as slack:
        lead = slack.add_user("lead@nhs.net")
        slack.add_channel("CLEAD", name="leadership")
        env = {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.url,
            "RCBOT_REPORTS_DIR": str(tmp_path / "reports"),
        }
        out = await asyncio.to_thread(cli, url, "round", "close", "--survey", "Chemo", env=env)
        assert "No rcbot server is running, so this command publishes the results itself" in out
        assert "The summary of round 1 to slack:CLEAD was sent" in out
        posted = len(slack.channel_messages("CLEAD"))
        # Nobody answered: the summary says so, and the (all hidden) pictures and workbook
        # go out just as after a few answers, so nothing shows that nobody answered (issue 14).
        assert "Not enough answers" in json.dumps(slack.channel_messages("CLEAD"))
        assert {f.name for f in slack.files("CLEAD")} == {"heatmap.png", "network.png"}
        assert len(slack.files(slack.dm_channel(lead))) == 1
        # Publishing again on purpose posts it again, once.
        out = await asyncio.to_thread(cli, url, "round", "publish", "--survey", "Chemo", env=env)
        assert "will be published again" in out
        assert len(slack.channel_messages("CLEAD")) == 2 * posted
        status = await asyncio.to_thread(cli, url, "round", "status", "--survey", "Chemo", env=env)
        assert "The summary of round 1 to slack:CLEAD was sent" in status


async def test_rc_close_on_a_big_round_acknowledges_while_the_analysis_waits(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/rc close` on a 2,000-person round: the analysis is held back until the owner has
    the acknowledgement, so if the answer waited on the analysis this test would hang (and
    time out) instead of seeing the events in this order."""
    from bot.publishing.publisher import AnalysisProcess
    from bot.publishing.reporting import build_report

    s = served
    events: list[str] = []
    release = threading.Event()

    def held_build(_: AnalysisProcess, *args: Any) -> Any:
        events.append("analysis started")
        assert release.wait(60), "the analysis was never released"
        events.append("analysis released")
        return build_report(*args)

    monkeypatch.setattr(AnalysisProcess, "__call__", held_build)
    rows = "\n".join(
        f"big{i}@nhs.net,B {i},{('Nurses', 'Doctors')[i % 2]},teams" for i in range(2000)
    )
    s.service.create_survey(
        NewSurvey("Big", owners=["lead@nhs.net"], leadership_channels=["slack:CLEAD"])
    )
    s.service.import_participants("Big", parse_csv_text("email,name,role,platform\n" + rows))
    s.service.open_round("Big", MONDAY + timedelta(days=14))
    reply = await s.side.command(s.users["lead@nhs.net"], "close Big")
    events.append("acknowledged")
    # On a busy machine the reply may not be ready within the acknowledgement budget; then
    # Slack gets "working on it" at once and the reply follows through response_url.
    text = json.dumps(reply)
    assert "Round 1 of Big is closed with 0 of 2000 answered" in text or "Working on it" in text
    await s.until(lambda: s.service.round_status("Big").round.state is RoundState.CLOSED)
    assert "analysis released" not in events
    release.set()
    await s.until(lambda: bool(s.slack.channel_messages("CLEAD")), seconds=30)
    assert events.index("acknowledged") < events.index("analysis released")
    assert "Not enough answers" in json.dumps(s.slack.channel_messages("CLEAD"))


async def test_a_slow_page_save_is_acknowledged_first_and_shown_after(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page this server cannot answer at once (it has not read the invitation lately, as
    after a restart) while the database is slow (here: the save is held back until the
    acknowledgement has arrived): Slack still gets its answer in time, and the next page
    follows by views.update."""
    s = served
    monkeypatch.setattr(Answering, "predict", lambda *args, **kwargs: None)
    s.service.open_round("Chemo", MONDAY + timedelta(days=14))
    await s.until(lambda: bool(s.slack.dm_messages(s.users["ann@nhs.net"])))
    view = await s.open_page("ann@nhs.net")
    release = threading.Event()
    real_submit = Answering.submit

    def held_submit(self: Answering, *args: Any, **kwargs: Any) -> Any:
        assert release.wait(60), "never released"
        return real_submit(self, *args, **kwargs)

    monkeypatch.setattr(Answering, "submit", held_submit)
    dims = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    reply = await s.side.submit(s.users["ann@nhs.net"], view, dict.fromkeys(dims, "4"))
    assert reply["response_action"] == "update"
    assert "Saving your answers" in json.dumps(reply["view"])
    release.set()
    await s.until(lambda: bool(s.slack.calls("views.update")))
    assert s.slack.calls("views.update")[-1]["view"]["title"]["text"] == "Role 2 of 2"


@pytest.fixture
def one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """rcbot serves one press or submission at a time (the app is built after this)."""
    monkeypatch.setattr("bot.platforms.slack.app.MAX_IN_FLIGHT", 1)


async def test_past_capacity_every_request_is_acknowledged_and_told_busy(
    one_at_a_time: None, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More work than rcbot takes at once: a press is acknowledged and told "busy, try
    again"; a page is answered "busy" on the page itself, the answers still on it; once the
    work under way is done, both work again."""
    s = served
    s.service.open_round("Chemo", MONDAY + timedelta(days=14))
    emails = ("ann@nhs.net", "bob@nhs.net", "cy@nhs.net")
    await s.until(lambda: all(s.slack.dm_messages(s.users[e]) for e in emails))
    cy_page = await s.open_page("cy@nhs.net")
    entered, release = threading.Event(), threading.Event()
    start = Answering.start

    def held(self: Answering, *args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(60)
        return start(self, *args, **kwargs)

    monkeypatch.setattr(Answering, "start", held)
    ann, bob = s.users["ann@nhs.net"], s.users["bob@nhs.net"]
    opened = len(s.slack.calls("views.open"))
    action, value = s.invitation_button("ann@nhs.net")
    status, _ = await s.side.click(
        ann, action, value, s.slack.new_trigger(ann, ttl=120), s.slack.dm_channel(ann)
    )
    assert status == 200
    await s.until(entered.is_set)  # Ann's page is being prepared: rcbot is full
    action, value = s.invitation_button("bob@nhs.net")
    status, _ = await s.side.click(
        bob, action, value, s.slack.new_trigger(bob), s.slack.dm_channel(bob)
    )
    assert status == 200
    await s.until(lambda: bool(s.slack.ephemeral_messages(bob)))
    assert BUSY_TEXT in s.slack.ephemeral_messages(bob)[-1]["text"]
    reply = await s.answer("cy@nhs.net", cy_page)
    assert reply["response_action"] == "errors"
    assert BUSY_TEXT in json.dumps(reply["errors"])
    release.set()
    await s.until(lambda: len(s.slack.calls("views.open")) > opened)  # Ann's page
    again = await s.answer("cy@nhs.net", cy_page)
    assert again["view"]["title"]["text"] == "Role 2 of 2", again


async def test_the_next_page_is_shown_at_once_and_saved_after(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual case on a busy server: the next page is the acknowledgement itself, known
    before the save (held back here until the acknowledgement has arrived), which follows;
    the screen needs no correction."""
    s = served
    ann, opened = await s.page_in_slack("ann@nhs.net")
    release, saved = threading.Event(), threading.Event()
    real_submit = Answering.submit

    def held_submit(self: Answering, *args: Any, **kwargs: Any) -> Any:
        assert release.wait(60), "never released"
        try:
            return real_submit(self, *args, **kwargs)
        finally:
            saved.set()

    monkeypatch.setattr(Answering, "submit", held_submit)
    compared: list[bool] = []  # the listener's last step: the saved outcome against the shown

    def same_screen(shown: Any, outcome: Any) -> bool:
        compared.append(answering.same_screen(shown, outcome))
        return compared[-1]

    monkeypatch.setattr("bot.platforms.slack.app.same_screen", same_screen)
    dims = [b["block_id"] for b in opened["blocks"] if b["type"] == "input"]
    reply = await s.side.submit(ann, opened, dict.fromkeys(dims, "4"))
    assert reply["view"]["title"]["text"] == "Role 2 of 2"  # acknowledged before saving
    assert not saved.is_set()
    release.set()
    await s.until(lambda: bool(compared))
    assert compared == [True]  # no correction needed, so none made
    assert s.invitation_of("ann@nhs.net").started_at is not None
    assert not s.slack.calls("views.update")


async def test_a_page_shown_at_once_is_corrected_when_saving_refuses(served: Served) -> None:
    """The owner closed the round (in another process) after Ann's page was shown: the next
    page is shown at once, the save refuses, and the screen is corrected to say why."""
    s = served
    ann, opened = await s.page_in_slack("ann@nhs.net")
    SurveyService(s.service.engine, s.clock).close_round("Chemo")
    dims = [b["block_id"] for b in opened["blocks"] if b["type"] == "input"]
    reply = await s.side.submit(ann, opened, dict.fromkeys(dims, "4"))
    assert reply["view"]["title"]["text"] == "Role 2 of 2"
    await s.until(lambda: bool(s.slack.calls("views.update", ok_only=True)))
    assert "has closed" in json.dumps(s.slack.calls("views.update")[-1]["view"])
    assert "has closed" in json.dumps(s.slack.view(opened["id"]))
    assert s.invitation_of("ann@nhs.net").started_at is None  # nothing was saved


@pytest.mark.parametrize(
    ("failure", "told"),
    [
        (OperationalError("INSERT", {}, ConnectionRefusedError("refused")), UNAVAILABLE_TEXT),
        (RuntimeError("a bug"), FAILED_TEXT),
    ],
    ids=["database-gone", "bug"],
)
async def test_a_save_failing_after_the_page_was_shown_is_told_not_raised(
    served: Served, monkeypatch: pytest.MonkeyPatch, failure: Exception, told: str
) -> None:
    """The next page went out in the acknowledgement and saving fails at once (within bolt's
    10 ms look at the acknowledgement): Slack still gets its 200 with that page (a failure
    raised after ack() made bolt answer 404), and the page then says what happened."""
    s = served
    ann, opened = await s.page_in_slack("ann@nhs.net")

    def failing(self: Answering, *args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(Answering, "submit", failing)
    dims = [b["block_id"] for b in opened["blocks"] if b["type"] == "input"]
    reply = await s.side.submit(ann, opened, dict.fromkeys(dims, "4"))  # asserts a 200
    assert reply["view"]["title"]["text"] == "Role 2 of 2"
    await s.until(lambda: told in json.dumps(s.slack.view(opened["id"])))


async def test_a_stopping_server_saves_the_pages_it_showed_as_saved(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page was answered at once and its save is still held when the server is told to
    stop: the server stops taking requests, but does not end before the page is saved."""
    s = served
    ann, opened = await s.page_in_slack("ann@nhs.net")
    release, saving = threading.Event(), threading.Event()
    real_submit = Answering.submit

    def held_submit(self: Answering, *args: Any, **kwargs: Any) -> Any:
        saving.set()
        assert release.wait(60), "never released"
        return real_submit(self, *args, **kwargs)

    monkeypatch.setattr(Answering, "submit", held_submit)
    dims = [b["block_id"] for b in opened["blocks"] if b["type"] == "input"]
    reply = await s.side.submit(ann, opened, dict.fromkeys(dims, "4"))
    assert reply["view"]["title"]["text"] == "Role 2 of 2"
    await s.until(saving.is_set)
    s.stop.set()

    async def refused() -> bool:
        try:
            async with aiohttp.ClientSession() as session, session.get(f"{s.base}/healthz"):
                return False
        except aiohttp.ClientConnectionError:
            return True

    for _ in range(600):  # the web server has stopped taking requests
        if await refused():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("still serving")
    assert not s.task.done()  # ... and waits for the page shown as saved
    release.set()
    await asyncio.wait_for(s.task, 60)
    assert s.invitation_of("ann@nhs.net").started_at is not None
