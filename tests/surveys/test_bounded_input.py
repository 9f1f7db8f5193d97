"""Bad input is bounded: oversized participants files are refused at once with one
sentence, instrument texts fit Slack and Teams, long names never reach the database."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from bot.cli import app
from surveys.errors import InvalidInput
from surveys.importing import (
    MAX_FILE_BYTES,
    MAX_ROWS,
    ImportRejected,
    check_table,
    parse_csv_text,
    read_table,
)
from surveys.instrument import check_instrument, default_instrument
from surveys.model import Survey


def test_a_file_over_the_byte_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "staff.csv"
    with big.open("wb") as handle:  # sparse: the size is what counts, not the content
        handle.truncate(MAX_FILE_BYTES * 2 + 1)
    with pytest.raises(InvalidInput, match="more than the 20 MB a participants file may be"):
        read_table(big)


def test_a_file_over_the_row_limit_is_refused(tmp_path: Path) -> None:
    rows = "".join(f"p{i}@nhs.net,P,Nurses\n" for i in range(MAX_ROWS + 1))
    text = "email,name,role\n" + rows
    with pytest.raises(InvalidInput, match="more than 50,000 participants"):
        parse_csv_text(text, "staff.csv")
    path = tmp_path / "staff.csv"
    path.write_text(text)
    with pytest.raises(InvalidInput, match="more than 50,000 participants"):
        read_table(path)
    # The limit itself is fine.
    ok = "email,name,role\n" + "".join(f"p{i}@nhs.net,P,Nurses\n" for i in range(MAX_ROWS))
    assert len(parse_csv_text(ok).rows) == MAX_ROWS


def test_an_xlsx_over_the_row_limit_is_refused(tmp_path: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["email", "name", "role"])
    for i in range(MAX_ROWS + 1):
        sheet.append([f"p{i}@nhs.net", "P", "Nurses"])
    path = tmp_path / "staff.xlsx"
    book.save(path)
    with pytest.raises(InvalidInput, match="more than 50,000 participants"):
        read_table(path)


def test_the_cli_refuses_a_huge_file_in_one_sentence(tmp_path: Path) -> None:
    big = tmp_path / "staff.csv"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    runner.invoke(app, ["survey", "create", "S", "--owner", "a@nhs.net"], env=env)
    result = runner.invoke(app, ["participants", "import", str(big), "--survey", "S"], env=env)
    assert result.exit_code == 2
    output = result.output + result.stderr
    assert "50 MB, more than the 20 MB" in " ".join(output.split())
    assert "Traceback" not in output


def test_over_long_values_are_reported_with_their_line() -> None:
    text = (
        f"email,name,role,team,slack_user_id\na@nhs.net,{'N' * 201},Nurses,{'T' * 121},{'U' * 65}\n"
    )
    with pytest.raises(ImportRejected) as caught:
        check_table(parse_csv_text(text), known_roles=None)
    problems = {(p.line, p.column) for p in caught.value.problems}
    assert problems == {(2, "name"), (2, "team"), (2, "slack_user_id")}


def test_survey_names_have_a_limit() -> None:
    with pytest.raises(InvalidInput, match="longer than 100 characters"):
        Survey(name="S" * 101, instrument=default_instrument())


def _data() -> dict[str, Any]:
    return copy.deepcopy(default_instrument().to_dict())


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["instrument"].update(name="N" * 101), "instrument.name"),
        (lambda d: d["instrument"].update(notice="x" * 1001), "instrument.notice"),
        (
            lambda d: d["instrument"].update(language="en-" + "-".join(["abcd"] * 10)),
            "instrument.language",
        ),
        (lambda d: d["items"][0].update(label="L" * 41), "items[1].label"),
        (lambda d: d["items"][0].update(question="{partner} " + "q" * 300), "items[1].question"),
        (lambda d: d["items"][0]["scale"].__setitem__(0, "s" * 76), "items[1].scale[1]"),
        (lambda d: d["instrument"].update(not_applicable="n" * 76), "instrument.not_applicable"),
    ],
)
def test_instrument_texts_fit_slack_and_teams(change: Any, where: str) -> None:
    data = _data()
    assert check_instrument(data) == []
    change(data)
    assert [p.where for p in check_instrument(data)] == [where]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RCBOT_TIME_SCALE", "abc", "RCBOT_TIME_SCALE must be a number (it is 'abc')"),
        ("RCBOT_TIME_SCALE", "0", "RCBOT_TIME_SCALE must be greater than 0"),
        ("RCBOT_CLOCK_START", "tomorrow", "RCBOT_CLOCK_START must be an ISO 8601 date-time"),
        ("RCBOT_CLOCK_START", "2026-03-02T09:00:00", "RCBOT_CLOCK_START must have a UTC offset"),
        ("RCBOT_CLOCK_ANCHOR", "x", "RCBOT_CLOCK_ANCHOR must be a number"),
        ("RCBOT_TICK_SECONDS", "-3", "RCBOT_TICK_SECONDS must be greater than 0"),
        ("RCBOT_SLACK_POST_RATE", "fast", "RCBOT_SLACK_POST_RATE must be a number"),
        ("RCBOT_FILE_LINK_DAYS", "1.5", "RCBOT_FILE_LINK_DAYS must be a whole number"),
        ("RCBOT_LOG_LEVEL", "loud", "RCBOT_LOG_LEVEL must be one of DEBUG"),
        ("DATABASE_URL", "mysql://x/y", "rcbot supports SQLite and PostgreSQL, not mysql"),
        ("RCBOT_PUBLIC_URL", "rcbot.example.org", "RCBOT_PUBLIC_URL must be an http(s) address"),
        ("SLACK_API_URL", "ftp://x", "SLACK_API_URL must be an http(s) address"),
    ],
)
def test_a_malformed_setting_is_one_sentence_naming_it(
    variable: str, value: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in list(os.environ):
        if name.startswith(("RCBOT_", "SLACK_", "MICROSOFT_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    result = CliRunner().invoke(app, ["survey", "list"], env={variable: value})
    output = " ".join((result.output + result.stderr).split())
    assert result.exit_code == 2, output
    assert message in output
    assert "Traceback" not in output
    assert "validation error" not in output


def test_a_malformed_setting_in_dotenv_is_named_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("RCBOT_TIME_SCALE=fast\n")
    result = CliRunner().invoke(app, ["survey", "list"])
    assert result.exit_code == 2
    assert "RCBOT_TIME_SCALE must be a number" in result.output + result.stderr
