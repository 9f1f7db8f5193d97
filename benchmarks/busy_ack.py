"""The acknowledgement benchmark under load: rcbot acknowledging button presses and view
submissions **while** a 5,000-person fan-out is in flight and a 2,000-person round is being
closed (``/rc close``, as an owner would) and published, side by side with a bare
``slack_bolt`` app acking the same payloads in the same process and the same run.

Used by :mod:`benchmarks.slack_bench` (``--skip-busy`` leaves it out). Everything runs as
``rcbot serve`` would: one event loop serving both web apps, the outbox sender draining on
that loop, the publish job running through the database boundary. A separate process sends
an open-loop mix of Start presses and page submissions at ``--busy-rate`` a second to each
app, interleaved (request i to rcbot, the same payload to the bare app at the same instant),
so both see the same background load.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import insert

from bot.conversation.answering import Answering, RecentViews
from bot.conversation.commands import OwnerCommands
from bot.delivery.dispatch import Dispatcher, plan_invitations
from bot.platforms.slack import render
from bot.platforms.slack.app import build_slack_app
from bot.platforms.slack.client import SlackPlatform, make_client
from bot.publishing.publisher import AnalysisProcess, Publisher
from bot.web.app import build_web_app
from bot.web.server import settle_heap
from surveys.dimensions import DIMENSIONS
from surveys.importing import parse_csv_text
from surveys.model import Email, Platform
from surveys.persistence.orm import AnswerRow
from surveys.persistence.uow import UnitOfWork
from surveys.publishing import PublishJobs, PublishState
from surveys.service import NewSurvey

TOKEN = "xoxb-bench"  # noqa: S105 - the local fake's token, not a secret

FANOUT_SURVEY = "Busy fan-out"
CLOSE_SURVEY = "Busy close"
OWNER = "busy.owner@bench.example"


def _people(prefix: str, count: int, roles: Sequence[str]) -> str:
    rows = ["email,name,role"]
    rows += [f"{prefix}{i:05d}@bench.example,P {i},{roles[i % len(roles)]}" for i in range(count)]
    return "\n".join(rows) + "\n"


def view_submission(user: str, invitation: int, role: str, value: str) -> str:
    """The form body Slack posts when ``user`` submits a question page."""
    state = {
        "values": {
            d: {"value": {"type": "radio_buttons", "selected_option": {"value": value}}}
            for d in DIMENSIONS
        }
    }
    payload = {
        "type": "view_submission",
        "team": {"id": "T0000TEST", "domain": "test-workspace"},
        "user": {"id": user, "team_id": "T0000TEST"},
        "api_app_id": "A0APP",
        "trigger_id": "1.2.3",
        "view": {
            "id": "V0BENCH",
            "type": "modal",
            "callback_id": render.PAGE_CALLBACK,
            "private_metadata": json.dumps({"inv": invitation, "role": role}),
            "state": state,
            "hash": "1.abc",
        },
    }
    return urlencode({"payload": json.dumps(payload)})


def submission(
    invitations: Sequence[Any], n: int, rate: float, people: dict[Any, Any], user_of: dict[str, str]
) -> str:
    """Request ``n`` (odd) of a load of presses (even) and submissions: the first page of
    the invitation whose Start was pressed about a second earlier, as a person submits the
    page their press opened (before then, in the warm-up, of someone who pressed nothing)."""
    earlier = n - 1 - 2 * round(rate / 2)
    inv = invitations[earlier if earlier >= 0 else n]
    user = user_of[people[inv.participant_id].email]
    return view_submission(user, int(inv.id or 0), inv.partner_roles[0], "4")


@dataclass(frozen=True)
class Pair:
    rcbot: list[float]
    bare: list[float]
    errors: tuple[int, int]
    fanout_sent_during: int
    published_during: bool
    analysis_seconds: float


def _pctl(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run_pairs(
    urls: tuple[str, str], secret: str, bodies: Sequence[str], rate: float
) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    """In a separate process: body i to both apps at start + i / rate; latencies from when
    each request was due."""
    return asyncio.run(_pairs(urls, secret, bodies, rate))


async def _pairs(
    urls: tuple[str, str], secret: str, bodies: Sequence[str], rate: float
) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    import aiohttp

    from benchmarks.slack_bench import sign

    out: tuple[list[tuple[float, int]], list[tuple[float, int]]] = (
        [(0.0, 0)] * len(bodies),
        [(0.0, 0)] * len(bodies),
    )
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        begin = time.perf_counter() + 0.1

        async def one(which: int, i: int, body: str, due: float) -> None:
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(secret, body)}
            try:
                async with session.post(
                    urls[which], data=body.encode(), headers=headers
                ) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            out[which][i] = (time.perf_counter() - due, status)

        tasks = []
        for i, body in enumerate(bodies):
            due = begin + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(0, i, body, due)))
            tasks.append(asyncio.create_task(one(1, i, body, due)))
        await asyncio.gather(*tasks)
    return out


async def busy_ack(world: Any, args: Any, secret: str, reports: Path) -> Pair:
    """Set up the two rounds, start the fan-out and the close, and measure both apps."""
    service, slack = world.service, world.slack
    roles = ["Nurses", "Doctors", "Pharmacists", "Schedulers"]
    # The round being closed: 2,000 people, every one of them answered, in the fake.
    service.create_survey(
        NewSurvey(CLOSE_SURVEY, owners=[OWNER], leadership_channels=["slack:CBUSY"], roles=roles)
    )
    service.import_participants(
        CLOSE_SURVEY, parse_csv_text(_people("c", args.close_people, roles))
    )
    closing_ids = slack.add_users([f"c{i:05d}@bench.example" for i in range(args.close_people)])
    slack.add_users([OWNER])[0]
    by_email = dict(
        zip(
            (f"c{i:05d}@bench.example" for i in range(args.close_people)), closing_ids, strict=False
        )
    )
    for person in service.list_participants(CLOSE_SURVEY):
        service.set_platform_id(person, Platform.SLACK, by_email[person.email])
    service.open_round(CLOSE_SURVEY, service.clock.now() + timedelta(days=14))
    invitations = service.invitations(CLOSE_SURVEY)
    now = datetime.now(UTC)
    with UnitOfWork(world.engine) as uow:
        uow.session.execute(
            insert(AnswerRow),
            [
                {
                    "invitation_id": inv.id,
                    "partner_role": partner,
                    "dimension": d,
                    "score": 1 + (inv.id * 7 + len(partner) + k) % 5,
                    "answered_at": now,
                }
                for inv in invitations[: len(invitations) - 1]  # the last one answers live
                for partner in inv.partner_roles
                for k, d in enumerate(DIMENSIONS)
            ],
        )
    # The load: Start presses and page submissions by people of a third, open survey.
    service.create_survey(NewSurvey(FANOUT_SURVEY, owners=[OWNER], roles=roles))
    service.import_participants(
        FANOUT_SURVEY, parse_csv_text(_people("f", args.busy_people, roles))
    )
    fan_ids = slack.add_users([f"f{i:05d}@bench.example" for i in range(args.busy_people)])
    service.open_round(FANOUT_SURVEY, service.clock.now() + timedelta(days=14))
    plan_invitations(service, world.outbox)
    # Presses and submissions come from people of the closing survey's open sibling: use
    # the fan-out survey's invitations, with ids stored for the first ones (they answer).
    fan_invitations = service.invitations(FANOUT_SURVEY)
    people = {p.id: p for p in service.list_participants(FANOUT_SURVEY)}
    fan_by_email = dict(
        zip((f"f{i:05d}@bench.example" for i in range(args.busy_people)), fan_ids, strict=False)
    )
    count = round(args.busy_rate * args.busy_seconds)
    answering = fan_invitations[: max(1, count)]
    service.remember_platform_ids(
        Platform.SLACK,
        {i.participant_id: fan_by_email[people[i.participant_id].email] for i in answering},
    )
    channels = slack.dm_channels([fan_by_email[people[i.participant_id].email] for i in answering])
    triggers = slack.new_triggers(
        [fan_by_email[people[i.participant_id].email] for i in answering], 600
    )
    from benchmarks.slack_bench import start_click

    bodies = []
    for n, inv in enumerate(answering[:count]):
        if n % 2 == 0:
            user = fan_by_email[people[inv.participant_id].email]
            bodies.append(start_click(user, int(inv.id or 0), triggers[n], channels[n]))
        else:
            bodies.append(submission(answering, n, args.busy_rate, people, fan_by_email))

    # Both apps on this loop, as `rcbot serve` would run rcbot's.
    session = aiohttp.ClientSession()  # one kept-alive session, as in `rcbot serve`
    platform = SlackPlatform(
        make_client(TOKEN, world.slack_url, session=session),
        post_rate=args.workspace_rate * 0.97,
    )
    commands = OwnerCommands(service)
    rcbot = build_slack_app(
        signing_secret=secret,
        platform=platform,
        answering=Answering(service, recent=RecentViews()),
        commands=commands,
    )
    bare = AsyncApp(
        signing_secret=secret,
        client=AsyncWebClient(token=TOKEN, base_url=world.slack_url),
        process_before_response=rcbot.process_before_response,
        raise_error_for_unhandled_request=False,
    )

    async def just_ack(ack: Any) -> None:
        await ack()

    bare.action("rc_start")(just_ack)
    bare.view(render.PAGE_CALLBACK)(just_ack)
    from benchmarks.slack_bench import serve_app, slack_limits

    runners: list[web.AppRunner] = []
    r1, url1 = await serve_app(build_web_app(world.engine, slack=rcbot))
    r2, url2 = await serve_app(build_web_app(world.engine, slack=bare))
    runners += [r1, r2]

    slack.set_limits(slack_limits(args))
    dispatcher = Dispatcher(service, world.outbox, {Platform.SLACK: platform})
    # As `rcbot serve` publishes (RCBOT_ANALYSIS_PROCESS, on by default): the analysis in a
    # process of its own, at a lower priority.
    analysing = AnalysisProcess(world.engine.url.render_as_string(hide_password=False))
    publisher = Publisher(
        service, PublishJobs(world.engine, service.clock), reports, analyse=analysing
    )
    stop = asyncio.Event()
    settle_heap()  # as `rcbot serve` does once it is ready

    async def fan_out() -> None:
        while not stop.is_set():
            report = await dispatcher.drain(max_batches=1)
            if not report.handled:
                await asyncio.sleep(0.05)

    analysis = {"seconds": 0.0}

    async def close_and_publish() -> None:
        reply = await commands.run(f"close {CLOSE_SURVEY}", Email(OWNER))
        assert "is closed" in reply.message.plain(), reply.message.plain()
        began = time.perf_counter()
        await publisher.run_due()
        analysis["seconds"] = time.perf_counter() - began

    background = [asyncio.create_task(fan_out())]
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            await loop.run_in_executor(pool, statistics.mean, [0.0])
            await asyncio.sleep(2.0)  # the fan-out is under way
            background.append(asyncio.create_task(close_and_publish()))
            first = len(_sent(world))
            rcbot_samples, bare_samples = await loop.run_in_executor(
                pool, run_pairs, (url1, url2), secret, bodies, args.busy_rate
            )
            during = len(_sent(world)) - first
            job = (
                PublishJobs(world.engine, service.clock)
                .status(service.round_status(CLOSE_SURVEY).round.id)
                .job
            )
            published = job is not None and job.state is PublishState.DONE
    finally:
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
        analysing.close()
        for runner in runners:
            await runner.cleanup()
        await session.close()
        slack.clear_rate_limits()
    warm = round(args.busy_rate * 1.0)
    return Pair(
        [s for s, _ in rcbot_samples[warm:]],
        [s for s, _ in bare_samples[warm:]],
        (
            sum(1 for _, c in rcbot_samples if c != 200),
            sum(1 for _, c in bare_samples if c != 200),
        ),
        during,
        published,
        analysis["seconds"],
    )


def _sent(world: Any) -> list[Any]:
    from surveys.outbox import OutboxKind, OutboxState

    sent: list[Any] = world.outbox.items(kinds=[OutboxKind.INVITATION], states=[OutboxState.SENT])
    return sent


def print_busy(result: Pair, args: Any) -> list[tuple[str, str]]:
    print(
        f"ack latency while busy: {args.busy_rate:.0f}/s (Start presses and page submissions, "
        f"half each) to rcbot and the same to a bare bolt app for {args.busy_seconds:.0f} s, "
        f"while a {args.busy_people:,}-person fan-out runs ({result.fanout_sent_during:,} "
        f"invitations sent meanwhile) and a {args.close_people:,}-person round is closed "
        f"and published (analysis {result.analysis_seconds:.1f} s; "
        f"{'published' if result.published_during else 'NOT published'} by the end)"
    )
    rows = []
    for q in (50, 99):
        mine, bare = _pctl(result.rcbot, q), _pctl(result.bare, q)
        print(f"  p{q}: rcbot {mine * 1000:.1f} ms, bare {bare * 1000:.1f} ms, {mine / bare:.2f}x")
        rows.append(
            (
                f"busy ack p{q} rcbot / bare",
                f"{mine * 1000:.1f} / {bare * 1000:.1f} ms = {mine / bare:.2f}x",
            )
        )
    print(f"  non-200: rcbot {result.errors[0]}, bare {result.errors[1]}")
    return rows
