"""The Slack adapter behind :class:`bot.platform.ChatPlatform`, on the real ``slack_sdk``.

``SLACK_API_URL`` points the client at another Web API (the tests' local fake). A rate limit
(HTTP 429) on a post or an update pauses that method for the whole workspace: every send of
it waits out the ``Retry-After`` on one shared budget (:class:`~bot.delivery.ratelimit.RateLimiter`,
which also paces posts), then the refused call is made again (a 429 means Slack did nothing);
slack_sdk's own 429 handler retries only the other methods (reads). Server errors and
dropped connections are retried by the library only for calls that are safe to repeat
(:data:`IDEMPOTENT`): Slack may answer 500 after it has posted a message, so a post is never
repeated blindly. What still fails becomes a :class:`DeliveryError`, permanent when
retrying cannot help, uncertain when a post may have gone out (the outbox then looks in the
conversation's history before sending again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.delivery.ratelimit import RateLimiter
from bot.messages import Attachment, Message
from bot.platform import ChannelId, DeliveryError, MessageRef, PlatformUserId, Resolution
from bot.platforms.slack import render
from surveys.model import Email, Platform

log = logging.getLogger(__name__)

SDK_LOG: Final = logging.getLogger("rcbot.slack_sdk")
"""The logger rcbot's Slack client hands slack_sdk, at INFO. slack_sdk formats a debug line
of each request's and each response's whole payload whenever its logger's *own* level is
unset (checking ``logger.level``, not whether anything would be logged): CPU on every call,
and payloads that hold a person's answers, which must never reach a log."""
SDK_LOG.setLevel(logging.INFO)

OUTBOX_EVENT: Final = "rcbot_outbox"
DIRECTORY_TTL: Final = 600.0
"""Seconds a copy of the workspace's user list is reused."""
PERMANENT: Final = frozenset(
    {
        "users_not_found",
        "user_not_found",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_disabled",
        "cannot_dm_bot",
        "account_inactive",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "missing_scope",
        "message_not_found",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "restricted_action",
    }
)


IDEMPOTENT: Final = frozenset(
    {
        "auth.test",
        "users.list",
        "users.lookupByEmail",
        "users.info",
        "conversations.open",
        "conversations.history",
        "chat.update",
        "views.publish",
    }
)
"""Methods the library may repeat after a 5xx or a dropped connection: repeating them does
nothing new. Everything else (``chat.postMessage`` above all) is never repeated blindly."""


SHARED_BUDGET: Final = frozenset({"chat.postMessage", "chat.update"})
"""Methods whose 429s pause every sender (rcbot's sends): handled by :class:`SlackPlatform`,
never by slack_sdk's handler, which would retry only the refused call."""
RATE_LIMITED_TRIES: Final = 6
"""Calls of a method refused with 429 in a row before the send is handed back to the outbox."""


def _method(request: HttpRequest) -> str:
    return request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class _ForSomeMethods(AsyncRetryHandler):
    """A slack_sdk retry handler that retries only the methods :meth:`_retries` allows;
    slack_sdk's own rules decide the rest."""

    def _retries(self, method: str) -> bool:
        raise NotImplementedError

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return self._retries(_method(request)) and await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class _OnlyIdempotent(_ForSomeMethods):
    """Retries only the methods that are safe to repeat (never a post)."""

    def _retries(self, method: str) -> bool:
        return method in IDEMPOTENT


class _IdempotentServerErrorRetry(_OnlyIdempotent, AsyncServerErrorRetryHandler):
    pass


class _IdempotentConnectionErrorRetry(_OnlyIdempotent, AsyncConnectionErrorRetryHandler):
    pass


class _UnsharedRateLimitRetry(_ForSomeMethods, AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler for the methods without a shared budget (reads)."""

    def _retries(self, method: str) -> bool:
        return method not in SHARED_BUDGET


def make_client(
    token: str,
    base_url: str,
    *,
    max_retries: int = 3,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """``session``: one aiohttp session for every call (kept-alive connections). Without
    it slack_sdk opens and closes a session, and a connection, for each call, which costs
    more CPU than many a listener's own work; ``rcbot serve`` always passes one."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        session=session,
        logger=SDK_LOG,
        retry_handlers=[
            _IdempotentConnectionErrorRetry(max_retry_count=max_retries),
            _UnsharedRateLimitRetry(max_retry_count=max_retries),
            _IdempotentServerErrorRetry(max_retry_count=max_retries),
        ],
    )


def _retry_after(exc: SlackApiError) -> float:
    try:
        return max(float(exc.response.headers.get("Retry-After", "1")), 0.0)
    except ValueError:
        return 1.0


def _rate_limited(exc: Exception) -> bool:
    return isinstance(exc, SlackApiError) and (
        exc.response.status_code == 429 or exc.response.get("error") == "ratelimited"
    )


def delivery_error(exc: Exception, *, posting: bool = False) -> DeliveryError:
    """``posting``: the call may have created a message, so a server error, a timeout or a
    dropped connection leaves it uncertain whether it did."""
    if isinstance(exc, SlackApiError):
        code = str(exc.response.get("error", "unknown_error"))
        if exc.response.status_code == 429 or code == "ratelimited":
            return DeliveryError(f"Slack: {code}", retry_after=_retry_after(exc))
        uncertain = posting and exc.response.status_code >= 500
        return DeliveryError(f"Slack: {code}", permanent=code in PERMANENT, uncertain=uncertain)
    return DeliveryError(f"Slack unreachable: {type(exc).__name__}", uncertain=posting)


class SlackPlatform:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        post_rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rate_limited_tries: int = RATE_LIMITED_TRIES,
    ) -> None:
        self.client = client
        self.rate_limited_tries = rate_limited_tries
        # Pacing posts under the workspace's limit beats bumping into it: every 429 costs
        # whole seconds of Retry-After. A tenth of a second of burst absorbs late wake-ups.
        # One budget per method for the workspace: a 429 pauses all its sends.
        self.budgets = {
            "chat.postMessage": RateLimiter(
                post_rate,
                burst=1 if post_rate is None else max(1, int(post_rate / 10)),
                clock=clock,
                sleep=sleep,
            ),
            "chat.update": RateLimiter(None, clock=clock, sleep=sleep),
        }
        self._dm: dict[str, str] = {}
        self._people: dict[Email, PlatformUserId] | None = None
        self._people_at = 0.0

    @property
    def platform(self) -> Platform:
        return Platform.SLACK

    async def check(self) -> dict[str, Any]:
        """``auth.test``: who the bot is, or a DeliveryError saying why the token fails."""
        try:
            response = await self.client.auth_test()
        except (SlackApiError, SlackRequestError, OSError) as exc:
            raise delivery_error(exc) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def resolve_users(self, emails: Sequence[Email]) -> Resolution:
        """All users in one paginated ``users.list``; ``users.lookupByEmail`` for the rest
        (it is rate limited per call, so it is only the fallback)."""
        wanted = set(emails)
        directory = await self._directory()
        found = {e: directory[e] for e in wanted if e in directory}
        missing: dict[Email, str] = {}
        for email in sorted(wanted - set(found)):
            try:
                response = await self.client.users_lookupByEmail(email=email)
                user = response.get("user") or {}
                if user.get("deleted"):
                    missing[email] = "deactivated in Slack"
                else:
                    found[email] = PlatformUserId(user["id"])
            except SlackApiError as exc:
                code = exc.response.get("error", "error")
                missing[email] = (
                    "no Slack user with this e-mail"
                    if code == "users_not_found"
                    else f"Slack: {code}"
                )
            except (SlackRequestError, OSError) as exc:
                missing[email] = f"Slack unreachable: {type(exc).__name__}"
        return Resolution(found, missing)

    async def _directory(self) -> dict[Email, PlatformUserId]:
        """Every active person's e-mail -> user id, from ``users.list``; kept for a few
        minutes so that batch after batch of invitations does not page through it again."""
        if self._people is not None and time.monotonic() - self._people_at < DIRECTORY_TTL:
            return self._people
        people: dict[Email, PlatformUserId] = {}
        try:
            cursor: str | None = None
            while True:
                page = await self.client.users_list(limit=500, cursor=cursor)
                members: list[dict[str, Any]] = page.get("members", [])
                for member in members:
                    email = (member.get("profile") or {}).get("email", "").strip().lower()
                    if email and not member.get("deleted") and not member.get("is_bot"):
                        people[Email(email)] = PlatformUserId(member["id"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if cursor is None:
                    break
        except (SlackApiError, SlackRequestError, OSError) as exc:
            log.warning("users.list failed (%s); falling back to look-ups", type(exc).__name__)
            return people
        self._people, self._people_at = people, time.monotonic()
        return people

    async def send_direct(
        self,
        user: PlatformUserId,
        message: Message,
        *,
        key: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> MessageRef:
        try:
            # Posting to the user id opens the DM; conversations.open (Tier 3, 50 a minute)
            # would make a fan-out to thousands of people take hours.
            channel = self._dm.get(user, user)
            args: dict[str, Any] = {
                "channel": channel,
                "text": render.fallback(message),
                "blocks": render.blocks(message),
                "unfurl_links": False,
            }
            if key is not None:
                args["metadata"] = {"event_type": OUTBOX_EVENT, "event_payload": {"key": key}}
            response = await self._shared(
                "chat.postMessage", lambda: self.client.chat_postMessage(**args)
            )
        except (SlackApiError, SlackRequestError, OSError) as exc:
            raise delivery_error(exc, posting=True) from None
        try:
            channel = self._dm[user] = str(response["channel"])
            if attachments:
                await self._upload(channel, str(response["ts"]), attachments)
        except (SlackApiError, SlackRequestError, OSError) as exc:
            # Posted: another attempt would post the message twice; the history knows.
            raise DeliveryError(
                f"Slack: the files did not upload ({type(exc).__name__})", uncertain=True
            ) from None
        return MessageRef(Platform.SLACK, str(response["channel"]), str(response["ts"]))

    async def _shared(
        self, method: str, call: Callable[[], Awaitable[AsyncSlackResponse]]
    ) -> AsyncSlackResponse:
        """Make a call of a method with a workspace-wide budget: wait for the budget (its
        pace, and any pause a 429 imposed), call; on a 429 pause the whole method for the
        Retry-After and call again (Slack carried nothing out), up to
        ``rate_limited_tries`` times (then the outbox takes it back)."""
        budget = self.budgets[method]
        tries = 0
        while True:
            await budget.acquire()
            try:
                return await call()
            except SlackApiError as exc:
                tries += 1
                if not _rate_limited(exc) or tries >= self.rate_limited_tries:
                    raise
                seconds = _retry_after(exc)
                budget.pause_for(seconds)
                log.info("Slack rate-limited %s: every send of it waits %g s", method, seconds)

    async def _upload(self, channel: str, ts: str, attachments: Sequence[Attachment]) -> None:
        await self.client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            file_uploads=[
                {"content": a.content, "filename": a.filename, "title": a.title or a.filename}
                for a in attachments
            ],
        )

    async def _dm_channel(self, user: PlatformUserId) -> str:
        channel = self._dm.get(user)
        if channel is None:
            response = await self.client.conversations_open(users=user)
            channel = str(response["channel"]["id"])
            self._dm[user] = channel
        return channel

    async def find_sent(self, user: PlatformUserId, key: str) -> MessageRef | None:
        """Look through the DM's recent history for the message carrying ``key``."""
        try:
            channel = await self._dm_channel(user)
        except (SlackApiError, SlackRequestError, OSError) as exc:
            raise delivery_error(exc) from None
        return await self.find_posted(ChannelId(channel), key)

    async def find_posted(self, channel: ChannelId, key: str) -> MessageRef | None:
        """Look through a conversation's recent history for the message carrying ``key``."""
        try:
            history = await self.client.conversations_history(
                channel=channel, limit=100, include_all_metadata=True
            )
        except (SlackApiError, SlackRequestError, OSError) as exc:
            raise delivery_error(exc) from None
        messages: list[dict[str, Any]] = history.get("messages", [])
        for item in messages:
            meta = item.get("metadata") or {}
            if (
                meta.get("event_type") == OUTBOX_EVENT
                and (meta.get("event_payload") or {}).get("key") == key
            ):
                return MessageRef(Platform.SLACK, channel, str(item["ts"]))
        return None

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        try:
            await self._shared(
                "chat.update",
                lambda: self.client.chat_update(
                    channel=ref.conversation,
                    ts=ref.message_id,
                    text=render.fallback(message),
                    blocks=render.blocks(message),
                ),
            )
        except (SlackApiError, SlackRequestError, OSError) as exc:
            raise delivery_error(exc) from None
        return ref

    async def post_to_channel(
        self,
        channel: ChannelId,
        message: Message,
        attachments: Sequence[Attachment] = (),
        *,
        key: str | None = None,
    ) -> MessageRef:
        args: dict[str, Any] = {
            "channel": channel,
            "text": render.fallback(message),
            "blocks": render.blocks(message),
            "unfurl_links": False,
        }
        if key is not None:
            args["metadata"] = {"event_type": OUTBOX_EVENT, "event_payload": {"key": key}}
        try:
            response = await self._shared(
                "chat.postMessage", lambda: self.client.chat_postMessage(**args)
            )
        except (SlackApiError, SlackRequestError, OSError) as exc:
            # A 5xx or a timeout may come after the post: the channel's history decides.
            raise delivery_error(exc, posting=True) from None
        ts = str(response["ts"])
        try:
            if attachments:
                await self._upload(channel, ts, attachments)
        except (SlackApiError, SlackRequestError, OSError) as exc:
            raise DeliveryError(
                f"Slack: the files did not upload ({type(exc).__name__})", uncertain=True
            ) from None
        return MessageRef(Platform.SLACK, str(response["channel"]), ts)
