"""rcbot tried the way Teams developers try a bot: Microsoft's own **Agents Playground** (npm
``@microsoft/m365agentsplayground``, pinned in ``tests/teams_playground``) against
``rcbot serve`` in the anonymous local trial mode, its web UI driven by Playwright in Debian's
Chromium (never a downloaded browser).

The Playground renders cards with Microsoft's Adaptive Cards renderer and mocks the Bot
Connector; its UI is one person (Alex, a survey owner). The other people answer through the
Playground's own HTTP routes (``POST /_conversation/v1/invoke`` and ``.../messages``), which
it turns into the activities Teams would send. Its events recording (``--er``) is the record
of every activity the bot sent; every card in it must pass Microsoft's ``adaptivecards``
parser. Screenshots of the invitation, a question page and the leadership summary (each card,
and the whole Playground window for the invitation and the summary) are saved under
``artifacts/teams-playground/<database>/``. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import Engine

from bot.runtime import Runtime
from bot.settings import Settings
from bot.web.server import serve
from surveys.clock import FixedClock
from surveys.importing import parse_csv_text
from surveys.model import Platform
from surveys.service import NewSurvey, SurveyService
from tests.bot.adaptive_cards import (
    PLAYGROUND_DIR,
    assert_microsoft_parses,
    assert_valid_card,
    elements,
)
from tests.conftest import MONDAY
from tests.integration.test_slack_round import free_port

CLI = PLAYGROUND_DIR / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    # Nothing but 127.0.0.1: no update checks, sync or other background traffic.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "teams-playground"
CARD = "application/vnd.microsoft.card.adaptive"

TRIAL = Path(__file__).resolve().parents[2] / "docs" / "playground"
"""The Playground config and participants file the README's trial walks through."""
CONFIG = yaml.safe_load((TRIAL / "m365agentsplayground.yml").read_text(encoding="utf-8"))
TENANT = str(CONFIG["tenantId"])
BOT = str(CONFIG["bot"]["id"])
ALEX_AAD = str(CONFIG["currentUser"]["aadObjectId"])
AAD = {str(u["id"]): str(u["aadObjectId"]) for u in CONFIG["users"]}
LEADERSHIP = str(CONFIG["team"]["channels"][0]["id"])
PEOPLE_CSV = (TRIAL / "people.csv").read_text(encoding="utf-8")
# Alex (the UI) is stored by his Entra object id, as a real Teams roll-out would be; the
# others by their Teams user id: rcbot accepts either.
PEOPLE = {
    row["teams_user_id"]: (row["name"], row["email"], row["role"])
    for row in csv.DictReader(io.StringIO(PEOPLE_CSV))
    if row["teams_user_id"] != ALEX_AAD
}


def missing_tools() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not CLI.is_file():
        return "the Agents Playground is not installed (run `make playground`)"
    if not CHROMIUM.is_file():
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed"
    return None


@dataclass
class Playground:
    base: str
    recording: Path
    service: SurveyService
    bot_base: str
    shots: Path
    session: aiohttp.ClientSession
    seen: list[dict[str, Any]] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        """The Playground's events recording: every activity between it and the bot."""
        if not self.recording.exists():
            return []
        text = self.recording.read_text(encoding="utf-8")
        return [json.loads(chunk) for chunk in text.split("\n---\n") if chunk.strip()]

    def bot_activities(self, conversation: str) -> list[dict[str, Any]]:
        found = []
        for event in self.events():
            body = (event.get("request") or {}).get("body") or {}
            if event.get("conversationId") == conversation and body.get("type") == "message":
                if body.get("from", {}).get("id", "").startswith("user-id"):
                    continue
                found.append(event)
        return found

    def all_cards(self) -> list[dict[str, Any]]:
        cards = list(self.seen)
        for event in self.events():
            for part in ("request", "response"):
                body = (event.get(part) or {}).get("body")
                if not isinstance(body, dict):
                    continue
                for attachment in body.get("attachments") or []:
                    if attachment.get("contentType") == CARD:
                        cards.append(attachment["content"])
                if body.get("type") == CARD and isinstance(body.get("value"), dict):
                    cards.append(body["value"])
        return cards

    async def invoke(
        self, user: str, conversation: str, message_id: str, verb: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Press a card button as ``user``, through the Playground's own HTTP route."""
        payload = {
            "name": "adaptiveCard/action",
            "value": {
                "action": {"type": "Action.Execute", "verb": verb, "data": data},
                "trigger": "manual",
            },
            "from": {"id": user},
            "conversation": {"id": conversation},
            "replyToId": message_id,
        }
        async with self.session.post(f"{self.base}/_conversation/v1/invoke", json=payload) as r:
            body = await r.json()
            assert r.status == 200, body
        assert body["type"] == CARD, body
        self.seen.append(body["value"])
        return body["value"]  # type: ignore[no-any-return]

    async def say(self, user: str, conversation: str, text: str) -> None:
        """A message from ``user`` (the chat box only speaks as Alex), sent with the
        Playground's "Mock an Activity" route, which hands the activity to the bot."""
        name = PEOPLE[user][0]
        aad = AAD[user]
        activity = {
            "type": "message",
            "id": f"mock-{time.monotonic_ns()}",
            "channelId": "msteams",
            "serviceUrl": f"{self.base}/_connector",
            "from": {"id": user, "name": name, "aadObjectId": aad},
            "recipient": {"id": BOT, "name": "rcbot"},
            "conversation": {
                "id": conversation,
                "conversationType": "personal",
                "tenantId": TENANT,
            },
            "channelData": {"tenant": {"id": TENANT}},
            "text": text,
            "textFormat": "plain",
        }
        async with self.session.post(
            f"{self.base}/_internal/v1/customActivities", json=activity
        ) as r:
            assert r.status == 200, await r.text()


async def until(condition: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return value


def verbs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["verb"]: dict(a.get("data") or {}) for a in elements(card, "Action.Execute")}


@pytest.fixture
async def playground(
    engine: Engine, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Playground]:
    missing = missing_tools()
    if missing is not None:
        if os.environ.get("CI") or os.environ.get("RCBOT_REQUIRE_PLAYGROUND"):
            pytest.fail(f"the Agents Playground test cannot run: {missing}")
        pytest.skip(f"the Agents Playground test cannot run: {missing}")
    bot_port, pg_port = free_port(), free_port()
    bot_base, pg_base = f"http://127.0.0.1:{bot_port}", f"http://127.0.0.1:{pg_port}"
    clock = FixedClock(MONDAY)
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        teams_anonymous=True,
        teams_service_url=f"{pg_base}/_connector/",
        public_url=bot_base,
        reports_dir=tmp_path / "reports",
        tick=0.2,
    )
    rt = Runtime(settings, clock=clock)
    stop, ready = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(
        serve(rt, "127.0.0.1", bot_port, stop, on_ready=lambda _: ready.set())
    )
    await asyncio.wait_for(ready.wait(), 60)

    service = SurveyService(engine, clock)
    service.create_survey(
        NewSurvey(
            "Crisis",
            owners=["alexw@example.com"],
            leadership_channels=[f"teams:{LEADERSHIP}"],
            min_group_size=3,
        )
    )
    service.import_participants("Crisis", parse_csv_text(PEOPLE_CSV))

    work = tmp_path / "playground"
    work.mkdir()
    shutil.copy(TRIAL / "m365agentsplayground.yml", work / ".m365agentsplayground.yml")
    recording = work / "recording.txt"
    env = {
        **os.environ,
        "TEAMSAPPTESTER_BROWSER": "none",
        "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(work / ".m365agentsplayground.yml"),
        "M365_AGENTS_PLAYGROUND_RECORDING_FILE": str(recording),
        "M365_AGENTS_PLAYGROUND_LOGFILE": str(work / "playground.log"),
    }
    log = (work / "stdout.txt").open("wb")
    process = subprocess.Popen(
        [
            "node",
            str(CLI),
            "-e",
            f"{bot_base}/api/messages",
            "-c",
            "msteams",
            "-p",
            str(pg_port),
            "--er",
            "--dt",
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    shots = ARTIFACTS / request.node.callspec.id
    shots.mkdir(parents=True, exist_ok=True)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                try:
                    async with session.get(f"{pg_base}/") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert process.poll() is None, (work / "stdout.txt").read_text()
                await asyncio.sleep(0.1)
            yield Playground(pg_base, recording, service, bot_base, shots, session)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        stop.set()
        await server
        rt.close()


async def answer_in_ui(page: Any, value: str, button: str, then: Any) -> None:
    """Choose ``value`` for the seven questions and press ``button`` until ``then`` shows.

    The renderer may draw the card again just after it arrives (losing the choices); rcbot
    then answers "Please choose an answer", and the page is answered again."""
    for _ in range(3):
        radios = page.locator(f'input[type="radio"][value="{value}"]')
        await until_async(radios.count, 7, "the seven questions")
        for i in range(7):
            await radios.nth(i).check()
        await page.get_by_role("button", name=button).last.click()
        missing = page.get_by_text("Please choose an answer").first
        await then.or_(missing).first.wait_for(timeout=30_000)
        if await then.count():
            return
    raise AssertionError(f"the page was never saved with {button!r}")


async def until_async(probe: Any, wanted: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while await probe() != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_round_in_the_agents_playground(playground: Playground) -> None:
    from playwright.async_api import async_playwright

    p = playground
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 2400})
            await page.goto(p.base)
            await page.get_by_text("Personal Chat").first.click()
            # Opening the Playground installs the bot for Alex: rcbot keeps his conversation.
            await until(
                lambda: any(e.get("activityName") == "installationUpdate" for e in p.events()),
                "the installation update",
            )
            p.service.open_round("Crisis", MONDAY + timedelta(days=14))

            # The invitation arrives in Alex's personal chat, rendered by Microsoft's renderer.
            start = page.get_by_role("button", name="Start")
            await start.wait_for(timeout=60_000)
            card = page.locator(".ac-adaptiveCard").last
            assert "Crisis: working together survey" in await card.inner_text()
            assert "Doctor" in await card.inner_text()
            await card.screenshot(path=str(p.shots / "invitation.png"))
            await page.screenshot(path=str(p.shots / "invitation-window.png"))

            # Start shows the first page: seven labelled questions about one role.
            await start.click()
            await page.get_by_text("Role 1 of 2").wait_for(timeout=30_000)
            card = page.locator(".ac-adaptiveCard").last
            text = await card.inner_text()
            assert "people in the" in text  # the question reads right for a singular role
            await card.screenshot(path=str(p.shots / "question-page.png"))
            await answer_in_ui(page, "4", "Save and next", page.get_by_text("Role 2 of 2"))
            (view,) = p.service.views_for_user(Platform.TEAMS, ALEX_AAD)
            assert len(view.pages) == 1  # saved page by page
            edit = page.get_by_role("button", name="Edit")
            await answer_in_ui(page, "5", "Save and finish", edit)
            (view,) = p.service.views_for_user(Platform.TEAMS, ALEX_AAD)
            assert len(view.pages) == 2
            assert view.progress.complete

            # Edit shows the saved answers preselected.
            await edit.click()
            await page.get_by_text("Role 1 of 2").wait_for(timeout=30_000)
            checked = page.locator('input[type="radio"]:checked')
            assert await checked.count() == 7
            assert {await checked.nth(i).get_attribute("value") for i in range(7)} == {"4"}

            # The others answer through the Playground's HTTP routes.
            chats = await until(lambda: personal_chats(p), "the other people's chats")
            for uid, (_, _, role) in PEOPLE.items():
                conversation = chats[uid]
                invitation = await until(
                    functools.partial(p.bot_activities, conversation), f"{uid}'s invitation"
                )
                message_id = str(invitation[0]["messageId"])
                sent = invitation[0]["request"]["body"]["attachments"][0]["content"]
                assert role in json.dumps(sent)
                start_data = verbs(sent)["rc_start"]
                shown = await p.invoke(uid, conversation, message_id, "rc_start", start_data)
                for _ in range(2):
                    inputs = [e["id"] for e in elements(shown, "Input.ChoiceSet")]
                    data = verbs(shown)["rc_page"] | dict.fromkeys(inputs, "3")
                    shown = await p.invoke(uid, conversation, message_id, "rc_page", data)
                assert "rc_edit" in verbs(shown)

            # A non-owner's `status` is refused.
            megan = chats["user-id-1"]
            await p.say("user-id-1", megan, "status")
            await until(
                lambda: any("own no survey" in json.dumps(e) for e in p.bot_activities(megan)),
                "the refusal",
            )

            # The owner closes the round from the chat box; the summary goes to Leadership.
            box = page.locator('[data-lexical-editor="true"][role="textbox"]')
            await box.click()
            await page.keyboard.type("close")
            await page.keyboard.press("Enter")
            await page.get_by_text("is closed with").wait_for(timeout=60_000)
            await page.get_by_text("Leadership").first.click()
            summary = page.locator(".ac-adaptiveCard").last
            await summary.wait_for(timeout=60_000)
            images = summary.locator("img")
            await images.first.wait_for(timeout=60_000)
            assert await images.count() >= 2
            for i in range(await images.count()):
                image = images.nth(i)
                await image.scroll_into_view_if_needed()
                src = await image.get_attribute("src") or ""
                assert src.startswith(f"{p.bot_base}/files/"), src
                loaded = await page.wait_for_function(
                    "img => img.complete && img.naturalWidth > 0",
                    arg=await image.element_handle(),
                    timeout=30_000,
                )
                assert loaded
            await summary.screenshot(path=str(p.shots / "leadership-summary.png"))
            await page.screenshot(path=str(p.shots / "leadership-window.png"))
        except BaseException:
            for open_page in browser.contexts[0].pages if browser.contexts else []:
                await open_page.screenshot(path=str(p.shots / "failure.png"), full_page=True)
            raise
        finally:
            await browser.close()

    cards = p.all_cards()
    assert len(cards) > 20
    for each in cards:
        assert_valid_card(each)
    assert_microsoft_parses(cards)


def personal_chats(p: Playground) -> dict[str, str] | None:
    """The 1:1 chat rcbot created with each person (``POST /v3/conversations``)."""
    chats = {}
    for event in p.events():
        if event.get("activityName") != "createConversation":
            continue
        request = (event.get("request") or {}).get("body") or {}
        response = (event.get("response") or {}).get("body") or {}
        members = request.get("members") or []
        if members and response.get("id"):
            chats[str(members[0]["id"])] = str(response["id"])
    return chats if set(PEOPLE) <= set(chats) else None
