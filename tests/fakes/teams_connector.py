"""A fake Bot Connector service (the Teams ``serviceUrl``) on 127.0.0.1.

Routes (under :attr:`FakeConnector.service_url`, which ends in ``/teams/`` like the real
``https://smba.trafficmanager.net/teams/``):

* ``POST /v3/conversations``                                   - create a 1:1 conversation
* ``POST /v3/conversations/{conversationId}/activities``       - send to a conversation
* ``POST /v3/conversations/{conversationId}/activities/{id}``  - reply to an activity
* ``PUT  /v3/conversations/{conversationId}/activities/{id}``  - update an activity
* ``GET  /v3/conversations/{conversationId}/members/{userId}``  - one member (e-mail, UPN)

Like the real connector (and the Agents Playground's), it refuses ``null`` where the schema
expects text (``id``, ``replyToId``, ``conversation.id``, ``conversation.tenantId``) with
``400 BadArgument "Invalid input"``.

Every request must carry ``Authorization: Bearer <token>`` issued by the fake identity for
``https://api.botframework.com`` (unless the connector was built without an identity). Every
accepted activity is recorded per conversation. Failures can be injected: Teams' per-thread
rate limit (429 + ``Retry-After``), 403 (bot not installed / blocked by the user), 412, 502.
Error bodies use the connector's ``{"error": {"code", "message"}}`` form.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from aiohttp import web

from tests.fakes.teams_common import LocalServer, bearer_token, connector_error
from tests.fakes.teams_identity import BOT_CONNECTOR_RESOURCE, FakeIdentity

ActivityKind = Literal["send", "reply", "update", "create"]

# (status, code, message) for the usual injected failures, as Teams reports them.
NOT_INSTALLED = (
    403,
    "BotNotInConversationRoster",
    "The bot is not part of the conversation roster.",
)
BLOCKED_BY_USER = (403, "ConversationBlockedByUser", "User blocked the conversation with the bot.")
PRECONDITION_FAILED = (412, "PreconditionFailed", "Precondition failed, please try again.")
BAD_GATEWAY = (502, "ServiceError", "Unknown error.")
THROTTLED = (429, "Throttled", "Too many requests.")


@dataclass
class RecordedActivity:
    """One activity the bot sent, replied or updated (``body`` is the JSON as received)."""

    kind: ActivityKind
    conversation_id: str
    activity_id: str
    body: dict[str, Any]
    reply_to_id: str | None = None

    @property
    def text(self) -> str | None:
        value = self.body.get("text")
        return value if isinstance(value, str) else None

    @property
    def adaptive_cards(self) -> list[dict[str, Any]]:
        """The ``content`` of every Adaptive Card attachment."""
        return [
            a["content"]
            for a in self.body.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]


@dataclass
class Conversation:
    id: str
    tenant_id: str | None
    bot_id: str | None
    member_ids: list[str]
    is_group: bool = False
    activities: list[RecordedActivity] = field(default_factory=list)
    current: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int
    code: str
    message: str
    conversation_id: str | None
    remaining: int
    retry_after: float | None
    after: bool = False
    """Carry the request out first (the activity is recorded), then answer the error."""


@dataclass
class _RateLimit:
    max_requests: int
    per_seconds: float
    retry_after: float
    hits: deque[float] = field(default_factory=deque)


@dataclass(frozen=True)
class ConnectorRequest:
    method: str
    path: str
    conversation_id: str | None
    status: int
    authorization: bool = False
    """Whether the request carried an ``Authorization`` header."""
    at: float = 0.0
    """The fake's clock when the request arrived."""


class FakeConnector(LocalServer):
    """Fake Bot Connector. ``identity=None`` accepts requests without a token."""

    def __init__(
        self,
        identity: FakeIdentity | None,
        *,
        base_path: str = "/teams/",
        clock: Callable[[], float] = time.monotonic,
        allow_unknown_conversations: bool = True,
    ) -> None:
        super().__init__()
        if not (base_path.startswith("/") and base_path.endswith("/")):
            raise ValueError("base_path must start and end with '/'")
        self._identity = identity
        self._base_path = base_path
        self._clock = clock
        self.allow_unknown_conversations = allow_unknown_conversations
        self.conversations: dict[str, Conversation] = {}
        self.requests: list[ConnectorRequest] = []
        self.token_claims: list[dict[str, Any]] = []
        self._faults: list[_Fault] = []
        self._rate_limits: dict[str | None, _RateLimit] = {}
        self._blocked_users: dict[str, tuple[int, str, str]] = {}
        self._ids = itertools.count(1_700_000_000_000)
        self.members: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Condition()

    # -- configuration -------------------------------------------------------------------

    @property
    def service_url(self) -> str:
        """The ``serviceUrl`` to put in activities, ending in ``/``."""
        return f"{self.base_url}{self._base_path}"

    def block_user(self, user_id: str, reason: tuple[int, str, str] = NOT_INSTALLED) -> None:
        """Creating or writing to a 1:1 conversation with ``user_id`` now fails with ``reason``."""
        self._blocked_users[user_id] = reason

    def add_member(
        self, user_id: str, *, aad_object_id: str, email: str, name: str = "", upn: str = ""
    ) -> None:
        """A person the member lookup knows (by Teams id or Entra object id)."""
        self.members[user_id] = {
            "id": user_id,
            "name": name or email,
            "aadObjectId": aad_object_id,
            "email": email,
            "userPrincipalName": upn or email,
            "userRole": "user",
        }

    def unblock_user(self, user_id: str) -> None:
        self._blocked_users.pop(user_id, None)

    def fail_next(
        self,
        status: int,
        code: str = "",
        message: str = "",
        *,
        conversation_id: str | None = None,
        count: int = 1,
        retry_after: float | None = None,
        after: bool = False,
    ) -> None:
        """Fail the next ``count`` requests (for ``conversation_id``, or any) with ``status``.
        ``after``: only activity posts, carried out first and then answered with the error,
        as a 5xx can come after Teams has kept the message."""
        self._faults.append(
            _Fault(
                status,
                code or "Error",
                message or "Injected failure.",
                conversation_id,
                count,
                retry_after,
                after,
            )
        )

    def inject(
        self, reason: tuple[int, str, str], *, conversation_id: str | None = None, count: int = 1
    ) -> None:
        """``fail_next`` with one of the module constants, e.g. ``PRECONDITION_FAILED``."""
        status, code, message = reason
        self.fail_next(status, code, message, conversation_id=conversation_id, count=count)

    def set_rate_limit(
        self,
        max_requests: int,
        per_seconds: float,
        *,
        conversation_id: str | None = None,
        retry_after: float = 1.0,
    ) -> None:
        """Allow ``max_requests`` per ``per_seconds`` sliding window, per conversation.

        ``conversation_id=None`` applies the limit to every conversation (each counted
        separately, as Teams limits per bot per thread). Excess requests get 429 with
        ``Retry-After``.
        """
        self._rate_limits[conversation_id] = _RateLimit(max_requests, per_seconds, retry_after)

    # -- inspection ------------------------------------------------------------------------

    def activities(self, conversation_id: str) -> list[RecordedActivity]:
        conversation = self.conversations.get(conversation_id)
        return list(conversation.activities) if conversation else []

    def all_activities(self) -> list[RecordedActivity]:
        return [a for c in self.conversations.values() for a in c.activities]

    def current(self, conversation_id: str, activity_id: str) -> dict[str, Any]:
        """The latest body of an activity, after any updates."""
        return self.conversations[conversation_id].current[activity_id]

    async def wait_for_activities(
        self, conversation_id: str, count: int, timeout: float = 5.0
    ) -> list[RecordedActivity]:
        """Wait until ``conversation_id`` has at least ``count`` recorded activities."""

        def ready() -> bool:
            return len(self.activities(conversation_id)) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(ready), timeout)
        return self.activities(conversation_id)

    # -- HTTP ------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._log_middleware])
        base = self._base_path.rstrip("/")
        app.router.add_post(f"{base}/v3/conversations", self._create_conversation)
        app.router.add_post(f"{base}/v3/conversations/{{cid}}/activities", self._send)
        app.router.add_post(f"{base}/v3/conversations/{{cid}}/activities/{{aid}}", self._reply)
        app.router.add_put(f"{base}/v3/conversations/{{cid}}/activities/{{aid}}", self._update)
        app.router.add_get(f"{base}/v3/conversations/{{cid}}/members/{{uid}}", self._member)
        return app

    async def _member(self, request: web.Request) -> web.Response:
        if (refusal := self._authorize(request)) is not None:
            return refusal
        wanted = request.match_info["uid"]
        for member in self.members.values():
            if wanted in (member["id"], member["aadObjectId"]):
                return web.json_response(member)
        return connector_error(404, "MemberNotFoundInConversation", "The member was not found.")

    @web.middleware
    async def _log_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        at = self._clock()
        response: web.StreamResponse = await handler(request)
        self.requests.append(
            ConnectorRequest(
                request.method,
                request.path,
                request.match_info.get("cid"),
                response.status,
                "Authorization" in request.headers,
                at,
            )
        )
        return response

    def _authorize(self, request: web.Request) -> web.Response | None:
        if self._identity is None:
            return None
        token = bearer_token(request)
        if token is None:
            return connector_error(401, "Unauthorized", "Authorization has been denied.")
        try:
            claims = self._identity.verify_access_token(token, BOT_CONNECTOR_RESOURCE)
        except jwt.InvalidTokenError:
            return connector_error(401, "Unauthorized", "Authorization has been denied.")
        self.token_claims.append(claims)
        return None

    def _refusal(self, conversation_id: str | None) -> web.Response | None:
        """Injected faults first, then the rate limit, then users who blocked the bot."""
        fault = self._take_fault(conversation_id, after=False)
        if fault is not None:
            return fault
        if conversation_id is not None:
            limit = self._rate_limits.get(conversation_id) or self._rate_limits.get(None)
            if limit is not None:
                if conversation_id not in self._rate_limits:
                    limit = self._rate_limits[conversation_id] = _RateLimit(
                        limit.max_requests, limit.per_seconds, limit.retry_after
                    )
                now = self._clock()
                while limit.hits and now - limit.hits[0] >= limit.per_seconds:
                    limit.hits.popleft()
                if len(limit.hits) >= limit.max_requests:
                    status, code, message = THROTTLED
                    return connector_error(
                        status, code, message, {"Retry-After": _seconds(limit.retry_after)}
                    )
                limit.hits.append(now)
            conversation = self.conversations.get(conversation_id)
            if conversation is not None and not conversation.is_group:
                for member in conversation.member_ids:
                    if member in self._blocked_users:
                        return connector_error(*self._blocked_users[member])
        return None

    def _take_fault(self, conversation_id: str | None, *, after: bool) -> web.Response | None:
        for fault in self._faults:
            if fault.after == after and fault.conversation_id in (None, conversation_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                headers = (
                    {"Retry-After": _seconds(fault.retry_after)}
                    if fault.retry_after is not None
                    else None
                )
                return connector_error(fault.status, fault.code, fault.message, headers)
        return None

    async def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except ValueError:
            return connector_error(400, "BadSyntax", "Body is not valid JSON.")
        if not isinstance(body, dict):
            return connector_error(400, "BadSyntax", "Body must be a JSON object.")
        return body

    def _conversation(self, conversation_id: str) -> Conversation | web.Response:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            if not self.allow_unknown_conversations:
                return connector_error(404, "ConversationNotFound", "Conversation not found.")
            conversation = self.conversations[conversation_id] = Conversation(
                conversation_id, None, None, []
            )
        return conversation

    async def _record(
        self,
        conversation: Conversation,
        kind: ActivityKind,
        activity_id: str,
        body: dict[str, Any],
        reply_to_id: str | None = None,
    ) -> None:
        conversation.activities.append(
            RecordedActivity(kind, conversation.id, activity_id, body, reply_to_id)
        )
        if kind == "update":
            conversation.current[activity_id] = {**conversation.current[activity_id], **body}
        else:
            conversation.current[activity_id] = body
        async with self._changed:
            self._changed.notify_all()

    async def _create_conversation(self, request: web.Request) -> web.Response:
        if (refusal := self._authorize(request)) is not None:
            return refusal
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        members = body.get("members") or []
        bot = body.get("bot") or {}
        channel_data = body.get("channelData") or {}
        tenant_id = body.get("tenantId") or (channel_data.get("tenant") or {}).get("id")
        if body.get("isGroup") or len(members) != 1 or not members[0].get("id"):
            return connector_error(
                400, "BadArgument", "Exactly one member is needed for a 1:1 conversation."
            )
        if not tenant_id:
            return connector_error(400, "BadArgument", "Tenant id is required.")
        user_id = str(members[0]["id"])
        if user_id in self._blocked_users:
            return connector_error(*self._blocked_users[user_id])
        if (refusal := self._refusal(None)) is not None:
            return refusal
        # Teams returns the same personal conversation for the same bot and user.
        conversation_id = (
            "a:" + uuid.uuid5(uuid.NAMESPACE_URL, f"{bot.get('id')}|{user_id}|{tenant_id}").hex
        )
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            conversation = self.conversations[conversation_id] = Conversation(
                conversation_id, str(tenant_id), bot.get("id"), [user_id]
            )
        response: dict[str, Any] = {"id": conversation_id}
        initial = body.get("activity")
        if isinstance(initial, dict):
            activity_id = str(next(self._ids))
            await self._record(conversation, "create", activity_id, initial)
            response["activityId"] = activity_id
        return web.json_response(response, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        return await self._post_activity(request, reply_to_id=None)

    async def _reply(self, request: web.Request) -> web.Response:
        return await self._post_activity(request, reply_to_id=request.match_info["aid"])

    async def _post_activity(self, request: web.Request, reply_to_id: str | None) -> web.Response:
        if (refusal := self._authorize(request)) is not None:
            return refusal
        conversation_id = request.match_info["cid"]
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        if (refusal := self._refusal(conversation_id)) is not None:
            return refusal
        if not body.get("type"):
            return connector_error(400, "BadArgument", "Activity type is required.")
        if (refusal := _nulls(body)) is not None:
            return refusal
        conversation = self._conversation(conversation_id)
        if isinstance(conversation, web.Response):
            return conversation
        activity_id = str(next(self._ids))
        kind: ActivityKind = "send" if reply_to_id is None else "reply"
        await self._record(conversation, kind, activity_id, body, reply_to_id)
        if (late := self._take_fault(conversation_id, after=True)) is not None:
            return late
        return web.json_response({"id": activity_id}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        if (refusal := self._authorize(request)) is not None:
            return refusal
        conversation_id = request.match_info["cid"]
        activity_id = request.match_info["aid"]
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        if (refusal := self._refusal(conversation_id)) is not None:
            return refusal
        conversation = self.conversations.get(conversation_id)
        if conversation is None or activity_id not in conversation.current:
            return connector_error(404, "ActivityNotFoundInConversation", "Unknown activity.")
        if "text" in body and body["text"] is None:
            # Teams refuses an update whose text is explicitly null: leave the field out.
            return connector_error(400, "BadSyntax", "Text cannot be null.")
        if (refusal := _nulls(body)) is not None:
            return refusal
        await self._record(conversation, "update", activity_id, body)
        return web.json_response({"id": activity_id}, status=200)


def _nulls(body: dict[str, Any]) -> web.Response | None:
    """The connector's schema: these are optional strings, and null is not a string."""
    conversation = body.get("conversation")
    bad: list[str] = [key for key in ("id", "replyToId") if key in body and body[key] is None]
    if conversation is not None and not isinstance(conversation, dict):
        bad.append("conversation")
    elif isinstance(conversation, dict):
        bad += [
            f"conversation.{key}"
            for key in ("id", "tenantId", "conversationType")
            if key in conversation and conversation[key] is None
        ]
    if bad:
        return connector_error(400, "BadArgument", f"Invalid input ({', '.join(bad)} is null)")
    return None


def _seconds(value: float) -> str:
    return str(max(0, math.ceil(value)))
