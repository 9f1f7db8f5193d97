"""Running ``rcbot serve``: check the configuration, connect the platforms, then serve the
web app and lead (or stand by to lead) the scheduler until told to stop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

from bot.answering import Answering
from bot.commands import OwnerCommands
from bot.platform import ChatPlatform, DeliveryError
from bot.platforms.slack.app import build_slack_app
from bot.platforms.slack.client import SlackPlatform, make_client
from bot.runtime import Runtime
from bot.settings import Settings
from bot.web import build_web_app
from surveys.errors import InvalidInput
from surveys.model import Platform

log = logging.getLogger(__name__)


class ConfigError(InvalidInput):
    """The settings cannot work; the message says which variable to fix."""


@dataclass
class Connected:
    platforms: dict[Platform, ChatPlatform]
    slack: SlackPlatform | None = None
    slack_bot: str = ""


async def connect(settings: Settings) -> Connected:
    """Check credentials once at start-up, so a mistake is one clear error, not a failure
    hours later when the first invitation is due."""
    connected = Connected({})
    token, secret = settings.slack_bot_token, settings.slack_signing_secret
    if (token is None) != (secret is None):
        missing = "SLACK_SIGNING_SECRET" if secret is None else "SLACK_BOT_TOKEN"
        raise ConfigError(
            f"{missing} is not set; Slack needs both the bot token and the signing secret"
        )
    if token is not None:
        value = token.get_secret_value()
        if not value.startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN must be a bot token (it starts with xoxb-)")
        slack = SlackPlatform(make_client(value, settings.slack_api_url))
        try:
            who = await slack.check()
        except DeliveryError as exc:
            raise ConfigError(
                f"Slack refused SLACK_BOT_TOKEN at {settings.slack_api_url} ({exc.reason})"
            ) from None
        connected.platforms[Platform.SLACK] = slack
        connected.slack = slack
        connected.slack_bot = str(who.get("user", "rcbot"))
    if not connected.platforms:
        raise ConfigError(
            "no chat platform is configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET "
            "(see the README)"
        )
    return connected


async def serve(rt: Runtime, host: str, port: int, stop: asyncio.Event) -> None:
    connected = await connect(rt.settings)
    rt.use_platforms(connected.platforms)
    lifecycle = rt.lifecycle()
    service = lifecycle.service
    commands = OwnerCommands(service, lifecycle.on_closed)
    slack_app = None
    if connected.slack is not None:
        secret = rt.settings.slack_signing_secret
        assert secret is not None
        slack_app = build_slack_app(
            signing_secret=secret.get_secret_value(),
            platform=connected.slack,
            answering=Answering(service),
            commands=commands,
        )
    app = build_web_app(rt.engine, slack=slack_app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info(
        "rcbot serving on http://%s:%s (platforms: %s)",
        host,
        port,
        ", ".join(p.value for p in connected.platforms),
    )
    scheduler = rt.scheduler(lifecycle)
    try:
        await scheduler.run(stop)
    finally:
        await runner.cleanup()
