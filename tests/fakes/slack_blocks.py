"""Block Kit and view checks used by the fake Slack Web API.

Slack refuses payloads that break Block Kit's limits, and reports each problem as a
reason followed by a JSON pointer, e.g. ``must be less than 76 characters
[json-pointer:/blocks/0/elements/0/text/text]``. The fake applies the same limits so that
code tested against it cannot send what the real service would refuse.

Only the limits that matter for a survey bot are enforced; block and element types that
are not known here are refused with Slack's generic ``failed to match all allowed
schemas``.
"""

from __future__ import annotations

from typing import Any, Final

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
MAX_MESSAGE_TEXT: Final = 40_000
MAX_PRIVATE_METADATA: Final = 3_000
MAX_VIEW_TITLE: Final = 24
MAX_ID: Final = 255

BLOCK_TYPES: Final = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
# Elements whose options are limited, with the most options each may carry.
_OPTION_LIMITS: Final = {
    "static_select": 100,
    "multi_static_select": 100,
    "overflow": 5,
    "radio_buttons": 10,
    "checkboxes": 10,
}
_PLAIN_ELEMENTS: Final = frozenset(
    {
        "channels_select",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "file_input",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_users_select",
        "number_input",
        "plain_text_input",
        "rich_text_input",
        "timepicker",
        "url_text_input",
        "users_select",
        "workflow_button",
    }
)
ELEMENT_TYPES: Final = frozenset({"button", "image", *_OPTION_LIMITS, *_PLAIN_ELEMENTS})
_MISMATCH: Final = "failed to match all allowed schemas"


class BlockChecker:
    """Collects Slack-style problems ("reason [json-pointer:/path]") for one payload."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    # -- primitives -----------------------------------------------------------------

    def add(self, reason: str, pointer: str) -> None:
        self.problems.append(f"{reason} [json-pointer:{pointer}]")

    def max_chars(self, value: object, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)

    def text_object(
        self,
        obj: object,
        pointer: str,
        *,
        limit: int,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        """A composition text object: ``{"type": "plain_text"|"mrkdwn", "text": ...}``."""
        if obj is None:
            if required:
                self.add("missing required field: text", pointer)
            return
        if not isinstance(obj, dict):
            self.add("must be an object", pointer)
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.add(f"must be one of {', '.join(allowed)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.add("must be a string", f"{pointer}/text")
        elif not text:
            self.add("must be more than 0 characters", f"{pointer}/text")
        else:
            self.max_chars(text, limit, f"{pointer}/text")

    def items(self, value: object, pointer: str, *, most: int, least: int = 0) -> list[Any]:
        """Checks that value is a list of allowed length; returns it (or [])."""
        if not isinstance(value, list):
            self.add("must be an array", pointer)
            return []
        if len(value) > most:
            self.add(f"must be less than {most + 1} items", pointer)
        if len(value) < least:
            self.add(f"must provide at least {least} items", pointer)
        return value

    # -- blocks -----------------------------------------------------------------------

    def blocks(self, blocks: object, pointer: str, *, most: int) -> None:
        block_ids: set[str] = set()
        for index, block in enumerate(self.items(blocks, pointer, most=most)):
            self.block(block, f"{pointer}/{index}", block_ids)

    def block(self, block: object, pointer: str, block_ids: set[str]) -> None:
        if not isinstance(block, dict):
            self.add("must be an object", pointer)
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.add(_MISMATCH, pointer)
            return
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str):
                self.add("must be a string", f"{pointer}/block_id")
            else:
                self.max_chars(block_id, MAX_ID, f"{pointer}/block_id")
                if block_id in block_ids:
                    self.add("duplicate block_id", f"{pointer}/block_id")
                block_ids.add(block_id)
        action_ids: set[str] = set()
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and fields is None:
                self.add("must provide either text or fields", pointer)
            self.text_object(text, f"{pointer}/text", limit=3000, required=False)
            if fields is not None:
                for i, field in enumerate(self.items(fields, f"{pointer}/fields", most=10)):
                    self.text_object(field, f"{pointer}/fields/{i}", limit=2000)
            if block.get("accessory") is not None:
                self.element(block["accessory"], f"{pointer}/accessory", action_ids)
        elif kind == "header":
            self.text_object(block.get("text"), f"{pointer}/text", limit=150, plain_only=True)
        elif kind == "context":
            elements = self.items(block.get("elements"), f"{pointer}/elements", most=10, least=1)
            for i, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") == "image":
                    self.element(element, f"{pointer}/elements/{i}", action_ids)
                else:
                    self.text_object(element, f"{pointer}/elements/{i}", limit=3000)
        elif kind == "actions":
            elements = self.items(block.get("elements"), f"{pointer}/elements", most=25, least=1)
            for i, element in enumerate(elements):
                self.element(element, f"{pointer}/elements/{i}", action_ids)
        elif kind == "input":
            self.text_object(block.get("label"), f"{pointer}/label", limit=2000, plain_only=True)
            self.text_object(
                block.get("hint"), f"{pointer}/hint", limit=2000, plain_only=True, required=False
            )
            if block.get("element") is None:
                self.add("missing required field: element", pointer)
            else:
                self.element(block["element"], f"{pointer}/element", action_ids)
        elif kind == "image":
            if block.get("image_url") is None and block.get("slack_file") is None:
                self.add("must provide either image_url or slack_file", pointer)
            self.max_chars(block.get("image_url"), 3000, f"{pointer}/image_url")
            self._alt_text(block, pointer)
            self.text_object(
                block.get("title"), f"{pointer}/title", limit=2000, plain_only=True, required=False
            )

    def _alt_text(self, obj: dict[str, Any], pointer: str) -> None:
        alt = obj.get("alt_text")
        if not isinstance(alt, str):
            self.add("missing required field: alt_text", pointer)
        else:
            self.max_chars(alt, 2000, f"{pointer}/alt_text")

    # -- elements ---------------------------------------------------------------------

    def element(self, element: object, pointer: str, action_ids: set[str]) -> None:
        if not isinstance(element, dict):
            self.add("must be an object", pointer)
            return
        kind = element.get("type")
        if kind not in ELEMENT_TYPES:
            self.add(_MISMATCH, pointer)
            return
        if kind == "image":
            if element.get("image_url") is None and element.get("slack_file") is None:
                self.add("must provide either image_url or slack_file", pointer)
            self._alt_text(element, pointer)
            return
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str):
                self.add("must be a string", f"{pointer}/action_id")
            else:
                self.max_chars(action_id, MAX_ID, f"{pointer}/action_id")
                if action_id in action_ids:
                    self.add("duplicate action_id", f"{pointer}/action_id")
                action_ids.add(action_id)
        self.text_object(
            element.get("placeholder"),
            f"{pointer}/placeholder",
            limit=150,
            plain_only=True,
            required=False,
        )
        if kind == "button":
            self.text_object(element.get("text"), f"{pointer}/text", limit=75, plain_only=True)
            self.max_chars(element.get("value"), 2000, f"{pointer}/value")
            self.max_chars(element.get("url"), 3000, f"{pointer}/url")
            style = element.get("style")
            if style is not None and style not in ("primary", "danger"):
                self.add("must be one of primary, danger", f"{pointer}/style")
        elif kind in _OPTION_LIMITS:
            plain_only = kind in ("static_select", "multi_static_select", "overflow")
            least = 2 if kind == "overflow" else 1
            options = element.get("options")
            groups = element.get("option_groups")
            if options is None and groups is None:
                self.add("must provide either options or option_groups", pointer)
            if options is not None:
                limit = _OPTION_LIMITS[kind]
                for i, option in enumerate(
                    self.items(options, f"{pointer}/options", most=limit, least=least)
                ):
                    self.option(option, f"{pointer}/options/{i}", plain_only=plain_only)
            if groups is not None:
                for g, group in enumerate(self.items(groups, f"{pointer}/option_groups", most=100)):
                    gp = f"{pointer}/option_groups/{g}"
                    if not isinstance(group, dict):
                        self.add("must be an object", gp)
                        continue
                    self.text_object(group.get("label"), f"{gp}/label", limit=75, plain_only=True)
                    for i, option in enumerate(
                        self.items(group.get("options"), f"{gp}/options", most=100, least=1)
                    ):
                        self.option(option, f"{gp}/options/{i}", plain_only=True)
        elif kind == "plain_text_input":
            for key in ("min_length", "max_length"):
                value = element.get(key)
                if isinstance(value, int) and not 0 <= value <= 3000:
                    self.add("must be between 0 and 3000", f"{pointer}/{key}")

    def option(self, option: object, pointer: str, *, plain_only: bool) -> None:
        if not isinstance(option, dict):
            self.add("must be an object", pointer)
            return
        self.text_object(option.get("text"), f"{pointer}/text", limit=75, plain_only=plain_only)
        value = option.get("value")
        if value is not None:
            self.max_chars(value, 150, f"{pointer}/value")
        self.text_object(
            option.get("description"),
            f"{pointer}/description",
            limit=75,
            plain_only=plain_only,
            required=False,
        )
        self.max_chars(option.get("url"), 3000, f"{pointer}/url")


def message_block_problems(blocks: object) -> list[str]:
    """Problems with a message's ``blocks`` (at most 50)."""
    checker = BlockChecker()
    checker.blocks(blocks, "/blocks", most=MAX_MESSAGE_BLOCKS)
    return checker.problems


def view_problems(view: object, *, allowed_types: tuple[str, ...]) -> list[str]:
    """Problems with a ``view`` payload (modal or App Home)."""
    checker = BlockChecker()
    if not isinstance(view, dict):
        checker.add("must be an object", "/view")
        return checker.problems
    kind = view.get("type")
    if kind not in allowed_types:
        checker.add(f"must be one of {', '.join(allowed_types)}", "/view/type")
    if kind == "modal":
        checker.text_object(view.get("title"), "/view/title", limit=MAX_VIEW_TITLE, plain_only=True)
        for key in ("submit", "close"):
            checker.text_object(
                view.get(key),
                f"/view/{key}",
                limit=MAX_VIEW_TITLE,
                plain_only=True,
                required=False,
            )
    checker.blocks(view.get("blocks"), "/view/blocks", most=MAX_VIEW_BLOCKS)
    blocks = view.get("blocks")
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if kind == "modal" and has_input and view.get("submit") is None:
        checker.add("submit is required when the view has an input block", "/view/submit")
    for key, limit in (
        ("private_metadata", MAX_PRIVATE_METADATA),
        ("callback_id", MAX_ID),
        ("external_id", MAX_ID),
    ):
        value = view.get(key)
        if value is not None and not isinstance(value, str):
            checker.add("must be a string", f"/view/{key}")
        checker.max_chars(value, limit, f"/view/{key}")
    return checker.problems
