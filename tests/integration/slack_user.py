"""Playing Slack's part towards a running ``rcbot serve``: signed requests as Slack sends
them (interactivity as form-encoded ``payload``, slash commands as form fields, events as
JSON), with the real signing scheme."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp

TEAM = "T0000TEST"


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class SlackSide:
    def __init__(self, url: str, secret: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.secret = secret
        self.session = session

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        signed = sign(secret or self.secret, body, timestamp)
        async with self.session.post(
            self.url,
            data=body.encode(),
            headers={"Content-Type": content_type, **signed, **(headers or {})},
        ) as response:
            return response.status, await response.text()

    async def interact(self, payload: dict[str, Any], **kw: Any) -> tuple[int, str]:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kw)

    async def click(
        self, user: str, action_id: str, value: str, trigger: str, channel: str
    ) -> tuple[int, str]:
        return await self.interact(
            {
                "type": "block_actions",
                "team": {"id": TEAM},
                "user": {"id": user},
                "api_app_id": "A0APP",
                "trigger_id": trigger,
                "channel": {"id": channel},
                "container": {"type": "message", "channel_id": channel},
                "actions": [
                    {"type": "button", "action_id": action_id, "value": value, "block_id": "b"}
                ],
            }
        )

    async def submit(
        self, user: str, view: dict[str, Any], answers: dict[str, str]
    ) -> dict[str, Any]:
        state = {
            "values": {
                dim: {"value": {"type": "radio_buttons", "selected_option": {"value": value}}}
                for dim, value in answers.items()
            }
        }
        status, text = await self.interact(
            {
                "type": "view_submission",
                "team": {"id": TEAM},
                "user": {"id": user},
                "api_app_id": "A0APP",
                "view": {
                    "id": view.get("id", "V1"),
                    "type": "modal",
                    "callback_id": view["callback_id"],
                    "private_metadata": view["private_metadata"],
                    "state": state,
                },
            }
        )
        assert status == 200, text
        return json.loads(text) if text else {}

    async def command(self, user: str, text: str, channel: str = "D0OWNER") -> dict[str, Any]:
        body = urlencode(
            {
                "command": "/rc",
                "text": text,
                "user_id": user,
                "team_id": TEAM,
                "channel_id": channel,
                "api_app_id": "A0APP",
                "trigger_id": "t",
                "response_url": "http://127.0.0.1:9/unused",
            }
        )
        status, reply = await self.post(body, "application/x-www-form-urlencoded")
        assert status == 200, reply
        return json.loads(reply) if reply else {}

    async def event(
        self, event: dict[str, Any], event_id: str | None = None, **kw: Any
    ) -> tuple[int, str]:
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": TEAM,
                "api_app_id": "A0APP",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()),
                "event": event,
            }
        )
        return await self.post(body, "application/json", **kw)
