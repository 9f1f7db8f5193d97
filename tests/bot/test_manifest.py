"""The Slack app manifest asks for what rcbot uses, and points every URL at one endpoint."""

from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def test_manifest_scopes_command_and_urls() -> None:
    data = yaml.safe_load(MANIFEST.read_text())
    scopes = set(data["oauth_config"]["scopes"]["bot"])
    assert {
        "chat:write",
        "im:write",
        "users:read",
        "users:read.email",
        "commands",
        "files:write",
    } <= scopes
    # conversations.history on DMs, to check after a crash whether a message went out.
    assert "im:history" in scopes
    (command,) = data["features"]["slash_commands"]
    assert command["command"] == "/rc"
    settings = data["settings"]
    urls = {
        command["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    }
    assert len(urls) == 1
    assert urls.pop().endswith("/slack/events")
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert data["features"]["app_home"]["home_tab_enabled"] is True
