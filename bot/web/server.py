"""Running ``rcbot serve``: check the configuration, connect the platforms, then serve the
web app and lead (or stand by to lead) the scheduler until told to stop."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import web
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration, AuthTypes

from bot.conversation.answering import Answering, RecentViews
from bot.conversation.commands import OwnerCommands
from bot.db_boundary import SERVING, run_db
from bot.files import PublishedFiles
from bot.platform import ChatPlatform, DeliveryError
from bot.platforms.slack.app import InOrder, build_slack_app
from bot.platforms.slack.client import SlackPlatform, make_client
from bot.platforms.teams.app import build_teams_agent, messages_handler
from bot.platforms.teams.client import TeamsPlatform
from bot.platforms.teams.graph import GraphClient
from bot.runtime import Runtime
from bot.settings import Settings
from bot.web.app import TeamsEndpoint, build_web_app
from surveys.conversations import ConversationStore
from surveys.errors import InvalidInput
from surveys.model import Platform

log = logging.getLogger(__name__)

SAVES_SECONDS: Final = 10.0
"""How long a stopping server waits for the pages it answered at once to be saved."""

BOT_RESOURCE = "https://api.botframework.com"
GRAPH_RESOURCE = "https://graph.microsoft.com"


class ConfigError(InvalidInput):
    """The settings cannot work; the message says which variable to fix."""


@dataclass
class Connected:
    platforms: dict[Platform, ChatPlatform]
    slack: SlackPlatform | None = None
    slack_bot: str = ""
    teams: TeamsPlatform | None = None
    teams_connections: MsalConnectionManager | None = None
    session: aiohttp.ClientSession | None = None
    slack_session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        for session in (self.session, self.slack_session):
            if session is not None:
                await session.close()


async def connect(
    settings: Settings,
    conversations: ConversationStore | None = None,
    files: PublishedFiles | None = None,
) -> Connected:
    """Check credentials once at start-up, so a mistake is one clear error, not a failure
    hours later when the first invitation is due."""
    connected = Connected({})
    try:
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
            # One session (kept-alive connections) for every Slack call this process makes.
            connected.slack_session = aiohttp.ClientSession()
            slack = SlackPlatform(
                make_client(value, settings.slack_api_url, session=connected.slack_session),
                post_rate=settings.slack_post_rate,
            )
            try:
                who = await slack.check()
            except DeliveryError as exc:
                raise ConfigError(
                    f"Slack refused SLACK_BOT_TOKEN at {settings.slack_api_url} ({exc.reason})"
                ) from None
            connected.platforms[Platform.SLACK] = slack
            connected.slack = slack
            connected.slack_bot = str(who.get("user", "rcbot"))
        if settings.teams_anonymous:
            check_anonymous(settings)
            await _connect_teams(settings, conversations, connected, files, anonymous=True)
        elif settings.microsoft_app_id:
            await _connect_teams(settings, conversations, connected, files)
        if not connected.platforms:
            raise ConfigError(
                "no chat platform is configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, "
                "or MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID, "
                "or RCBOT_TEAMS_ANONYMOUS=1 to try Teams locally (see the README)"
            )
    except BaseException:
        await connected.close()  # nothing half-open behind a configuration error
        raise
    return connected


ANONYMOUS_WARNING = (
    "WARNING: RCBOT_TEAMS_ANONYMOUS=1: Teams requests are NOT authenticated (anonymous local "
    "trial mode, for the Microsoft 365 Agents Playground on this machine only; never use it "
    "with real people)."
)


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_anonymous(settings: Settings, host: str | None = None) -> None:
    """The anonymous trial mode only on this machine and never beside real credentials."""
    if not settings.teams_anonymous:
        return
    if settings.microsoft_app_id:
        raise ConfigError(
            "RCBOT_TEAMS_ANONYMOUS=1 (anonymous local trial mode) cannot be combined with "
            "MICROSOFT_APP_ID: unset one of them"
        )
    if host is not None and not is_loopback(host):
        raise ConfigError(
            f"RCBOT_TEAMS_ANONYMOUS=1 (anonymous local trial mode) accepts unsigned requests, "
            f"so it only listens on a loopback address such as 127.0.0.1, not --host {host}"
        )


def teams_auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The bot's Entra identity: a client secret or a .pfx certificate, and the tenant."""
    password, certificate = settings.microsoft_app_password, settings.microsoft_app_certificate
    if not settings.microsoft_app_tenant_id:
        raise ConfigError("MICROSOFT_APP_TENANT_ID must be set with MICROSOFT_APP_ID")
    if (password is None) == (certificate is None):
        raise ConfigError(
            "set exactly one of MICROSOFT_APP_PASSWORD or MICROSOFT_APP_CERTIFICATE "
            "(a .pfx file) with MICROSOFT_APP_ID"
        )
    app_id, tenant = settings.microsoft_app_id, settings.microsoft_app_tenant_id
    authority = settings.microsoft_authority
    if certificate is not None:
        if not certificate.is_file():
            raise ConfigError(f"MICROSOFT_APP_CERTIFICATE {certificate} is not a readable file")
        return AgentAuthConfiguration(
            auth_type=AuthTypes.certificate,
            client_id=app_id,
            tenant_id=tenant,
            cert_pfx_file=str(certificate),
            authority=authority,
        )
    assert password is not None
    return AgentAuthConfiguration(
        auth_type=AuthTypes.client_secret,
        client_id=app_id,
        tenant_id=tenant,
        client_secret=password.get_secret_value(),
        authority=authority,
    )


async def _connect_teams(
    settings: Settings,
    conversations: ConversationStore | None,
    connected: Connected,
    files: PublishedFiles | None,
    *,
    anonymous: bool = False,
) -> None:
    app_id = settings.microsoft_app_id or ""
    tenant = settings.microsoft_app_tenant_id or ""
    if conversations is None:
        raise ConfigError("Teams needs the database to remember conversations")
    if anonymous:
        # No identity at all: unsigned requests are accepted and the connector is called
        # without a token (the SDK's anonymous mode). Graph is out of reach without one.
        config = AgentAuthConfiguration(anonymous_allowed=True)
        connections = MsalConnectionManager(
            connections_configurations={"SERVICE_CONNECTION": config}
        )
        log.warning(ANONYMOUS_WARNING)
    else:
        config = teams_auth_configuration(settings)
        connections = MsalConnectionManager(
            connections_configurations={"SERVICE_CONNECTION": config}
        )
        try:
            await connections.get_default_connection().get_access_token(
                BOT_RESOURCE, [f"{BOT_RESOURCE}/.default"]
            )
        except Exception as exc:  # msal raises several types; all mean: these credentials fail
            raise ConfigError(
                f"Microsoft refused MICROSOFT_APP_ID/MICROSOFT_APP_PASSWORD ({type(exc).__name__})"
            ) from None
    token_provider = connections.get_default_connection()
    adapter = CloudAdapter(connection_manager=connections)
    # The default handler would swallow errors and message the user "Exception caught".
    adapter.on_turn_error = None
    session = aiohttp.ClientSession()

    async def graph_token() -> str:
        return str(
            await token_provider.get_access_token(GRAPH_RESOURCE, [f"{GRAPH_RESOURCE}/.default"])
        )

    teams = TeamsPlatform(
        adapter,
        app_id,
        conversations,
        service_url=settings.teams_service_url,
        tenant_id=tenant or None,
        graph=None if anonymous else GraphClient(settings.graph_url, graph_token, session),
        files=files,
        anonymous=anonymous,
    )
    connected.platforms[Platform.TEAMS] = teams
    connected.teams = teams
    connected.teams_connections = connections
    connected.session = session


def settle_heap() -> None:
    """Ready this process's interpreter for serving; ``rcbot serve`` calls it once it serves
    (it changes the whole process, so the server function itself does not). It exempts from
    garbage collection what starting made (modules, the ORM's tables, the apps, SDK
    clients), which lives as long as the server anyway. Python's full collections stop the
    event loop for as long as scanning the heap takes; without this, a busy server (a
    fan-out and a big round's close) paused 50-70 ms several times a second. (The
    interpreter lock's switch interval stays Python's 5 ms: a 1 ms interval cost a tenth
    more CPU a request in ``make bench``, and since a page is answered before it is saved,
    no acknowledgement waits on a hand-over between threads.)"""
    gc.collect()
    gc.freeze()


async def serve(
    rt: Runtime,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[Connected], None] | None = None,
) -> None:
    """Serve until ``stop`` is set; ``on_ready`` is called once requests are really served.
    From here on the event loop never waits on the database: every database call goes
    through :func:`bot.db_boundary.run_db`."""
    SERVING.set(True)
    clock = await run_db(lambda: rt.clock)  # a shared simulated clock reads the database
    files = rt.published_files
    connected = await connect(rt.settings, ConversationStore(rt.engine, clock), files)
    rt.use_platforms(connected.platforms)
    lifecycle = await run_db(rt.lifecycle)
    service = lifecycle.service
    commands = OwnerCommands(service)
    slack_app = None
    saves = InOrder()  # pages answered at once, saved just after
    if connected.slack is not None:
        secret = rt.settings.slack_signing_secret
        assert secret is not None
        slack_app = build_slack_app(
            signing_secret=secret.get_secret_value(),
            platform=connected.slack,
            answering=Answering(service, recent=RecentViews()),
            commands=commands,
            saves=saves,
        )
    teams_endpoint = None
    if connected.teams is not None and connected.teams_connections is not None:
        agent = build_teams_agent(
            connected.teams_connections, connected.teams, Answering(service), commands
        )
        teams_endpoint = TeamsEndpoint(
            messages_handler(agent, connected.teams.adapter),
            connected.teams_connections.get_default_connection_configuration(),
        )
    app = build_web_app(rt.engine, slack=slack_app, teams=teams_endpoint, files=files)
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
    if on_ready is not None:
        on_ready(connected)
    scheduler = rt.scheduler(lifecycle)
    try:
        await scheduler.run(stop)
    finally:
        await runner.cleanup()
        # Pages already shown as saved are saved before the platforms' clients close.
        left = await saves.settle(SAVES_SECONDS)
        if left:
            log.warning("stopping with %d page saves unfinished", left)
        await connected.close()
