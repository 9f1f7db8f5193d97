"""``rcbot serve``: one aiohttp app for Slack (``POST /slack/events``), Teams
(``POST /api/messages``) and health checks (``GET /healthz``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

SLACK_APP: web.AppKey[AsyncApp] = web.AppKey("slack_app", AsyncApp)
ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)


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
        await asyncio.to_thread(ping)
    except Exception as exc:  # any failure means: not healthy
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    body["platforms"] = sorted(name for name, key in (("slack", SLACK_APP),) if key in request.app)
    return web.json_response(body)


def build_web_app(engine: Engine, *, slack: AsyncApp | None = None) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[ENGINE] = engine
    app.router.add_get("/healthz", healthz)
    if slack is not None:
        app[SLACK_APP] = slack
        app.router.add_post("/slack/events", slack_events)
    return app
