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

from bot import content
from bot.dispatch import Dispatcher, DrainReport, plan_invitations
from bot.platform import ChannelId, ChatPlatform, MessageRef
from bot.platforms.fake import FakeChatPlatform
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.dimensions import DIMENSIONS
from surveys.importing import RawTable
from surveys.model import AnswerPage, Email, InvitationId, Platform
from surveys.persistence import migrate
from surveys.persistence.db import make_engine
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


async def run_demo(out_dir: Path, seed: int, console: Console) -> None:
    rng = random.Random(seed)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    db_path = out_dir / "demo.db"
    engine = make_engine(f"sqlite:///{db_path}")
    migrate.upgrade(engine)
    clock = FixedClock(START)
    service = SurveyService(engine, clock)
    slack = FakeChatPlatform(Platform.SLACK)
    teams = FakeChatPlatform(Platform.TEAMS)
    platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: slack, Platform.TEAMS: teams}

    # Undeliverable invitations are summarised below; no need for a log line for each.
    logging.getLogger("bot.dispatch").setLevel(logging.ERROR)
    console.rule("[bold]rcbot demo: one survey round on two services")
    for spec in (CHEMO, CRISIS):
        chat = slack if spec.platform is Platform.SLACK else teams
        chat.add_channel(ChannelId(spec.channel))
        service.create_survey(
            NewSurvey(
                spec.name,
                owners=[f"rc.lead@{spec.domain}"],
                leadership_channels=[f"{spec.platform.value}:{spec.channel}"],
                roles=[r.name for r in spec.roles],
            )
        )
        table = people(spec, rng)
        report = service.import_participants(spec.name, table)
        # Almost everyone can be found on the platform; a few e-mails are out of date.
        for _, row in table.rows:
            if rng.random() > 0.03:
                chat.add_user(Email(row["email"]))
        service.open_round(spec.name, START + ROUND_LENGTH)
        console.print(
            f"[bold]{spec.name}[/] ({spec.platform.value}): {report.total} participants in "
            f"{len(spec.roles)} roles; round 1 open for 14 days."
        )

    outbox = Outbox(engine, clock)
    dispatcher = Dispatcher(service, outbox, platforms, batch=20)
    planned = plan_invitations(service, outbox)
    with Progress(console=console, transient=False) as bar:
        task = bar.add_task("Sending invitations", total=planned)
        sending = DrainReport()
        while True:
            step = await dispatcher.drain(max_batches=1)
            bar.advance(task, step.handled)
            sending.sent += step.sent
            sending.problems.extend(step.problems)
            if not step.handled:
                break
    console.print(
        f"Sent {sending.sent} invitations; {len(sending.problems)} people could not be reached "
        "and are listed to their survey's owner"
        + (f" (e.g. {sending.problems[0][1]})." if sending.problems else ".")
    )

    plans = _plans(service, rng)
    with Progress(console=console) as bar:
        task = bar.add_task("Staff answering over 14 days", total=len(plans))
        for plan in plans:
            clock.set(plan.at)
            await _answer(service, platforms, plan, rng)
            bar.advance(task)

    clock.set(START + ROUND_LENGTH)
    closed = service.close_due_rounds()
    console.print(f"Closed {len(closed)} rounds at {START + ROUND_LENGTH:%A %-d %B %H:%M} UTC.")
    for spec in (CHEMO, CRISIS):
        _print_status(service, spec.name, console)
    console.print(
        f"\nThe demo database is {db_path}; try "
        f"[bold]DATABASE_URL=sqlite:///{db_path} rcbot round status --survey "
        f"'{CHEMO.name}'[/]."
    )
    engine.dispose()


def _plans(service: SurveyService, rng: random.Random) -> list[Plan]:
    specs = {s.name: s for s in (CHEMO, CRISIS)}
    plans: list[Plan] = []
    for name, spec in specs.items():
        rates = {r.name: r.response_rate for r in spec.roles}
        for inv in service.invitations(name):
            if inv.delivery.value != "sent" or inv.id is None:
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
) -> None:
    view = service.view(plan.invitation)
    spec = CHEMO if view.survey.name == CHEMO.name else CRISIS
    personal = rng.gauss(0, 0.35)
    for partner in view.invitation.partner_roles[: plan.pages]:
        service.submit_page(
            plan.invitation, simulated_page(spec, view.invitation.role, partner, personal, rng)
        )
    done = service.view(plan.invitation)
    if done.invitation.completed and done.invitation.message_ref:
        ref = MessageRef.decode(done.invitation.message_ref)
        await platforms[ref.platform].update_message(ref, content.answered(done))


def _print_status(service: SurveyService, name: str, console: Console) -> None:
    status = service.round_status(name)
    table = Table(
        "Role", "Invited", "Answered", "Rate", title=f"{name}: response rate {status.rate:.0%}"
    )
    for role in status.by_role:
        table.add_row(role.role, str(role.invited), str(role.completed), f"{role.rate:.0%}")
    console.print(table)
