"""Neutral outbound messages. Platform adapters render them to Block Kit or Adaptive Cards.

Text uses a small Markdown subset both platforms can show: ``**bold**``, ``_italic_`` and
``[label](https://link)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Header:
    text: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Fields:
    """Label/value pairs shown as a compact table (Slack fields, Adaptive Card FactSet)."""

    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Context:
    """Small print under the main content."""

    text: str


@dataclass(frozen=True)
class Divider:
    pass


@dataclass(frozen=True)
class Image:
    """An image: an attachment of the same message by file name, or a public URL."""

    source: str
    alt: str


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str = ""
    style: Literal["primary", "danger"] | None = None


@dataclass(frozen=True)
class Actions:
    buttons: tuple[Button, ...]


Block = Header | Text | Fields | Context | Divider | Image | Actions


@dataclass(frozen=True)
class Message:
    """``text`` is the plain fallback shown in notifications and by screen readers."""

    text: str
    blocks: tuple[Block, ...] = ()

    def plain(self) -> str:
        """All the words of the message, for tests and logs of non-personal content."""
        parts = [self.text]
        for block in self.blocks:
            if isinstance(block, Header | Text | Context):
                parts.append(block.text)
            elif isinstance(block, Fields):
                parts.extend(f"{k}: {v}" for k, v in block.pairs)
            elif isinstance(block, Actions):
                parts.extend(b.label for b in block.buttons)
        return "\n".join(parts)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes = field(repr=False)
    mime_type: str = "application/octet-stream"
    title: str = ""
