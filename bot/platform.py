"""The one seam between rcbot and a chat platform. Slack, Teams and the fake implement it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NewType, Protocol, runtime_checkable

from bot.messages import Attachment, Message
from surveys.model import Email, Platform

PlatformUserId = NewType("PlatformUserId", str)
ChannelId = NewType("ChannelId", str)


@dataclass(frozen=True)
class MessageRef:
    """Where a sent message lives, so that it can be updated later."""

    platform: Platform
    conversation: str
    message_id: str

    def encode(self) -> str:
        return f"{self.platform.value}|{self.conversation}|{self.message_id}"

    @classmethod
    def decode(cls, text: str) -> MessageRef:
        platform, conversation, message_id = text.split("|", 2)
        return cls(Platform(platform), conversation, message_id)


@dataclass(frozen=True)
class Resolution:
    """The outcome of looking people up: who was found, and why the others were not."""

    found: Mapping[Email, PlatformUserId] = field(default_factory=dict)
    missing: Mapping[Email, str] = field(default_factory=dict)


class DeliveryError(Exception):
    """A message could not be delivered.

    ``permanent`` failures (unknown user, app not installed) are not retried;
    ``retry_after`` is the delay the platform asked for, when it gave one; ``uncertain``
    means the message may have been posted all the same (a 5xx or a timeout after sending),
    so it must not simply be sent again: the outbox checks the platform's history first.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        uncertain: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.uncertain = uncertain


@runtime_checkable
class ChatPlatform(Protocol):
    @property
    def platform(self) -> Platform: ...

    async def resolve_users(self, emails: Sequence[Email]) -> Resolution:
        """Find each person's user id on this platform by e-mail."""
        ...

    async def send_direct(
        self,
        user: PlatformUserId,
        message: Message,
        *,
        key: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> MessageRef:
        """Send a one-to-one message from the bot to ``user``, with files if given.

        ``key`` is the outbox key; platforms that can search their history store it with the
        message so that a sender restarted after a crash can tell whether it went out.
        """
        ...

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        """Replace the content of a message the bot sent earlier."""
        ...

    async def post_to_channel(
        self,
        channel: ChannelId,
        message: Message,
        attachments: Sequence[Attachment] = (),
        *,
        key: str | None = None,
    ) -> MessageRef:
        """Post to a channel, with files (images, workbooks) attached. ``key`` is the
        outbox's key, stored with the post where the platform can (as for direct messages)."""
        ...
