"""Adaptive Cards for Teams: every kind of card is valid Adaptive Cards 1.5 (the official
schema), fits in a Teams message, and the page card's data comes back as it went out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.conversation.answering import NOT_APPLICABLE, Question, QuestionPage, parse_values
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
from bot.platforms.teams.cards import (
    MAX_CARD_BYTES,
    PAGE_VERB,
    REQUIRED_ANSWER,
    card,
    card_size,
    markdown,
    notice_card,
    page_card,
    parse_page_data,
)
from surveys.dimensions import DIMENSIONS
from surveys.instrument import default_instrument
from surveys.model import InvitationId
from tests.bot.adaptive_cards import (
    TEAMS_MESSAGE_LIMIT,
    assert_microsoft_parses,
    assert_valid_card,
    elements,
    validator,
)

RICH = Message(
    "Chemo pathway: results of round 2",
    (
        Header("Chemo pathway — round 2 results"),
        Text(
            "**Overall RC 3.9** (_good_), see [the report](https://rcbot.example.org/r/1).\n"
            "**Strongest ties**\n• Nurses → Pharmacists\n• GPs → Schedulers\n"
            "**For the conversation**\n1. What helps?\n2. What gets in the way?"
        ),
        Fields((("Response rate", "82 %"), ("Roles", "6"), ("Hidden groups", "1 (fewer than 5)"))),
        Divider(),
        Context("Individual answers are never shown."),
        Image("heatmap.png", "Heat map of RC between roles"),
        Image("https://cdn.example.org/network.png", "Network of roles"),
        Image("local-only.png", "Not published anywhere"),
        Actions(
            (
                Button("Start", "rc_start", "41", "primary"),
                Button("Don't remind me", "rc_stop_reminders", "41"),
                Button("Close round", "rc_close", "7", "danger"),
            )
        ),
    ),
)


def make_page(
    *,
    index: int = 1,
    total: int = 3,
    current: dict[str, str] | None = None,
    editing: bool = False,
    question: str | None = None,
    label: str | None = None,
    role: str = "Pharmacists",
) -> QuestionPage:
    instrument = default_instrument()
    questions = tuple(
        Question(
            item.dimension,
            question if question is not None else item.ask(role),
            (
                *((str(i), label or text) for i, text in enumerate(item.scale, start=1)),
                (NOT_APPLICABLE, label or instrument.not_applicable),
            ),
        )
        for item in instrument.items
    )
    return QuestionPage(
        invitation_id=InvitationId(41),
        survey="Chemo pathway",
        partner_role=role,
        index=index,
        total=total,
        questions=questions,
        current=current or {},
        closes="Monday 24 November at 17:00",
        editing=editing,
        notice=instrument.notice,
    )


def texts(built: dict[str, Any]) -> list[str]:
    return [block["text"] for block in elements(built, "TextBlock")]


# --- the schema check itself ---------------------------------------------------------------


def test_the_schema_check_catches_what_teams_would_refuse() -> None:
    good = card(Message("hi", (Text("hi"),)))
    assert_valid_card(good)
    broken: list[dict[str, Any]] = [
        {**good, "body": [{"type": "Paragraph", "text": "x"}]},
        {**good, "body": [{"type": "TextBlock", "text": "x", "colour": "red"}]},
        {**good, "actions": [{"type": "Action.Execute", "title": "x", "verb": 3}]},
        {**good, "msteams": {"width": "Huge"}},
        {**good, "unknown": True},
    ]
    for bad in broken:
        with pytest.raises(AssertionError, match="not a valid Adaptive Card"):
            assert_valid_card(bad)
    # The unmodified official schema knows nothing of Teams' "msteams" extension.
    assert validator().schema["definitions"]["AdaptiveCard"]["properties"]["msteams"]


# --- messages ------------------------------------------------------------------------------


def test_a_message_with_every_block_kind_is_a_valid_card() -> None:
    urls = {"heatmap.png": "https://rcbot.example.org/files/abc/heatmap.png"}
    built = card(RICH, image_url=urls.get)
    assert_valid_card(built)
    assert built["type"] == "AdaptiveCard"
    assert built["fallbackText"] == RICH.text
    header, text, facts, context, *images = built["body"]
    assert (header["size"], header["weight"], header["wrap"]) == ("Large", "Bolder", True)
    assert header["text"] == "Chemo pathway — round 2 results"
    assert text["wrap"] is True
    assert "**Overall RC 3.9** (_good_)" in text["text"]
    assert "[the report](https://rcbot.example.org/r/1)" in text["text"]
    assert "- Nurses → Pharmacists\r- GPs → Schedulers" in text["text"]
    assert "1. What helps?\r2. What gets in the way?" in text["text"]
    assert facts["type"] == "FactSet"
    assert facts["facts"][0] == {"title": "Response rate", "value": "82 %"}
    # The divider becomes a separator on what follows it.
    assert context["separator"] is True
    assert (context["isSubtle"], context["size"]) == (True, "Small")
    assert "separator" not in facts
    # Attachments are drawn from the bot's public URL, https sources as they are; an image
    # that is nowhere public is left out.
    assert [i["url"] for i in images] == [
        urls["heatmap.png"],
        "https://cdn.example.org/network.png",
    ]
    assert images[0]["altText"] == "Heat map of RC between roles"
    # The trailing buttons are the card's action bar.
    start, stop, close = built["actions"]
    assert start == {
        "type": "Action.Execute",
        "title": "Start",
        "verb": "rc_start",
        "data": {"value": "41", "action": "rc_start"},
        "style": "positive",
    }
    assert "style" not in stop
    assert close["style"] == "destructive"


def test_without_image_urls_only_https_images_are_shown() -> None:
    built = card(RICH)
    assert_valid_card(built)
    assert [i["url"] for i in elements(built, "Image")] == ["https://cdn.example.org/network.png"]


def test_buttons_in_the_middle_stay_in_place() -> None:
    message = Message(
        "x",
        (
            Text("First"),
            Actions((Button("Continue", "rc_start", "1", "primary"),)),
            Divider(),
            Text("After"),
        ),
    )
    built = card(message)
    assert_valid_card(built)
    assert "actions" not in built
    _first, action_set, after = built["body"]
    assert action_set["type"] == "ActionSet"
    assert action_set["actions"][0]["verb"] == "rc_start"
    assert after["separator"] is True


def test_an_empty_message_still_has_a_body() -> None:
    built = card(Message("Only the fallback text"))
    assert_valid_card(built)
    assert texts(built) == ["Only the fallback text"]


def test_markdown_in_the_teams_dialect() -> None:
    assert markdown("**bold** and _italic_") == "**bold** and _italic_"
    assert markdown("line one\nline two") == "line one\n\nline two"
    assert markdown("Items:\n• a\n- b\n* c\nAfter") == "Items:\n\n- a\r- b\r- c\n\nAfter"
    assert markdown("1. one\n2. two\n- x") == "1. one\r2. two\n\n- x"
    assert markdown("`status [survey]`: rates") == "**status [survey]**: rates"
    assert markdown("[site](https://a.example/x?y=1)") == "[site](https://a.example/x?y=1)"
    # Only http(s) links stay links; date functions are not evaluated.
    assert "](" not in markdown("[click](javascript:alert(1))")
    assert "{{DATE(" not in markdown("{{DATE(2017-02-14T06:08:00Z, SHORT)}}")
    assert markdown("") == ""


def test_the_owner_help_reads_as_a_list() -> None:
    from bot.conversation.commands import HELP

    rendered = markdown(HELP)
    assert "`" not in rendered
    assert "\r- **nudge [survey]**:" in rendered


def test_a_huge_message_is_shortened_to_fit() -> None:
    long_text = "Ünïcödé text that JSON escapes. " * 2000
    message = Message(
        "Big",
        (
            Header("H" * 5000),
            *(Text(long_text) for _ in range(5)),
            Fields(tuple((f"k{i}" * 50, "v" * 3000) for i in range(30))),
            Actions((Button("Start " * 50, "rc_start", "1"),)),
        ),
    )
    built = card(message)
    assert_valid_card(built)
    assert card_size(built) <= MAX_CARD_BYTES
    many = Message("Many", tuple(Text(f"Paragraph {i} " + "é" * 200) for i in range(400)))
    built = card(many)
    assert_valid_card(built)
    assert "Shortened" in texts(built)[-1]


# --- notices -------------------------------------------------------------------------------


def test_notice_cards() -> None:
    plain = notice_card("rcbot", "Round 2 of Chemo pathway has closed. Thank you for taking part.")
    assert_valid_card(plain)
    assert "actions" not in plain
    assert texts(plain) == [
        "rcbot",
        "Round 2 of Chemo pathway has closed. Thank you for taking part.",
    ]
    with_buttons = notice_card(
        "Thank you",
        "**All answered.** You can change them until Monday.",
        buttons=[Button("Edit my answers", "rc_edit", "41")],
    )
    assert_valid_card(with_buttons)
    (edit,) = with_buttons["actions"]
    assert edit["verb"] == "rc_edit"
    assert edit["data"] == {"value": "41", "action": "rc_edit"}


# --- question pages ------------------------------------------------------------------------


def test_the_first_page() -> None:
    page = make_page()
    built = page_card(page)
    assert_valid_card(built)
    body = built["body"]
    assert body[0]["text"] == "About: Pharmacists"
    assert body[1]["isSubtle"] is True
    assert body[1]["text"] == (
        "Chemo pathway · Role 1 of 3 · answers are saved as you go and can be changed until "
        "Monday 24 November at 17:00"
    )
    inputs = elements(built, "Input.ChoiceSet")
    assert [i["id"] for i in inputs] == list(DIMENSIONS)
    for question, choice_set in zip(page.questions, inputs, strict=True):
        assert choice_set["style"] == "expanded"
        assert choice_set["isRequired"] is True
        assert choice_set["errorMessage"] == REQUIRED_ANSWER
        assert "value" not in choice_set
        assert [(c["value"], c["title"]) for c in choice_set["choices"]] == list(question.options)
        assert choice_set["label"] == question.text
    assert texts(built)[-1] == page.notice
    (submit,) = built["actions"]
    assert submit["type"] == "Action.Execute"
    assert (submit["verb"], submit["title"]) == (PAGE_VERB, "Save and next")
    assert submit["data"] == {"inv": 41, "role": "Pharmacists", "edit": False}


def test_the_last_page_when_editing_shows_current_answers_and_errors() -> None:
    current = dict.fromkeys(DIMENSIONS, "4")
    current["accurate"] = NOT_APPLICABLE
    del current["timely"]
    errors = {"timely": REQUIRED_ANSWER, "": "Round 2 is closing; your answers were not saved."}
    built = page_card(make_page(index=3, total=3, current=current, editing=True), errors)
    assert_valid_card(built)
    (submit,) = built["actions"]
    assert submit["title"] == "Save and finish"
    assert submit["data"] == {"inv": 41, "role": "Pharmacists", "edit": True}
    inputs = {i["id"]: i for i in elements(built, "Input.ChoiceSet")}
    assert inputs["frequent"]["value"] == "4"
    assert inputs["accurate"]["value"] == NOT_APPLICABLE
    assert "value" not in inputs["timely"]
    body = built["body"]
    after_timely = body[body.index(inputs["timely"]) + 1]
    assert after_timely["text"] == REQUIRED_ANSWER
    assert after_timely["color"] == "Attention"
    attention = [b["text"] for b in body if b.get("color") == "Attention"]
    assert attention == [errors[""], REQUIRED_ANSWER]


def test_a_stale_current_value_is_not_preselected() -> None:
    built = page_card(make_page(current={"frequent": "9"}))
    assert_valid_card(built)
    assert "value" not in elements(built, "Input.ChoiceSet")[0]


def test_a_page_with_enormous_labels_fits_in_a_teams_message() -> None:
    page = make_page(
        question="Wie oft sprechen Sie mit 🩺 über Patientinnen? " * 300,
        label="Überhaupt nicht — “sehr selten” 😶 " * 200,
        role="Pflegefachpersonen der onkologischen Tagesklinik " * 3,
    )
    built = page_card(page)
    assert_valid_card(built)
    assert card_size(built) <= MAX_CARD_BYTES < TEAMS_MESSAGE_LIMIT
    assert len(json.dumps(built).encode()) < TEAMS_MESSAGE_LIMIT
    # However short the texts get, every question is still asked and the role survives whole.
    assert len(elements(built, "Input.ChoiceSet")) == len(DIMENSIONS)
    assert built["actions"][0]["data"]["role"] == page.partner_role


def test_a_normal_page_is_small() -> None:
    assert card_size(page_card(make_page())) < 8_000


# --- data coming back ----------------------------------------------------------------------


def invoke_data(built: dict[str, Any], chosen: dict[str, str]) -> dict[str, Any]:
    """What Teams sends in ``value.action.data``: the action's data plus the inputs."""
    (submit,) = built["actions"]
    sent: dict[str, Any] = json.loads(json.dumps({**submit["data"], **chosen}))
    return sent


def test_microsoft_parser_accepts_every_kind_of_card() -> None:
    """Microsoft's own parser (npm ``adaptivecards``, as Teams renders cards), 1.5, reports
    no error and no warning: labels on every input, nothing newer than 1.5."""
    current = dict.fromkeys(DIMENSIONS, "4")
    cards = [
        card(RICH, image_url={"heatmap.png": "https://rcbot.example.org/f/x/heatmap.png"}.get),
        card(Message("", ())),
        notice_card("rcbot", "Thanks!", buttons=(Button("Edit", "rc_edit", "41"),)),
        page_card(make_page()),
        page_card(make_page(index=3, current=current, editing=True), {"timely": REQUIRED_ANSWER}),
        page_card(make_page(label="x" * 400, question="q" * 2000)),
    ]
    assert_microsoft_parses(cards)


def test_page_data_round_trips() -> None:
    page = make_page(index=2, editing=True)
    chosen = {d: "3" for d in DIMENSIONS}
    chosen["mutual_respect"] = NOT_APPLICABLE
    inv, role, editing, values = parse_page_data(invoke_data(page_card(page), chosen))
    assert (inv, role, editing) == (41, "Pharmacists", True)
    assert values == chosen
    scores, errors = parse_values(page, values)
    assert errors == {}
    assert scores["mutual_respect"] is None
    assert scores["frequent"] == 3


def test_unanswered_questions_come_back_as_none() -> None:
    page = make_page()
    data = invoke_data(page_card(page), {"frequent": "5", "timely": ""})
    inv, role, editing, values = parse_page_data(data)
    assert (inv, role, editing) == (41, "Pharmacists", False)
    assert values["frequent"] == "5"
    assert values["timely"] is None
    assert values["accurate"] is None
    _, errors = parse_values(page, values)
    assert set(errors) == set(DIMENSIONS) - {"frequent"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"role": "Nurses"}, "invitation id"),
        ({"inv": "x1", "role": "Nurses"}, "invitation id"),
        ({"inv": True, "role": "Nurses"}, "invitation id"),
        ({"inv": -3, "role": "Nurses"}, "invitation id"),
        ({"inv": 1}, "partner role"),
        ({"inv": 1, "role": "  "}, "partner role"),
        ({"inv": 1, "role": "Nurses", "edit": "maybe"}, "'edit'"),
        ({"inv": 1, "role": "Nurses", "frequent": ["1"]}, "'frequent'"),
    ],
)
def test_malformed_page_data_is_refused(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_page_data(data)


def test_page_data_tolerates_strings_for_numbers_and_flags() -> None:
    assert parse_page_data({"inv": "7", "role": "GPs", "edit": "true", "timely": 4})[:3] == (
        7,
        "GPs",
        True,
    )
    assert parse_page_data({"inv": 7, "role": "GPs", "timely": 4})[3]["timely"] == "4"
