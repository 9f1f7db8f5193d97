"""`rcbot worker` runs the scheduler without a web server: it must connect the configured
chat platforms and send, or invitations and results would wait in the outbox for ever
whenever the worker holds the leader lock. A real `rcbot worker` process against the local
fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from surveys.clock import SystemClock
from surveys.importing import parse_csv_text
from surveys.model import AnswerPage
from surveys.service import NewSurvey, SurveyService
from tests.fakes.slack_api import FakeSlack
from tests.integration.test_slack_round import PEOPLE, SECRET, TOKEN
from tests.processes import slack_rcbot_env, start_rcbot


async def until(condition: Callable[[], object], what: str, seconds: float = 120) -> None:
    """A bound on a condition, not a pause: the loop polls while the fake Slack serves."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_worker_sends_invitations_and_results(engine: Engine, tmp_path: Path) -> None:
    service = SurveyService(engine, SystemClock())
    service.create_survey(
        NewSurvey(
            "Chemo", owners=["lead@nhs.net"], leadership_channels=["slack:CLEAD"], min_group_size=3
        )
    )
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    async with FakeSlack.start(token=TOKEN) as slack:
        users = {e: slack.add_user(e) for e in ["ann@nhs.net", "bob@nhs.net", "cy@nhs.net"]}
        lead = slack.add_user("lead@nhs.net")
        slack.add_channel("CLEAD", name="leadership")
        env = slack_rcbot_env(
            engine.url.render_as_string(hide_password=False),
            slack.url,
            tmp_path / "reports",
            token=TOKEN,
            secret=SECRET,
            RCBOT_TICK_SECONDS="0.5",
            RCBOT_ANALYSIS_PROCESS="0",
        )
        process = await start_rcbot("worker", env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE)
        try:
            service.open_round("Chemo", service.clock.now() + timedelta(days=14))
            await until(
                lambda: all(slack.dm_messages(u) for u in users.values()) or process.returncode,
                "the invitations",
            )
            assert process.returncode is None, "rcbot worker stopped"
            dims = service.get_survey("Chemo").instrument.dimensions
            for inv in service.invitations("Chemo"):
                assert inv.id is not None
                for partner in inv.partner_roles:
                    service.submit_page(inv.id, AnswerPage(partner, dict.fromkeys(dims, 4)))
            service.close_round("Chemo")
            # The summary with its two pictures, and the workbook to the owner.
            await until(
                lambda: len(slack.files("CLEAD")) >= 2 and slack.files(slack.dm_channel(lead)),
                "the results",
            )
            # Every message once, however many ticks ran meanwhile.
            assert [len(slack.dm_messages(u)) for u in users.values()] == [1, 1, 1]
            assert len(slack.files("CLEAD")) == 2
            assert len(slack.files(slack.dm_channel(lead))) == 1
        finally:
            process.terminate()
            stdout, errors = await process.communicate()
    assert b"sending on slack" in stdout, stdout
    assert b"Traceback" not in errors, errors.decode()[-2000:]
