"""A PostgreSQL outage under a running ``rcbot serve``: the process survives it, tells people
politely to try again, re-takes the scheduler lead and saves answers afterwards.

The outage is made by a TCP proxy this test owns between rcbot and the shared server (never
the server itself): cutting it closes every connection and refuses new ones."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from bot.answering import Answering
from bot.db_boundary import UNAVAILABLE_TEXT, DatabaseUnavailable
from bot.lifecycle import Lifecycle
from bot.runtime import Runtime
from bot.scheduler import SchedulerHost
from bot.server import serve
from bot.settings import Settings
from surveys.clock import FixedClock
from surveys.importing import parse_csv_text
from surveys.persistence import migrate
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY, _postgres_engine
from tests.fakes.slack_api import FakeSlack
from tests.integration.slack_user import SlackSide
from tests.integration.test_slack_round import PEOPLE, SECRET, TOKEN, free_port
from tests.integration.test_teams_round import (  # noqa: F401 (fixtures)
    TeamsWorld,
    action_data,
    tls,
    world,
)


@dataclass
class CuttableProxy:
    """Forwards 127.0.0.1:<port> to the database until cut; restores on the same port."""

    target_port: int
    port: int = field(default_factory=free_port)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        assert self._server is not None
        self._server.close()
        self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


class ObservedRuntime(Runtime):
    """A runtime whose scheduler host the test can watch, polling the lock quickly."""

    host: SchedulerHost | None = None

    def scheduler(self, lifecycle: Lifecycle) -> SchedulerHost:
        self.host = host = super().scheduler(lifecycle)
        host.poll_seconds, host.max_backoff_seconds = 0.1, 0.8
        return host


async def until(condition: Callable[[], Any], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    for engine in _postgres_engine():
        migrate.upgrade(engine)
        yield engine


@pytest.mark.postgres
async def test_serve_survives_a_database_outage(pg_engine: Engine, tmp_path: Path) -> None:
    engine = pg_engine
    clock = FixedClock(MONDAY)
    proxy = CuttableProxy(engine.url.port or 5432)
    await proxy.start()
    async with FakeSlack.start(token=TOKEN) as slack, aiohttp.ClientSession() as session:
        users = {e: slack.add_user(e) for e in ["ann@nhs.net", "bob@nhs.net", "cy@nhs.net"]}
        settings = Settings(
            database_url=engine.url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            ),
            slack_bot_token=SecretStr(TOKEN),
            slack_signing_secret=SecretStr(SECRET),
            slack_api_url=slack.url,
            tick=0.2,
            reports_dir=tmp_path / "reports",
        )
        rt = ObservedRuntime(settings, clock=clock)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        stop = asyncio.Event()
        task = asyncio.create_task(serve(rt, "127.0.0.1", port, stop))
        side = SlackSide(f"{base}/slack/events", SECRET, session)

        async def health() -> tuple[int, dict[str, Any]]:
            try:
                async with session.get(f"{base}/healthz") as r:
                    return r.status, await r.json()
            except aiohttp.ClientConnectionError:
                return 0, {}

        async def healthy() -> bool:
            return (await health())[0] == 200

        def leading() -> bool:
            return rt.host is not None and rt.host.leading

        try:
            await until(healthy)
            await until(leading)
            service = SurveyService(engine, clock)
            service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"], min_group_size=3))
            service.import_participants("Chemo", parse_csv_text(PEOPLE))
            service.open_round("Chemo", MONDAY + timedelta(days=14))
            ann = users["ann@nhs.net"]
            await until(lambda: slack.dm_messages(ann))
            (invitation,) = slack.dm_messages(ann)
            button = next(
                e
                for b in invitation["blocks"]
                for e in b.get("elements", [])
                if e.get("action_id") == "rc_start"
            )
            status, _ = await side.click(
                ann, "rc_start", button["value"], slack.new_trigger(ann), slack.dm_channel(ann)
            )
            assert status == 200
            await until(lambda: slack.calls("views.open"))
            view = slack.calls("views.open")[-1]["view"]
            dims = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]

            # The outage: every connection dropped, new ones refused.
            await proxy.cut()
            async with asyncio.timeout(60):
                while (await health())[0] != 503:
                    await asyncio.sleep(0.05)
            assert (await health())[1]["database"] == "unreachable"
            await until(lambda: not leading())
            assert rt.host is not None
            await until(lambda: rt.host is not None and rt.host.failures >= 3)

            async def shown(reply: dict[str, Any]) -> dict[str, Any]:
                """The view the person ends up seeing: in the acknowledgement, or (on a
                machine too busy to answer within Slack's budget) by views.update."""
                assert reply["response_action"] == "update"
                if "Saving your answers" not in json.dumps(reply["view"]):
                    return reply["view"]  # type: ignore[no-any-return]
                await until(lambda: len(slack.calls("views.update")) > updates)
                return slack.calls("views.update")[-1]["view"]  # type: ignore[no-any-return]

            # A page submitted now is acknowledged with 200 and a polite "try again".
            updates = len(slack.calls("views.update"))
            reply = await side.submit(ann, view, dict.fromkeys(dims, "4"))
            assert UNAVAILABLE_TEXT in json.dumps(await shown(reply))
            # A button press too (acknowledged, then a notice in a modal).
            opened = len(slack.calls("views.open"))
            status, _ = await side.click(
                ann, "rc_start", button["value"], slack.new_trigger(ann), slack.dm_channel(ann)
            )
            assert status == 200
            await until(lambda: len(slack.calls("views.open")) > opened)
            assert UNAVAILABLE_TEXT in json.dumps(slack.calls("views.open")[-1]["view"])
            # An owner command answers in its acknowledgement (or, on a busy machine,
            # acknowledges at once and answers through response_url).
            text = json.dumps(await side.command(ann, "status Chemo"))
            assert UNAVAILABLE_TEXT in text or "Working on it" in text, text
            assert not task.done()

            # The database is back: health, leadership and answering return.
            await proxy.start()
            await until(healthy)
            await until(leading)
            updates = len(slack.calls("views.update"))
            reply = await side.submit(ann, view, dict.fromkeys(dims, "4"))
            page = await shown(reply)
            assert page["title"]["text"] == "Role 2 of 2", page
            assert not task.done()
        finally:
            stop.set()
            await task
            rt.close()
            with contextlib.suppress(AssertionError):
                await proxy.cut()


async def test_teams_card_actions_during_an_outage_get_a_polite_answer(
    world: TeamsWorld,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The card stays as it was (a message response), so the person can press again."""
    w = world
    w.service.open_round("Crisis", MONDAY + timedelta(days=14))
    await w.until(lambda: w.connector.activities(w.chat("ann@nhs.net")))
    start = action_data(w.last_card(w.chat("ann@nhs.net")), "rc_start")

    def down(*args: object, **kwargs: object) -> None:
        raise DatabaseUnavailable("database unavailable (OperationalError)")

    with monkeypatch.context() as patch:
        patch.setattr(Answering, "start", down)
        activity = w.channel.action_execute(
            "rc_start", start, w.users["ann@nhs.net"], w.chat("ann@nhs.net")
        )
        status, body = await w.channel.post(w.endpoint, activity)
    assert status == 200, body
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert body["value"] == UNAVAILABLE_TEXT
    page = await w.act("ann@nhs.net", "rc_start", start)
    assert "Role 1 of 2" in json.dumps(page)
