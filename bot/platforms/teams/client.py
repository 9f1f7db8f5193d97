"""The Teams adapter behind :class:`bot.platform.ChatPlatform`, on the Microsoft 365 Agents
SDK: proactive 1:1 messages and channel posts through the Bot Connector, people found and
reached through Microsoft Graph.

Teams cannot message someone out of the blue: the bot needs the 1:1 chat, which exists once
rcbot is installed for the person. ``resolve_users`` finds each person by e-mail, installs
the app for them when needed and stores the chat in the :class:`ConversationStore`.
Connector failures become :class:`DeliveryError`: 403/404 are permanent (not installed,
blocked, gone). A 429 or 412 (Teams' throttling) pauses every connector call of the tenant
for the ``Retry-After`` on one shared budget (the same :class:`~bot.delivery.ratelimit.RateLimiter`
that paces the calls), then the refused call is made again (a refusal carried nothing out).
A 5xx, a timeout or a dropped connection on a post is *uncertain*: Teams may have delivered
it, and a bot cannot search a chat's history for it (the connector has no such call for
Teams), so the outbox never posts it again; it is marked uncertain and listed for the owners
in the digest ("it may have arrived: not resent"), who can check with the person.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import aiohttp
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from microsoft_agents.activity import (
    Attachment as CardAttachment,
)
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import ClaimsIdentity, TurnContext
from microsoft_agents.hosting.core.connector import ConnectorClientBase

from bot.db_boundary import run_db
from bot.delivery.ratelimit import RateLimiter
from bot.files import PublishedFiles
from bot.messages import Attachment, Message, Text
from bot.platform import ChannelId, DeliveryError, MessageRef, PlatformUserId, Resolution
from bot.platforms.teams.cards import card
from bot.platforms.teams.graph import GraphClient, GraphError
from surveys.conversations import ConversationRef, ConversationStore
from surveys.model import Email, Platform

log = logging.getLogger(__name__)

CARD: Final = "application/vnd.microsoft.card.adaptive"
RETRYABLE: Final = frozenset({412, 429, 502, 503, 504})
THROTTLING: Final = frozenset({412, 429})
"""Teams' refusals for going too fast: nothing was carried out, the tenant must slow down."""
THROTTLED_TRIES: Final = 6
"""Calls refused for throttling in a row before the send is handed back to the outbox."""
TENANT_RATE: Final = 30.0


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


class WireActivity(Activity):
    """An activity that never puts ``null`` on the wire.

    The Agents SDK (1.9) sets ``activity.id = None`` on every outgoing activity and copies
    empty references (``recipient``, ``conversation.tenantId``) into it; the connector's schema
    has those as optional strings and refuses the request (``400 BadArgument "Invalid
    input"``). Leaving the fields out is what the schema means.
    """

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return _without_nulls(super().model_dump(**kwargs))  # type: ignore[no-any-return]


def card_activity(
    message: Message, image_urls: Mapping[str, str] | None = None, **fields: Any
) -> WireActivity:
    """A message activity carrying the message as one Adaptive Card (no ``text`` field: an
    update with ``"text": null`` is refused)."""
    urls = image_urls or {}
    return raw_card_activity(
        card(message, image_url=urls.get), summary=message.text[:200], **fields
    )


def raw_card_activity(content: dict[str, Any], **fields: Any) -> WireActivity:
    """A message activity carrying one Adaptive Card built elsewhere (a question page)."""
    return WireActivity(
        type=ActivityTypes.message,
        attachments=[CardAttachment(content_type=CARD, content=content)],
        **fields,
    )


def _retry_after(exc: aiohttp.ClientResponseError) -> float | None:
    retry = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return None if retry is None else max(float(retry), 0.0)
    except ValueError:
        return None


def delivery_error(exc: Exception, *, posting: bool = False) -> DeliveryError:
    """``posting``: the call may have created a message, so a server error, a timeout or a
    connection dropped after the request left leaves it uncertain whether it did (Teams
    keeps the activity and answers 5xx at times). A connection that was never made is
    surely not a post."""
    if isinstance(exc, aiohttp.ClientResponseError):
        if posting and exc.status >= 500:
            return DeliveryError(f"Teams: HTTP {exc.status}", uncertain=True)
        if exc.status in RETRYABLE:
            return DeliveryError(f"Teams: HTTP {exc.status}", retry_after=_retry_after(exc))
        if exc.status == 403:
            return DeliveryError(
                "Teams: rcbot is not installed for this person, or they blocked it",
                permanent=True,
            )
        if exc.status == 404:
            return DeliveryError("Teams: the conversation no longer exists", permanent=True)
        return DeliveryError(f"Teams: HTTP {exc.status}", permanent=400 <= exc.status < 500)
    uncertain = posting and not isinstance(exc, aiohttp.ClientConnectorError)
    return DeliveryError(f"Teams unreachable: {type(exc).__name__}", uncertain=uncertain)


class TeamsPlatform:
    def __init__(
        self,
        adapter: CloudAdapter,
        app_id: str,
        conversations: ConversationStore,
        *,
        service_url: str,
        tenant_id: str | None = None,
        graph: GraphClient | None = None,
        files: PublishedFiles | None = None,
        anonymous: bool = False,
        tenant_rate: float = TENANT_RATE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.adapter = adapter
        self.app_id = app_id
        self.conversations = conversations
        self.service_url = service_url
        self.tenant_id = tenant_id
        self.graph = graph
        self.files = files
        self.anonymous = anonymous
        self.bot_id: str | None = f"28:{app_id}" if app_id else None
        """The bot's account in Teams; without an app id (trial mode) learnt from the first
        activity that reaches it."""
        # Teams allows a bot 30-50 requests a second per tenant; stay under the lower figure.
        # The same budget takes the pauses Teams imposes (429, 412): one per tenant.
        self.pace = RateLimiter(
            tenant_rate, burst=max(1, int(tenant_rate)), clock=clock, sleep=sleep
        )

    @property
    def platform(self) -> Platform:
        return Platform.TEAMS

    # --- people ------------------------------------------------------------------------

    async def resolve_users(self, emails: Sequence[Email]) -> Resolution:
        found: dict[Email, PlatformUserId] = {}
        missing: dict[Email, str] = {}
        if self.graph is None:
            return Resolution({}, dict.fromkeys(emails, "Microsoft Graph is not configured"))
        for email in emails:
            try:
                user = await self.graph.find_user(email)
                if user is None:
                    missing[email] = "no Microsoft 365 user with this e-mail"
                    continue
                if await run_db(self.conversations.get, Platform.TEAMS, user) is None:
                    chat = await self.graph.personal_chat(user, self.app_id)
                    await run_db(
                        self.conversations.put,
                        ConversationRef(
                            Platform.TEAMS, user, chat, self.service_url, self.tenant_id
                        ),
                    )
                found[email] = PlatformUserId(user)
            except GraphError as exc:
                missing[email] = _graph_reason(exc)
            except aiohttp.ClientError as exc:
                missing[email] = f"Microsoft Graph unreachable ({type(exc).__name__})"
        return Resolution(found, missing)

    async def personal_conversation(
        self, user: str, service_url: str | None = None
    ) -> ConversationRef:
        """The 1:1 chat with ``user`` (an Entra object id or a Teams user id): the one stored
        when they installed or wrote to rcbot, else one created through the connector
        (``POST /v3/conversations``), which works once rcbot is installed for them."""
        ref = await run_db(self.conversations.get, Platform.TEAMS, user)
        if ref is not None:
            return ref
        url = service_url or self.service_url
        created: list[str] = []

        async def create(client: ConnectorClientBase) -> None:
            params = ConversationParameters(
                is_group=False, members=[ChannelAccount(id=user)], **self._tenant_fields()
            )
            if self.bot_id:
                params.agent = ChannelAccount(id=self.bot_id)
            result = await client.conversations.create_conversation(params)
            created.append(str(result.id))

        await self._with_connector(url, create)
        if not created or not created[0]:
            raise DeliveryError("Teams: the connector did not create a 1:1 chat", permanent=True)
        ref = ConversationRef(Platform.TEAMS, user, created[0], url, self.tenant_id)
        await run_db(self.conversations.put, ref)
        return ref

    async def member(
        self, conversation: str, user: str, service_url: str | None = None
    ) -> ChannelAccount | None:
        """The connector's record of a conversation member (Teams gives e-mail and UPN)."""
        found: list[ChannelAccount] = []

        async def lookup(client: ConnectorClientBase) -> None:
            found.append(await client.conversations.get_conversation_member(conversation, user))

        try:
            await self._with_connector(service_url or self.service_url, lookup)
        except DeliveryError:
            return None
        return found[0] if found else None

    def _tenant_fields(self) -> dict[str, Any]:
        if not self.tenant_id:
            return {}
        return {"tenant_id": self.tenant_id, "channel_data": {"tenant": {"id": self.tenant_id}}}

    async def _with_connector(
        self, service_url: str, work: Callable[[ConnectorClientBase], Awaitable[None]]
    ) -> None:
        """Run ``work`` with the SDK's connector client for ``service_url`` (the adapter
        builds it, with a token or anonymously, exactly as for a send)."""

        async def run(context: TurnContext) -> None:
            client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
            if client is None:
                raise DeliveryError("Teams: the SDK gave no connector client")
            await work(client)

        await self._continue("rcbot-connector", service_url, run)

    # --- messages ----------------------------------------------------------------------

    async def send_direct(
        self,
        user: PlatformUserId,
        message: Message,
        *,
        key: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> MessageRef:
        ref = await self.personal_conversation(str(user))
        message, urls = await self._with_files(message, attachments)
        activity_id = await self._send(ref.conversation_id, ref.service_url, message, urls)
        return MessageRef(Platform.TEAMS, ref.conversation_id, activity_id)

    async def send_private(
        self, ids: Sequence[str], create_for: str, message: Message, service_url: str | None
    ) -> MessageRef:
        """Message a person in their 1:1 chat: the one stored under any of their ``ids``,
        else one created for ``create_for`` at ``service_url`` (where they wrote from)."""
        for user in ids:
            ref = await run_db(self.conversations.get, Platform.TEAMS, user)
            if ref is not None:
                break
        else:
            ref = await self.personal_conversation(create_for, service_url)
        activity_id = await self._send(ref.conversation_id, ref.service_url, message, {})
        return MessageRef(Platform.TEAMS, ref.conversation_id, activity_id)

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        # One service URL per tenant region: rcbot serves one organisation.
        await self._update(
            ref.conversation, self.service_url, card_activity(message, id=ref.message_id)
        )
        return ref

    async def send_to_conversation(
        self, conversation: str, service_url: str, message: Message
    ) -> MessageRef:
        """A message in a conversation rcbot already has (a reply that came too late to be
        sent within the request that asked for it)."""
        activity_id = await self._send(conversation, service_url, message, {})
        return MessageRef(Platform.TEAMS, conversation, activity_id)

    async def send_card_to(
        self, conversation: str, service_url: str, shown: dict[str, Any]
    ) -> None:
        """A card as a new message in a conversation rcbot already has."""
        await self._post(conversation, service_url, raw_card_activity(shown))

    async def replace_card(
        self, conversation: str, service_url: str, activity_id: str, shown: dict[str, Any]
    ) -> None:
        """Replace a card the person acted on (the outcome of a card action that came too
        late for the invoke response)."""
        await self._update(conversation, service_url, raw_card_activity(shown, id=activity_id))

    async def post_to_channel(
        self,
        channel: ChannelId,
        message: Message,
        attachments: Sequence[Attachment] = (),
        *,
        key: str | None = None,
    ) -> MessageRef:
        """``key`` is not stored: Teams keeps no metadata a bot could search its history
        for, so an uncertain channel post is reported, never posted again."""
        message, urls = await self._with_files(message, attachments)
        activity_id = await self._send(channel, self.service_url, message, urls)
        return MessageRef(Platform.TEAMS, channel, activity_id)

    async def _with_files(
        self, message: Message, attachments: Sequence[Attachment]
    ) -> tuple[Message, dict[str, str]]:
        """Files become expiring links, and images are drawn by the card from the same
        links (see :mod:`bot.files`)."""
        if not attachments:
            return message, {}
        if self.files is None:
            names = ", ".join(a.filename for a in attachments)
            note = f"The files ({names}) are with the survey owners (RCBOT_PUBLIC_URL is not set)."
            return Message(message.text, (*message.blocks, Text(note))), {}
        files = self.files
        links = {a.filename: await run_db(files.publish, a) for a in attachments}
        shown = ", ".join(
            f"[{a.title or a.filename}]({links[a.filename].url})" for a in attachments
        )
        until = min(link.expires_at for link in links.values())
        note = f"Files: {shown} (the links work until {until:%-d %B %Y})"
        urls = {name: link.url for name, link in links.items()}
        return Message(message.text, (*message.blocks, Text(note))), urls

    async def _send(
        self, conversation: str, service_url: str, message: Message, urls: Mapping[str, str]
    ) -> str:
        return await self._post(conversation, service_url, card_activity(message, urls))

    async def _post(self, conversation: str, service_url: str, activity: WireActivity) -> str:
        """Post ``activity`` to the conversation; the id Teams gave it."""
        sent: list[str] = []

        async def send(context: TurnContext) -> None:
            response = await context.send_activity(activity)
            if response is not None and response.id:
                sent.append(response.id)

        await self._continue(conversation, service_url, send, posting=True)
        return sent[0] if sent else ""

    async def _update(self, conversation: str, service_url: str, activity: WireActivity) -> None:
        """Replace the activity whose id ``activity`` carries."""

        async def update(context: TurnContext) -> None:
            await context.update_activity(activity)

        await self._continue(conversation, service_url, update)

    async def _continue(
        self,
        conversation: str,
        service_url: str,
        callback: Callable[[TurnContext], Awaitable[None]],
        *,
        posting: bool = False,
    ) -> None:
        """Run ``callback`` in the conversation. ``posting``: it posts a message, so a
        failure that may come after the post is uncertain (see :func:`delivery_error`)."""
        # Only fields with a value: the connector refuses null where it expects text
        # ("id": null, "conversation": {"tenantId": null} -> 400 BadArgument).
        account = ConversationAccount(id=conversation)
        if self.tenant_id:
            account.tenant_id = self.tenant_id
        reference = ConversationReference(
            channel_id="msteams",
            service_url=service_url,
            conversation=account,
            agent=ChannelAccount(id=self.bot_id or "rcbot"),
        )
        activity = reference.get_continuation_activity()
        activity.id = None  # else the SDK posts a reply to a random id
        activity.model_fields_set.discard("id")
        tries = 0
        while True:
            await self.pace.acquire()
            try:
                if self.anonymous:
                    await self.adapter.continue_conversation_with_claims(
                        ClaimsIdentity({}, None), activity, callback
                    )
                else:
                    await self.adapter.continue_conversation(self.app_id, activity, callback)
                return
            except aiohttp.ClientResponseError as exc:
                tries += 1
                if exc.status not in THROTTLING or tries >= THROTTLED_TRIES:
                    raise delivery_error(exc, posting=posting) from None
                # Teams gives no Retry-After with some 412s: back off 1, 2, 4 ... seconds.
                seconds = _retry_after(exc) or float(2 ** (tries - 1))
                self.pace.pause_for(seconds)
                log.info("Teams throttled (HTTP %d): every call waits %g s", exc.status, seconds)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise delivery_error(exc, posting=posting) from None


def _graph_reason(exc: GraphError) -> str:
    if exc.status == 403:
        return "rcbot cannot be installed for this person (no Teams licence or permission)"
    if exc.code == "AppNotInCatalog":
        return "rcbot is not in your organisation's Teams app catalogue yet"
    return f"Microsoft Graph: {exc.code}"
