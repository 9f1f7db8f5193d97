"""Neutral messages and question pages rendered to Slack Block Kit, within Slack's limits.

Limits (Slack's documentation): 50 blocks a message, 100 a modal, 3000 characters of section
text, 150 of a header, 75 of option text, 24 of a modal title or button label, 3000 of
``private_metadata``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from bot.conversation.answering import QuestionPage
from bot.messages import Actions, Context, Divider, Fields, Header, Image, Message, Text

MAX_MESSAGE_BLOCKS: Final = 50
MAX_TEXT: Final = 3000
MAX_HEADER: Final = 150
MAX_TITLE: Final = 24
MAX_OPTION: Final = 75
MAX_FIELDS: Final = 10
PAGE_CALLBACK: Final = "rc_page"

Block = dict[str, Any]

_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> str:
    """Our Markdown subset in Slack's dialect: **bold** -> *bold*, [a](url) -> <url|a>."""
    text = escape(text)
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    return _BOLD.sub(r"*\1*", text)


def plain(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def section(text: str) -> list[Block]:
    """One or more sections: long text is split on line breaks to stay under the limit."""
    out: list[Block] = []
    chunk = ""
    for line in mrkdwn(text).split("\n"):
        if chunk and len(chunk) + len(line) + 1 > MAX_TEXT:
            out.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else clip(line, MAX_TEXT)
    out.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk or " "}})
    return out


def blocks(message: Message) -> list[Block]:
    out: list[Block] = []
    for block in message.blocks:
        if isinstance(block, Header):
            out.append({"type": "header", "text": plain(block.text, MAX_HEADER)})
        elif isinstance(block, Text):
            out.extend(section(block.text))
        elif isinstance(block, Fields):
            pairs = list(block.pairs)
            for start in range(0, len(pairs), MAX_FIELDS):
                fields = [
                    {"type": "mrkdwn", "text": clip(f"*{mrkdwn(k)}*\n{mrkdwn(v)}", 2000)}
                    for k, v in pairs[start : start + MAX_FIELDS]
                ]
                out.append({"type": "section", "fields": fields})
        elif isinstance(block, Context):
            out.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": clip(mrkdwn(block.text), 2000)}],
                }
            )
        elif isinstance(block, Divider):
            out.append({"type": "divider"})
        elif isinstance(block, Image):
            if block.source.startswith(("http://", "https://")):
                out.append(
                    {"type": "image", "image_url": block.source, "alt_text": clip(block.alt, 2000)}
                )
        elif isinstance(block, Actions):
            elements = []
            for button in block.buttons[:25]:
                element: Block = {
                    "type": "button",
                    "text": plain(button.label, 75),
                    "action_id": button.action_id,
                    "value": button.value[:2000],
                }
                if button.style is not None:
                    element["style"] = button.style
                if button.style == "danger":
                    element["confirm"] = {
                        "title": plain("Are you sure?", 100),
                        "text": plain(clip(f"{button.label}: this cannot be undone.", 300)),
                        "confirm": plain(clip(button.label, 30), 30),
                        "deny": plain("Cancel", 30),
                        "style": "danger",
                    }
                elements.append(element)
            out.append({"type": "actions", "elements": elements})
    if len(out) > MAX_MESSAGE_BLOCKS:
        out = [
            *out[: MAX_MESSAGE_BLOCKS - 1],
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "(shortened)"}]},
        ]
    return out


def fallback(message: Message) -> str:
    return clip(escape(message.text), 3000)


def page_view(page: QuestionPage, errors: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A modal with the seven questions about one partner role."""
    metadata = json.dumps(
        {"inv": page.invitation_id, "role": page.partner_role, "edit": page.editing}
    )
    if len(metadata) > 3000:  # role names are short, but never send what Slack refuses
        raise ValueError("private_metadata too long")
    view_blocks: list[Block] = [
        {"type": "header", "text": plain(f"About: {page.partner_role}", MAX_HEADER)},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": clip(
                        f"{mrkdwn(page.survey)} · {page.progress} · answers are saved as you go "
                        f"and can be changed until {mrkdwn(page.closes)}",
                        2000,
                    ),
                }
            ],
        },
    ]
    for question in page.questions:
        options = [
            {"text": plain(label, MAX_OPTION), "value": value} for value, label in question.options
        ]
        element: Block = {"type": "radio_buttons", "action_id": "value", "options": options}
        chosen = page.current.get(question.dimension)
        for option in options:
            if option["value"] == chosen:
                element["initial_option"] = option
        view_blocks.append(
            {
                "type": "input",
                "block_id": question.dimension,
                "label": plain(question.text, 2000),
                "element": element,
            }
        )
    if page.notice:
        view_blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": clip(mrkdwn(page.notice), 2000)}],
            }
        )
    submit = "Save and finish" if page.is_last else "Save and next"
    return {
        "type": "modal",
        "callback_id": PAGE_CALLBACK,
        "title": plain(page.progress, MAX_TITLE),
        "submit": plain(submit, MAX_TITLE),
        "close": plain("Later", MAX_TITLE),
        "private_metadata": metadata,
        "blocks": view_blocks,
    }


def notice_view(title: str, text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": plain(title, MAX_TITLE),
        "close": plain("Close", MAX_TITLE),
        "blocks": section(text),
    }


def page_values(state: Mapping[str, Any]) -> dict[str, str | None]:
    """The chosen value of each question in a submitted view's ``state.values``."""
    values: dict[str, str | None] = {}
    for block_id, actions in state.get("values", {}).items():
        selected = (actions.get("value") or {}).get("selected_option")
        values[block_id] = None if selected is None else str(selected.get("value"))
    return values


def home_view(sections: Sequence[Message]) -> dict[str, Any]:
    """App Home: one section per open round (or a friendly empty state)."""
    home: list[Block] = [{"type": "header", "text": plain("Working together surveys", MAX_HEADER)}]
    if not sections:
        home.extend(
            section(
                "You have no open surveys, and rcbot holds no answers of yours. Thank you "
                "for taking part."
            )
        )
    for message in sections:
        home.append({"type": "divider"})
        home.extend(blocks(message))
    return {"type": "home", "blocks": home[:100]}
