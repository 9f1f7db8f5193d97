"""Data protection from the command line, on SQLite and PostgreSQL: retention settings,
erase, export (JSON on standard output), purge and the audit log."""

from __future__ import annotations

import getpass
import json

from sqlalchemy import Engine
from typer.testing import CliRunner

from bot.cli import app
from surveys.clock import SystemClock
from surveys.model import AnswerPage
from surveys.service import SurveyService
from tests.bot.test_cli import Cli, cli, database_url, ready  # noqa: F401 - fixtures


def answer_everything(engine: Engine) -> None:
    service = SurveyService(engine, SystemClock())
    dims = service.get_survey("Chemo").instrument.dimensions
    for inv in service.invitations("Chemo"):
        assert inv.id is not None
        for partner in inv.partner_roles:
            service.submit_page(inv.id, AnswerPage(partner, dict.fromkeys(dims, 4)))


def test_retention_is_set_shown_and_forever_warns(ready: Cli) -> None:  # noqa: F811
    assert "730 days (2 years) after each round closes" in ready("survey", "show", "Chemo")
    out = ready("survey", "update", "Chemo", "--retain", "365d")
    assert "365 days (1 year) after each round closes" in out
    out = ready("survey", "update", "Chemo", "--retain", "forever")
    assert "Warning" in out
    assert "kept forever" in out
    out = ready("survey", "create", "Other", "--owner", "a@nhs.net", "--retain", "90d")
    assert "Created survey" in out
    assert "90 days after" in ready("survey", "show", "Other")
    ready("survey", "update", "Chemo", "--retain", "soon", code=2)
    ready("survey", "update", "Chemo", code=2)
    out = ready("audit", "list")
    assert "survey.retention" in out
    assert getpass.getuser() in out


def test_export_remove_and_purge(ready: Cli, empty_engine: Engine) -> None:  # noqa: F811
    ready("participants", "import", "people.csv", "--survey", "Chemo")
    ready("round", "open", "--survey", "Chemo", "--closes-in", "14d")
    answer_everything(empty_engine)
    result = CliRunner().invoke(
        app, ["participants", "export", "ANN@nhs.net"], env={"DATABASE_URL": ready.url}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["email"] == "ann@nhs.net"
    assert len(data["invitations"]) == 1
    assert len(data["answers"]) == 14  # two partner roles, seven questions
    out = ready("participants", "export", "nobody@nhs.net", code=2)
    assert "not found" in out
    ready("participants", "export", "ann@nhs.net", "--survey", "Nope", code=2)
    out = ready("participants", "remove", "ann@nhs.net", "--survey", "Chemo")
    assert "Erased ann@nhs.net from 'Chemo'" in out
    assert "14 answers" in out
    assert "not found" in ready("participants", "export", "ann@nhs.net", code=2)
    ready("participants", "remove", "ann@nhs.net", "--survey", "Chemo", code=2)
    out = ready("survey", "purge", "Chemo")
    assert "nothing to purge" in out  # the round is still open
    ready("round", "close", "--survey", "Chemo")
    out = ready("survey", "purge", "Chemo")
    assert "Round 1 of 'Chemo' purged" in out
    assert "28 answers" in out
    assert "raw data purged" in ready("survey", "show", "Chemo")
    assert "were deleted" in ready("round", "report", "--survey", "Chemo", code=2)
    audit = ready("audit", "list", "--survey", "Chemo")
    for action in ("participant.erase", "survey.purge", "round.purge"):
        assert action in audit
    assert "participant.export" in ready("audit", "list")
    assert '"score"' not in ready("audit", "list")
