"""``rcbot serve``: one aiohttp app for Slack (``POST /slack/events``), Teams
(``POST /api/messages``), published files (``GET /files/<token>/<name>``, see
:mod:`bot.files`) and health checks (``GET /healthz``)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from sqlalchemy import Engine, text

from bot.db_boundary import SERVING, run_db
from bot.files import PublishedFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeamsEndpoint:
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    configuration: Any
    """The SDK's AgentAuthConfiguration, which its JWT check reads from the app."""


SLACK_APP: web.AppKey[AsyncApp] = web.AppKey("slack_app", AsyncApp)
TEAMS: web.AppKey[TeamsEndpoint] = web.AppKey("teams", TeamsEndpoint)
ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
FILES: web.AppKey[PublishedFiles] = web.AppKey("files", PublishedFiles)


async def slack_events(request: web.Request) -> web.Response:
    app = request.app[SLACK_APP]
    response = await app.async_dispatch(await to_bolt_request(request))
    return await to_aiohttp_response(response)


async def healthz(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]

    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await run_db(ping)
    except Exception as exc:  # any failure means: not healthy
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    body["platforms"] = sorted(
        name for name, key in (("slack", SLACK_APP), ("teams", TEAMS)) if key in request.app
    )
    return web.json_response(body)


async def public_file(request: web.Request) -> web.StreamResponse:
    """A published file, only for a live token rcbot issued; anything else is a 404 that
    says nothing about what exists."""
    files = request.app[FILES]
    token, name = request.match_info["token"], request.match_info["name"]
    path = await run_db(files.path, token, name)
    if path is None:
        raise web.HTTPNotFound()
    headers = {
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if not name.endswith(".png"):
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return web.FileResponse(path, headers=headers)


@web.middleware
async def serving(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Marks request handling as "serving": database work must go through run_db."""
    token = SERVING.set(True)
    try:
        return await handler(request)
    finally:
        SERVING.reset(token)


def build_web_app(
    engine: Engine,
    *,
    slack: AsyncApp | None = None,
    teams: TeamsEndpoint | None = None,
    files: PublishedFiles | None = None,
) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024, middlewares=[serving])
    app[ENGINE] = engine
    app.router.add_get("/healthz", healthz)
    if slack is not None:
        app[SLACK_APP] = slack
        app.router.add_post("/slack/events", slack_events)
    if teams is not None:
        app[TEAMS] = teams
        # The SDK's JWT check reads its settings under this exact (string) key.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotAppKeyWarning)
            app["agent_configuration"] = teams.configuration
        app.router.add_post("/api/messages", teams.handler)
    if files is not None:
        app[FILES] = files
        app.router.add_get("/files/{token}/{name}", public_file)
    return app
