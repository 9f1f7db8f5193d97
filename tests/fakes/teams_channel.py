"""The Teams channel side: build incoming activities and POST them, signed, to a bot.

Activities are plain JSON dicts shaped like what Teams sends to ``/api/messages``
(``channelId: "msteams"``, personal conversation, ``from`` with ``aadObjectId``,
``channelData.tenant.id``). :class:`TeamsChannel` signs each POST with a channel token from
the fake identity, so the bot's JWT validation runs for real.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.fakes.teams_identity import FakeIdentity

_ids = itertools.count(1_600_000_000_000)


@dataclass(frozen=True)
class TeamsUser:
    aad_object_id: str
    name: str = "Test User"

    @property
    def channel_id(self) -> str:
        """Teams' per-bot user id (``29:...``); stable per AAD object id here."""
        return f"29:1{self.aad_object_id.replace('-', '')}"


def _base_activity(
    activity_type: str,
    *,
    service_url: str,
    bot_app_id: str,
    tenant_id: str,
    user: TeamsUser,
    conversation_id: str,
) -> dict[str, Any]:
    return {
        "type": activity_type,
        "id": str(next(_ids)),
        "timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "localTimestamp": dt.datetime.now(dt.UTC).isoformat(),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": user.channel_id, "name": user.name, "aadObjectId": user.aad_object_id},
        "conversation": {
            "id": conversation_id,
            "conversationType": "personal",
            "tenantId": tenant_id,
        },
        "recipient": {"id": f"28:{bot_app_id}", "name": "rcbot"},
        "channelData": {"tenant": {"id": tenant_id}},
        "locale": "en-US",
    }


def message_activity(
    text: str,
    *,
    service_url: str,
    bot_app_id: str,
    tenant_id: str,
    user: TeamsUser,
    conversation_id: str,
) -> dict[str, Any]:
    activity = _base_activity(
        "message",
        service_url=service_url,
        bot_app_id=bot_app_id,
        tenant_id=tenant_id,
        user=user,
        conversation_id=conversation_id,
    )
    activity.update({"text": text, "textFormat": "plain"})
    return activity


def action_execute_activity(
    verb: str,
    data: dict[str, Any],
    *,
    service_url: str,
    bot_app_id: str,
    tenant_id: str,
    user: TeamsUser,
    conversation_id: str,
    reply_to_id: str | None = None,
) -> dict[str, Any]:
    """The ``invoke`` Teams sends when a user presses an ``Action.Execute`` button.

    ``value.action.data`` holds the action's ``data`` merged with the card's input values.
    """
    activity = _base_activity(
        "invoke",
        service_url=service_url,
        bot_app_id=bot_app_id,
        tenant_id=tenant_id,
        user=user,
        conversation_id=conversation_id,
    )
    activity.update(
        {
            "name": "adaptiveCard/action",
            "value": {
                "action": {"type": "Action.Execute", "id": verb, "verb": verb, "data": data},
                "trigger": "manual",
            },
        }
    )
    if reply_to_id is not None:
        activity["replyToId"] = reply_to_id
    return activity


class TeamsChannel:
    """Posts activities to a bot endpoint the way Teams does (signed JWT in Authorization)."""

    def __init__(
        self,
        identity: FakeIdentity,
        *,
        bot_app_id: str,
        service_url: str,
        tenant_id: str | None = None,
    ) -> None:
        self.identity = identity
        self.bot_app_id = bot_app_id
        self.service_url = service_url
        self.tenant_id = tenant_id or identity.tenant_id

    def message(self, text: str, user: TeamsUser, conversation_id: str) -> dict[str, Any]:
        return message_activity(
            text,
            service_url=self.service_url,
            bot_app_id=self.bot_app_id,
            tenant_id=self.tenant_id,
            user=user,
            conversation_id=conversation_id,
        )

    def action_execute(
        self,
        verb: str,
        data: dict[str, Any],
        user: TeamsUser,
        conversation_id: str,
        reply_to_id: str | None = None,
    ) -> dict[str, Any]:
        return action_execute_activity(
            verb,
            data,
            service_url=self.service_url,
            bot_app_id=self.bot_app_id,
            tenant_id=self.tenant_id,
            user=user,
            conversation_id=conversation_id,
            reply_to_id=reply_to_id,
        )

    async def post(
        self,
        endpoint: str,
        activity: dict[str, Any],
        *,
        authorization: str | None = None,
        **token_options: Any,
    ) -> tuple[int, Any]:
        """POST ``activity``; returns ``(status, parsed JSON body or None)``.

        ``authorization`` overrides the header (``""`` sends none); ``token_options`` go to
        :meth:`FakeIdentity.sign_channel_token` (``expired=True``, ``forged=True``, ...).
        """
        if authorization is None:
            authorization = self.identity.channel_auth_header(
                self.bot_app_id, self.service_url, **token_options
            )
        headers = {"Authorization": authorization} if authorization else {}
        async with (
            aiohttp.ClientSession() as session,
            session.post(endpoint, json=activity, headers=headers) as response,
        ):
            text = await response.text()
            body: Any = None
            if text and response.content_type == "application/json":
                body = await response.json()
            return response.status, body
