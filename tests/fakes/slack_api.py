"""A local fake of Slack's Web API for tests and benchmarks.

The real ``slack_sdk`` clients talk to it over HTTP on 127.0.0.1::

    async with FakeSlack.start(token="xoxb-test") as slack:
        alice = slack.add_user("alice@example.com", name="alice")
        client = slack.async_web_client()          # AsyncWebClient(base_url=slack.url, ...)
        await client.chat_postMessage(channel=alice, text="Hi")
        assert slack.dm_messages(alice)[0]["text"] == "Hi"

From synchronous code, or to serve from another thread (a sync ``WebClient`` must not
call a server that runs in its own thread's event loop: it would block that loop)::

    with FakeSlackThread(token="xoxb-test") as slack:
        WebClient(token="xoxb-test", base_url=slack.url).auth_test()

Set-up: ``add_user``, ``deactivate_user``, ``add_channel``, ``new_trigger`` (a trigger_id
valid once, for 3 s), ``set_rate_limit``, ``set_workspace_rate_limit``, ``fail_next``,
``set_latency``. Inspection: ``calls``, ``call_records``, ``reset_calls``,
``ratelimited_count``, ``dm_messages``, ``channel_messages``, ``ephemeral_messages``,
``files``, ``view``, ``open_views``, ``home_view``.

It answers as Slack does: HTTP 200 with ``{"ok": false, "error": ...}`` for API errors,
HTTP 429 with ``Retry-After`` when a configured rate limit is exceeded, Slack's response
shapes and Block Kit limits. Every call is recorded for assertions. All state is guarded by
one lock, so the helpers may be called from any thread while the server runs.

Nothing here ever contacts a real host: the server binds 127.0.0.1 only, and every URL
it hands out (upload URLs, file links) points back at itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import json
import math
import mimetypes
import secrets
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Self, TypedDict, Unpack
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_blocks import (
    MAX_MESSAGE_TEXT,
    message_block_problems,
    view_problems,
)

DEFAULT_TOKEN: Final = "xoxb-test"
HOST: Final = "127.0.0.1"
# Uploads to the URL handed out by files.getUploadURLExternal are recorded (and can be
# failed with fail_next) under this name.
UPLOAD_ENDPOINT: Final = "upload"
# Fields Slack accepts as JSON-encoded strings in form bodies.
_JSON_FIELDS: Final = frozenset(
    {"attachments", "blocks", "files", "metadata", "unfurls", "user_auth_blocks", "view"}
)
_TRUE: Final = frozenset({"1", "true", "True", "yes"})
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_SERVER_ERRORS: Final = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable"}


class SlackError(Exception):
    """An API error: answered as HTTP 200 ``{"ok": false, "error": error, **extra}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _invalid(problems: list[str], error: str = "invalid_arguments") -> SlackError:
    """Slack's shape for argument and Block Kit problems."""
    extra: dict[str, Any] = {"response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}}
    if error == "invalid_blocks":
        extra["errors"] = list(problems)
    return SlackError(error, **extra)


def _missing(name: str) -> SlackError:
    return _invalid([f"missing required field: {name}"])


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake received, as it parsed it, and how it answered."""

    method: str
    args: dict[str, Any]
    received_at: float  # time.time() when the request arrived
    status: int  # HTTP status answered
    ok: bool
    error: str | None


@dataclass(frozen=True)
class UploadedFile:
    """A file shared to a conversation through the files_upload_v2 flow."""

    id: str
    name: str
    title: str
    content: bytes
    mimetype: str
    channel: str
    initial_comment: str | None
    thread_ts: str | None
    message_ts: str


@dataclass
class FakeUser:
    """A member of the fake workspace."""

    id: str
    name: str
    email: str | None
    real_name: str
    display_name: str
    tz: str
    team_id: str
    deleted: bool = False
    is_bot: bool = False
    is_admin: bool = False
    is_restricted: bool = False
    locale: str = "en-US"
    bot_id: str | None = None
    updated: int = field(default_factory=lambda: int(time.time()))

    def to_slack(self, *, include_locale: bool = False) -> dict[str, Any]:
        offset, label = _tz_offset(self.tz)
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "first_name": self.real_name.split(" ")[0] if self.real_name else "",
            "last_name": " ".join(self.real_name.split(" ")[1:]),
            "status_text": "",
            "status_emoji": "",
            "team": self.team_id,
            "image_72": "",
        }
        if self.email is not None:
            profile["email"] = self.email
        if self.bot_id is not None:
            profile["bot_id"] = self.bot_id
        user: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "color": "9f69e7",
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": label,
            "tz_offset": offset,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": self.updated,
            "is_email_confirmed": self.email is not None,
        }
        if include_locale:
            user["locale"] = self.locale
        return user


def _tz_offset(tz: str) -> tuple[int, str]:
    try:
        now = datetime.now(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return 0, "Coordinated Universal Time"
    delta = now.utcoffset()
    return (int(delta.total_seconds()) if delta else 0), (now.tzname() or tz)


@dataclass
class _Channel:
    id: str
    kind: str  # "im", "mpim" or "channel"
    name: str | None = None
    members: set[str] = field(default_factory=set)
    bot_member: bool = True
    is_private: bool = False
    is_archived: bool = False
    user: str | None = None  # the other member of an im
    created: int = field(default_factory=lambda: int(time.time()))
    messages: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    files: list[UploadedFile] = field(default_factory=list)

    def to_slack(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_im": self.kind == "im",
            "is_mpim": self.kind == "mpim",
            "is_channel": self.kind == "channel" and not self.is_private,
            "is_group": self.kind == "channel" and self.is_private,
            "is_private": self.is_private or self.kind != "channel",
            "is_member": self.bot_member,
        }
        if self.kind == "im":
            info["user"] = self.user
            info["is_open"] = True
        else:
            info["name"] = self.name or self.id.lower()
            info["num_members"] = len(self.members)
        return info


@dataclass
class _Bucket:
    """A token bucket: ``rate`` tokens a second, holding at most ``burst``."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def wait(self, now: float) -> float:
        """Refills, then returns how long until a token is available (0 if one is)."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


@dataclass
class _RateLimit:
    per_second: float
    burst: float
    per_channel: bool
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def bucket(self, key: str, now: float) -> _Bucket:
        if key not in self.buckets:
            self.buckets[key] = _Bucket(self.per_second, self.burst, self.burst, now)
        return self.buckets[key]


@dataclass
class _Fault:
    status: int
    retry_after: int
    error: str | None
    remaining: int
    after: bool = False


@dataclass
class _PendingUpload:
    id: str
    filename: str
    length: int
    alt_txt: str | None
    key: str
    content: bytes | None = None
    shared: bool = False


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlackOptions(TypedDict, total=False):
    """Keyword options of :class:`FakeSlack` (for ``FakeSlack.start(**options)``)."""

    token: str
    team_id: str
    team_name: str
    team_domain: str
    bot_user_id: str
    bot_id: str
    bot_name: str
    app_id: str
    trigger_ttl: float
    include_builtin_users: bool


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeSlack:
    """The fake workspace and its Web API; serve it with ``start()`` or ``FakeSlackThread``."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        team_id: str = "T0000TEST",
        team_name: str = "Test Workspace",
        team_domain: str = "test-workspace",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        bot_name: str = "rcbot",
        app_id: str = "A0APP",
        trigger_ttl: float = 3.0,
        include_builtin_users: bool = True,
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        self.trigger_ttl = trigger_ttl
        self._lock = threading.RLock()
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        # directory
        self._users: dict[str, FakeUser] = {}
        self._user_seq = 0
        self._channels: dict[str, _Channel] = {}
        self._dm_by_user: dict[str, str] = {}
        self._mpim_by_users: dict[frozenset[str], str] = {}
        self._channel_seq = 0
        self._last_ts = 0
        self._ephemeral: list[dict[str, Any]] = []
        # views
        self._triggers: dict[str, tuple[str, float]] = {}  # id -> (user, expires monotonic)
        self._used_triggers: set[str] = set()
        self._views: dict[str, dict[str, Any]] = {}
        self._view_users: dict[str, str] = {}
        self._modal_stacks: dict[str, list[str]] = {}
        self._home_views: dict[str, str] = {}
        self._seq = 0
        # files
        self._uploads: dict[str, _PendingUpload] = {}
        self._upload_keys: dict[str, str] = {}
        # calls, limits, faults
        self._calls: list[RecordedCall] = []
        self._statuses: Counter[int] = Counter()
        self._limits: dict[str, _RateLimit] = {}
        self._workspace_limit: _RateLimit | None = None
        self._faults: dict[str, list[_Fault]] = {}
        self._latency: dict[str, float] = {}
        self._handlers: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "users.list": self._users_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.upload": self._files_upload_v1,
        }
        if include_builtin_users:
            self._users["USLACKBOT"] = FakeUser(
                id="USLACKBOT",
                name="slackbot",
                email=None,
                real_name="Slackbot",
                display_name="Slackbot",
                tz="America/Los_Angeles",
                team_id=team_id,
            )
            self._users[bot_user_id] = FakeUser(
                id=bot_user_id,
                name=bot_name,
                email=None,
                real_name=bot_name,
                display_name="",
                tz="America/Los_Angeles",
                team_id=team_id,
                is_bot=True,
                bot_id=bot_id,
            )

    # ================================================================== serving

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, **options: Unpack[FakeSlackOptions]) -> AsyncIterator[Self]:
        """Serves a new fake on 127.0.0.1 (ephemeral port) in the running event loop."""
        server = cls(**options)
        await server.start_server()
        try:
            yield server
        finally:
            await server.stop_server()

    async def start_server(self, port: int = 0) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._serve_api)
        app.router.add_post("/upload/v1/{key}", self._serve_upload)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        self._port = int(sock.getsockname()[1])

    async def stop_server(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake Slack server is not running")
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The ``base_url`` for slack_sdk clients: ``http://127.0.0.1:PORT/api/``."""
        return f"{self.root_url}/api/"

    def web_client(self, **kwargs: Any) -> WebClient:
        """A real sync WebClient pointed at this fake (token defaults to the valid one)."""
        kwargs.setdefault("token", self.token)
        return WebClient(base_url=self.url, **kwargs)

    def async_web_client(self, **kwargs: Any) -> AsyncWebClient:
        """A real AsyncWebClient pointed at this fake (token defaults to the valid one)."""
        kwargs.setdefault("token", self.token)
        return AsyncWebClient(base_url=self.url, **kwargs)

    # ================================================================== directory

    def add_user(
        self,
        email: str | None,
        name: str | None = None,
        tz: str = "Europe/London",
        *,
        real_name: str | None = None,
        display_name: str | None = None,
        deleted: bool = False,
        is_bot: bool = False,
        is_admin: bool = False,
        is_restricted: bool = False,
        locale: str = "en-US",
        user_id: str | None = None,
    ) -> str:
        """Adds a member; returns its id ("U0001", "U0002", ... unless user_id is given)."""
        with self._lock:
            if user_id is None:
                self._user_seq += 1
                user_id = f"U{self._user_seq:04d}"
            if user_id in self._users:
                raise ValueError(f"user {user_id} exists already")
            handle = name or (email.split("@")[0] if email else user_id.lower())
            self._users[user_id] = FakeUser(
                id=user_id,
                name=handle,
                email=email,
                real_name=real_name if real_name is not None else handle,
                display_name=display_name if display_name is not None else handle,
                tz=tz,
                team_id=self.team_id,
                deleted=deleted,
                is_bot=is_bot,
                is_admin=is_admin,
                is_restricted=is_restricted,
                locale=locale,
                bot_id=f"B{user_id[1:]}" if is_bot else None,
            )
            return user_id

    def deactivate_user(self, user_id: str) -> None:
        with self._lock:
            self._users[user_id].deleted = True
            self._users[user_id].updated = int(time.time())

    def user(self, user_id: str) -> FakeUser:
        with self._lock:
            return copy.deepcopy(self._users[user_id])

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        members: Iterable[str] = (),
        bot_member: bool = True,
        is_private: bool = False,
        is_archived: bool = False,
    ) -> str:
        """Registers a channel ("C..."); the bot may post there when bot_member is true."""
        with self._lock:
            if channel_id in self._channels:
                raise ValueError(f"channel {channel_id} exists already")
            self._channels[channel_id] = _Channel(
                id=channel_id,
                kind="channel",
                name=name,
                members=set(members),
                bot_member=bot_member,
                is_private=is_private,
                is_archived=is_archived,
            )
            return channel_id

    def dm_channel(self, user_id: str) -> str:
        """The id of the bot's DM with user_id (opened if needed), as conversations.open."""
        with self._lock:
            return self._open_dm(user_id).id

    # ================================================================== inspection

    def calls(self, method: str | None = None, *, ok_only: bool = False) -> list[dict[str, Any]]:
        """The parsed arguments of every call (of method), oldest first, token removed.

        Refused calls (429s, auth errors, API errors) are included unless ok_only is set;
        call_records() tells how each was answered.
        """
        return [c.args for c in self.call_records(method) if c.ok or not ok_only]

    def call_records(self, method: str | None = None) -> list[RecordedCall]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method is None or c.method == method]

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()
            self._statuses.clear()

    @property
    def ratelimited_count(self) -> int:
        """How many HTTP 429 answers were served (rate limits and injected faults)."""
        with self._lock:
            return self._statuses[429]

    def status_counts(self) -> dict[int, int]:
        with self._lock:
            return dict(self._statuses)

    def channel_messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Current version of each message in a conversation (oldest first)."""
        with self._lock:
            channel = self._channels.get(self._canonical_channel(channel_id))
            return copy.deepcopy(channel.messages) if channel else []

    def dm_messages(self, user_id: str) -> list[dict[str, Any]]:
        """Current version of each message in the bot's DM with user_id (oldest first)."""
        with self._lock:
            dm = self._dm_by_user.get(user_id)
            return copy.deepcopy(self._channels[dm].messages) if dm else []

    def ephemeral_messages(self, user_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(m) for m in self._ephemeral if user_id in (None, m.get("user"))]

    def files(self, channel_id: str) -> list[UploadedFile]:
        """Files shared to a conversation (a user id means the bot's DM with that user)."""
        with self._lock:
            channel = self._channels.get(self._canonical_channel(channel_id))
            return list(channel.files) if channel else []

    def view(self, view_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._views[view_id])

    def open_views(self, user_id: str) -> list[dict[str, Any]]:
        """The user's modal stack, root first."""
        with self._lock:
            return [copy.deepcopy(self._views[v]) for v in self._modal_stacks.get(user_id, [])]

    def close_views(self, user_id: str) -> None:
        """As if the user closed their modals."""
        with self._lock:
            self._modal_stacks.pop(user_id, None)

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home_views.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    # ================================================================== control

    def new_trigger(self, user_id: str, ttl: float | None = None) -> str:
        """A trigger_id for user_id, usable once within ttl (default 3 s) of real time."""
        with self._lock:
            self._seq += 1
            trigger = f"{self._seq}.{int(time.time())}.{secrets.token_hex(16)}"
            lifetime = self.trigger_ttl if ttl is None else ttl
            self._triggers[trigger] = (user_id, time.monotonic() + lifetime)
            return trigger

    def set_rate_limit(
        self,
        method: str,
        per_second: float,
        burst: float | None = None,
        *,
        per_channel: bool = False,
    ) -> None:
        """Token bucket for method: per_second sustained, burst at once (default
        max(1, per_second)); per_channel keeps one bucket per ``channel`` argument, as
        Slack does for chat.postMessage."""
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        with self._lock:
            size = burst if burst is not None else max(1.0, per_second)
            self._limits[method] = _RateLimit(per_second, size, per_channel)

    def set_workspace_rate_limit(self, per_second: float, burst: float | None = None) -> None:
        """One token bucket shared by every Web API method."""
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        with self._lock:
            size = burst if burst is not None else max(1.0, per_second)
            self._workspace_limit = _RateLimit(per_second, size, per_channel=False)

    def clear_rate_limits(self) -> None:
        with self._lock:
            self._limits.clear()
            self._workspace_limit = None

    def fail_next(
        self,
        method: str,
        status: int = 500,
        *,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
        after: bool = False,
    ) -> None:
        """The next `times` calls of method ("*" for any) fail with HTTP status.

        429 answers ``ratelimited`` with ``Retry-After: retry_after``; 5xx answer
        ``internal_error``/``service_unavailable``; status 200 answers ``error``
        (default ``fatal_error``) as an ordinary API error. ``after``: the call is carried
        out first (a message is posted), then the error is answered, as Slack documents
        ``internal_error`` can.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.setdefault(method, []).append(
                _Fault(status, max(1, retry_after), error, times, after)
            )

    def set_latency(self, seconds: float, method: str = "*") -> None:
        """Delays answers to method ("*": all) by seconds, outside the lock."""
        with self._lock:
            self._latency[method] = seconds

    # ================================================================== HTTP layer

    async def _serve_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        received = time.time()
        try:
            args, form_token = await _read_args(request)
        except SlackError as exc:
            reply = self._record(method, {}, received, _Reply(200, _error_body(exc)))
        else:
            token = _bearer(request.headers.get("Authorization")) or form_token
            reply = self._dispatch(method, args, token, received)
        await self._delay(method)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    async def _serve_upload(self, request: web.Request) -> web.StreamResponse:
        received = time.time()
        key = request.match_info["key"]
        if request.content_type == "multipart/form-data":
            form = await request.post()
            parts = [v for v in form.values() if isinstance(v, web.FileField)]
            content = parts[0].file.read() if parts else b""
        else:
            content = await request.read()
        with self._lock:
            file_id = self._upload_keys.get(key)
            args: dict[str, Any] = {"file_id": file_id, "size": len(content)}
            fault = self._take_fault(UPLOAD_ENDPOINT)
            if fault is not None:
                reply = self._fault_reply(fault)
                text = "ratelimited" if fault.status == 429 else "error"
            elif file_id is None:
                reply, text = _Reply(404, {"ok": False}), "not found"
            else:
                self._uploads[file_id].content = content
                reply, text = _Reply(200, {"ok": True}), f"OK - {len(content)}"
            self._record(UPLOAD_ENDPOINT, args, received, reply)
        await self._delay(UPLOAD_ENDPOINT)
        return web.Response(
            status=reply.status, text=text, content_type="text/plain", headers=reply.headers
        )

    async def _delay(self, method: str) -> None:
        with self._lock:
            seconds = self._latency.get(method, self._latency.get("*", 0.0))
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _dispatch(
        self, method: str, args: dict[str, Any], token: str | None, received: float
    ) -> _Reply:
        with self._lock:
            return self._record(method, args, received, self._answer(method, args, token))

    def _answer(self, method: str, args: dict[str, Any], token: str | None) -> _Reply:
        handler = self._handlers.get(method)
        if handler is None:
            return _Reply(200, {"ok": False, "error": "unknown_method", "req_method": method})
        fault = self._take_fault(method)
        if fault is not None and not fault.after:
            return self._fault_reply(fault)
        if not token:
            return _Reply(200, {"ok": False, "error": "not_authed"})
        if token != self.token:
            return _Reply(200, {"ok": False, "error": "invalid_auth"})
        wait = self._rate_limit_wait(method, args)
        if wait > 0:
            return _ratelimited(max(1, math.ceil(wait)))
        try:
            body = handler(args)
        except SlackError as exc:
            return _Reply(200, _error_body(exc))
        if fault is not None:  # done, yet answered with an error
            return self._fault_reply(fault)
        return _Reply(200, {"ok": True, **body})

    def _record(self, method: str, args: dict[str, Any], received: float, reply: _Reply) -> _Reply:
        with self._lock:
            ok = bool(reply.body.get("ok"))
            error = reply.body.get("error")
            self._calls.append(
                RecordedCall(method, copy.deepcopy(args), received, reply.status, ok, error)
            )
            self._statuses[reply.status] += 1
        return reply

    def _take_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.pop(0)
                return fault
        return None

    def _fault_reply(self, fault: _Fault) -> _Reply:
        if fault.status == 429:
            return _ratelimited(fault.retry_after)
        if fault.status == 200:
            return _Reply(200, {"ok": False, "error": fault.error or "fatal_error"})
        error = fault.error or _SERVER_ERRORS.get(fault.status, "internal_error")
        return _Reply(fault.status, {"ok": False, "error": error})

    def _rate_limit_wait(self, method: str, args: dict[str, Any]) -> float:
        now = time.monotonic()
        buckets: list[_Bucket] = []
        if self._workspace_limit is not None:
            buckets.append(self._workspace_limit.bucket("*", now))
        limit = self._limits.get(method)
        if limit is not None:
            key = self._rate_key(args.get("channel")) if limit.per_channel else "*"
            buckets.append(limit.bucket(key, now))
        wait = max((b.wait(now) for b in buckets), default=0.0)
        if wait == 0:
            for bucket in buckets:
                bucket.tokens -= 1
        return wait

    # ================================================================== helpers

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:08d}"

    def _next_ts(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _canonical_channel(self, channel_id: str) -> str:
        """A user id stands for the bot's DM with that user."""
        return self._dm_by_user.get(channel_id, channel_id)

    def _rate_key(self, channel_arg: object) -> str:
        """One bucket per conversation: a user id and their DM's id share one."""
        key = str(channel_arg or "")
        channel = self._channels.get(key)
        if channel is not None and channel.kind == "im" and channel.user:
            return f"im:{channel.user}"
        return f"im:{key}" if key[:1] in ("U", "W") else key

    def _live_user(self, user_id: str) -> FakeUser:
        user = self._users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return user

    def _open_dm(self, user_id: str) -> _Channel:
        dm_id = self._dm_by_user.get(user_id)
        if dm_id is None:
            self._channel_seq += 1
            dm_id = f"D{self._channel_seq:04d}"
            self._dm_by_user[user_id] = dm_id
            self._channels[dm_id] = _Channel(
                id=dm_id, kind="im", members={user_id, self.bot_user_id}, user=user_id
            )
        return self._channels[dm_id]

    def _channel_for_post(self, target: object) -> _Channel:
        """Where chat.postMessage & co. put a message: a C/G/D id or a user id."""
        if not isinstance(target, str) or not target:
            raise SlackError("channel_not_found")
        if target[0] in "UW":
            user = self._users.get(target)
            if user is None:
                raise SlackError("channel_not_found")
            if user.is_bot:
                raise SlackError("cannot_dm_bot")
            # Slack accepts a deactivated user's id here: the message lands in the DM.
            return self._open_dm(target)
        return self._readable_channel(target)

    def _readable_channel(self, channel_id: object) -> _Channel:
        """A conversation the bot can read and write: a known id, or a channel name."""
        if not isinstance(channel_id, str) or not channel_id:
            raise SlackError("channel_not_found")
        channel = self._channels.get(channel_id)
        if channel is None and channel_id.startswith("#"):
            channel = next((c for c in self._channels.values() if c.name == channel_id[1:]), None)
            if channel is None:
                raise SlackError("channel_not_found")
        if channel is None:
            # An unregistered public/private channel id: it exists, but the bot is not in it.
            if channel_id[0] in "CG" and channel_id[1:].isalnum():
                raise SlackError("not_in_channel")
            raise SlackError("channel_not_found")
        if not channel.bot_member:
            raise SlackError("not_in_channel")
        return channel

    def _find_message(self, channel: _Channel, ts: object) -> dict[str, Any]:
        for message in channel.messages:
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    def _check_message_content(self, args: dict[str, Any], *, required: bool) -> None:
        text, blocks = args.get("text"), args.get("blocks")
        attachments = args.get("attachments")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format")
            problems = message_block_problems(blocks)
            if problems:
                raise _invalid(problems, "invalid_blocks")
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if required and not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and not isinstance(text, str):
            raise _invalid(["must be a string [json-pointer:/text]"])
        if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        metadata = args.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            raise SlackError("invalid_metadata_format")

    def _bot_message(self, ts: str, args: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": args.get("text") or "",
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "deleted": False,
                "team_id": self.team_id,
                "updated": int(time.time()),
                "icons": {},
            },
        }
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                message[key] = copy.deepcopy(args[key])
        thread_ts = args.get("thread_ts")
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            message["parent_user_id"] = self.bot_user_id
            if _truthy(args.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        return message

    # ================================================================== auth & users

    def _api_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"args": {k: v for k, v in args.items() if isinstance(v, str)}}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self.root_url}/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        limit = _int_arg(args, "limit", 0)
        if limit < 0:
            raise SlackError("invalid_limit")
        users = list(self._users.values())
        start = _decode_cursor(args.get("cursor"), "user", [u.id for u in users])
        page = users[start : start + limit] if limit else users[start:]
        end = start + len(page)
        next_cursor = _encode_cursor("user", users[end].id) if end < len(users) else ""
        include_locale = _truthy(args.get("include_locale"))
        return {
            "members": [u.to_slack(include_locale=include_locale) for u in page],
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._live_user(str(args.get("user", "")))
        return {"user": user.to_slack(include_locale=_truthy(args.get("include_locale")))}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = args.get("email")
        if not isinstance(email, str) or not email:
            raise _missing("email")
        for user in self._users.values():
            # Slack does not find deactivated users by email.
            if user.email and user.email.lower() == email.lower() and not user.deleted:
                return {"user": user.to_slack()}
        raise SlackError("users_not_found")

    # ================================================================== conversations

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_arg = args.get("channel")
        users_arg = args.get("users")
        if channel_arg:
            channel = self._channels.get(str(channel_arg))
            if channel is None or channel.kind == "channel":
                raise SlackError("channel_not_found")
            return {
                "channel": channel.to_slack()
                if _truthy(args.get("return_im"))
                else {"id": channel.id}
            }
        if not users_arg:
            raise SlackError("users_list_not_supplied")
        if isinstance(users_arg, list):
            ids = [str(u).strip() for u in users_arg]
        else:
            ids = [u.strip() for u in str(users_arg).split(",") if u.strip()]
        if len(ids) > 8:
            raise SlackError("too_many_users")
        for user_id in ids:
            user = self._live_user(user_id)
            if user.deleted:
                raise SlackError("user_disabled")
        if len(ids) == 1:
            channel = self._open_dm(ids[0])
            already_open = True
        else:
            key = frozenset(ids)
            already_open = key in self._mpim_by_users
            if not already_open:
                self._channel_seq += 1
                mpim_id = f"G{self._channel_seq:04d}"
                self._mpim_by_users[key] = mpim_id
                self._channels[mpim_id] = _Channel(
                    id=mpim_id,
                    kind="mpim",
                    name=f"mpdm-{'--'.join(ids)}-1",
                    members={*ids, self.bot_user_id},
                )
            channel = self._channels[self._mpim_by_users[key]]
        body: dict[str, Any] = {
            "channel": channel.to_slack() if _truthy(args.get("return_im")) else {"id": channel.id}
        }
        if already_open:
            body["no_op"] = True
            body["already_open"] = True
        return body

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channels.get(str(args.get("channel", "")))
        if channel is None:
            raise SlackError("channel_not_found")
        return {"channel": channel.to_slack()}

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(args.get("channel"))
        members = sorted(channel.members)
        limit = _int_arg(args, "limit", 100) or 100
        start = _decode_cursor(args.get("cursor"), "member", members)
        page = members[start : start + limit]
        end = start + len(page)
        next_cursor = _encode_cursor("member", members[end]) if end < len(members) else ""
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(args.get("channel"))
        inclusive = _truthy(args.get("inclusive"))
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or "inf")
        top_level = [
            m
            for m in reversed(channel.messages)
            if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"
        ]
        selected = [
            m
            for m in top_level
            if (
                oldest <= float(m["ts"]) <= latest
                if inclusive
                else oldest < float(m["ts"]) < latest
            )
        ]
        return self._message_page(selected, args)

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(args.get("channel"))
        ts = args.get("ts")
        if not ts:
            raise _missing("ts")
        parent = self._find_message(channel, ts)
        thread = [parent] + [
            m for m in channel.messages if m.get("thread_ts") == ts and m["ts"] != ts
        ]
        return self._message_page(thread, args)

    def _message_page(self, messages: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        limit = min(_int_arg(args, "limit", 100) or 100, 999)
        start = _decode_cursor(args.get("cursor"), "ts", [m["ts"] for m in messages])
        page = messages[start : start + limit]
        end = start + len(page)
        with_metadata = _truthy(args.get("include_all_metadata"))
        out = []
        for message in page:
            item = copy.deepcopy(message)
            if not with_metadata:
                item.pop("metadata", None)
            out.append(item)
        has_more = end < len(messages)
        return {
            "messages": out,
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {
                "next_cursor": _encode_cursor("ts", messages[end]["ts"]) if has_more else ""
            },
        }

    # ================================================================== chat

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_for_post(args.get("channel"))
        if channel.is_archived:
            raise SlackError("is_archived")
        self._check_message_content(args, required=True)
        message = self._bot_message(self._next_ts(), args)
        channel.messages.append(message)
        return {"channel": channel.id, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = args.get("channel")
        if not isinstance(channel_id, str) or channel_id not in self._channels:
            raise SlackError("channel_not_found")
        channel = self._readable_channel(channel_id)
        message = self._find_message(channel, args.get("ts"))
        if message.get("bot_id") != self.bot_id:
            raise SlackError("cant_update_message")
        self._check_message_content(args, required=False)
        if not any(args.get(k) is not None for k in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        # Slack keeps blocks, attachments and metadata that the update does not mention.
        if args.get("text") is not None:
            message["text"] = args["text"]
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                message[key] = copy.deepcopy(args[key])
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(args.get("channel"))
        message = self._find_message(channel, args.get("ts"))
        if message.get("bot_id") != self.bot_id:
            raise SlackError("cant_delete_message")
        channel.messages.remove(message)
        return {"channel": channel.id, "ts": message["ts"]}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_for_post(args.get("channel"))
        user_id = args.get("user")
        if not isinstance(user_id, str) or user_id not in self._users:
            raise SlackError("user_not_found")
        if channel.kind != "im" and user_id not in channel.members:
            raise SlackError("user_not_in_channel")
        if channel.kind == "im" and channel.user != user_id:
            raise SlackError("user_not_in_channel")
        self._check_message_content(args, required=True)
        message = self._bot_message(self._next_ts(), args)
        message["user"] = user_id  # the recipient
        message["channel"] = channel.id
        self._ephemeral.append(message)
        return {"message_ts": message["ts"]}

    # ================================================================== views

    def _take_trigger(self, args: dict[str, Any]) -> str:
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            raise _missing("trigger_id")
        trigger = str(trigger)
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        entry = self._triggers.get(trigger)
        if entry is None:
            raise SlackError("invalid_trigger_id")
        user_id, expires = entry
        if time.monotonic() > expires:
            raise SlackError("expired_trigger_id")
        return user_id

    def _checked_view(self, args: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
        view = args.get("view")
        if view is None:
            raise _missing("view")
        problems = view_problems(view, allowed_types=allowed)
        if problems:
            raise _invalid(problems)
        assert isinstance(view, dict)
        external_id = view.get("external_id")
        if external_id and any(
            v.get("external_id") == external_id
            for vid, v in self._views.items()
            if vid != args.get("view_id")
        ):
            raise SlackError("duplicate_external_id")
        return view

    def _build_view(
        self,
        payload: dict[str, Any],
        view_id: str,
        *,
        root_view_id: str | None,
        previous_view_id: str | None,
    ) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": payload["type"],
            "blocks": copy.deepcopy(payload.get("blocks", [])),
            "private_metadata": payload.get("private_metadata", ""),
            "callback_id": payload.get("callback_id", ""),
            "external_id": payload.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(payload.get("clear_on_close", False)),
            "notify_on_close": bool(payload.get("notify_on_close", False)),
            "root_view_id": root_view_id or view_id,
            "previous_view_id": previous_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        for key in ("title", "submit", "close"):
            view[key] = copy.deepcopy(payload.get(key))
        return view

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = self._take_trigger(args)
        payload = self._checked_view(args, ("modal",))
        self._used_triggers.add(str(args.get("trigger_id") or args.get("interactivity_pointer")))
        view_id = self._next_id("V")
        view = self._build_view(payload, view_id, root_view_id=None, previous_view_id=None)
        self._views[view_id] = view
        self._view_users[view_id] = user_id
        self._modal_stacks[user_id] = [view_id]
        return {"view": copy.deepcopy(view)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = self._take_trigger(args)
        payload = self._checked_view(args, ("modal",))
        stack = self._modal_stacks.get(user_id, [])
        if len(stack) >= 3:
            raise SlackError("push_limit_reached")
        self._used_triggers.add(str(args.get("trigger_id") or args.get("interactivity_pointer")))
        view_id = self._next_id("V")
        view = self._build_view(
            payload,
            view_id,
            root_view_id=stack[0] if stack else None,
            previous_view_id=stack[-1] if stack else None,
        )
        self._views[view_id] = view
        self._view_users[view_id] = user_id
        self._modal_stacks[user_id] = [*stack, view_id]
        return {"view": copy.deepcopy(view)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        if not view_id and not external_id:
            raise _missing("view_id")
        if not view_id:
            view_id = next(
                (vid for vid, v in self._views.items() if v["external_id"] == external_id), None
            )
        if not isinstance(view_id, str) or view_id not in self._views:
            raise SlackError("not_found")
        current = self._views[view_id]
        payload = self._checked_view({**args, "view_id": view_id}, (current["type"],))
        expected_hash = args.get("hash")
        if expected_hash and expected_hash != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._build_view(
            payload,
            view_id,
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )
        self._views[view_id] = view
        return {"view": copy.deepcopy(view)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = args.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise _missing("user_id")
        self._live_user(user_id)
        payload = self._checked_view({**args, "view_id": self._home_views.get(user_id)}, ("home",))
        view_id = self._home_views.get(user_id)
        expected_hash = args.get("hash")
        if view_id and expected_hash and expected_hash != self._views[view_id]["hash"]:
            raise SlackError("hash_conflict")
        view_id = view_id or self._next_id("V")
        view = self._build_view(payload, view_id, root_view_id=None, previous_view_id=None)
        self._views[view_id] = view
        self._view_users[view_id] = user_id
        self._home_views[user_id] = view_id
        return {"view": copy.deepcopy(view)}

    # ================================================================== files

    def _files_upload_v1(self, args: dict[str, Any]) -> dict[str, Any]:
        # Retired by Slack in favour of getUploadURLExternal + completeUploadExternal.
        raise SlackError("method_deprecated")

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        if not isinstance(filename, str) or not filename:
            raise _missing("filename")
        if args.get("length") in (None, ""):
            raise _missing("length")
        length = _int_arg(args, "length", 0)
        if length <= 0:
            raise _invalid(["length must be a positive integer [json-pointer:/length]"])
        file_id = self._next_id("F")
        key = secrets.token_urlsafe(24)
        alt_txt = args.get("alt_txt") or args.get("alt_text")
        self._uploads[file_id] = _PendingUpload(
            file_id, filename, length, str(alt_txt) if alt_txt else None, key
        )
        self._upload_keys[key] = file_id
        return {"upload_url": f"{self.root_url}/upload/v1/{key}", "file_id": file_id}

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise _invalid(["must provide at least 1 items [json-pointer:/files]"])
        uploads: list[tuple[_PendingUpload, str]] = []
        for entry in entries:
            file_id = entry.get("id") if isinstance(entry, dict) else None
            upload = self._uploads.get(str(file_id))
            if upload is None or upload.content is None or upload.shared:
                raise SlackError("file_not_found")
            assert isinstance(entry, dict)
            uploads.append((upload, str(entry.get("title") or upload.filename)))
        targets: list[str] = []
        if args.get("channel_id"):
            targets.append(str(args["channel_id"]))
        if args.get("channels"):
            targets += [c.strip() for c in str(args["channels"]).split(",") if c.strip()]
        channels = [self._channel_for_post(t) for t in targets]
        initial_comment = args.get("initial_comment")
        thread_ts = args.get("thread_ts")
        objects = [self._file_object(u, title, channels) for u, title in uploads]
        for channel in channels:
            ts = self._next_ts()
            message = self._bot_message(ts, {"text": initial_comment, "thread_ts": thread_ts})
            message["files"] = copy.deepcopy(objects)
            message["upload"] = True
            message["display_as_bot"] = False
            channel.messages.append(message)
            for upload, title in uploads:
                assert upload.content is not None
                channel.files.append(
                    UploadedFile(
                        id=upload.id,
                        name=upload.filename,
                        title=title,
                        content=upload.content,
                        mimetype=_mimetype(upload.filename, upload.content),
                        channel=channel.id,
                        initial_comment=str(initial_comment) if initial_comment else None,
                        thread_ts=str(thread_ts) if thread_ts else None,
                        message_ts=ts,
                    )
                )
        for upload, _ in uploads:
            upload.shared = True
        return {"files": objects}

    def _file_object(
        self, upload: _PendingUpload, title: str, channels: list[_Channel]
    ) -> dict[str, Any]:
        assert upload.content is not None
        mimetype = _mimetype(upload.filename, upload.content)
        filetype = mimetype.split("/")[-1] if "/" in mimetype else "binary"
        now = int(time.time())
        link = f"{self.root_url}/files-pri/{self.team_id}-{upload.id}/{upload.filename}"
        obj: dict[str, Any] = {
            "id": upload.id,
            "created": now,
            "timestamp": now,
            "name": upload.filename,
            "title": title,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": self.bot_user_id,
            "user_team": self.team_id,
            "editable": False,
            "size": len(upload.content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": any(c.kind == "channel" and not c.is_private for c in channels),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": link,
            "url_private_download": f"{link}?download=1",
            "permalink": f"{self.root_url}/files/{self.bot_user_id}/{upload.id}/{upload.filename}",
            "channels": [c.id for c in channels if c.kind == "channel" and not c.is_private],
            "groups": [c.id for c in channels if c.kind != "im" and c.is_private],
            "ims": [c.id for c in channels if c.kind == "im"],
            "comments_count": 0,
            "shares": {},
        }
        if upload.alt_txt:
            obj["alt_txt"] = upload.alt_txt
        size = _png_size(upload.content)
        if size is not None:
            obj["original_w"], obj["original_h"] = size
        return obj


class FakeSlackThread(FakeSlack):
    """A FakeSlack served by its own event loop in a background thread.

    ``with FakeSlackThread(token="xoxb-test") as slack: ...`` or ``start_in_thread()`` /
    ``stop()``. The helpers (add_user, calls, ...) are safe to call from any thread.
    """

    def __init__(self, **options: Unpack[FakeSlackOptions]) -> None:
        super().__init__(**options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start_in_thread(self, timeout: float = 10.0) -> Self:
        if self._thread is not None:
            raise RuntimeError("already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_server())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop_server())
                loop.close()

        thread = threading.Thread(target=run, name="fake-slack", daemon=True)
        thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the fake Slack server did not start")
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start_in_thread()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ====================================================================== parsing helpers


async def _read_args(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """Query string and body (JSON, form or multipart) merged; returns (args, token)."""
    args: dict[str, Any] = dict(request.query)
    ctype = request.content_type
    if request.body_exists:
        if ctype == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    data = json.loads(raw)
                except ValueError:
                    raise SlackError("invalid_json") from None
                if not isinstance(data, dict):
                    raise SlackError("invalid_json")
                args.update(data)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    args[key] = value.file.read()
                    args.setdefault("filename", value.filename)
                else:
                    args[key] = value
    token = args.pop("token", None)
    for key in _JSON_FIELDS & args.keys():
        value = args[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args, (str(token) if token else None)


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, int) and value == 1) or str(value) in _TRUE


def _int_arg(args: dict[str, Any], key: str, default: int) -> int:
    value = args.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _invalid([f"must be an integer [json-pointer:/{key}]"]) from None


def _encode_cursor(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def _decode_cursor(cursor: object, kind: str, keys: list[str]) -> int:
    """Index in keys where the page named by cursor starts (0 without a cursor)."""
    if not cursor:
        return 0
    try:
        decoded = base64.b64decode(str(cursor), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    prefix, _, key = decoded.partition(":")
    if prefix != kind or key not in keys:
        raise SlackError("invalid_cursor")
    return keys.index(key)


def _error_body(exc: SlackError) -> dict[str, Any]:
    return {"ok": False, "error": exc.error, **exc.extra}


def _ratelimited(retry_after: int) -> _Reply:
    return _Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


def _mimetype(filename: str, content: bytes) -> str:
    if content.startswith(_PNG_SIGNATURE):
        return "image/png"
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _png_size(content: bytes) -> tuple[int, int] | None:
    if content.startswith(_PNG_SIGNATURE) and content[12:16] == b"IHDR":
        width, height = struct.unpack(">II", content[16:24])
        return int(width), int(height)
    return None
