"""Reading the settings: the environment and a .env file in the working directory, as
pydantic-settings read them before (rcbot reads them itself, to start faster)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.settings import SettingsError, environment, load_settings, variables


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No rcbot variable of the machine's, and no .env of the developer's."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.lower() in {v.lower() for v in variables()}:
            monkeypatch.delenv(name)


def test_every_setting_has_a_variable() -> None:
    names = list(variables())
    assert len(names) == len(set(names))
    assert {"DATABASE_URL", "SLACK_BOT_TOKEN", "RCBOT_TIME_SCALE", "RCBOT_LOG_LEVEL"} <= set(names)


def test_defaults_are_checked_like_any_value() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///rcbot.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.log_level == "INFO"
    assert settings.slack_bot_token is None


def test_the_environment_wins_over_dotenv_and_names_match_in_any_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "# rcbot\n"
        "export DATABASE_URL=sqlite:///from-file.db\n"
        "rcbot_time_scale=2\n"
        "RCBOT_LOG_LEVEL\n"  # a bare name sets nothing
        "RCBOT_REPORTS_DIR=${REPORTS_ROOT}/reports\n"
        "SLACK_BOT_TOKEN='xoxb-file'  # quoted, with a comment\n"
        "UNRELATED=1\n"
    )
    monkeypatch.setenv("REPORTS_ROOT", "/srv/rcbot")
    monkeypatch.setenv("Database_Url", "sqlite:///from-env.db")
    settings = load_settings()
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.time_scale == 2.0
    assert settings.log_level == "INFO"
    assert settings.reports_dir == Path("/srv/rcbot/reports")
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-file"
    assert "UNRELATED" not in environment()


def test_an_empty_value_is_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCBOT_TIME_SCALE", "")
    with pytest.raises(SettingsError, match="RCBOT_TIME_SCALE must be a number"):
        load_settings()


def test_values_are_read_from_what_is_given(tmp_path: Path) -> None:
    assert environment({"rcbot_log_level": "debug", "HOME": "/root"}) == {
        "RCBOT_LOG_LEVEL": "debug"
    }
    (tmp_path / "other.env").write_text("RCBOT_TICK_SECONDS=5\n")
    assert environment({}, tmp_path / "other.env") == {"RCBOT_TICK_SECONDS": "5"}
