"""``rcbot``: set up surveys, import participants, run rounds, analyse results."""

# Annotations are objects, not strings (no `from __future__ import annotations`): typer reads
# every command's signature on every run, and evaluated each string annotation twice (20 ms).

import getpass
import json
import logging
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.cli.errors import RcbotGroup, UserError
from bot.cli.parsing import (
    describe_policy,
    parse_duration,
    parse_instant,
    parse_policy_changes,
    parse_retention,
)
from surveys.model import (
    DEFAULT_MIN_GROUP,
    DEFAULT_TIMEZONE,
    Platform,
    RoundState,
    check_min_group,
)

if TYPE_CHECKING:
    from bot.cli.analysis import EarlyAnalysis
    from bot.files import PublishedFiles
    from bot.runtime import Runtime
    from bot.settings import Settings
    from bot.web.server import Connected
    from surveys.model import RoundId

# Each command imports what it needs when it runs (pandas, Pillow, SQLAlchemy, Alembic,
# the platform SDKs...), so `rcbot --help` and quick commands start at once;
# tests/bot/test_cli_imports.py checks that importing this module pulls none of them in.

out = Console()
err = Console(stderr=True)

app = typer.Typer(
    cls=RcbotGroup,
    help="rcbot: a Relational Coordination survey bot for Slack and Microsoft Teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Create or upgrade the database schema.", no_args_is_help=True)
instrument_app = typer.Typer(help="Check and export question sets.", no_args_is_help=True)
survey_app = typer.Typer(help="Create and inspect surveys.", no_args_is_help=True)
participants_app = typer.Typer(help="Import and list participants.", no_args_is_help=True)
round_app = typer.Typer(help="Open, follow and close survey rounds.", no_args_is_help=True)
teams_app = typer.Typer(help="Microsoft Teams set-up.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(instrument_app, name="instrument")
app.add_typer(survey_app, name="survey")
app.add_typer(participants_app, name="participants")
app.add_typer(round_app, name="round")
app.add_typer(teams_app, name="teams")

SurveyOpt = Annotated[str, typer.Option("--survey", "-s", help="The survey's name.")]


def settings(ctx: typer.Context) -> "Settings":
    """The settings, read once per command (every command reads them, for the log level)."""
    from bot.settings import SettingsError, load_settings

    root = ctx.find_root()
    if "rcbot.settings" not in root.meta:
        try:
            root.meta["rcbot.settings"] = load_settings()
        except SettingsError as exc:
            raise UserError(str(exc)) from None
    loaded: Settings = root.meta["rcbot.settings"]
    return loaded


def runtime(ctx: typer.Context) -> "Runtime":
    """The database, clock and services, made when a command first needs them."""
    from bot.runtime import Runtime

    root = ctx.find_root()
    if root.obj is None:
        root.obj = Runtime(settings(ctx))
        root.call_on_close(root.obj.close)
    assert isinstance(root.obj, Runtime)
    return root.obj


@app.callback()
def _root(ctx: typer.Context) -> None:
    """Configuration comes from the environment and .env: DATABASE_URL, SLACK_*, MICROSOFT_*,
    RCBOT_*. See the README."""
    from rich.logging import RichHandler

    level = settings(ctx).log_level.upper()
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )
    # Their DEBUG lines can carry request bodies (answers) and headers: never below INFO.
    for chatty in ("slack_bolt", "slack_sdk", "microsoft_agents", "msal", "urllib3"):
        logging.getLogger(chatty).setLevel(
            max(logging.INFO, logging.getLogger().getEffectiveLevel())
        )
    if level != "DEBUG":
        # Their routine INFO lines (each migration check, each job run) drown rcbot's own.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # "skipped: maximum number of running instances" is routine when a send runs long.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)


# --- database ------------------------------------------------------------------------------


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the database (or bring it up to date) and say what to do next."""
    from surveys.persistence import migrate

    rt = runtime(ctx)
    migrate.upgrade(rt.engine)
    out.print(f"[green]Database ready[/] at {rt.safe_database_url}.")
    out.print(
        "Next: [bold]rcbot survey create NAME --owner YOU@ORG --leadership-channel "
        "slack:CHANNEL_ID[/], then [bold]rcbot participants import FILE.csv --survey NAME[/]."
    )


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the schema migrations (Alembic) to DATABASE_URL."""
    from surveys.persistence import migrate

    rt = runtime(ctx)
    migrate.upgrade(rt.engine, revision)
    out.print(f"Schema at revision {migrate.current_revision(rt.engine)} ({rt.safe_database_url}).")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision of DATABASE_URL and the newest one this rcbot knows."""
    from surveys.persistence import migrate

    rt = runtime(ctx)
    current = migrate.current_revision(rt.engine) or "none (run rcbot init)"
    out.print(f"Database {rt.safe_database_url}: {current}; newest: {migrate.head_revision()}.")


# --- instrument ----------------------------------------------------------------------------


@instrument_app.command("check")
def instrument_check(
    file: Annotated[Path, typer.Argument(help="A .toml or .yaml question file.")],
) -> None:
    """Check a question file and explain every problem in it."""
    from surveys.instrument import (
        InstrumentError,
        check_instrument,
        load_instrument,
        read_instrument_file,
    )

    data = read_instrument_file(file)
    problems = check_instrument(data)
    if problems:
        raise InstrumentError(str(file), problems)
    instrument = load_instrument(file)
    label = "validated wording" if instrument.validated else "not the validated RC survey"
    out.print(
        f"[green]{file} is a usable instrument[/]: '{instrument.name}' "
        f"({instrument.language}, {label}), 7 dimensions."
    )


@instrument_app.command("export")
def instrument_export(
    file: Annotated[Path, typer.Argument(help="Where to write the default question file.")],
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write rcbot's default questions to FILE, as a starting point for your own wording."""
    if file.exists() and not force:
        raise UserError(f"{file} already exists; use --force to overwrite it.")
    from importlib import resources

    text = resources.files("surveys").joinpath("instruments/default.toml").read_text("utf-8")
    file.write_text(text, encoding="utf-8")
    out.print(f"Wrote the default questions to {file}.")


# --- surveys -------------------------------------------------------------------------------


@survey_app.command("create")
def survey_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique name, e.g. 'Chemo pathway'.")],
    owner: Annotated[
        list[str], typer.Option("--owner", help="An owner's e-mail; repeat for several.")
    ],
    leadership_channel: Annotated[
        list[str] | None,
        typer.Option(
            "--leadership-channel",
            help="Where the summary goes: slack:CHANNEL_ID or teams:CHANNEL_ID; repeatable.",
        ),
    ] = None,
    roles: Annotated[
        str | None,
        typer.Option(help="Comma-separated roles; default: the roles in the imported file."),
    ] = None,
    min_group: Annotated[
        int, typer.Option(help="Smallest group whose results are shown (3-25).")
    ] = DEFAULT_MIN_GROUP,
    instrument: Annotated[
        Path | None, typer.Option(help="A question file (see `rcbot instrument check`).")
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="Default IANA timezone for participants.")
    ] = DEFAULT_TIMEZONE,
    retain: Annotated[
        str,
        typer.Option(
            help="How long raw answers and personal data are kept after a round closes: "
            "365d, 2y, ... or forever."
        ),
    ] = "2y",
) -> None:
    """Create a survey."""
    from surveys.instrument import load_instrument
    from surveys.service import NewSurvey, check_roles_argument

    service = runtime(ctx).service()
    retain_days = parse_retention(retain)
    survey = service.create_survey(
        NewSurvey(
            name=name,
            owners=owner,
            leadership_channels=leadership_channel or [],
            roles=check_roles_argument(roles) if roles else [],
            min_group_size=min_group,
            timezone=timezone,
            instrument=load_instrument(instrument) if instrument else None,
            retain_days=retain_days,
        )
    )
    _warn_forever(retain_days)
    roles_text = ", ".join(survey.role_names) or "taken from the first participant import"
    out.print(f"[green]Created survey '{survey.name}'[/]. Roles: {roles_text}.")


def _warn_forever(days: int | None) -> None:
    if days is None:
        err.print(
            "[yellow]Warning:[/] raw answers and personal data of this survey will be kept "
            "forever. Most data-protection policies need a limit; set one with "
            "[bold]rcbot survey update NAME --retain 2y[/]."
        )


def _retention_text(days: int | None) -> str:
    if days is None:
        return "kept forever"
    if days % 365 == 0:
        years = days // 365
        return f"{days} days ({years} year{'s' * (years != 1)}) after each round closes"
    return f"{days} days after each round closes"


def actor() -> str:
    """Who ran this command, for the audit log: the operating-system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user} (command line)"


@survey_app.command("update")
def survey_update(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The survey.")],
    retain: Annotated[
        str | None,
        typer.Option(
            help="How long raw answers and personal data are kept after a round closes: "
            "365d, 2y, ... or forever."
        ),
    ] = None,
) -> None:
    """Change a survey's settings (its retention period)."""
    from surveys.protection import DataProtection

    if retain is None:
        raise UserError("Nothing to change: give --retain (e.g. --retain 365d).")
    rt = runtime(ctx)
    rt.service()
    days = parse_retention(retain)
    survey = DataProtection(rt.engine, rt.clock).set_retention(name, days, actor())
    _warn_forever(days)
    out.print(
        f"[green]{survey.name}[/]: raw answers and personal data are "
        f"{_retention_text(survey.retain_days)}."
    )


@survey_app.command("purge")
def survey_purge(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The survey.")]
) -> None:
    """Delete now the raw answers, invitations and personal data of every closed round of a
    survey, keeping its published results (the suppression-safe aggregates and reports)."""
    from bot.scheduling.retention import Retention
    from surveys.protection import DataProtection

    rt = runtime(ctx)
    service = rt.service()
    retention = Retention(service, DataProtection(rt.engine, rt.clock))
    with err.status("Keeping the aggregates and deleting the raw data..."):
        done, waiting = retention.purge_survey(name, actor())
    for number in waiting:
        out.print(
            f"Round {number} of '{name}' is still publishing its results; the scheduler "
            "purges it as soon as they are out (the request is recorded)."
        )
    if not done and not waiting:
        out.print(f"'{name}' has no closed round whose raw data is still held; nothing to purge.")
        return
    for purge in done:
        out.print(
            f"[green]Round {purge.round_number} of '{purge.survey}' purged[/]: "
            f"{purge.answers} answers and {purge.invitations} invitations deleted, "
            f"{purge.people} people with no other round removed; its published results stay."
        )


@survey_app.command("list")
def survey_list(ctx: typer.Context) -> None:
    """List the surveys."""
    surveys = runtime(ctx).service().list_surveys()
    if not surveys:
        out.print("No surveys yet. Create one with [bold]rcbot survey create[/].")
        return
    table = Table("Survey", "Roles", "Owners", "Min group")
    for s in surveys:
        table.add_row(s.name, str(len(s.roles)), ", ".join(s.owners), str(s.min_group_size))
    out.print(table)


@survey_app.command("show")
def survey_show(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Show a survey's settings, roles and rounds."""
    from bot.conversation.content import local_date

    service = runtime(ctx).service()
    survey = service.get_survey(name)
    out.print(f"[bold]{survey.name}[/]")
    out.print(f"Owners: {', '.join(survey.owners)}")
    channels = ", ".join(str(c) for c in survey.leadership_channels) or "none"
    out.print(f"Leadership channels: {channels}")
    out.print(f"Minimum group size: {survey.min_group_size}; timezone: {survey.timezone}")
    out.print(f"Raw answers and personal data: {_retention_text(survey.retain_days)}")
    validated = "" if survey.instrument.validated else " (not the validated RC survey)"
    out.print(f"Questions: {survey.instrument.name}{validated}")
    table = Table("Role", "Rates")
    for role in survey.roles:
        table.add_row(role.name, "every role" if role.rates is None else ", ".join(role.rates))
    out.print(table)
    zone = survey.timezone
    for r in service.rounds(name):
        opens, closes = local_date(r.opens_at, zone), local_date(r.closes_at, zone)
        purged = "; raw data purged" if r.purged_at is not None else ""
        out.print(f"Round {r.number}: {r.state.value}, {opens} to {closes}{purged}")


@survey_app.command("rates")
def survey_rates(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The survey.")],
    role: Annotated[str, typer.Option(help="The role whose partner roles to set.")],
    partners: Annotated[
        str | None, typer.Option(help="Comma-separated partner roles this role is asked about.")
    ] = None,
    every_role: Annotated[
        bool, typer.Option("--all", help="Ask this role about every role (the default).")
    ] = False,
) -> None:
    """Choose which partner roles a role is asked about."""
    from surveys.service import check_roles_argument

    if (partners is None) == (not every_role):
        raise UserError("Give either --partners 'A,B' or --all.")
    chosen = None if every_role else check_roles_argument(partners or "")
    survey = runtime(ctx).service().set_partner_roles(name, role, chosen)
    out.print(f"{role} now rates: {', '.join(survey.partner_roles_for(role))}.")


@survey_app.command("reminders")
def survey_reminders(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The survey.")],
    after: Annotated[
        str | None, typer.Option(help="Reminders this long after the invitation, e.g. '3d,5d'.")
    ] = None,
    before_close: Annotated[
        str | None, typer.Option(help="A last reminder this long before close, or 'none'.")
    ] = None,
    max_reminders: Annotated[
        int | None, typer.Option("--max", help="At most this many reminders each.")
    ] = None,
    hours: Annotated[
        str | None, typer.Option(help="Local working hours, e.g. 09:00-17:00.")
    ] = None,
    days: Annotated[
        str | None, typer.Option(help="Working days, e.g. mon-fri or mon,tue,thu.")
    ] = None,
) -> None:
    """Show or change when reminders go out (only ever to people who have not answered)."""
    service = runtime(ctx).service()
    policy = service.get_survey(name).reminders
    changes = parse_policy_changes(policy, after, before_close, max_reminders, hours, days)
    if changes != policy:
        policy = service.set_reminder_policy(name, changes).reminders
    out.print(describe_policy(policy))


# --- participants --------------------------------------------------------------------------


@participants_app.command("import")
def participants_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file: email,name,role,...")],
    survey: SurveyOpt,
    default_platform: Annotated[
        Platform, typer.Option(help="Platform for rows that name none.")
    ] = Platform.SLACK,
) -> None:
    """Import participants, all or nothing. Re-importing updates names and roles."""
    from surveys.importing import read_table

    service = runtime(ctx).service()
    report = service.import_participants(survey, read_table(file), default_platform)
    out.print(
        f"[green]Imported {report.total} participants[/] into '{survey}': "
        f"{report.created} new, {report.updated} updated, {report.unchanged} unchanged."
    )
    if report.roles_added:
        out.print(f"Roles taken from the file: {', '.join(report.roles_added)}.")


@participants_app.command("remove")
def participants_remove(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The person's e-mail.")],
    survey: SurveyOpt,
) -> None:
    """Erase a person from a survey: their answers, invitations, platform ids and queued
    messages. Counts already published stay as published."""
    from surveys.protection import DataProtection

    rt = runtime(ctx)
    rt.service()
    erased = DataProtection(rt.engine, rt.clock).erase(email, survey, actor())
    out.print(
        f"[green]Erased {email.strip().lower()} from '{erased.survey}'[/]: "
        f"{erased.answers} answers, {erased.invitations} invitations and {erased.messages} "
        "messages deleted."
    )


@participants_app.command("export")
def participants_export(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The person's e-mail.")],
    survey: Annotated[
        str | None, typer.Option("--survey", "-s", help="Only this survey (default: all).")
    ] = None,
) -> None:
    """Everything rcbot holds about a person, as JSON on standard output (for a subject
    access request)."""
    from surveys.protection import DataProtection

    rt = runtime(ctx)
    rt.service()
    data = DataProtection(rt.engine, rt.clock).export(email, survey, actor())
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@participants_app.command("list")
def participants_list(ctx: typer.Context, survey: SurveyOpt) -> None:
    """List a survey's participants."""
    people = runtime(ctx).service().list_participants(survey)
    table = Table("E-mail", "Name", "Role", "Team", "Platform", "Timezone")
    for p in people:
        table.add_row(p.email, p.name, p.role, p.team or "", p.platform.value, p.timezone or "")
    out.print(table)
    out.print(f"{len(people)} participants.")


# --- rounds --------------------------------------------------------------------------------


@round_app.command("open")
def round_open(
    ctx: typer.Context,
    survey: SurveyOpt,
    closes_in: Annotated[
        str | None, typer.Option(help="How long the round stays open, e.g. 14d, 2w, 36h.")
    ] = None,
    closes_at: Annotated[
        str | None,
        typer.Option(help="When it closes, ISO 8601; without an offset, in the survey's zone."),
    ] = None,
    opens_at: Annotated[
        str | None, typer.Option(help="Open later instead of now (ISO 8601).")
    ] = None,
) -> None:
    """Open a round: every participant gets an invitation."""
    from bot.conversation.content import local_date

    if (closes_in is None) == (closes_at is None):
        raise UserError("Give exactly one of --closes-in (e.g. 14d) or --closes-at (ISO date).")
    rt = runtime(ctx)
    service = rt.service()
    zone = service.get_survey(survey).timezone
    start = parse_instant(opens_at, zone) if opens_at else None
    if closes_in is not None:
        close = (start or rt.clock.now()) + parse_duration(closes_in)
    else:
        close = parse_instant(closes_at or "", zone)
    round_ = service.open_round(survey, close, start)
    when = (
        "now open"
        if round_.state is RoundState.OPEN
        else f"scheduled for {local_date(round_.opens_at, zone)}"
    )
    out.print(
        f"[green]Round {round_.number} of '{survey}' is {when}[/]; it closes "
        f"{local_date(round_.closes_at, zone)}."
    )


@round_app.command("status")
def round_status(
    ctx: typer.Context,
    survey: SurveyOpt,
    number: Annotated[int | None, typer.Option("--round", help="Default: the latest.")] = None,
) -> None:
    """Response rate overall and per role (counts only, never who answered what)."""
    status = runtime(ctx).round_status(survey, number)
    r = status.round
    left = r.time_left(runtime(ctx).clock.now())
    title = f"Round {r.number} of '{survey}': {r.state.value}"
    if r.state is RoundState.OPEN:
        title += f", {_days(left)} left"
    table = Table(
        "Role", "Invited", "Started", "Completed", "Withdrew", "Response rate", title=title
    )
    for role in status.by_role:
        short = role.completed < status.min_group_size
        rate = f"{role.rate:.0%}" + (" [yellow](< min group)[/]" if short else "")
        table.add_row(
            role.role,
            str(role.invited),
            str(role.started),
            str(role.completed),
            str(role.withdrew),
            rate,
        )
    table.add_section()
    table.add_row(
        "[bold]All[/]",
        str(status.invited),
        str(status.started),
        str(status.completed),
        str(status.withdrew),
        f"[bold]{status.rate:.0%}[/]",
    )
    out.print(table)
    undelivered = {k.value: v for k, v in status.delivery.items() if v and k.value != "sent"}
    if undelivered:
        out.print("Not yet delivered: " + ", ".join(f"{v} {k}" for k, v in undelivered.items()))
    if r.state is RoundState.CLOSED:
        _print_results(runtime(ctx), survey, r.number)


def _days(delta: timedelta) -> str:
    if delta >= timedelta(days=2):
        return f"{delta.days} days"
    return f"{int(delta.total_seconds() // 3600)} hours"


@round_app.command("close")
def round_close(ctx: typer.Context, survey: SurveyOpt) -> None:
    """Close the current round now; later answers are refused politely. The results are
    published by the running server, or by this command when no server runs."""
    from bot.conversation.content import status_lines

    rt = runtime(ctx)
    service = rt.service()
    round_ = service.close_round(survey)
    status = service.round_status(survey, round_.number)
    out.print(
        f"[green]Round {round_.number} of '{survey}' is closed[/] with "
        f"{status.completed} of {status.invited} answered ({status.rate:.0%})."
    )
    for label, value in status_lines(status)[1:]:
        out.print(f"  {label}: {value}")
    _publish(rt, survey, round_.number)


@round_app.command("publish")
def round_publish(
    ctx: typer.Context,
    survey: SurveyOpt,
    number: Annotated[int | None, typer.Option("--round", help="Default: the latest.")] = None,
) -> None:
    """Publish a closed round's results again, on purpose: the summary to the leadership
    channel and the workbook to the owners (for example after inviting rcbot to the
    channel)."""
    rt = runtime(ctx)
    service = rt.service()
    round_ = service.round_status(survey, number).round
    assert round_.id is not None
    rt.publish_jobs.request(round_.id)
    out.print(f"Round {round_.number} of '{survey}' will be published again.")
    _publish(rt, survey, round_.number)


def _publish(rt: "Runtime", survey: str, number: int) -> None:
    """Publish now if no server runs (this process takes the scheduler's leader lock for
    the moment); otherwise leave it to the server's scheduler."""
    import asyncio

    from bot.scheduling.leader import leader_lock

    lock = leader_lock(rt.engine)
    if not lock.try_acquire():
        out.print(
            "A running rcbot server publishes the results within a minute; "
            f"`rcbot round status --survey '{survey}'` shows where they are."
        )
        return
    try:
        out.print("No rcbot server is running, so this command publishes the results itself.")
        service = rt.service()
        publisher = rt.publisher(service, here=True)
        with err.status("Analysing answers and drawing the pictures..."):
            while publisher.run_one():
                pass
        round_ = service.round_status(survey, number).round
        assert round_.id is not None
        sent = asyncio.run(_send_results(rt, round_.id))
        if sent is None:
            out.print(
                "No chat platform is configured here, so the results wait in the outbox "
                "until `rcbot serve` runs."
            )
        _print_results(rt, survey, number)
    finally:
        lock.release()


async def _send_results(rt: "Runtime", round_id: "RoundId") -> int | None:
    """Send the round's result messages now; None when no chat platform is configured."""
    from bot.delivery.dispatch import Dispatcher
    from surveys.publishing import RESULT_KINDS

    connected = await _connect_configured(rt)
    if connected is None:
        return None
    try:
        dispatcher = Dispatcher(rt.service(), rt.outbox, connected.platforms)
        report = await dispatcher.drain(round_id=round_id, kinds=RESULT_KINDS)
        return report.sent
    finally:
        await connected.close()


async def _connect_configured(
    rt: "Runtime", files: "PublishedFiles | None" = None
) -> "Connected | None":
    """The configured chat platforms, connected; None when none is configured at all
    (messages then wait in the outbox). A platform configured wrongly stops the command
    with its one sentence."""
    from bot.db_boundary import run_db
    from bot.web.server import ConfigError, connect
    from surveys.conversations import ConversationStore

    settings = rt.settings
    if not (settings.slack_bot_token or settings.microsoft_app_id or settings.teams_anonymous):
        return None
    clock = await run_db(lambda: rt.clock)
    try:
        return await connect(settings, ConversationStore(rt.engine, clock), files)
    except ConfigError as exc:
        raise UserError(str(exc)[0].upper() + str(exc)[1:] + ".") from None


def _print_results(rt: "Runtime", survey: str, number: int) -> None:
    from bot.conversation.content import results_status

    service = rt.service()
    info = service.get_survey(survey)
    round_ = service.round_status(survey, number).round
    assert round_.id is not None
    for line in results_status(info, round_, rt.publish_jobs.status(round_.id)):
        out.print(line)


@round_app.command("nudge")
def round_nudge(ctx: typer.Context, survey: SurveyOpt) -> None:
    """Remind everyone who has not answered (at most once a day each, in their working hours)."""
    count = runtime(ctx).service().nudge(survey)
    if count:
        out.print(f"[green]Queued a nudge for {count} people[/] who have not answered yet.")
    else:
        out.print("Nobody to nudge: everyone has answered, opted out or was reminded today.")


@round_app.command("report")
def round_report(
    ctx: typer.Context,
    survey: SurveyOpt,
    number: Annotated[int | None, typer.Option("--round", help="Default: the latest.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Default: RCBOT_REPORTS_DIR/survey-ID/round-N.")
    ] = None,
) -> None:
    """Write a closed round's results: ties.csv, roles.csv, images, report.xlsx, report.md."""
    from bot.cli.show import print_ties
    from bot.publishing.reporting import build_report

    rt = runtime(ctx)
    service = rt.service()
    status = service.round_status(survey, number)
    if status.round.state is not RoundState.CLOSED:
        raise UserError(
            f"Round {status.round.number} of '{survey}' is still {status.round.state.value}; "
            "results are computed when it closes (rcbot round close)."
        )
    if status.round.purged_at is not None:
        raise UserError(
            f"The raw answers of round {status.round.number} of '{survey}' were deleted "
            f"under the survey's retention period; its published results are in "
            f"{rt.settings.reports_dir}/survey-ID/round-{status.round.number}."
        )
    with err.status("Analysing answers and drawing the pictures..."):
        report = build_report(service, survey, status.round.number, rt.settings.reports_dir)
    if report.analysis is None:
        out.print("No answers in this round, so there are no results to write.")
        return
    folder = report.folder
    if out_dir is not None:
        from analytics import write_outputs

        files = write_outputs(report.analysis, out_dir)
        folder = out_dir
    else:
        files = list(report.files)
    print_ties(out, report.analysis)
    out.print(f"Wrote {len(files)} files to {folder}.")


@round_app.command("list")
def round_list(ctx: typer.Context, survey: SurveyOpt) -> None:
    """List a survey's rounds."""
    from bot.conversation.content import local_date

    service = runtime(ctx).service()
    zone = service.get_survey(survey).timezone
    table = Table("Round", "State", "Opens", "Closes")
    for r in service.rounds(survey):
        table.add_row(
            str(r.number),
            r.state.value,
            local_date(r.opens_at, zone),
            local_date(r.closes_at, zone),
        )
    out.print(table)


# --- audit ---------------------------------------------------------------------------------

audit_app = typer.Typer(help="The audit log of data-protection actions.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    survey: Annotated[str | None, typer.Option("--survey", "-s", help="Only this survey.")] = None,
) -> None:
    """Erasures, exports, purges, withdrawals and retention changes: who, when, what (never
    an answer, and never who withdrew)."""
    from surveys.protection import DataProtection

    rt = runtime(ctx)
    rt.service()
    events = DataProtection(rt.engine, rt.clock).audit_events(survey)
    if not events:
        out.print("The audit log is empty.")
        return
    for e in events:
        where = f" [{e.survey}]" if e.survey else ""
        whom = f" {e.subject}:" if e.subject else ""
        out.print(
            f"{e.at:%Y-%m-%d %H:%M} UTC  {e.actor}  {e.action}{where}{whom} {e.detail}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


# --- teams ---------------------------------------------------------------------------------


@teams_app.command("package")
def teams_package(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="The zip to write.")] = Path(
        "rcbot-teams.zip"
    ),
    app_id: Annotated[
        str | None, typer.Option(help="The Azure bot's app id (default: MICROSOFT_APP_ID).")
    ] = None,
    website_url: Annotated[
        str | None, typer.Option(help="An https page about rcbot (default: RCBOT_PUBLIC_URL).")
    ] = None,
    privacy_url: Annotated[str | None, typer.Option(help="Your privacy notice (https).")] = None,
    terms_url: Annotated[str | None, typer.Option(help="Your terms of use (https).")] = None,
) -> None:
    """Build the Teams app package (manifest and icons) to upload to Teams."""
    from urllib.parse import urlparse

    from bot.platforms.teams.package import build_package

    config = settings(ctx)
    app_id = app_id or config.microsoft_app_id
    if not app_id:
        raise UserError("Give --app-id or set MICROSOFT_APP_ID (the Azure bot's app id).")
    website = website_url or config.public_url
    if not website:
        raise UserError("Give --website-url or set RCBOT_PUBLIC_URL (an https address).")
    domain = urlparse(website).hostname
    try:
        path = build_package(
            out_file,
            app_id=app_id,
            website_url=website,
            privacy_url=privacy_url or website.rstrip("/") + "/privacy",
            terms_url=terms_url or website.rstrip("/") + "/terms",
            valid_domains=[domain] if domain else [],
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    out.print(f"[green]Wrote {path}[/]: upload it in Teams (Apps -> Manage your apps).")


# --- analysis ------------------------------------------------------------------------------


@app.command()
def analyze(
    answers: Annotated[
        Path,
        typer.Argument(
            help="Long-form CSV: respondent,respondent_role,partner_role,dimension,score"
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the results.")],
    min_group: Annotated[
        int, typer.Option(help="Hide any group with fewer respondents (3-25).")
    ] = DEFAULT_MIN_GROUP,
    previous: Annotated[
        Path | None, typer.Option(help="The previous round's answers, for trends.")
    ] = None,
) -> None:
    """Score an answers file: ties.csv, roles.csv, heat map, network, report.xlsx, report.md.

    Bad input stops with the line and column at fault, and nothing is written."""
    from bot.cli.analysis import Job, run, take_early
    from bot.cli.show import TieTable, print_tie_table

    check_min_group(min_group)
    job = Job(answers=answers, out_dir=out_dir, min_group=min_group, previous=previous)
    # Started when rcbot started (see bot.cli.analysis), so it is ready by now.
    early = take_early()
    workers = None
    if early is None:
        from bot.cli.workers import drawing_workers

        # Started now, before the answers are read and before the spinner's thread.
        workers = drawing_workers()
    table: list[str] = []

    def table_ready(ties: TieTable) -> None:
        """Lay the table out while the files are written; it is shown once they are."""
        with out.capture() as captured:
            print_tie_table(out, ties)
        table.append(captured.get())

    if early is not None:
        import gc

        gc.freeze()  # this process ends when the results are printed (see _leave)
    try:
        with err.status("Analysing answers and drawing the pictures..."):
            if early is not None:
                outcome = early.run(job, table_ready)
            else:
                outcome = run(job, workers, table_ready)
    finally:
        if workers is not None:
            workers.shutdown(cancel_futures=True)
    if outcome.crash is not None:
        raise RuntimeError(f"rcbot analyze failed:\n{outcome.crash}")
    if outcome.error is not None:
        raise UserError(outcome.error)
    out.file.write("".join(table))
    out.print(f"Wrote {outcome.files} files to {out_dir}.")
    if early is not None:
        # A command started as rcbot (not through a test's runner) whose work is done: end
        # now, as the analysis process does, rather than spend some 20 ms tearing down the
        # interpreter (typer, rich, pydantic) while the user waits for the prompt.
        _leave(early)


def _leave(early: "EarlyAnalysis") -> None:
    """Flush what was written, wait for the analysis process, and end this process."""
    status = 0
    try:
        out.file.flush()
        err.file.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        early.stop()
        logging.shutdown()
    except BaseException:  # the output went away, or Ctrl-C while waiting: as Python would
        status = 1
    finally:
        os._exit(status)


# --- running -------------------------------------------------------------------------------


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
) -> None:
    """Serve Slack (POST /slack/events), Microsoft Teams (POST /api/messages), report files
    for Teams cards (GET /files/...) and health checks (GET /healthz), and run the scheduler:
    the whole round lifecycle in one process.

    Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET. Teams needs
    MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID;
    or RCBOT_TEAMS_ANONYMOUS=1 for a local trial with Microsoft's Agents
    Playground (anonymous, loopback --host only; see the README)."""
    import asyncio

    from bot.web.server import check_anonymous, settle_heap
    from bot.web.server import serve as run_server

    rt = runtime(ctx)
    check_anonymous(rt.settings, host)
    rt.service()  # the schema must be there before anything is served

    def ready(connected: "Connected") -> None:
        settle_heap()
        names = ", ".join(p.value for p in connected.platforms)
        out.print(f"rcbot: serving on http://{host}:{port} ({names}); Ctrl-C to stop.")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signame in ("SIGINT", "SIGTERM"):
            loop.add_signal_handler(getattr(signal, signame), stop.set)
        await run_server(rt, host, port, stop, on_ready=ready)

    asyncio.run(main())


@app.command()
def worker(ctx: typer.Context) -> None:
    """Run the scheduler alone: open and close rounds, publish results, send invitations,
    reminders and results on the configured chat platforms (no web server).

    Several workers (and servers) may run; only one (the holder of the leader lock) runs
    jobs at a time."""
    import asyncio

    from bot.db_boundary import run_db

    rt = runtime(ctx)
    settings = rt.settings

    async def main() -> None:
        connected = await _connect_configured(rt, rt.published_files)
        if connected is not None:
            rt.use_platforms(connected.platforms)
            names = ", ".join(p.value for p in connected.platforms)
            out.print(f"rcbot worker: sending on {names}.")
        else:
            err.print(
                "[yellow]No chat platform is configured; messages will wait in the outbox "
                "until a worker or server with one runs.[/]"
            )
        host = rt.scheduler(await run_db(rt.lifecycle))
        out.print(f"rcbot worker: looking for due work every {settings.tick_seconds:g} s.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signame in ("SIGINT", "SIGTERM"):
            loop.add_signal_handler(getattr(signal, signame), stop.set)
        try:
            await host.run(stop)
        finally:
            if connected is not None:
                await connected.close()

    asyncio.run(main())


# --- demo ----------------------------------------------------------------------------------


@app.command()
def demo(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where to write the demo database and reports.")
    ] = Path("rcbot-demo"),
    seed: Annotated[int, typer.Option(help="Random seed for the simulated answers.")] = 7,
) -> None:
    """Run a whole simulated round on two example services and print the results."""
    import asyncio

    from bot.demo import run_demo

    asyncio.run(run_demo(out_dir, seed, out))
