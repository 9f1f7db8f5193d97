"""Files only their owners can reach: reports keyed by survey id and round, what is sent is
what was analysed, ``/files/`` serves only live tokens rcbot issued (strictly inside the
published folder), links expire, and everything is created for rcbot's user only."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine, func, select

from bot.delivery.dispatch import Dispatcher
from bot.files import NAME, PublishedFiles, safe_name
from bot.messages import Attachment
from bot.platform import ChannelId, ChatPlatform
from bot.platforms.fake import FakeChatPlatform
from bot.publishing.reporting import build_report, results_messages
from bot.web.app import build_web_app
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.links import LinkStore
from surveys.model import AnswerPage, Email, Platform
from surveys.outbox import OutboxKind, OutboxState
from surveys.persistence.db import make_engine
from surveys.persistence.orm import FileLinkRow
from surveys.persistence.uow import UnitOfWork
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY
from tests.fakes.slack_api import FakeSlack
from tests.integration.test_slack_round import free_port
from tests.processes import rcbot_env, start_rcbot

SECRET_BYTES = b"SQLite format 3\x00 every name, e-mail and answer"
TRAVERSALS = [
    "/files/%2E%2E/rcbot.db",
    "/files/%2e%2e/rcbot.db",
    "/files/.%2E/rcbot.db",
    "/files/%2E./rcbot.db",
    "/files/../rcbot.db",
    "/files/public/../../rcbot.db",
    "/files/%2E%2E%2F%2E%2E/rcbot.db",
    "/files/..%2Frcbot.db/x",
    "/files/%2E%2E/%2E%2E/rcbot.db",
    "/files/./rcbot.db",
    "/files/x/..%2F..%2Frcbot.db",
]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def published(engine: Engine, clock: FixedClock, root: Path, days: int = 30) -> PublishedFiles:
    return PublishedFiles(
        root / "public", "https://rcbot.example.org", LinkStore(engine, clock), days=days
    )


def test_names_take_the_one_shape_the_route_accepts() -> None:
    assert safe_name("report.xlsx") == "report.xlsx"
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("Ward A heat map.PNG") == "Ward_A_heat_map.PNG"
    for odd in (".hidden", "..", "a/../b.png", "%2E%2E", "", "é.png", "x" * 300):
        assert NAME.fullmatch(safe_name(odd)), odd
        assert not safe_name(odd).startswith(".")


def test_a_published_file_is_private_and_its_link_expires(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    files = published(engine, clock, tmp_path, days=30)
    link = files.publish(Attachment("report.xlsx", b"workbook", "application/x"))
    assert link.expires_at == MONDAY + timedelta(days=30)
    token, name = link.url.split("/files/")[1].split("/")
    path = files.path(token, name)
    assert path is not None
    assert path.read_bytes() == b"workbook"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(tmp_path / "public") == 0o700
    assert files.path(token, "heatmap.png") is None  # another name under a real token
    assert files.path("A" * 43, name) is None  # the right shape, never issued
    assert files.path(token[:-1], name) is None
    clock.advance(timedelta(days=30))
    assert files.path(token, name) is None  # expired
    assert files.remove_expired() == 1
    assert not path.parent.exists()
    with UnitOfWork(engine) as uow:
        assert uow.session.scalar(select(func.count()).select_from(FileLinkRow)) == 0


@pytest.fixture
async def web(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[tuple[str, PublishedFiles]]:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "rcbot.db").write_bytes(SECRET_BYTES)
    files = published(engine, clock, reports)
    server = TestServer(build_web_app(engine, files=files), host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}", files
    finally:
        await server.close()


async def raw_get(base: str, target: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written (no client-side normalisation of the path)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response


async def test_the_route_serves_live_links_and_nothing_else(
    web: tuple[str, PublishedFiles], clock: FixedClock
) -> None:
    base, files = web
    link = await asyncio.to_thread(files.publish, Attachment("heatmap.png", b"\x89PNG image"))
    path = link.url.removeprefix("https://rcbot.example.org")
    status, body = await raw_get(base, path)
    assert status == 200
    assert body.endswith(b"\x89PNG image")
    assert b"no-store" in body
    for target in TRAVERSALS:
        status, body = await raw_get(base, target)
        assert status == 404, target
        assert SECRET_BYTES not in body
    clock.advance(timedelta(days=31))
    assert (await raw_get(base, path))[0] == 404


async def test_a_running_rcbot_serve_refuses_every_traversal(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    """The spellings that leaked the database, against ``rcbot serve`` as deployed (its
    own process, listening on 127.0.0.1)."""
    reports = tmp_path / "reports"
    (reports / "public").mkdir(parents=True)
    (reports / "rcbot.db").write_bytes(SECRET_BYTES)
    (reports / "public" / "rcbot.db").write_bytes(SECRET_BYTES)
    # A live link and an expired one, issued as rcbot issues them (the clock of the test is
    # 2026; the server's is the real one, so the first must expire after today).
    live_files = published(engine, FixedClock(MONDAY + timedelta(days=3650)), reports)
    live = live_files.publish(Attachment("report.xlsx", b"the workbook"))
    old = published(engine, clock, reports).publish(Attachment("heatmap.png", b"old"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeSlack.start(token="xoxb-files") as slack:
        env = rcbot_env(
            DATABASE_URL=engine.url.render_as_string(hide_password=False),
            SLACK_BOT_TOKEN="xoxb-files",
            SLACK_SIGNING_SECRET="files-secret",
            SLACK_API_URL=slack.url,
            RCBOT_PUBLIC_URL=base,
            RCBOT_REPORTS_DIR=str(reports),
            RCBOT_TICK_SECONDS="3600",
        )
        process = await start_rcbot("serve", "--port", str(port), env=env, cwd=tmp_path)
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(600):
                    try:
                        async with session.get(f"{base}/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    if process.returncode is not None:
                        break
                    await asyncio.sleep(0.05)
            assert process.returncode is None, "rcbot serve stopped"
            for target in TRAVERSALS:
                status, body = await raw_get(base, target)
                assert status == 404, target
                assert SECRET_BYTES not in body
            status, body = await raw_get(base, live.url.removeprefix(base))
            assert status == 200
            assert body.endswith(b"the workbook")
            assert (await raw_get(base, old.url.removeprefix(base)))[0] == 404
        finally:
            process.terminate()
            _, errors = await process.communicate()
    assert b"Traceback" not in errors


def test_a_new_sqlite_database_is_for_its_owner_only(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with engine.connect():
        pass
    engine.dispose()
    assert mode(tmp_path / "new.db") == 0o600


PEOPLE = "email,name,role\n" + "\n".join(
    [f"n{i}@nhs.net,N{i},Nurses" for i in range(5)]
    + [f"d{i}@nhs.net,D{i},Doctors" for i in range(5)]
)


def make_survey(service: SurveyService, name: str, score: int) -> None:
    service.create_survey(
        NewSurvey(name, owners=[f"lead-{score}@nhs.net"], leadership_channels=[f"slack:C{score}"])
    )
    service.import_participants(name, parse_csv_text(PEOPLE))
    service.open_round(name, MONDAY + timedelta(days=14))
    dims = service.get_survey(name).instrument.dimensions
    for inv in service.invitations(name):
        assert inv.id is not None
        for partner in inv.partner_roles:
            service.submit_page(inv.id, AnswerPage(partner, dict.fromkeys(dims, score)))
    service.close_round(name)


async def test_surveys_whose_names_slug_alike_keep_separate_reports(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    service = SurveyService(engine, clock)
    outbox = Outbox(engine, clock)
    names = {"Ward A": 2, "ward a": 3, "Ward-A": 4, "Палата А": 5}
    reports = {}
    for name, score in names.items():
        make_survey(service, name, score)
        reports[name] = build_report(service, name, None, tmp_path)
        outbox.enqueue(results_messages(reports[name], Platform.SLACK))
    folders = {r.folder for r in reports.values()}
    assert len(folders) == len(names)
    for name, report in reports.items():
        assert report.folder == tmp_path / f"survey-{report.survey.id}" / "round-1"
        assert report.analysis is not None
        assert report.analysis.overall.rc == pytest.approx(names[name])
        assert mode(report.folder) == 0o700
        assert mode(report.folder.parent) == 0o700
        assert all(mode(p) == 0o600 for p in report.files)
    assert mode(tmp_path) == 0o700
    # Each survey's channel and owner get that survey's files, byte for byte.
    slack = FakeChatPlatform(Platform.SLACK)
    owners = {}
    for score in names.values():
        slack.add_channel(ChannelId(f"C{score}"))
        owners[score] = slack.add_user(Email(f"lead-{score}@nhs.net"))
    platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: slack}
    assert (await Dispatcher(service, outbox, platforms).drain()).sent == 2 * len(names)
    for name, score in names.items():
        folder = reports[name].folder
        (post,) = slack.channel_posts(ChannelId(f"C{score}"))
        assert post.attachments[0].content == (folder / "heatmap.png").read_bytes()
        (private,) = slack.inbox(owners[score])
        assert private.attachments[0].content == (folder / "report.xlsx").read_bytes()
        assert str(folder) not in private.message.plain()


async def test_a_file_changed_after_analysis_is_never_sent(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    service = SurveyService(engine, clock)
    outbox = Outbox(engine, clock)
    make_survey(service, "Ward A", 4)
    report = build_report(service, "Ward A", None, tmp_path)
    outbox.enqueue(results_messages(report, Platform.SLACK))
    (report.folder / "report.xlsx").write_bytes(b"someone else's workbook")
    slack = FakeChatPlatform(Platform.SLACK)
    slack.add_channel(ChannelId("C4"))
    lead = slack.add_user(Email("lead-4@nhs.net"))
    platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: slack}
    drained = await Dispatcher(service, outbox, platforms).drain()
    assert drained.sent == 1
    assert drained.failed == 1
    assert slack.inbox(lead) == []
    (notice,) = outbox.items(kinds=[OutboxKind.WORKBOOK])
    assert notice.state is OutboxState.FAILED
    assert "changed after it was analysed" in (notice.last_error or "")
