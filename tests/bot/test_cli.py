"""The command line, end to end, on SQLite and PostgreSQL: happy paths and user errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from bot.cli import app
from surveys.dimensions import DIMENSIONS
from surveys.persistence import migrate
from surveys.persistence.orm import ParticipantRow
from surveys.persistence.uow import UnitOfWork

PEOPLE = "email,name,role\nann@nhs.net,Ann,Nurses\nbob@nhs.net,Bob,Doctors\ncy@nhs.net,Cy,Nurses\n"


class Cli:
    def __init__(self, url: str, cwd: Path) -> None:
        self.url = url
        self.cwd = cwd
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(app, list(args), env={"DATABASE_URL": self.url})
        output = result.output + (result.stderr if result.stderr_bytes is not None else "")
        assert result.exit_code == code, output
        if code == 2:
            assert "Traceback" not in output
            assert "Error:" in output
        return " ".join(output.split())


@pytest.fixture
def database_url(empty_engine: Engine) -> str:
    return empty_engine.url.render_as_string(hide_password=False)


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(database_url, tmp_path)


@pytest.fixture
def ready(cli: Cli, tmp_path: Path) -> Cli:
    cli("init")
    cli(
        "survey",
        "create",
        "Chemo",
        "--owner",
        "lead@nhs.net",
        "--leadership-channel",
        "slack:C1",
        "--min-group",
        "3",
    )
    (tmp_path / "people.csv").write_text(PEOPLE)
    return cli


def participants(engine: Engine) -> int:
    with UnitOfWork(engine) as uow:
        return uow.session.scalar(select(func.count()).select_from(ParticipantRow)) or 0


def test_a_whole_round_from_the_command_line(ready: Cli) -> None:
    out = ready("participants", "import", "people.csv", "--survey", "Chemo")
    assert "Imported 3 participants" in out
    assert "Nurses, Doctors" in out
    assert "3 unchanged" in ready("participants", "import", "people.csv", "-s", "Chemo")
    assert "ann@nhs.net" in ready("participants", "list", "--survey", "Chemo")
    out = ready("round", "open", "--survey", "Chemo", "--closes-in", "14d")
    assert "Round 1 of 'Chemo' is now open" in out
    out = ready("round", "status", "--survey", "Chemo")
    assert "Nurses" in out
    assert "0%" in out
    assert "3 pending" in out
    assert "Chemo" in ready("survey", "list")
    out = ready("survey", "show", "Chemo")
    assert "slack:C1" in out
    assert "not the validated RC survey" in out
    assert "Round 1: open" in out
    assert "is closed with 0 of 3 answered" in ready("round", "close", "--survey", "Chemo")
    assert "closed" in ready("round", "list", "--survey", "Chemo")
    out = ready("survey", "rates", "Chemo", "--role", "Doctors", "--partners", "Nurses")
    assert "Doctors now rates: Nurses" in out


def test_a_bad_import_exits_2_lists_every_row_and_writes_nothing(
    ready: Cli, tmp_path: Path, empty_engine: Engine
) -> None:
    (tmp_path / "bad.csv").write_text(
        "email,name,role\nann@nhs.net,Ann,Nurses\nnope,Bob,Doctors\n,Cy,\n"
    )
    out = ready("participants", "import", "bad.csv", "--survey", "Chemo", code=2)
    assert "nothing was changed" in out
    assert "line 3, email: 'nope' is not a valid e-mail address" in out
    assert "line 4, email: the e-mail address is empty" in out
    assert "line 4, role: a role name is empty" in out
    assert participants(empty_engine) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["survey", "show", "Nope"], "there is no survey called 'Nope' (surveys: Chemo)"),
        (["survey", "create", "X", "--owner", "not-mail"], "'not-mail' is not a valid e-mail"),
        (["survey", "create", "Chemo", "--owner", "a@b.org"], "already exists"),
        (["survey", "create", "X", "--owner", "a@b.org", "--min-group", "2"], "between 3 and 25"),
        (
            ["survey", "create", "X", "--owner", "a@b.org", "--leadership-channel", "C1"],
            "write slack:CHANNEL_ID",
        ),
        (["survey", "create", "X", "--owner", "a@b.org", "--timezone", "Moon"], "IANA timezone"),
        (
            ["survey", "create", "X", "--owner", "a@b.org", "--instrument", "none.toml"],
            "none.toml is not a usable instrument",
        ),
        (["participants", "import", "missing.csv", "--survey", "Chemo"], "does not exist"),
        (["participants", "import", "people.csv", "--survey", "Nope"], "no survey called"),
        (["round", "open", "--survey", "Chemo"], "exactly one of --closes-in"),
        (["round", "open", "--survey", "Chemo", "--closes-in", "soon"], "not a duration"),
        (["round", "open", "--survey", "Chemo", "--closes-at", "tomorrow"], "not an ISO date"),
        (["round", "open", "--survey", "Chemo", "--closes-in", "2d"], "no participants yet"),
        (["round", "status", "--survey", "Chemo"], "has no rounds yet"),
        (["round", "status", "--survey", "Chemo", "--round", "7"], "'Chemo' has no round 7"),
        (["round", "status", "--survey", "Nope"], "no survey called 'Nope' (surveys: Chemo)"),
        (["round", "close", "--survey", "Chemo"], "has no rounds yet"),
        (["survey", "rates", "Chemo", "--role", "Nurses"], "either --partners"),
    ],
)
def test_user_errors_exit_2_with_one_sentence(ready: Cli, args: list[str], message: str) -> None:
    assert message in ready(*args, code=2)


def test_a_database_without_the_newest_schema_is_refused(cli: Cli, empty_engine: Engine) -> None:
    """Quick commands check the schema too (round status reads SQLite without SQLAlchemy)."""
    for args in (["round", "status", "--survey", "Chemo"], ["survey", "list"]):
        assert "has no rcbot tables yet; run `rcbot init` first" in cli(*args, code=2)
    cli("init")
    with empty_engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    for args in (["round", "status", "--survey", "Chemo"], ["survey", "list"]):
        out = cli(*args, code=2)
        assert "the database schema is at revision older" in out
        assert "run `rcbot db upgrade`" in out


def test_round_rules_from_the_command_line(ready: Cli) -> None:
    ready("participants", "import", "people.csv", "--survey", "Chemo")
    out = ready("round", "open", "-s", "Chemo", "--closes-at", "2020-01-01T17:00", code=2)
    assert "must be in the future" in out
    ready("round", "open", "-s", "Chemo", "--closes-in", "1w")
    assert "still open" in ready("round", "open", "-s", "Chemo", "--closes-in", "1w", code=2)
    ready("round", "close", "-s", "Chemo")
    assert "already closed" in ready("round", "close", "-s", "Chemo", code=2)


def test_commands_refuse_a_database_without_the_schema(cli: Cli) -> None:
    assert "run `rcbot init` first" in cli("survey", "list", code=2)


def test_db_commands(cli: Cli) -> None:
    assert "none (run rcbot init)" in cli("db", "current")
    head = migrate.head_revision()
    assert f"Schema at revision {head}" in cli("db", "upgrade")
    assert f"{head}; newest: {head}" in cli("db", "current")
    assert "No surveys yet" in cli("survey", "list")


def test_an_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    cli = Cli("postgresql://nobody@127.0.0.1:1/none", tmp_path)
    out = cli("survey", "list", code=2)
    assert "Cannot use the database postgresql+psycopg://nobody@127.0.0.1:1/none" in out


def test_serve_without_its_database_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCBOT_TEAMS_ANONYMOUS", "1")
    cli = Cli("postgresql://nobody@127.0.0.1:1/none", tmp_path)
    out = cli("serve", "--port", "1", code=2)
    assert "Cannot use the database postgresql+psycopg://nobody@127.0.0.1:1/none" in out


def test_instrument_check_and_export(cli: Cli, tmp_path: Path) -> None:
    out = cli("instrument", "export", "mine.toml")
    assert "Wrote the default questions" in out
    assert "already exists" in cli("instrument", "export", "mine.toml", code=2)
    assert "is a usable instrument" in cli("instrument", "check", "mine.toml")
    text = (
        (tmp_path / "mine.toml").read_text().replace("message with {partners}", "message with them")
    )
    (tmp_path / "bad.toml").write_text(text.replace('dimension = "timely"', 'dimension = "fast"'))
    out = cli("instrument", "check", "bad.toml", code=2)
    assert "bad.toml is not a usable instrument (3 problems)" in out
    assert "items[1].question: must contain {partners}" in out
    assert "items[2].dimension: 'fast' is not one of" in out
    assert "items: no question for: timely" in out


def test_a_licensed_instrument_is_stored_with_the_survey(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("instrument", "export", "licensed.toml")
    path = tmp_path / "licensed.toml"
    path.write_text(
        path.read_text()
        .replace("validated = false", "validated = true")
        .replace('name = "rcbot default questions (paraphrased)"', 'name = "Licensed RC"')
    )
    cli(
        "survey",
        "create",
        "Crisis",
        "--owner",
        "a@b.org",
        "--instrument",
        "licensed.toml",
        "--roles",
        "Police, Paramedics",
    )
    out = cli("survey", "show", "Crisis")
    assert "Questions: Licensed RC" in out
    assert "not the validated" not in out
    assert "Police" in out
    assert "Paramedics" in out


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["survey", "--help"],
        ["survey", "create", "--help"],
        ["participants", "import", "--help"],
        ["round", "open", "--help"],
        ["round", "status", "--help"],
        ["instrument", "check", "--help"],
        ["db", "--help"],
        ["demo", "--help"],
    ],
)
def test_help_everywhere(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*args] if args else ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


ANSWERS = "respondent,respondent_role,partner_role,dimension,score\n" + "".join(
    f"r{i},Nurses,Doctors,{d},{3 + i % 2}\n" for i in range(6) for d in DIMENSIONS
)


def test_analyze_writes_the_contract_files(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "answers.csv").write_text(ANSWERS)
    out = cli("analyze", "answers.csv", "--out", "results")
    assert "Nurses" in out
    assert "3.50" in out
    header = (tmp_path / "results" / "ties.csv").read_text().splitlines()[0]
    assert header == (
        "respondent_role,partner_role,n,rc_index,frequent,timely,accurate,problem_solving,"
        "shared_goals,shared_knowledge,mutual_respect,band,suppressed"
    )
    assert (tmp_path / "results" / "heatmap.png").exists()


def test_analyze_refuses_bad_input_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text(
        ANSWERS.replace("r2,Nurses,Doctors,timely,3", "r2,Nurses,Doctors,timely,7")
    )
    out = cli("analyze", "bad.csv", "--out", "results", code=2)
    assert "line" in out
    assert "score" in out
    assert not (tmp_path / "results").exists()
    assert "between 3 and 25" in cli("analyze", "bad.csv", "--out", "r", "--min-group", "2", code=2)


def test_round_report_needs_a_closed_round(ready: Cli, tmp_path: Path) -> None:
    ready("participants", "import", "people.csv", "--survey", "Chemo")
    ready("round", "open", "--survey", "Chemo", "--closes-in", "14d")
    assert "still open" in ready("round", "report", "--survey", "Chemo", code=2)
    ready("round", "close", "--survey", "Chemo")
    # Nobody answered: the files are written all the same, everything hidden, exactly as
    # when a few answered (issue 14: an empty group must look like a small one).
    out = ready("round", "report", "--survey", "Chemo")
    assert "Wrote 10 files" in out
    assert "hidden (< 3)" in out


def test_reminder_policy_per_survey(ready: Cli) -> None:
    out = ready("survey", "reminders", "Chemo")
    assert "Reminders 3d, 5d after the invitation, and 1d before close; at most 3" in out
    assert "between 09:00 and 17:00 local time on mon,tue,wed,thu,fri" in out
    out = ready(
        "survey",
        "reminders",
        "Chemo",
        "--after",
        "2d",
        "--before-close",
        "none",
        "--max",
        "1",
        "--hours",
        "08:30-18:00",
        "--days",
        "mon-sat",
    )
    assert "Reminders 2d after the invitation, and none before close; at most 1" in out
    assert "between 08:30 and 18:00 local time on mon,tue,wed,thu,fri,sat" in out
    assert "2d after" in ready("survey", "reminders", "Chemo")  # stored
    assert "not working hours" in ready("survey", "reminders", "Chemo", "--hours", "9-5", code=2)
    assert "not a list of days" in ready(
        "survey", "reminders", "Chemo", "--days", "weekdays", code=2
    )
    assert "start before they end" in ready(
        "survey", "reminders", "Chemo", "--hours", "17:00-09:00", code=2
    )


def test_teams_package(cli: Cli, tmp_path: Path) -> None:
    app_id = "3e1a5c70-0000-4000-8000-00000000a11b"
    out = cli("teams", "package", "--app-id", app_id, "--website-url", "https://rc.example.org")
    assert "Wrote" in out
    assert (tmp_path / "rcbot-teams.zip").stat().st_size > 0
    assert "MICROSOFT_APP_ID" in cli("teams", "package", code=2)
    assert "GUID" in cli(
        "teams", "package", "--app-id", "x", "--website-url", "https://a.org", code=2
    )
