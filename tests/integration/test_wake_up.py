"""Invitations start promptly: ``rcbot round open`` run while ``rcbot serve`` is running
(two processes, as deployed) has the invitations sent at the server's next wake-up (every
2 s), not its next tick: the tick here is an hour."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import Engine

from surveys.clock import SystemClock
from surveys.importing import parse_csv_text
from surveys.service import NewSurvey, SurveyService
from tests.fakes.slack_api import FakeSlack
from tests.integration.test_slack_round import PEOPLE, SECRET, TOKEN, free_port
from tests.processes import slack_rcbot_env, start_rcbot


async def test_rcbot_round_open_is_sent_without_waiting_for_the_tick(
    engine: Engine, tmp_path: Path
) -> None:
    service = SurveyService(engine, SystemClock())
    service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"], min_group_size=3))
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    async with FakeSlack.start(token=TOKEN) as slack:
        users = [slack.add_user(e) for e in ("ann@nhs.net", "bob@nhs.net", "cy@nhs.net")]
        env = slack_rcbot_env(
            engine.url.render_as_string(hide_password=False),
            slack.url,
            tmp_path / "reports",
            token=TOKEN,
            secret=SECRET,
            RCBOT_TICK_SECONDS="3600",
        )
        server = await start_rcbot("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
        log: list[bytes] = []
        try:
            assert server.stderr is not None
            # Leading (its first run of every job is over or under way) before the round opens.
            async with asyncio.timeout(120):
                while b"leads the scheduler" not in b"".join(log):
                    line = await server.stderr.readline()
                    assert line, b"".join(log).decode()
                    log.append(line)
            opened = await start_rcbot(
                *("round", "open", "--survey", "Chemo", "--closes-in", "14d"),
                env=env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await opened.communicate()
            assert opened.returncode == 0, out.decode()
            # A bound for a loaded machine, far below the hour-long tick.
            deadline = time.monotonic() + 120
            while not all(slack.dm_messages(u) for u in users):
                assert time.monotonic() < deadline, "the invitations did not go"
                assert server.returncode is None, "rcbot serve stopped"
                await asyncio.sleep(0.05)
            assert [len(slack.dm_messages(u)) for u in users] == [1, 1, 1]
        finally:
            server.terminate()
            rest, _ = await server.communicate()
    errors = b"".join(log) + (rest or b"")
    assert b"Traceback" not in errors, errors.decode()
