"""Neutral messages and question pages as Adaptive Cards 1.5 for Microsoft Teams.

Teams shows a TextBlock's text as a small Markdown subset: ``**bold**``, ``_italic_``,
``[label](url)``, bullet lists (``- item``, items separated by ``\\r``) and numbered lists;
other line breaks need a blank line (``\\n\\n``). Headings, tables, images, code and HTML are
not supported. Buttons are ``Action.Execute`` (Universal Actions): Teams sends an
``adaptiveCard/action`` invoke whose ``value.action.data`` is the action's ``data`` merged
with the card's input values, and the bot answers with the card that replaces this one.

Teams refuses a message over about 28 KB (the activity around the card included), so every
card is measured as it is sent (ASCII-escaped JSON) and its texts are shortened until it fits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bot.conversation.answering import QuestionPage
from bot.messages import (
    Actions,
    Button,
    Context,
    Divider,
    Fields,
    Header,
    Image,
    Message,
    Text,
)
from surveys.dimensions import DIMENSIONS

SCHEMA_URL: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION: Final = "1.5"
PAGE_VERB: Final = "rc_page"
REQUIRED_ANSWER: Final = "Please choose an answer (or not applicable)."
MAX_CARD_BYTES: Final = 25_000
"""Teams' limit is about 28 KB for the whole activity; this leaves room for the envelope."""
MAX_ACTIONS: Final = 6

Element = dict[str, Any]

_PAGE_KEYS: Final = frozenset({"inv", "role", "edit"})
# Input values are merged into the action data: a question id must never shadow our keys.
assert not _PAGE_KEYS & set(DIMENSIONS)

_LINK = re.compile(r"\[([^\[\]\n]+)\]\((https?://[^()\s]+)\)")
_CODE = re.compile(r"`([^`\n]+)`")
_BULLET = re.compile(r"^[•\-*‣◦]\s+(.*)$")
_NUMBERED = re.compile(r"^\d{1,3}\.\s+\S")
_SPACES = re.compile(r"\s+")
_STYLES: Final = {"primary": "positive", "danger": "destructive"}


@dataclass(frozen=True)
class _Limits:
    """Most characters shown for each kind of text; scaled down when a card is too big."""

    text: int = 6000
    header: int = 300
    fact_title: int = 300
    fact_value: int = 1500
    button: int = 60
    alt: int = 500
    question: int = 1000
    choice: int = 300
    notice: int = 2000
    fallback: int = 500

    def scaled(self, factor: float) -> _Limits:
        if factor == 1:
            return self
        return _Limits(
            **{
                name: max(20, int(getattr(self, name) * factor))
                for name in self.__dataclass_fields__
            }
        )


_FACTORS: Final = (1.0, 0.5, 0.25, 0.12, 0.06)


# --- text ----------------------------------------------------------------------------------


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def card_size(card: Mapping[str, Any]) -> int:
    """Bytes of the card as it goes over the wire (aiohttp sends ASCII-escaped JSON)."""
    return len(json.dumps(card).encode())


def _defuse(text: str) -> str:
    """Neutralise what Teams would read as something else: ``{{DATE(...)}}`` functions."""
    return text.replace("{{", "{\u200b{")


def _inline(text: str) -> str:
    """One line of our Markdown subset in Teams' dialect.

    Links keep their syntax only with an http(s) address (anything else stays visible as
    text, never a link); inline code, which Teams does not render, becomes bold.
    """
    links: list[str] = []

    def keep(match: re.Match[str]) -> str:
        links.append(f"[{match.group(1)}]({match.group(2)})")
        return f"\x00{len(links) - 1}\x00"

    text = _LINK.sub(keep, _defuse(text))
    text = text.replace("](", "] (")
    text = _CODE.sub(r"**\1**", text)
    return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], text)


def markdown(text: str) -> str:
    """Our Markdown subset (with "•"/"-" bullets and "1." lists) as a Teams TextBlock text.

    Paragraphs and single line breaks become blank-line breaks (Teams drops a lone ``\\n``);
    consecutive list items form one list whose items are separated by ``\\r``.
    """
    out: list[str] = []
    items: list[str] = []
    kind = ""

    def flush() -> None:
        nonlocal kind
        if items:
            out.append("\r".join(items))
            items.clear()
        kind = ""

    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        bullet = _BULLET.match(line)
        if bullet and bullet.group(1).strip():
            if kind != "bullet":
                flush()
                kind = "bullet"
            items.append("- " + _inline(bullet.group(1).strip()))
        elif _NUMBERED.match(line):
            if kind != "numbered":
                flush()
                kind = "numbered"
            items.append(_inline(line))
        else:
            flush()
            if line:
                out.append(_inline(line))
    flush()
    return "\n\n".join(out)


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


# --- elements ------------------------------------------------------------------------------


def _text_block(text: str, **style: Any) -> Element:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _heading(text: str, limit: int) -> Element:
    return _text_block(
        clip(_defuse(_one_line(text)), limit), size="Large", weight="Bolder", style="heading"
    )


def _subtle(text: str) -> Element:
    return _text_block(text, isSubtle=True, size="Small")


def _action(button: Button, limits: _Limits) -> Element:
    action: Element = {
        "type": "Action.Execute",
        "title": clip(_one_line(button.label), limits.button) or button.action_id,
        "verb": button.action_id,
        "data": {"value": button.value, "action": button.action_id},
    }
    if button.style in _STYLES:
        action["style"] = _STYLES[button.style]
    return action


def _image_url(source: str, image_url: Callable[[str], str | None] | None) -> str | None:
    url = image_url(source) if image_url is not None else None
    if url is not None and url.startswith(("https://", "http://")):
        return url
    if source.startswith("https://"):
        return source
    return None


def _envelope(body: list[Element], actions: list[Element], fallback: str) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "type": "AdaptiveCard",
        "version": VERSION,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    if fallback:
        card["fallbackText"] = fallback
    card["msteams"] = {"width": "Full"}
    return card


def _message_card(
    message: Message, image_url: Callable[[str], str | None] | None, limits: _Limits
) -> dict[str, Any]:
    body: list[Element] = []
    actions: list[Element] = []
    separate = False

    def add(element: Element) -> None:
        nonlocal separate
        if separate and body:
            element["separator"] = True
        separate = False
        body.append(element)

    last = len(message.blocks) - 1
    for position, block in enumerate(message.blocks):
        if isinstance(block, Header):
            add(_heading(block.text, limits.header))
        elif isinstance(block, Text):
            text = markdown(clip(block.text, limits.text))
            if text:
                add(_text_block(text))
        elif isinstance(block, Fields):
            facts = [
                {
                    "title": clip(_inline(_one_line(key)), limits.fact_title),
                    "value": clip(_inline(_one_line(value)), limits.fact_value),
                }
                for key, value in block.pairs
            ]
            if facts:
                add({"type": "FactSet", "facts": facts})
        elif isinstance(block, Context):
            text = markdown(clip(block.text, limits.text))
            if text:
                add(_subtle(text))
        elif isinstance(block, Divider):
            separate = True
        elif isinstance(block, Image):
            url = _image_url(block.source, image_url)
            if url is not None:
                add({"type": "Image", "url": url, "altText": clip(block.alt, limits.alt)})
        elif isinstance(block, Actions):
            buttons = [_action(b, limits) for b in block.buttons[:MAX_ACTIONS]]
            if not buttons:
                continue
            if position == last and not actions:
                actions = buttons  # the card's own action bar, under everything else
            else:
                add({"type": "ActionSet", "actions": buttons})
    if not body:
        body.append(_text_block(clip(_defuse(message.text), limits.text) or " "))
    return _envelope(body, actions, clip(message.text, limits.fallback))


def _shorten(card: dict[str, Any]) -> dict[str, Any]:
    """The last resort for a message with too many elements: drop them from the end."""
    note = _subtle("(Shortened: the full message is too long for Teams.)")
    budget = MAX_CARD_BYTES - card_size({**card, "body": [note]})
    body: list[Element] = []
    for element in card["body"]:
        budget -= card_size(element) + 2  # the separating ", "
        if budget < 0:
            break
        body.append(element)
    return {**card, "body": [*body, note]}


def _fit(build: Callable[[_Limits], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for factor in _FACTORS:
        yield build(_Limits().scaled(factor))


def card(
    message: Message, *, image_url: Callable[[str], str | None] | None = None
) -> dict[str, Any]:
    """A neutral message as one Adaptive Card.

    ``image_url`` maps an image's source (an attachment's file name) to the public URL the
    bot serves it at; without one, only images whose source is an https URL are shown.
    """
    built: dict[str, Any] = {}
    for built in _fit(lambda limits: _message_card(message, image_url, limits)):
        if card_size(built) <= MAX_CARD_BYTES:
            return built
    return _shorten(built)


def notice_card(title: str, text: str, *, buttons: Sequence[Button] = ()) -> dict[str, Any]:
    """A short notice: thanks, a refusal, a closed round."""
    blocks: list[Header | Text | Actions] = [Header(title), Text(text)]
    if buttons:
        blocks.append(Actions(tuple(buttons)))
    return card(Message(f"{title}: {text}", tuple(blocks)))


# --- question pages ------------------------------------------------------------------------


def _page_card(page: QuestionPage, errors: Mapping[str, str], limits: _Limits) -> dict[str, Any]:
    body: list[Element] = [
        _heading(f"About: {page.partner_role}", limits.header),
        _subtle(
            clip(
                _defuse(
                    f"{_one_line(page.survey)} · {page.progress} · answers are saved as you go "
                    f"and can be changed until {page.closes}"
                ),
                limits.notice,
            )
        ),
    ]
    general = errors.get("")
    if general:
        body.append(_text_block(clip(_defuse(general), limits.notice), color="Attention"))
    for question in page.questions:
        values = {value for value, _ in question.options}
        # The question is the input's label (screen readers announce it with the choices;
        # Microsoft's parser warns about a required input without one).
        choice_set: Element = {
            "type": "Input.ChoiceSet",
            "id": question.dimension,
            "label": clip(_defuse(_one_line(question.text)), limits.question),
            "spacing": "Medium",
            "style": "expanded",
            "isMultiSelect": False,
            "wrap": True,
            "choices": [
                {"title": clip(_one_line(label), limits.choice), "value": value}
                for value, label in question.options
            ],
            "isRequired": True,
            "errorMessage": REQUIRED_ANSWER,
        }
        current = page.current.get(question.dimension)
        if current in values:
            choice_set["value"] = current
        body.append(choice_set)
        problem = errors.get(question.dimension)
        if problem:
            body.append(
                _text_block(
                    clip(_defuse(problem), limits.notice),
                    color="Attention",
                    size="Small",
                    spacing="Small",
                )
            )
    if page.notice:
        body.append(_subtle(clip(markdown(page.notice), limits.notice)))
    submit: Element = {
        "type": "Action.Execute",
        "title": "Save and finish" if page.is_last else "Save and next",
        "verb": PAGE_VERB,
        "style": "positive",
        "data": {"inv": int(page.invitation_id), "role": page.partner_role, "edit": page.editing},
    }
    fallback = f"{page.survey}: questions about {page.partner_role} ({page.progress})"
    return _envelope(body, [submit], clip(fallback, limits.fallback))


def page_card(page: QuestionPage, errors: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The questions about one partner role, with what to fix under each unanswered one."""
    problems = dict(errors or {})
    built: dict[str, Any] = {}
    for built in _fit(lambda limits: _page_card(page, problems, limits)):
        if card_size(built) <= MAX_CARD_BYTES:
            break
    return built


def parse_page_data(data: Mapping[str, Any]) -> tuple[int, str, bool, dict[str, str | None]]:
    """(invitation id, partner role, editing, chosen value by dimension) from the
    ``value.action.data`` of a page's ``adaptiveCard/action`` invoke.

    An unanswered question is None. Raises ValueError when the data did not come from a
    page card.
    """
    if not isinstance(data, Mapping):
        raise ValueError("The card data is not an object.")
    inv = data.get("inv")
    if isinstance(inv, str) and inv.strip().isdigit():
        inv = int(inv.strip())
    if isinstance(inv, bool) or not isinstance(inv, int) or inv < 0:
        raise ValueError("The card data has no valid invitation id ('inv').")
    role = data.get("role")
    if not isinstance(role, str) or not role.strip():
        raise ValueError("The card data has no partner role ('role').")
    edit = data.get("edit", False)
    if isinstance(edit, str) and edit.lower() in {"true", "false"}:
        edit = edit.lower() == "true"
    if not isinstance(edit, bool):
        raise ValueError("The card data's 'edit' flag is not true or false.")
    values: dict[str, str | None] = {}
    for dimension in DIMENSIONS:
        raw = data.get(dimension)
        if raw is None:
            values[dimension] = None
        elif isinstance(raw, str):
            values[dimension] = raw.strip() or None
        elif isinstance(raw, int) and not isinstance(raw, bool):
            values[dimension] = str(raw)
        else:
            raise ValueError(f"The answer to '{dimension}' is not a choice.")
    return inv, role, edit, values


__all__ = [
    "MAX_CARD_BYTES",
    "PAGE_VERB",
    "card",
    "card_size",
    "markdown",
    "notice_card",
    "page_card",
    "parse_page_data",
]
