"""A PostgreSQL outage under a running ``rcbot serve``: the process survives it, tells people
politely to try again, re-takes the scheduler lead and saves answers afterwards.

The outage is made by a TCP proxy this test owns between rcbot and the shared server (never
the server itself): cutting it closes every connection and refuses new ones."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text

from bot.conversation.answering import Answering
from bot.db_boundary import UNAVAILABLE_TEXT, DatabaseUnavailable, run_db
from bot.runtime import Runtime
from bot.scheduling.lifecycle import Lifecycle
from bot.scheduling.scheduler import SchedulerHost
from bot.settings import Settings
from bot.web.server import serve
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.outbox import LEASE, OutboxKind, OutboxState
from surveys.persistence import migrate
from surveys.persistence.db import CONNECT_TIMEOUT, make_engine
from surveys.persistence.uow import UnitOfWork
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

    black_hole: bool = False
    """Accept connections and never answer (a half-dead server, a black-holed network)."""

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        assert self._server is not None
        self._server.close()
        self._server = None
        self.drop_live()

    def drop_live(self) -> None:
        """Drop every open connection (mid-transaction, mid-query); new ones still work."""
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.black_hole:
            self._writers.add(writer)
            with contextlib.suppress(OSError):
                while await reader.read(65536):
                    pass
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        if self._server is None:  # cut while this connection was being made: no way through
            writer.close()
            up_writer.close()
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


def through(proxy: CuttableProxy, engine: Engine, slack: FakeSlack, tmp_path: Path) -> Settings:
    """Settings for a server that reaches ``engine`` only through ``proxy``."""
    return Settings(
        database_url=engine.url.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        ),
        slack_bot_token=SecretStr(TOKEN),
        slack_signing_secret=SecretStr(SECRET),
        slack_api_url=slack.url,
        tick=0.2,
        reports_dir=tmp_path / "reports",
    )


@pytest.mark.postgres
async def test_serve_survives_a_database_outage(pg_engine: Engine, tmp_path: Path) -> None:
    engine = pg_engine
    clock = FixedClock(MONDAY)
    proxy = CuttableProxy(engine.url.port or 5432)
    await proxy.start()
    async with FakeSlack.start(token=TOKEN) as slack, aiohttp.ClientSession() as session:
        users = {e: slack.add_user(e) for e in ["ann@nhs.net", "bob@nhs.net", "cy@nhs.net"]}
        rt = ObservedRuntime(through(proxy, engine, slack, tmp_path), clock=clock)
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


@dataclass
class Serving:
    rt: ObservedRuntime
    base: str
    side: SlackSide
    session: aiohttp.ClientSession
    task: asyncio.Task[None]

    async def health(self) -> int:
        try:
            async with self.session.get(f"{self.base}/healthz") as r:
                return r.status
        except aiohttp.ClientConnectionError:
            return 0

    def leading(self) -> bool:
        return self.rt.host is not None and self.rt.host.leading


@contextlib.asynccontextmanager
async def serving_through(
    proxy: CuttableProxy,
    engine: Engine,
    clock: FixedClock,
    slack: FakeSlack,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> AsyncIterator[Serving]:
    rt = ObservedRuntime(through(proxy, engine, slack, tmp_path), clock=clock)
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(rt, "127.0.0.1", port, stop))
    side = SlackSide(f"http://127.0.0.1:{port}/slack/events", SECRET, session)
    serving = Serving(rt, f"http://127.0.0.1:{port}", side, session, task)
    try:
        await until(lambda: serving.health(), seconds=60)
        await until(serving.leading, seconds=60)
        yield serving
    finally:
        stop.set()
        await task
        rt.close()


FAN_OUT = 40


@pytest.mark.postgres
@pytest.mark.parametrize("outage", [2, 30], ids=["2s", "30s"])
async def test_an_outage_during_answering_and_a_fan_out_loses_nothing(
    pg_engine: Engine, tmp_path: Path, outage: int
) -> None:
    """The database goes away for ``outage`` seconds while people answer and while a round
    of FAN_OUT invitations is going out: rcbot stays up, answers politely meanwhile, saves
    every answer after, and every invitation arrives exactly once."""
    engine = pg_engine
    clock = FixedClock(MONDAY)
    proxy = CuttableProxy(engine.url.port or 5432)
    await proxy.start()
    async with (
        FakeSlack.start(token=TOKEN) as slack,
        aiohttp.ClientSession() as session,
        serving_through(proxy, engine, clock, slack, session, tmp_path) as s,
    ):
        users = {e: slack.add_user(e) for e in ["ann@nhs.net", "bob@nhs.net", "cy@nhs.net"]}
        crowd = [slack.add_user(f"p{i}@nhs.net") for i in range(FAN_OUT)]
        service = SurveyService(engine, clock)
        service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"], min_group_size=3))
        service.import_participants("Chemo", parse_csv_text(PEOPLE))
        service.create_survey(NewSurvey("Crowd", owners=["lead@nhs.net"], min_group_size=3))
        csv = "email,name,role\n" + "".join(f"p{i}@nhs.net,P{i},Nurses\n" for i in range(FAN_OUT))
        service.import_participants("Crowd", parse_csv_text(csv))
        service.open_round("Chemo", MONDAY + timedelta(days=14))
        ann, bob = users["ann@nhs.net"], users["bob@nhs.net"]
        await until(lambda: slack.dm_messages(ann) and slack.dm_messages(bob), seconds=60)

        async def first_page(user: str) -> dict[str, Any]:
            (invitation,) = slack.dm_messages(user)
            button = next(
                e
                for b in invitation["blocks"]
                for e in b.get("elements", [])
                if e.get("action_id") == "rc_start"
            )
            opened = len(slack.calls("views.open"))
            status, _ = await s.side.click(
                user, "rc_start", button["value"], slack.new_trigger(user), slack.dm_channel(user)
            )
            assert status == 200
            await until(lambda: len(slack.calls("views.open")) > opened, seconds=60)
            return slack.calls("views.open")[-1]["view"]  # type: ignore[no-any-return]

        async def submit(user: str, view: dict[str, Any]) -> dict[str, Any]:
            """The view the person ends up seeing: in the acknowledgement, or (on a machine
            too busy to answer within Slack's budget) by views.update."""
            updates = len(slack.calls("views.update"))
            dims = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
            reply = await s.side.submit(user, view, dict.fromkeys(dims, "4"))
            assert reply["response_action"] == "update"
            if "Saving your answers" not in json.dumps(reply["view"]):
                return reply["view"]  # type: ignore[no-any-return]
            await until(lambda: len(slack.calls("views.update")) > updates, seconds=60)
            return slack.calls("views.update")[-1]["view"]  # type: ignore[no-any-return]

        page = await first_page(ann)
        # A slow workspace, so that the fan-out is under way when the database goes.
        slack.set_latency(0.3, "chat.postMessage")
        service.open_round("Crowd", MONDAY + timedelta(days=14))
        await until(lambda: any(slack.dm_messages(u) for u in crowd), seconds=60)

        await proxy.cut()
        down_at = time.monotonic()
        await until(lambda: _is(s.health(), 503), seconds=60)
        shown = await submit(ann, page)
        assert UNAVAILABLE_TEXT in json.dumps(shown)
        assert not s.task.done()
        # The outage lasts its length (the scenario, not a wait for a condition).
        await asyncio.sleep(max(0.0, outage - (time.monotonic() - down_at)))
        await proxy.start()

        await until(lambda: _is(s.health(), 200), seconds=60)
        await until(s.leading, seconds=60)
        # Messages the sender held when the database went wait out their lease (simulated).
        clock.advance(LEASE + timedelta(seconds=1))
        second = await submit(ann, page)
        assert second["title"]["text"] == "Role 2 of 2", second
        assert "Thank you" in json.dumps(await submit(ann, second))
        bob_page = await first_page(bob)
        assert (await submit(bob, bob_page))["title"]["text"] == "Role 2 of 2"
        done = {i.participant_id: i for i in service.invitations("Chemo")}
        people = {p.email: p.id for p in service.list_participants("Chemo")}
        assert done[people["ann@nhs.net"]].completed  # type: ignore[index]

        await until(lambda: all(slack.dm_messages(u) for u in crowd), seconds=60)
        outbox = Outbox(engine, clock)
        # Every invitation is recorded as sent (what was mid-send settled by the history).
        await until(
            lambda: (
                {i.state for i in outbox.items(kinds=[OutboxKind.INVITATION])} == {OutboxState.SENT}
            ),
            seconds=60,
        )
        assert [len(slack.dm_messages(u)) for u in crowd] == [1] * FAN_OUT
        assert all(len(slack.dm_messages(u)) == 1 for u in users.values())
        assert not s.task.done()
    with contextlib.suppress(AssertionError):
        await proxy.cut()


async def _is(status: Any, wanted: int) -> bool:
    return bool(await status == wanted)


@pytest.mark.postgres
async def test_a_connection_dropped_mid_transaction_writes_nothing_and_the_next_works(
    pg_engine: Engine,
) -> None:
    proxy = CuttableProxy(pg_engine.url.port or 5432)
    await proxy.start()
    engine = make_engine(pg_engine.url.set(host="127.0.0.1", port=proxy.port))
    clock = FixedClock(MONDAY)
    service = SurveyService(engine, clock)
    started, go = threading.Event(), threading.Event()

    # Through the proxy, which runs on this loop: database work goes to a thread.
    await asyncio.to_thread(service.create_survey, NewSurvey("Kept", owners=["lead@nhs.net"]))

    def half_written() -> None:
        with UnitOfWork(engine) as uow:
            uow.session.execute(text("UPDATE surveys SET name = 'Renamed' WHERE name = 'Kept'"))
            started.set()
            assert go.wait(60)
            uow.session.execute(text("UPDATE surveys SET name = 'Twice' WHERE name = 'Renamed'"))

    try:
        # A transaction the network cuts in the middle: nothing of it is kept.
        work = asyncio.create_task(run_db(half_written))
        await until(started.is_set)
        proxy.drop_live()
        go.set()
        with pytest.raises(DatabaseUnavailable):
            await work
        assert [s.name for s in await asyncio.to_thread(service.list_surveys)] == ["Kept"]

        def create(name: str) -> None:
            service.create_survey(NewSurvey(name, owners=["lead@nhs.net"]))

        # The pool replaces the dead connection: the next piece of work just works.
        await run_db(create, "After")
        assert await run_db(lambda: service.get_survey("After").name) == "After"
    finally:
        engine.dispose()
        with contextlib.suppress(AssertionError):
            await proxy.cut()


@pytest.mark.postgres
async def test_a_database_that_never_answers_fails_fast_instead_of_hanging(
    pg_engine: Engine,
) -> None:
    proxy = CuttableProxy(pg_engine.url.port or 5432, black_hole=True)
    await proxy.start()
    engine = make_engine(pg_engine.url.set(host="127.0.0.1", port=proxy.port))
    try:
        began = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            # A bound far above CONNECT_TIMEOUT: without it this would wait for ever.
            async with asyncio.timeout(CONNECT_TIMEOUT * 12):
                await run_db(lambda: SurveyService(engine, FixedClock(MONDAY)).list_surveys())
        assert time.monotonic() - began >= CONNECT_TIMEOUT * 0.5  # it did wait, then gave up
    finally:
        engine.dispose()
        with contextlib.suppress(AssertionError):
            await proxy.cut()
