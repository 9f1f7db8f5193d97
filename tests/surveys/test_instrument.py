import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from surveys.dimensions import DIMENSIONS
from surveys.instrument import (
    InstrumentError,
    check_instrument,
    default_instrument,
    instrument_from_dict,
    load_instrument,
    people_in,
)


def good() -> dict[str, Any]:
    return copy.deepcopy(default_instrument().to_dict())


def test_the_default_instrument_is_complete_and_says_it_is_not_the_validated_survey() -> None:
    instrument = default_instrument()
    assert instrument.dimensions == DIMENSIONS
    assert not instrument.validated
    assert "not the validated" in instrument.notice
    assert all("{partners}" in i.question for i in instrument.items)
    assert instrument.item("timely").ask("pharmacists").count("pharmacists") == 1


@pytest.mark.parametrize(
    ("role", "people"),
    [
        ("Doctor", "people in the Doctor role"),
        ("Doctors", "Doctors"),
        ("Police liaison officer", "people in the Police liaison officer role"),
        ("Police liaison officers", "Police liaison officers"),
        ("ED staff", "ED staff"),
        ("GPs", "GPs"),
        ("Social work", "people in the Social work role"),
        ("Triage nurse (band 6)", "people in the Triage nurse (band 6) role"),
        ("Physiotherapy   team", "Physiotherapy team"),
    ],
)
def test_people_in_a_role_read_right_whatever_the_role_is_called(role: str, people: str) -> None:
    assert people_in(role) == people


def test_the_default_questions_read_naturally_for_singular_and_plural_roles() -> None:
    instrument = default_instrument()
    asked = {role: [i.ask(role) for i in instrument.items] for role in ROLES}
    assert asked["Doctor"][1] == (
        "When people in the Doctor role share information you need, does it reach you in time?"
    )
    assert asked["Doctors"][2] == "Is the information Doctors give you correct and complete?"
    assert asked["Police liaison officer"][6] == (
        "How much do people in the Police liaison officer role respect the work you do?"
    )
    for questions in asked.values():
        for question in questions:
            # No "Doctor share", "Doctor give", "do Doctor": a singular name never meets a
            # plural verb.
            assert not re.search(r"\b(Doctor|officer) (share|give|understand|respect)", question)
            assert not re.search(r"\bdo (Doctor|Police liaison officer)\b", question)


ROLES = ("Doctor", "Doctors", "Police liaison officer")


def test_partner_is_the_role_name_as_written() -> None:
    data = default_instrument().to_dict()
    data["items"][0]["question"] = "How often do you talk with the {partner} team?"
    instrument = instrument_from_dict(data)
    assert instrument.items[0].ask("Doctor") == "How often do you talk with the Doctor team?"


def test_round_trip_through_a_yaml_file(tmp_path: Path) -> None:
    data = good()
    data["instrument"]["language"] = "cy"
    data["instrument"]["name"] = "Holiadur"
    path = tmp_path / "welsh.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    loaded = load_instrument(path)
    assert loaded.language == "cy"
    assert loaded.name == "Holiadur"
    assert loaded.to_dict() == data


def test_items_in_any_order_come_back_in_dimension_order() -> None:
    data = good()
    data["items"].reverse()
    assert check_instrument(data) == []


def problems(data: dict[str, Any]) -> list[str]:
    return [str(p) for p in check_instrument(data)]


def test_every_problem_is_reported_at_once() -> None:
    data = good()
    data["instrument"]["not_applicable"] = ""
    data["instrument"]["language"] = "english!"
    data["instrument"]["colour"] = "blue"
    data["items"][0]["question"] = "How often do you talk to them?"
    data["items"][1]["scale"] = ["Never", "Always"]
    data["items"][2]["dimension"] = "friendly"
    data["items"][3]["question"] = "Does {partner} solve {problem}?"
    data["items"][4]["scale"][2] = "x" * 80
    data["items"][5]["dimension"] = "shared_goals"
    data["items"][6]["extra"] = 1
    found = problems(data)
    expected = [
        "instrument.not_applicable: is missing or empty",
        "instrument.language: 'english!' is not a language code",
        "instrument.colour: is not a known setting",
        "items[1].question: must contain {partners}",
        "items[2].scale: must list exactly 5 labels",
        "items[3].dimension: 'friendly' is not one of",
        "items[4].question: has unknown placeholder(s): problem",
        "items[5].scale[3]: is longer than 75 characters",
        "items[6].dimension: 'shared_goals' is already asked in items[5]",
        "items[7].extra: is not a known setting",
        "items: no question for: accurate, shared_knowledge",
    ]
    for text in expected:
        assert any(f.startswith(text) for f in found), (text, found)
    assert len(found) == len(expected)


def test_structural_problems() -> None:
    assert problems({}) == [
        "instrument: the [instrument] section is missing",
        "instrument.name: is missing or empty",
        "instrument.not_applicable: is missing or empty",
        "items: there must be one [[items]] entry per dimension",
        "items: no question for: " + ", ".join(DIMENSIONS),
    ]
    data = good()
    data["items"][0] = "frequent"
    data["items"][1]["question"] = "Unbalanced {partner"
    data["items"][2]["scale"] = ["A", "A", "B", "C", "D"]
    found = problems(data)
    assert "items[1]: must be a table with dimension, question and scale" in found
    assert "items[2].question: has an unmatched { or }" in found
    assert "items[3].scale: has the same label twice" in found


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.toml", None, "does not exist"),
        ("bad.toml", "[instrument\nname=", "is not valid TOML"),
        ("bad.yaml", "items: [a, b", "is not valid YAML"),
        ("list.yaml", "- a\n- b\n", "must hold a table"),
        ("questions.json", "{}", "must end in .toml, .yaml or .yml"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InstrumentError) as caught:
        load_instrument(path)
    assert message in str(caught.value.problems[0])
