"""`rcbot serve` refuses a configuration that cannot work, with one clear sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
from microsoft_agents.hosting.core.authorization import AuthTypes
from pydantic import SecretStr
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import Settings
from bot.web.server import ConfigError, connect, teams_auth_configuration
from tests.fakes.slack_api import FakeSlack


def settings(**kw: object) -> Settings:
    return Settings(database_url="sqlite://", **kw)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "no chat platform is configured"),
        ({"slack_bot_token": SecretStr("xoxb-1")}, "SLACK_SIGNING_SECRET is not set"),
        ({"slack_signing_secret": SecretStr("s")}, "SLACK_BOT_TOKEN is not set"),
        (
            {"slack_bot_token": SecretStr("xoxp-user"), "slack_signing_secret": SecretStr("s")},
            "must be a bot token",
        ),
    ],
)
async def test_incomplete_settings(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        await connect(settings(**values))


async def test_a_token_slack_refuses() -> None:
    async with FakeSlack.start(token="xoxb-right") as slack:
        wrong = settings(
            slack_bot_token=SecretStr("xoxb-wrong"),
            slack_signing_secret=SecretStr("s"),
            slack_api_url=slack.url,
        )
        with pytest.raises(ConfigError, match=r"Slack refused SLACK_BOT_TOKEN .* invalid_auth"):
            await connect(wrong)
        right = settings(
            slack_bot_token=SecretStr("xoxb-right"),
            slack_signing_secret=SecretStr("s"),
            slack_api_url=slack.url,
        )
        connected = await connect(right)
        assert connected.slack is not None


def test_the_cli_says_what_to_fix(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SLACK_BOT_TOKEN": "xoxb-1"}
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    result = runner.invoke(app, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 2
    output = result.output + result.stderr
    assert "SLACK_SIGNING_SECRET is not set" in output
    assert "Traceback" not in output
    assert "xoxb-1" not in output


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"microsoft_app_password": SecretStr("p")}, "MICROSOFT_APP_TENANT_ID must be set"),
        ({"microsoft_app_tenant_id": "t"}, "exactly one of MICROSOFT_APP_PASSWORD"),
        (
            {
                "microsoft_app_tenant_id": "t",
                "microsoft_app_password": SecretStr("p"),
                "microsoft_app_certificate": Path("bot.pfx"),
            },
            "exactly one of",
        ),
        (
            {"microsoft_app_tenant_id": "t", "microsoft_app_certificate": Path("/nope.pfx")},
            "is not a readable file",
        ),
    ],
)
def test_teams_identity_settings(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        teams_auth_configuration(settings(microsoft_app_id="app", **values))


def test_teams_identity_by_secret_or_certificate(tmp_path: Path) -> None:
    secret = teams_auth_configuration(
        settings(
            microsoft_app_id="app",
            microsoft_app_tenant_id="t",
            microsoft_app_password=SecretStr("p"),
        )
    )
    assert AuthTypes.client_secret == secret.AUTH_TYPE
    assert secret.CLIENT_SECRET == "p"
    pfx = tmp_path / "bot.pfx"
    pfx.write_bytes(b"0")
    cert = teams_auth_configuration(
        settings(microsoft_app_id="app", microsoft_app_tenant_id="t", microsoft_app_certificate=pfx)
    )
    assert AuthTypes.certificate == cert.AUTH_TYPE
    assert str(pfx) == cert.CERT_PFX_FILE


@pytest.mark.parametrize(
    ("extra_env", "args", "reason"),
    [
        ({}, ["--host", "0.0.0.0"], "loopback"),
        ({}, ["--host", "10.1.2.3"], "loopback"),
        ({"MICROSOFT_APP_ID": "3e1a5c70-0000-4000-8000-00000000a11b"}, [], "MICROSOFT_APP_ID"),
    ],
)
def test_the_anonymous_trial_mode_refuses_to_start_where_it_is_unsafe(
    tmp_path: Path, extra_env: dict[str, str], args: list[str], reason: str
) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "RCBOT_TEAMS_ANONYMOUS": "1",
        **extra_env,
    }
    result = CliRunner().invoke(app, ["serve", "--port", "0", *args], env=env)
    assert result.exit_code == 2
    output = result.output + result.stderr
    assert "anonymous" in output
    assert reason in output
    assert "serving on" not in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) <= 3  # one sentence (the console may wrap it)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts(host: str) -> None:
    from bot.web.server import check_anonymous

    check_anonymous(settings(teams_anonymous=True), host)


def test_no_serving_line_before_serving(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "COLUMNS": "300"}
    assert CliRunner().invoke(app, ["init"], env=env).exit_code == 0
    result = CliRunner().invoke(app, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 2
    output = result.output + result.stderr
    assert "no chat platform is configured" in output
    assert "RCBOT_TEAMS_ANONYMOUS" in output
    assert "serving on" not in output


def test_serve_help_covers_teams_and_the_trial_mode() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for word in ("/api/messages", "Teams", "Slack", "RCBOT_TEAMS_ANONYMOUS", "/healthz"):
        assert word in result.output
