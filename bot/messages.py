"""Neutral outbound messages. Platform adapters render them to Block Kit or Adaptive Cards.

Text uses a small Markdown subset both platforms can show: ``**bold**``, ``_italic_`` and
``[label](https://link)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


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


_BLOCK_TYPES: dict[str, type[Block]] = {
    "header": Header,
    "text": Text,
    "fields": Fields,
    "context": Context,
    "divider": Divider,
    "image": Image,
    "actions": Actions,
}
_TYPE_NAMES = {cls: name for name, cls in _BLOCK_TYPES.items()}


def message_to_dict(message: Message) -> dict[str, Any]:
    """A JSON-safe form of a message, so the outbox can store it until it is sent."""
    blocks: list[dict[str, Any]] = []
    for block in message.blocks:
        data: dict[str, Any] = {"type": _TYPE_NAMES[type(block)]}
        if isinstance(block, Fields):
            data["pairs"] = [list(p) for p in block.pairs]
        elif isinstance(block, Actions):
            data["buttons"] = [
                {"label": b.label, "action_id": b.action_id, "value": b.value, "style": b.style}
                for b in block.buttons
            ]
        elif isinstance(block, Image):
            data.update(source=block.source, alt=block.alt)
        elif not isinstance(block, Divider):
            data["text"] = block.text
        blocks.append(data)
    return {"text": message.text, "blocks": blocks}


def message_from_dict(data: Mapping[str, Any]) -> Message:
    blocks: list[Block] = []
    for item in data.get("blocks", []):
        kind = item["type"]
        if kind == "fields":
            blocks.append(Fields(tuple((str(k), str(v)) for k, v in item["pairs"])))
        elif kind == "actions":
            blocks.append(Actions(tuple(Button(**b) for b in item["buttons"])))
        elif kind == "image":
            blocks.append(Image(item["source"], item["alt"]))
        elif kind == "divider":
            blocks.append(Divider())
        else:
            blocks.append(_BLOCK_TYPES[kind](item["text"]))  # type: ignore[call-arg]
    return Message(data["text"], tuple(blocks))
