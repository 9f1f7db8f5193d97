"""An in-memory chat platform for tests and the demo; it keeps what a user would see."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.messages import Attachment, Message
from bot.platform import ChannelId, DeliveryError, MessageRef, PlatformUserId, Resolution
from surveys.clock import Clock
from surveys.model import Email, Platform


@dataclass
class Posted:
    ref: MessageRef
    message: Message
    attachments: tuple[Attachment, ...] = ()
    versions: int = 1
    key: str | None = None
    at: datetime | None = None
    """When it was posted, by the platform's clock (if it has one)."""


@dataclass
class FakeChatPlatform:
    """Users are registered by e-mail; DMs and channel posts are kept in order."""

    kind: Platform = Platform.SLACK
    users: dict[Email, PlatformUserId] = field(default_factory=dict)
    channels: set[ChannelId] = field(default_factory=set)
    conversations: dict[str, list[Posted]] = field(default_factory=dict)
    failures: dict[PlatformUserId, DeliveryError] = field(default_factory=dict)
    clock: Clock | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def platform(self) -> Platform:
        return self.kind

    def add_user(self, email: Email) -> PlatformUserId:
        user = self.users.get(email)
        if user is None:
            prefix = "U" if self.kind is Platform.SLACK else "29:"
            user = PlatformUserId(f"{prefix}{next(self._ids):06d}")
            self.users[email] = user
        return user

    def add_channel(self, channel: ChannelId) -> ChannelId:
        self.channels.add(channel)
        return channel

    def fail_for(self, user: PlatformUserId, error: DeliveryError) -> None:
        """Make every send to ``user`` fail with ``error`` until cleared."""
        self.failures[user] = error

    async def resolve_users(self, emails: Sequence[Email]) -> Resolution:
        found = {e: self.users[e] for e in emails if e in self.users}
        missing = {e: "no user with this e-mail" for e in emails if e not in self.users}
        return Resolution(found, missing)

    async def send_direct(
        self,
        user: PlatformUserId,
        message: Message,
        *,
        key: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> MessageRef:
        if user in self.failures:
            raise self.failures[user]
        if user not in self.users.values():
            raise DeliveryError(f"unknown user {user}", permanent=True)
        return self._post(f"D-{user}", message, tuple(attachments), key)

    async def find_sent(self, user: PlatformUserId, key: str) -> MessageRef | None:
        for posted in self.conversations.get(f"D-{user}", []):
            if posted.key == key:
                return posted.ref
        return None

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        for posted in self.conversations.get(ref.conversation, []):
            if posted.ref == ref:
                posted.message = message
                posted.versions += 1
                return ref
        raise DeliveryError("message not found", permanent=True)

    async def post_to_channel(
        self,
        channel: ChannelId,
        message: Message,
        attachments: Sequence[Attachment] = (),
        *,
        key: str | None = None,
    ) -> MessageRef:
        if channel not in self.channels:
            raise DeliveryError(f"the bot is not in channel {channel}", permanent=True)
        return self._post(channel, message, tuple(attachments), key)

    async def find_posted(self, channel: ChannelId, key: str) -> MessageRef | None:
        for posted in self.conversations.get(channel, []):
            if posted.key == key:
                return posted.ref
        return None

    def _post(
        self,
        conversation: str,
        message: Message,
        attachments: tuple[Attachment, ...],
        key: str | None = None,
    ) -> MessageRef:
        ref = MessageRef(self.kind, conversation, f"m{next(self._ids)}")
        at = self.clock.now() if self.clock is not None else None
        posted = Posted(ref, message, attachments, key=key, at=at)
        self.conversations.setdefault(conversation, []).append(posted)
        return ref

    def inbox(self, user: PlatformUserId) -> list[Posted]:
        return list(self.conversations.get(f"D-{user}", []))

    def channel_posts(self, channel: ChannelId) -> list[Posted]:
        return list(self.conversations.get(channel, []))
