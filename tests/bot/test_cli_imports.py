"""The command line starts at once: importing it loads no heavy library (a structural check,
not a timed one; ``benchmarks/commands_bench.py`` measures the time).

Each command imports what it needs when it runs. These checks run in a fresh interpreter,
because the test process itself has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.cli import app

HEAVY = (
    "alembic",
    "apscheduler",
    "aiohttp",
    "microsoft_agents",
    "msal",
    "numpy",
    "openpyxl",
    "pandas",
    "PIL",
    "slack_bolt",
    "slack_sdk",
    "sqlalchemy",
)
"""Libraries no command needs merely to start (some commands import a few of them)."""

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = "email,name,role\nann@nhs.net,Ann,Nurses\nbob@nhs.net,Bob,Doctors\n"


def modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """Every module a fresh interpreter has loaded after ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages of ``HEAVY`` a fresh interpreter has loaded after ``code``."""
    return {m.split(".")[0] for m in modules_after(code, env)} & set(HEAVY)


def test_importing_the_command_line_loads_no_heavy_library() -> None:
    assert loaded_after("import bot.cli") == set()
    assert loaded_after("from bot.cli import app, main") == set()


def run_cli(*args: str) -> str:
    """Python code that runs ``rcbot ARGS`` in-process and carries on."""
    return (
        "import sys\n"
        "from bot.cli import main\n"
        f"sys.argv = ['rcbot', *{list(args)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
    )


def test_help_loads_no_heavy_library() -> None:
    assert loaded_after(run_cli("--help")) == set()
    assert loaded_after(run_cli("analyze", "--help")) == set()


def test_quick_commands_need_only_the_database(tmp_path: Path) -> None:
    """A quick database command loads SQLAlchemy, and nothing for analysis, migrations,
    scheduling or chat platforms; `rcbot round status` reads a SQLite file with sqlite3
    alone (surveys.persistence.quick), not even SQLAlchemy."""
    import os
    from datetime import UTC, datetime, timedelta

    from surveys.clock import FixedClock
    from surveys.importing import parse_csv_text
    from surveys.persistence import migrate
    from surveys.persistence.db import make_engine
    from surveys.service import NewSurvey, SurveyService

    url = f"sqlite:///{tmp_path / 'rcbot.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    service = SurveyService(engine, FixedClock(now))
    service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"]))
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    service.open_round("Chemo", now + timedelta(days=14))
    engine.dispose()
    env = dict(os.environ, DATABASE_URL=url)
    assert loaded_after(run_cli("survey", "list"), env) == {"sqlalchemy"}
    status = run_cli("round", "status", "--survey", "Chemo")
    assert loaded_after(status, env) == set()
    # Nor what pydantic-settings brought along to read the settings.
    assert not {"asyncio", "ssl", "pydantic_settings"} & modules_after(status, env)
    assert loaded_after(run_cli("round", "status", "--survey", "None"), env) == set()
    # Any other database (here a URL with an option) is read with SQLAlchemy Core: still
    # neither the ORM's mapped classes nor the survey service that imports them.
    other = modules_after(status, dict(env, DATABASE_URL=url + "?timeout=5"))
    assert "sqlalchemy.engine" in other
    assert not {"sqlalchemy.orm", "surveys.persistence.orm", "surveys.service"} & other


def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``group`` (typer's click objects), by their words."""
    found: list[tuple[tuple[str, ...], Any]] = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if hasattr(command, "commands"):
            found += commands(command, (*path, name))
    return found


@pytest.mark.parametrize(
    ("path", "command"),
    commands(typer.main.get_command(app)),
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_every_command_has_its_help(path: tuple[str, ...], command: Any) -> None:
    """Lazy imports leave every command's help complete: its own text and every option's."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    summary = " ".join((command.help or "").split()).split(". ")[0]
    assert summary, path
    assert summary[:60] in text
    for param in command.params:
        if getattr(param, "help", None):
            assert " ".join(str(param.help).split())[:30] in text, (path, param.name)
