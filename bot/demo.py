"""``rcbot demo``: a whole simulated round on two example services, start to finish.

The services are modelled on real Relational Coordination projects: a chemotherapy pathway
(on Slack) and a multi-agency crisis service (on Microsoft Teams). Simulated staff answer
through the same service calls the chat handlers use, with realistic non-response.
"""

from __future__ import annotations

import logging
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bot.cli.show import print_ties
from bot.conversation import content
from bot.delivery.dispatch import Dispatcher
from bot.platform import ChannelId, ChatPlatform, MessageRef
from bot.platforms.fake import FakeChatPlatform
from bot.publishing.publisher import Publisher
from bot.scheduling.lifecycle import Lifecycle
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.dimensions import DIMENSIONS
from surveys.errors import Conflict
from surveys.importing import RawTable
from surveys.model import AnswerPage, Email, InvitationId, Platform
from surveys.outbox import OutboxState
from surveys.persistence import migrate
from surveys.persistence.db import make_engine
from surveys.publishing import PublishJobs
from surveys.service import NewSurvey, SurveyService

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""A Monday morning in London."""
ROUND_LENGTH = timedelta(days=14)

# How each dimension tends to sit against a tie's overall level: respect and goals are
# usually rated above timeliness and shared knowledge in published RC studies.
DIMENSION_OFFSET = {
    "frequent": -0.15,
    "timely": -0.2,
    "accurate": 0.05,
    "problem_solving": -0.1,
    "shared_goals": 0.25,
    "shared_knowledge": -0.3,
    "mutual_respect": 0.2,
}


@dataclass(frozen=True)
class RoleSpec:
    name: str
    headcount: int
    response_rate: float
    timezone: str = "Europe/London"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    domain: str
    platform: Platform
    channel: str
    roles: tuple[RoleSpec, ...]
    base: float
    ties: dict[tuple[str, str], float]
    """Deviations from ``base`` for particular (rater, partner) ties."""
    apart: dict[tuple[str, str], float]
    """Chance that a rater does not work with the partner role at all (answers N/A)."""


CHEMO = ServiceSpec(
    name="Chemotherapy pathway",
    domain="chemo.example.nhs.uk",
    platform=Platform.SLACK,
    channel="C0LEADERS",
    roles=(
        RoleSpec("Oncologists", 8, 0.55),
        RoleSpec("Chemotherapy nurses", 16, 0.75),
        RoleSpec("Pharmacists", 7, 0.7),
        RoleSpec("Ward nurses", 14, 0.45),
        RoleSpec("Schedulers", 8, 0.6),
        RoleSpec("GPs", 7, 0.35),
    ),
    base=3.7,
    ties={
        ("Chemotherapy nurses", "Chemotherapy nurses"): 0.6,
        ("Chemotherapy nurses", "Pharmacists"): 0.35,
        ("Pharmacists", "Chemotherapy nurses"): 0.3,
        ("Oncologists", "GPs"): -0.7,
        ("GPs", "Oncologists"): -0.9,
        ("Ward nurses", "Oncologists"): -0.6,
        ("Schedulers", "Oncologists"): -0.5,
        ("Oncologists", "Schedulers"): -0.3,
        ("GPs", "Ward nurses"): -0.8,
    },
    apart={("GPs", "Ward nurses"): 0.6, ("Ward nurses", "GPs"): 0.5, ("GPs", "Schedulers"): 0.4},
)

CRISIS = ServiceSpec(
    name="Crisis service",
    domain="crisis.example.gov.uk",
    platform=Platform.TEAMS,
    channel="19:leadership@thread.tacv2",
    roles=(
        RoleSpec("Mental health practitioners", 12, 0.6),
        RoleSpec("Police officers", 12, 0.3),
        RoleSpec("Social workers", 8, 0.55),
        RoleSpec("Paramedics", 9, 0.4),
        RoleSpec("ED staff", 10, 0.35),
        RoleSpec("Call handlers", 6, 0.65),
    ),
    base=3.4,
    ties={
        ("Police officers", "Mental health practitioners"): -0.5,
        ("Mental health practitioners", "Police officers"): -0.3,
        ("ED staff", "Police officers"): -0.4,
        ("Paramedics", "ED staff"): 0.4,
        ("ED staff", "Paramedics"): 0.3,
        ("Call handlers", "Paramedics"): 0.3,
        ("Social workers", "Mental health practitioners"): 0.4,
        ("Mental health practitioners", "Social workers"): 0.5,
    },
    apart={("Call handlers", "Social workers"): 0.5, ("ED staff", "Call handlers"): 0.6},
)

FIRST = [
    "Alex",
    "Ash",
    "Bea",
    "Cal",
    "Dee",
    "Eli",
    "Fay",
    "Gus",
    "Hal",
    "Ivy",
    "Jo",
    "Kai",
    "Lee",
    "Max",
    "Ned",
    "Ola",
    "Pip",
    "Ray",
    "Sam",
    "Tia",
    "Uma",
    "Viv",
    "Wyn",
    "Zac",
]
LAST = [
    "Ahmed",
    "Brown",
    "Clarke",
    "Davies",
    "Evans",
    "Ford",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "Morgan",
    "Patel",
    "Roberts",
    "Singh",
    "Taylor",
    "Walker",
    "Wright",
    "Young",
]


def people(spec: ServiceSpec, rng: random.Random) -> RawTable:
    rows: list[tuple[int, dict[str, str]]] = []
    for role in spec.roles:
        for i in range(role.headcount):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{len(rows) + 1}@{spec.domain}".lower()
            row = {
                "email": email,
                "name": f"{first} {last}",
                "role": role.name,
                "platform": spec.platform.value,
                "timezone": role.timezone,
                "team": f"Site {'AB'[i % 2]}",
            }
            rows.append((len(rows) + 2, row))
    return RawTable(f"{spec.name} staff list", tuple(rows[0][1]), tuple(rows))


def simulated_page(
    spec: ServiceSpec, rater: str, partner: str, personal: float, rng: random.Random
) -> AnswerPage:
    if rng.random() < spec.apart.get((rater, partner), 0.02):
        return AnswerPage(partner, dict.fromkeys(DIMENSIONS, None))
    level = spec.base + spec.ties.get((rater, partner), 0.0) + personal
    if rater == partner:
        level += 0.3
    scores: dict[str, int | None] = {}
    for dimension in DIMENSIONS:
        value = round(level + DIMENSION_OFFSET[dimension] + rng.gauss(0, 0.6))
        scores[dimension] = min(5, max(1, value))
    return AnswerPage(partner, scores)


@dataclass
class Plan:
    at: datetime
    invitation: InvitationId
    pages: int
    """How many partner roles this person answers before stopping."""


async def run_demo(
    out_dir: Path, seed: int, console: Console, step: timedelta = timedelta(minutes=30)
) -> None:
    """Fourteen simulated days, ``step`` by ``step``, through the scheduler's own steps."""
    rng = random.Random(seed)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    db_path = out_dir / "demo.db"
    engine = make_engine(f"sqlite:///{db_path}")
    migrate.upgrade(engine)
    clock = FixedClock(START)
    service = SurveyService(engine, clock)
    slack = FakeChatPlatform(Platform.SLACK, clock=clock)
    teams = FakeChatPlatform(Platform.TEAMS, clock=clock)
    platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: slack, Platform.TEAMS: teams}

    # What the scheduler and sender log is summarised below; keep the screen for the story.
    for name in ("bot", "apscheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)
    console.rule("[bold]rcbot demo: one survey round on two services")
    for spec in (CHEMO, CRISIS):
        chat = slack if spec.platform is Platform.SLACK else teams
        chat.add_channel(ChannelId(spec.channel))
        chat.add_user(Email(f"rc.lead@{spec.domain}"))
        service.create_survey(
            NewSurvey(
                spec.name,
                owners=[f"rc.lead@{spec.domain}"],
                leadership_channels=[f"{spec.platform.value}:{spec.channel}"],
                roles=[r.name for r in spec.roles],
            )
        )
        table = people(spec, rng)
        imported = service.import_participants(spec.name, table)
        # Almost everyone can be found on the platform; a few e-mails are out of date.
        for _, row in table.rows:
            if rng.random() > 0.03:
                chat.add_user(Email(row["email"]))
        service.open_round(spec.name, START + ROUND_LENGTH)
        console.print(
            f"[bold]{spec.name}[/] ({spec.platform.value}): {imported.total} participants in "
            f"{len(spec.roles)} roles; round 1 open for 14 days."
        )
    console.print(
        "The scheduler's steps run the round on a simulated clock that moves on "
        f"{int(step.total_seconds() // 60)} minutes at a time once the work due is done. "
        "Reminders go only to people who have not answered, in their working hours."
    )

    outbox = Outbox(engine, clock)
    publisher = Publisher(
        service, PublishJobs(engine, clock), out_dir / "reports", keep_reports=True
    )
    built = publisher.reports
    assert built is not None
    lifecycle = Lifecycle(service, outbox, Dispatcher(service, outbox, platforms), publisher)
    plans = _plans(service, rng)
    # A stepped clock: simulated time moves on only once the work due now is done (every
    # step the scheduler's jobs run: open, invite, close, publish, remind, digest, send), so
    # the same seed gives the same round on any machine, however busy.
    end = START + ROUND_LENGTH + step * 4
    with Progress(console=console) as bar:
        task = bar.add_task("Day 1", total=ROUND_LENGTH.days)
        while clock.now() <= end:
            now = clock.now()
            while plans and plans[0].at <= now:
                plan = plans.pop(0)
                if not await _answer(service, platforms, plan, rng):
                    # Not delivered yet: this person answers a little later instead.
                    plan.at = now + timedelta(hours=6)
                    plans.append(plan)
                    plans.sort(key=lambda p: (p.at, p.invitation))
            await lifecycle.tick()
            day = min((now - START).days, ROUND_LENGTH.days)
            sent = _count(slack, teams, "reminder")
            bar.update(
                task,
                completed=day,
                description=f"Day {min(day + 1, 14):>2} ({now:%a}): {sent} reminders sent",
            )
            if len(built) == 2 and not outbox.items(states=[OutboxState.PENDING]):
                break
            clock.advance(step)
    reports = {r.survey.name: r for r in built.values()}

    console.print(
        f"Invitations sent: {_count(slack, teams, 'invitation')}; reminders: "
        f"{_count(slack, teams, 'reminder')}; owner digests: {_count(slack, teams, 'digest')}."
    )
    for spec in (CHEMO, CRISIS):
        _print_status(service, spec.name, console)
        report = reports.get(spec.name)
        if report is not None and report.analysis is not None:
            print_ties(
                console, report.analysis, title=f"{spec.name}: RC per tie", hide_suppressed=True
            )
        chat = slack if spec.platform is Platform.SLACK else teams
        for post in chat.channel_posts(ChannelId(spec.channel)):
            files = ", ".join(a.filename for a in post.attachments)
            console.print(
                f"[bold]Posted to the leadership channel[/] ({spec.platform.value}, with {files}):"
            )
            console.print(post.message.plain())
        if report is not None:
            console.print(f"Files: {report.folder}")
    console.print(
        f"\nThe demo database is {db_path}; try "
        f"[bold]DATABASE_URL=sqlite:///{db_path} rcbot round status --survey "
        f"'{CHEMO.name}'[/]."
    )
    engine.dispose()


def _count(slack: FakeChatPlatform, teams: FakeChatPlatform, kind: str) -> int:
    return sum(
        1
        for chat in (slack, teams)
        for posts in chat.conversations.values()
        for post in posts
        if post.key is not None and post.key.startswith(f"{kind}:")
    )


def _plans(service: SurveyService, rng: random.Random) -> list[Plan]:
    specs = {s.name: s for s in (CHEMO, CRISIS)}
    plans: list[Plan] = []
    for name, spec in specs.items():
        rates = {r.name: r.response_rate for r in spec.roles}
        for inv in service.invitations(name):
            if inv.id is None:
                continue
            if rng.random() >= rates[inv.role] * 1.15:
                continue
            # Most answers come soon after the invitation or a reminder, in working hours.
            day = min(13, int(rng.expovariate(1 / 3.0)))
            at = START + timedelta(days=day, hours=rng.uniform(0, 8))
            partial = rng.random() < 0.13
            pages = (
                rng.randint(1, len(inv.partner_roles) - 1) if partial else len(inv.partner_roles)
            )
            plans.append(Plan(at, inv.id, pages))
    plans.sort(key=lambda p: p.at)
    return plans


async def _answer(
    service: SurveyService,
    platforms: dict[Platform, ChatPlatform],
    plan: Plan,
    rng: random.Random,
) -> bool:
    """Answer as planned; False when the invitation has not arrived yet."""
    view = service.view(plan.invitation)
    if not view.round.accepts_answers(service.clock.now()):
        return True  # too late: the round has closed
    if view.invitation.delivered_at is None:
        return False
    spec = CHEMO if view.survey.name == CHEMO.name else CRISIS
    personal = rng.gauss(0, 0.35)
    for partner in view.invitation.partner_roles[: plan.pages]:
        page = simulated_page(spec, view.invitation.role, partner, personal, rng)
        try:
            service.submit_page(plan.invitation, page)
        except Conflict:
            return True  # the round closed while they were answering (the clock runs fast)
    done = service.view(plan.invitation)
    if done.invitation.completed and done.invitation.message_ref:
        ref = MessageRef.decode(done.invitation.message_ref)
        await platforms[ref.platform].update_message(ref, content.answered(done))
    return True


def _print_status(service: SurveyService, name: str, console: Console) -> None:
    status = service.round_status(name)
    table = Table(
        "Role", "Invited", "Answered", "Rate", title=f"{name}: response rate {status.rate:.0%}"
    )
    for role in status.by_role:
        table.add_row(role.role, str(role.invited), str(role.completed), f"{role.rate:.0%}")
    console.print(table)
