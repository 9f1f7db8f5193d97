"""Benchmark: a 5,000-person Slack fan-out, and how fast rcbot acknowledges a button press.

Run with ``python -m benchmarks --only slack`` or ``python -m benchmarks.slack_bench
[options]`` from the repository root (it uses the fake Slack in ``tests/fakes``); ``--help``
lists the options. Nothing leaves 127.0.0.1. The fake Slack (``FakeSlackThread``) is served
from a process of its own, so its work does not compete with rcbot's for this process's GIL
(``--fake-in-process`` serves it from a thread here instead).

**Fan-out.** A fresh SQLite database, a survey with ``--people`` participants in 12 roles,
every one of them a member of the fake workspace and known to rcbot by e-mail only (as after
an import). A round is opened, ``plan_invitations`` queues the invitations, and the real
``Dispatcher`` with the real ``SlackPlatform`` (``slack_sdk`` over HTTP) drains the outbox,
as the scheduler would, until every invitation is sent. The fake enforces token buckets
modelled on Slack's limits:

* ``chat.postMessage``: 1 message a second per conversation, plus a workspace-wide cap which
  the fake applies to every method (``--workspace-rate``; the default, 200 calls a second,
  keeps the run short: Slack's own workspace-wide ceiling on posting is far lower, "several
  hundred messages per minute");
* ``users.list``: Tier 2 (20 a minute); ``users.lookupByEmail`` and ``conversations.open``:
  Tier 3 (50 a minute). If rcbot opened a DM per person with ``conversations.open``, 5,000
  of them would take about 100 minutes by themselves (the output says so when it happens).

Each tier's burst is one minute's worth of calls. It prints the wall time, the *floor* (the
least time the calls rcbot made could take under those limits: for each bucket, (calls
served - burst) / rate; the largest), the ratio wall / floor (target < 1.2), duplicates
(people with more than one DM) and losses (people with none), both of which must be 0, and
the 429s served. ``--batch`` and ``--concurrency`` tune the Dispatcher; ``--profile`` runs
the drain under cProfile; ``--known-ids`` gives everyone a stored Slack id first (a later
round: no look-up).

**Acknowledgement latency.** rcbot's web app (``build_slack_app`` behind ``build_web_app``,
assembled as ``rcbot serve`` does, on the fan-out's database) and, in the same run, a bare
``slack_bolt`` ``AsyncApp`` whose Start and page listeners only acknowledge, served through
the same aiohttp adapter on another port; the bare app runs once in rcbot's bolt mode
(``process_before_response`` as rcbot sets it: the baseline for the ratios) and once in the
other mode. A separate process sends signed requests, Start presses (``block_actions``, a
real invitation and a trigger_id registered in the fake for each) and page submissions
(``view_submission``, a whole page of answers, saved by rcbot; each the page a press about a
second earlier opened, as a person submits the page their press opened) alternately, open
loop at ``--ack-rate`` a second (100 by default) for ``--ack-seconds`` per app after
``--ack-warmup`` discarded seconds, and times each HTTP response from the moment the
request was due. The apps take turns, ``--ack-slice`` seconds of load at a time (the order
rotating), so that the machine's slower and faster moments (a shared virtual machine has
them) fall on every app alike rather than on whichever ran last. rcbot's Start listener
opens the first question page (``views.open``); the time from the press until the fake
received that call is printed too.
rcbot's Slack client has one kept-alive session, as in ``rcbot serve``. Rate limits are off
for this part. Also printed: the CPU time per request the serving process used (background
work included: each slice's CPU is read once the app's work has settled), and rcbot's
figures as ratios to the bare app's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import hashlib
import hmac
import io
import json
import multiprocessing
import pstats
import secrets
import socket
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any, Final, Protocol, cast
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine

from bot.conversation.answering import Answering, RecentViews
from bot.conversation.commands import OwnerCommands
from bot.delivery.dispatch import Dispatcher, DrainReport, plan_invitations
from bot.platforms.slack import render
from bot.platforms.slack.app import InOrder, build_slack_app
from bot.platforms.slack.client import SlackPlatform, make_client
from bot.web.app import build_web_app
from bot.web.server import settle_heap
from surveys.clock import SystemClock
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.model import Platform
from surveys.outbox import OutboxKind, OutboxState
from surveys.persistence.db import make_engine
from surveys.persistence.migrate import upgrade
from surveys.service import NewSurvey, SurveyService
from tests.fakes.slack_api import FakeSlackThread

ROLES: Final = tuple(f"Role {chr(ord('A') + i)}" for i in range(12))
SURVEY: Final = "Slack benchmark"
TOKEN: Final = "xoxb-bench"  # noqa: S105 - the local fake's token, not a secret
TEAM: Final = "T0000TEST"
HOST: Final = "127.0.0.1"
TARGET_RATIO: Final = 1.2
SLICE_SETTLE: Final = 0.1
"""Seconds after an app's slice of load before its CPU is read (a page it opens is opened
within about 10 ms of the press), the same for every app."""
SLACK_TIER3_PER_MINUTE: Final = 50.0


# ============================================================================ rate limits


@dataclass(frozen=True)
class Limit:
    """One token bucket (or one per conversation) the fake enforces."""

    label: str
    method: str | None  # None: the workspace-wide bucket every method draws from
    per_second: float
    burst: float
    per_channel: bool = False

    def floor(self, served: Sequence[Call]) -> float:
        """Least time the ``served`` calls could take through this bucket: (calls - burst) /
        rate for its busiest bucket. Calls answered 429 took no token, so are not counted."""
        if self.method is None:
            counts = [len(served)]
        elif self.per_channel:
            counts = list(Counter(c.channel for c in served if c.method == self.method).values())
        else:
            counts = [sum(1 for c in served if c.method == self.method)]
        return max((max(0.0, n - self.burst) / self.per_second for n in counts), default=0.0)


def slack_limits(args: argparse.Namespace) -> list[Limit]:
    limits = [
        Limit(
            "workspace cap, every method",
            None,
            args.workspace_rate,
            args.workspace_rate if args.workspace_burst is None else args.workspace_burst,
        ),
        Limit("chat.postMessage per conversation", "chat.postMessage", 1.0, 1.0, per_channel=True),
        Limit("users.list (Tier 2)", "users.list", args.list_per_minute / 60, args.list_per_minute),
        Limit(
            "users.lookupByEmail (Tier 3)",
            "users.lookupByEmail",
            args.lookup_per_minute / 60,
            args.lookup_per_minute,
        ),
    ]
    if args.open_per_minute > 0:
        limits.append(
            Limit(
                "conversations.open",
                "conversations.open",
                args.open_per_minute / 60,
                args.open_per_minute,
            )
        )
    return limits


# ============================================================================ the fake Slack


@dataclass(frozen=True)
class Call:
    method: str
    status: int
    channel: str
    at: float  # time.time() when the fake received it


class BenchSlack(FakeSlackThread):
    """The fake Slack with bulk helpers, so it can be driven cheaply from another process
    (through a multiprocessing manager) and its work does not compete with rcbot's for the
    benchmark process's GIL."""

    def serve(self) -> str:
        self.start_in_thread()
        return self.url

    def add_users(self, emails: Sequence[str]) -> list[str]:
        return [self.add_user(e, name=e.split("@")[0]) for e in emails]

    def set_limits(self, limits: Sequence[Limit]) -> None:
        self.clear_rate_limits()
        for limit in limits:
            if limit.method is None:
                self.set_workspace_rate_limit(limit.per_second, limit.burst)
            else:
                self.set_rate_limit(
                    limit.method, limit.per_second, limit.burst, per_channel=limit.per_channel
                )

    def call_summary(self) -> list[Call]:
        return [
            Call(c.method, c.status, str(c.args.get("channel", "")), c.received_at)
            for c in self.call_records()
        ]

    def dm_counts(self, users: Sequence[str]) -> list[int]:
        return [len(self.dm_messages(u)) for u in users]

    def dm_channels(self, users: Sequence[str]) -> list[str]:
        return [self.dm_channel(u) for u in users]

    def new_triggers(self, users: Sequence[str], ttl: float) -> list[str]:
        return [self.new_trigger(u, ttl) for u in users]

    def views_opened(self) -> dict[str, float]:
        """trigger_id -> when views.open was received, for the ones answered ok."""
        return {
            str(c.args.get("trigger_id")): c.received_at
            for c in self.call_records("views.open")
            if c.ok
        }

    def settle(self) -> None:
        """Collect garbage and exempt what survives from later collections, so the fake's
        own pauses (its heap holds every DM, view and recorded call) stay out of rcbot's
        timings."""
        gc.collect()
        gc.freeze()


class SlackControl(Protocol):
    """What the benchmark uses of :class:`BenchSlack`, in this process or through a proxy."""

    def serve(self) -> str: ...
    def stop(self, timeout: float = 10.0) -> None: ...
    def add_users(self, emails: Sequence[str]) -> list[str]: ...
    def set_limits(self, limits: Sequence[Limit]) -> None: ...
    def clear_rate_limits(self) -> None: ...
    def reset_calls(self) -> None: ...
    def call_summary(self) -> list[Call]: ...
    def dm_counts(self, users: Sequence[str]) -> list[int]: ...
    def dm_channels(self, users: Sequence[str]) -> list[str]: ...
    def new_triggers(self, users: Sequence[str], ttl: float) -> list[str]: ...
    def views_opened(self) -> dict[str, float]: ...
    def settle(self) -> None: ...


class SlackManager(BaseManager):
    pass


SlackManager.register(
    "BenchSlack",
    BenchSlack,
    exposed=[
        name
        for name, value in vars(SlackControl).items()
        if callable(value) and not name.startswith("_")
    ],
)


@contextlib.contextmanager
def fake_slack(in_process: bool) -> Iterator[tuple[SlackControl, str]]:
    """A served BenchSlack: in a process of its own unless ``in_process``."""
    if in_process:
        slack = BenchSlack(token=TOKEN)
        url = slack.serve()
        try:
            yield slack, url
        finally:
            slack.stop()
        return
    with SlackManager(ctx=multiprocessing.get_context("spawn")) as manager:
        proxy = cast(SlackControl, manager.BenchSlack(token=TOKEN))  # type: ignore[attr-defined]
        url = proxy.serve()
        try:
            yield proxy, url
        finally:
            proxy.stop()


# ============================================================================ set-up


@dataclass
class World:
    slack: SlackControl
    slack_url: str
    engine: Engine
    service: SurveyService
    outbox: Outbox
    users: list[str] = field(default_factory=list)
    """The fake Slack user id of every participant."""


def email_of(i: int) -> str:
    return f"person{i:05d}@bench.example"


def populate(world: World, people: int, *, known_ids: bool = False) -> None:
    """A survey of ``people`` participants in 12 roles, all in the fake workspace, and an open
    round with its invitations in the outbox. rcbot knows them by e-mail only (as after an
    import), or also by Slack id with ``known_ids`` (as in a later round)."""
    rows = ["email,name,role"]
    rows += [f"{email_of(i)},Person {i},{ROLES[i % len(ROLES)]}" for i in range(people)]
    service = world.service
    service.create_survey(NewSurvey(SURVEY, owners=["owner@bench.example"], roles=ROLES))
    service.import_participants(SURVEY, parse_csv_text("\n".join(rows) + "\n"))
    world.users = world.slack.add_users([email_of(i) for i in range(people)])
    if known_ids:
        ids = dict(zip((email_of(i) for i in range(people)), world.users, strict=True))
        for person in service.list_participants(SURVEY):
            service.set_platform_id(person, Platform.SLACK, ids[person.email])
    service.open_round(SURVEY, service.clock.now() + timedelta(days=14))
    planned = plan_invitations(service, world.outbox)
    assert planned == people, planned


# ============================================================================ fan-out


@dataclass
class FanOut:
    people: int
    setup: float
    wall: float
    first_open: float
    """seconds from the start until the first DM was opened (the look-up before it)"""
    floors: list[tuple[Limit, float]]
    calls: Counter[str]
    ratelimited: int
    duplicates: int
    losses: int
    unsent: int
    drains: int
    report: DrainReport
    tier3_open: float
    """what conversations.open alone would take at Slack's Tier 3"""
    profile: str | None = None

    @property
    def floor(self) -> float:
        return max((f for _, f in self.floors), default=0.0)

    @property
    def binding(self) -> str:
        return max(self.floors, key=lambda lf: lf[1])[0].label if self.floors else "-"

    @property
    def ratio(self) -> float:
        return self.wall / self.floor if self.floor > 0 else float("inf")


async def fan_out(world: World, args: argparse.Namespace) -> FanOut:
    start = time.perf_counter()
    populate(world, args.people, known_ids=args.known_ids)
    setup = time.perf_counter() - start

    limits = slack_limits(args)
    world.slack.set_limits(limits)
    world.slack.reset_calls()
    # rcbot paces its posts a little under the workspace cap (RCBOT_SLACK_POST_RATE).
    pace = args.workspace_rate * 0.97 if args.workspace_rate > 0 else None
    # One kept-alive session for every call, as `rcbot serve` has.
    session = aiohttp.ClientSession()
    platform = SlackPlatform(make_client(TOKEN, world.slack_url, session=session), post_rate=pace)
    dispatcher = Dispatcher(
        world.service,
        world.outbox,
        {Platform.SLACK: platform},
        batch=args.batch,
        concurrency=args.concurrency,
    )
    total = DrainReport()
    drains = 0
    profiler = cProfile.Profile() if args.profile else None
    clock = world.service.clock

    began = time.time()
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    while True:
        # What rcbot's scheduler does on each tick, without waiting for the next tick.
        report = await dispatcher.drain()
        drains += 1
        total.sent += report.sent
        total.retrying += report.retrying
        total.failed += report.failed
        total.uncertain += report.uncertain
        total.problems += report.problems
        due = world.outbox.next_due()
        if due is None or time.perf_counter() - start > args.timeout:
            break
        wait = (due - clock.now()).total_seconds()
        await asyncio.sleep(min(max(wait, 0.01), 5.0))
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - start
    await session.close()
    world.slack.clear_rate_limits()

    calls = world.slack.call_summary()
    world.slack.reset_calls()  # a lighter fake for what follows
    served = [c for c in calls if c.status != 429]
    counts = Counter(c.method for c in served)
    opens = [c.at for c in served if c.method in {"conversations.open", "chat.postMessage"}]
    per_person = world.slack.dm_counts(world.users)
    unsent = len(
        world.outbox.items(
            kinds=[OutboxKind.INVITATION],
            states=[s for s in OutboxState if s is not OutboxState.SENT],
        )
    )
    return FanOut(
        people=args.people,
        setup=setup,
        wall=wall,
        first_open=(min(opens) - began) if opens else float("nan"),
        floors=[(limit, limit.floor(served)) for limit in limits],
        calls=counts,
        ratelimited=sum(1 for c in calls if c.status == 429),
        duplicates=sum(1 for n in per_person if n > 1),
        losses=sum(1 for n in per_person if n == 0),
        unsent=unsent,
        drains=drains,
        report=total,
        tier3_open=max(0.0, counts["conversations.open"] - SLACK_TIER3_PER_MINUTE)
        / (SLACK_TIER3_PER_MINUTE / 60),
        profile=None if profiler is None else _profile_text(profiler, args.profile),
    )


def _profile_text(profiler: cProfile.Profile, path: str) -> str:
    if path != "-":
        profiler.dump_stats(path)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(20)
    return out.getvalue()


def print_fan_out(result: FanOut) -> None:
    print(f"fan-out: {result.people:,} invitations (set-up {result.setup:.1f} s)")
    print("  calls served: " + ", ".join(f"{m} {n:,}" for m, n in sorted(result.calls.items())))
    print(f"  {'limit':<36} {'rate/s':>8} {'burst':>7} {'floor':>8}")
    for limit, seconds in result.floors:
        print(f"  {limit.label:<36} {limit.per_second:8.2f} {limit.burst:7.0f} {seconds:7.1f}s")
    print(
        f"  wall {result.wall:.1f} s (first DM after {result.first_open:.1f} s), floor "
        f"{result.floor:.1f} s ({result.binding}), ratio {result.ratio:.2f} "
        f"(target < {TARGET_RATIO})"
    )
    print(
        f"  duplicates {result.duplicates}, losses {result.losses}, not marked sent "
        f"{result.unsent}, 429s served {result.ratelimited:,}, drains {result.drains}, "
        f"released for a rate limit {result.report.retrying}, failed {result.report.failed}"
    )
    if result.calls["conversations.open"]:
        print(
            f"  at Slack's Tier 3 ({SLACK_TIER3_PER_MINUTE:.0f}/min) the "
            f"{result.calls['conversations.open']:,} conversations.open calls alone would take "
            f"{result.tier3_open / 60:.0f} min"
        )
    if result.profile is not None:
        print(result.profile)


# ============================================================================ ack latency


def sign(secret: str, body: str) -> dict[str, str]:
    """Slack's request signature (v0) for ``body`` sent now."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def start_click(user: str, invitation: int, trigger: str, channel: str) -> str:
    """The form body Slack posts when ``user`` presses an invitation's Start button."""
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "test-workspace"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0APP",
        "trigger_id": trigger,
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "message_ts": "1.000001"},
        "actions": [
            {
                "type": "button",
                "action_id": "rc_start",
                "block_id": "b",
                "value": str(invitation),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


@dataclass(frozen=True)
class Sample:
    latency: float  # response received - when the request was due
    lag: float  # when it was sent - when it was due (the load generator keeping up)
    status: int
    due: float  # time.time() when it was due


def run_load(url: str, secret: str, bodies: Sequence[str], rate: float) -> list[Sample]:
    """Open-loop load, run in a separate process: ``bodies[i]`` is sent at start + i / rate
    whether or not earlier requests have been answered."""
    return asyncio.run(_load(url, secret, bodies, rate))


async def _load(url: str, secret: str, bodies: Sequence[str], rate: float) -> list[Sample]:
    samples: list[Sample | None] = [None] * len(bodies)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        begin = time.perf_counter() + 0.1
        wall = time.time() - time.perf_counter()

        async def one(i: int, body: str, due: float) -> None:
            sent = time.perf_counter()
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(secret, body)}
            try:
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            samples[i] = Sample(time.perf_counter() - due, sent - due, status, wall + due)

        tasks: list[asyncio.Task[None]] = []
        for i, body in enumerate(bodies):
            due = begin + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, body, due)))
        await asyncio.gather(*tasks)
    assert all(s is not None for s in samples)
    return [s for s in samples if s is not None]


def percentile(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass(frozen=True)
class Latency:
    name: str
    samples: list[Sample]
    cpu: float
    """CPU seconds per request the serving process used (all its threads)"""

    def percentile(self, q: int) -> float:
        return percentile([s.latency for s in self.samples], q)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if s.status != 200)

    @property
    def max_lag(self) -> float:
        return max(s.lag for s in self.samples)


async def serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    await web.SockSite(runner, sock).start()
    return runner, f"http://{HOST}:{sock.getsockname()[1]}/slack/events"


def bolt_mode(process_before_response: bool) -> str:
    if process_before_response:
        return "process_before_response (answer when the listener returns)"
    return "bolt's default (answer once ack() is seen, polled every 10 ms)"


def bare_app(secret: str, slack_url: str, *, process_before_response: bool) -> AsyncApp:
    """slack_bolt with nothing but an acknowledging Start listener; its client points at the
    fake too (for bolt's one auth.test)."""
    app = AsyncApp(
        signing_secret=secret,
        client=AsyncWebClient(token=TOKEN, base_url=slack_url),
        process_before_response=process_before_response,
        raise_error_for_unhandled_request=False,
    )

    async def start(ack: Any) -> None:
        await ack()

    app.action("rc_start")(start)
    app.view(render.PAGE_CALLBACK)(start)
    return app


@dataclass(frozen=True)
class AckResult:
    rcbot: Latency
    bare: Latency
    """in rcbot's bolt mode"""
    bare_other: Latency
    """in the other bolt mode"""
    rcbot_mode: bool
    """rcbot's process_before_response"""
    pages: list[float]
    """seconds from each measured press until the fake received rcbot's views.open"""
    presses: int
    """measured requests (half of them presses, half page submissions)"""


async def ack_latency(world: World, args: argparse.Namespace, secret: str) -> AckResult:
    slack, service = world.slack, world.service
    slack.clear_rate_limits()
    from benchmarks.busy_ack import view_submission

    known = [
        (user, p.id)
        for p in service.list_participants(SURVEY)
        if (user := p.platform_user_id(Platform.SLACK))
    ]
    invitation_of = {i.participant_id: i for i in service.invitations(SURVEY)}
    users = [user for user, _ in known if user is not None]
    channels = slack.dm_channels(users)
    clicks = [
        (user, invitation_of[pid], channel)
        for (user, pid), channel in zip(known, channels, strict=True)
        if user is not None and pid is not None
    ]
    count = round(args.ack_rate * (args.ack_warmup + args.ack_seconds))
    warm = round(args.ack_rate * args.ack_warmup)
    # The apps take turns, so each app's last trigger is used about three loads in.
    ttl = 3 * (args.ack_warmup + args.ack_seconds) * (1 + SLICE_SETTLE / args.ack_slice) + 120

    def bodies(offset: int) -> tuple[list[str], list[str | None]]:
        """Start presses and page submissions, alternately (by different people)."""
        chosen = [clicks[(offset + i) % len(clicks)] for i in range(count)]
        triggers = slack.new_triggers([user for user, _, _ in chosen], ttl)
        load: list[str] = []
        pressed: list[str | None] = []
        for i, ((user, invitation, channel), trigger) in enumerate(
            zip(chosen, triggers, strict=True)
        ):
            if i % 2 == 0:
                load.append(start_click(user, int(invitation.id or 0), trigger, channel))
                pressed.append(trigger)
            else:
                # The page opened by the press about a second earlier, as a person submits
                # the page their press opened (in the warm-up: someone who pressed nothing).
                earlier = i - 1 - 2 * round(args.ack_rate / 2)
                user, invitation, _ = chosen[earlier] if earlier >= 0 else chosen[i]
                role = invitation.partner_roles[0]
                load.append(view_submission(user, int(invitation.id or 0), role, "4"))
                pressed.append(None)
        return load, pressed

    # As `rcbot serve` builds it: one kept-alive session for the app's Slack calls.
    session = aiohttp.ClientSession()
    saves = InOrder()
    rcbot = build_slack_app(
        signing_secret=secret,
        platform=SlackPlatform(make_client(TOKEN, world.slack_url, session=session)),
        answering=Answering(service, recent=RecentViews()),
        commands=OwnerCommands(service),
        saves=saves,
    )
    mode = rcbot.process_before_response
    apps = {
        "bare": bare_app(secret, world.slack_url, process_before_response=mode),
        "bare, other mode": bare_app(secret, world.slack_url, process_before_response=not mode),
        "rcbot": rcbot,
    }
    runners: list[web.AppRunner] = []
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    per_slice = max(2, round(args.ack_rate * args.ack_slice))
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            await loop.run_in_executor(pool, statistics.mean, [0.0])  # start the process
            loads: dict[str, tuple[str, list[str], list[str | None]]] = {}
            for offset, (name, app) in enumerate(apps.items()):
                runner, url = await serve_app(build_web_app(world.engine, slack=app))
                runners.append(runner)
                loads[name] = (url, *bodies(offset * count))
            settle_heap()  # as `rcbot serve` does once ready
            slack.settle()

            async def send(name: str, start: int, end: int) -> tuple[list[Sample], float]:
                """Requests [start, end) of the app's load; the samples and the CPU seconds
                this process used from the first request until the app's work settled."""
                url, load, _ = loads[name]
                cpu = time.process_time()
                samples = await loop.run_in_executor(
                    pool, run_load, url, secret, load[start:end], args.ack_rate
                )
                if apps[name] is rcbot:  # pages saved after their acknowledgement
                    await saves.settle(5.0)
                await asyncio.sleep(SLICE_SETTLE)  # pages still opening (views.open)
                return samples, time.process_time() - cpu

            for name in apps:  # the warm-up, discarded
                await send(name, 0, warm)
            samples: dict[str, list[Sample]] = {name: [] for name in apps}
            cpu: dict[str, float] = dict.fromkeys(apps, 0.0)
            names = list(apps)
            for turn, start in enumerate(range(warm, count, per_slice)):
                # Slices of each app's load in turn (the order rotating), so that the
                # machine's slower and faster moments fall on every app alike.
                for name in names[turn % len(names) :] + names[: turn % len(names)]:
                    got, used = await send(name, start, min(count, start + per_slice))
                    samples[name] += got
                    cpu[name] += used
            opened = slack.views_opened()
            _, _, triggers = loads["rcbot"]
            due = [s.due for s in samples["rcbot"]]
            pages = [
                opened[t] - at
                for at, t in zip(due, triggers[warm:], strict=True)
                if t is not None and t in opened
            ]
    finally:
        for runner in runners:
            await runner.cleanup()
        await session.close()
    results = {name: Latency(name, samples[name], cpu[name] / len(samples[name])) for name in apps}
    return AckResult(
        results["rcbot"],
        results["bare"],
        results["bare, other mode"],
        mode,
        pages,
        count - warm,
    )


def print_ack(result: AckResult, args: argparse.Namespace) -> None:
    print(
        f"ack latency: Start presses and page submissions (half each, signed), open loop "
        f"{args.ack_rate:.0f}/s for {args.ack_seconds:.0f} s to each app (after "
        f"{args.ack_warmup:.0f} s of warm-up), the apps taking turns {args.ack_slice:g} s at a "
        f"time; rcbot's bolt mode: {bolt_mode(result.rcbot_mode)}"
    )
    for latency in (result.rcbot, result.bare, result.bare_other):
        print(
            f"  {latency.name:<20} p50 {latency.percentile(50) * 1000:6.1f} ms  "
            f"p99 {latency.percentile(99) * 1000:6.1f} ms  "
            f"max {max(s.latency for s in latency.samples) * 1000:6.1f} ms  "
            f"CPU {latency.cpu * 1000:4.1f} ms/request  non-200 {latency.errors}  "
            f"sender lag max {latency.max_lag * 1000:.0f} ms"
        )
    mine, bare = result.rcbot, result.bare
    print(
        f"  rcbot / bare (same bolt mode): p50 {mine.percentile(50) / bare.percentile(50):.2f}x, "
        f"p99 {mine.percentile(99) / bare.percentile(99):.2f}x, "
        f"CPU a request {mine.cpu / bare.cpu:.2f}x (target < 3x)"
    )
    if result.pages:
        print(
            f"  rcbot's question page opened (views.open) for {len(result.pages):,} of "
            f"{result.presses // 2:,} presses: p50 {percentile(result.pages, 50) * 1000:.1f} ms, "
            f"p99 {percentile(result.pages, 99) * 1000:.1f} ms after the press"
        )


# ============================================================================ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.slack_bench",
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    fan = parser.add_argument_group("fan-out")
    fan.add_argument("--people", type=int, default=5000)
    fan.add_argument(
        "--workspace-rate",
        type=float,
        default=200.0,
        help="workspace-wide calls a second, every method (Slack's posting cap is far lower)",
    )
    fan.add_argument("--workspace-burst", type=float, help="default: one second's worth")
    fan.add_argument("--list-per-minute", type=float, default=20.0, help="users.list, Tier 2")
    fan.add_argument(
        "--lookup-per-minute", type=float, default=50.0, help="users.lookupByEmail, Tier 3"
    )
    fan.add_argument(
        "--open-per-minute",
        type=float,
        default=50.0,
        help="conversations.open, Tier 3 (0: only the workspace cap)",
    )
    fan.add_argument("--batch", type=int, default=1000, help="Dispatcher batch (rcbot's: 200)")
    fan.add_argument(
        "--concurrency", type=int, default=16, help="Dispatcher concurrency (rcbot's: 8)"
    )
    fan.add_argument(
        "--known-ids",
        action="store_true",
        help="store everyone's Slack id before the drain, as in a later round (no look-up)",
    )
    fan.add_argument("--timeout", type=float, default=600.0, help="stop draining after (s)")
    fan.add_argument(
        "--profile",
        metavar="PATH",
        help="cProfile the drain, write the stats to PATH ('-': none) and print the top",
    )
    fan.add_argument(
        "--fake-in-process",
        action="store_true",
        help="serve the fake Slack from a thread of this process (default: its own process)",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="run on this PostgreSQL database, in a schema of its own dropped at the end "
        "(default: a fresh SQLite file)",
    )
    ack = parser.add_argument_group("acknowledgement latency")
    ack.add_argument("--ack-rate", type=float, default=100.0, help="requests a second")
    ack.add_argument("--ack-seconds", type=float, default=10.0, help="measured seconds per app")
    ack.add_argument("--ack-warmup", type=float, default=1.0, help="discarded seconds per app")
    ack.add_argument(
        "--ack-slice",
        type=float,
        default=1.0,
        help="seconds of one app's load at a time (the apps take turns)",
    )
    ack.add_argument("--skip-ack", action="store_true")
    busy = parser.add_argument_group("acknowledgement latency while busy (benchmarks/busy_ack.py)")
    busy.add_argument("--busy-rate", type=float, default=100.0, help="requests a second to each")
    busy.add_argument("--busy-seconds", type=float, default=10.0, help="seconds of load")
    busy.add_argument("--busy-people", type=int, default=5000, help="the fan-out in flight")
    busy.add_argument("--close-people", type=int, default=2000, help="the round being closed")
    busy.add_argument("--skip-busy", action="store_true")
    return parser.parse_args(argv)


@dataclass
class BenchDatabase:
    url: str
    schema: str | None = None
    admin: str | None = None

    def drop(self) -> None:
        if self.schema is None or self.admin is None:
            return
        from sqlalchemy import text

        engine = make_engine(self.admin)
        try:
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        finally:
            engine.dispose()


def bench_database(url: str | None, tmp: Path) -> BenchDatabase:
    """A fresh SQLite file, or a schema of its own on the PostgreSQL database ``url``."""
    if url is None:
        return BenchDatabase(f"sqlite:///{tmp / 'bench.db'}")
    from sqlalchemy import text

    schema = f"rcbot_bench_{secrets.token_hex(4)}"  # made here, never from input
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
    separator = "&" if "?" in url else "?"
    return BenchDatabase(f"{url}{separator}options=-csearch_path%3D{schema}", schema, url)


async def run(args: argparse.Namespace) -> int:
    secret = secrets.token_hex(16)
    ack: AckResult | None = None
    busy_rows: list[tuple[str, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="rcbot-bench-") as tmp,
        fake_slack(args.fake_in_process) as (slack, url),
    ):
        database = bench_database(args.database, Path(tmp))
        engine = make_engine(database.url)
        try:
            upgrade(engine)
            clock = SystemClock()
            service = SurveyService(engine, clock)
            world = World(slack, url, engine, service, Outbox(engine, clock))
            fan = await fan_out(world, args)
            print_fan_out(fan)
            if not args.skip_ack:
                ack = await ack_latency(world, args, secret)
                print_ack(ack, args)
            if not args.skip_busy:
                from benchmarks.busy_ack import busy_ack, print_busy

                busy_rows = print_busy(
                    await busy_ack(world, args, secret, Path(tmp) / "reports"), args
                )
        finally:
            engine.dispose()
            database.drop()
    print_table(fan, ack)
    for key, value in busy_rows:
        print(f"  {key}  {value}")
    return 0 if fan.duplicates == fan.losses == fan.unsent == 0 else 1


def print_table(fan: FanOut, ack: AckResult | None) -> None:
    rows = [
        ("fan-out wall", f"{fan.wall:.1f} s for {fan.people:,} invitations"),
        ("first DM after", f"{fan.first_open:.1f} s (looking people up)"),
        ("fan-out floor", f"{fan.floor:.1f} s ({fan.binding})"),
        ("wall / floor", f"{fan.ratio:.2f} (target < {TARGET_RATIO})"),
        ("duplicates / losses", f"{fan.duplicates} / {fan.losses}"),
        ("429s served", f"{fan.ratelimited:,}"),
    ]
    if ack is not None:
        for q in (50, 99):
            mine, bare = ack.rcbot.percentile(q), ack.bare.percentile(q)
            rows.append(
                (
                    f"ack p{q} rcbot / bare",
                    f"{mine * 1000:.1f} / {bare * 1000:.1f} ms = {mine / bare:.1f}x",
                )
            )
        if ack.pages:
            rows.append(
                (
                    "rcbot page opened",
                    f"p50 {percentile(ack.pages, 50) * 1000:.1f} ms, p99 "
                    f"{percentile(ack.pages, 99) * 1000:.1f} ms after the press "
                    f"({len(ack.pages):,}/{ack.presses // 2:,})",
                )
            )
        rows.append(
            (
                "ack CPU rcbot / bare",
                f"{ack.rcbot.cpu * 1000:.1f} / {ack.bare.cpu * 1000:.1f} ms a request = "
                f"{ack.rcbot.cpu / ack.bare.cpu:.1f}x",
            )
        )
    width = max(len(key) for key, _ in rows)
    print("\nSlack benchmark")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
