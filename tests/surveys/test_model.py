from datetime import timedelta

import pytest

from surveys.errors import Conflict, InvalidInput
from surveys.instrument import default_instrument
from surveys.model import (
    AnswerPage,
    ChannelRef,
    Invitation,
    InvitationId,
    ParticipantId,
    Platform,
    Role,
    Round,
    RoundId,
    RoundState,
    Survey,
    SurveyId,
    check_page,
    parse_email,
    progress_of,
    summarise_responses,
)
from tests.conftest import MONDAY

INSTRUMENT = default_instrument()


def survey(**kw: object) -> Survey:
    values: dict[str, object] = {
        "name": "Chemo",
        "instrument": INSTRUMENT,
        "roles": (Role("Nurses"), Role("Doctors"), Role("Pharmacists")),
    }
    values.update(kw)
    return Survey(**values)  # type: ignore[arg-type]


def invitation(partners: tuple[str, ...] = ("Nurses", "Doctors")) -> Invitation:
    return Invitation(RoundId(1), ParticipantId(1), "Nurses", partners, id=InvitationId(1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("  Ann.Lee@NHS.net ", "ann.lee@nhs.net"), ("a+b@x.co.uk", "a+b@x.co.uk")],
)
def test_emails_are_normalised(text: str, expected: str) -> None:
    assert parse_email(text) == expected


@pytest.mark.parametrize("text", ["", "ann", "ann@", "@nhs.net", "a b@x.org", "a@x", "a..b@x.org"])
def test_bad_emails_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_email(text)


def test_every_role_rates_every_role_including_its_own_by_default() -> None:
    s = survey()
    assert s.partner_roles_for("Nurses") == ("Nurses", "Doctors", "Pharmacists")
    assert s.partner_roles_for("  doctors ") == ("Nurses", "Doctors", "Pharmacists")


def test_partner_roles_can_be_restricted_and_keep_survey_order() -> None:
    s = survey()
    s = Survey(**{**s.__dict__, "roles": s.with_partners("Doctors", ["Pharmacists", "nurses"])})
    assert s.partner_roles_for("Doctors") == ("Nurses", "Pharmacists")
    assert s.partner_roles_for("Nurses") == ("Nurses", "Doctors", "Pharmacists")
    with pytest.raises(InvalidInput, match="at least one"):
        s.with_partners("Doctors", [])
    with pytest.raises(InvalidInput, match="not a role"):
        s.with_partners("Doctors", ["Porters"])


def test_survey_rules() -> None:
    with pytest.raises(InvalidInput, match="between 3 and 25"):
        survey(min_group_size=2)
    with pytest.raises(InvalidInput, match="between 3 and 25"):
        survey(min_group_size=26)
    with pytest.raises(InvalidInput, match="timezone"):
        survey(timezone="Mars/Olympus")
    with pytest.raises(InvalidInput, match="twice"):
        survey(roles=(Role("A"), Role("A")))
    with pytest.raises(InvalidInput, match="not a role of this survey"):
        survey(roles=(Role("A", ("B",)),))
    with pytest.raises(InvalidInput, match="empty"):
        survey(name="  ")


def test_roles_added_are_deduplicated_ignoring_case_and_spacing() -> None:
    roles = survey().with_roles_added(["nurses", "Ward  nurses", "Ward nurses"])
    assert [r.name for r in roles] == ["Nurses", "Doctors", "Pharmacists", "Ward nurses"]


def test_channel_refs() -> None:
    assert ChannelRef.parse("slack:C0123") == ChannelRef(Platform.SLACK, "C0123")
    teams = ChannelRef.parse("teams:19:abc@thread.tacv2")
    assert teams.channel_id == "19:abc@thread.tacv2"
    assert str(teams) == "teams:19:abc@thread.tacv2"
    for bad in ["C0123", "irc:#x", "slack:"]:
        with pytest.raises(InvalidInput):
            ChannelRef.parse(bad)


def test_round_lifecycle() -> None:
    r = Round(SurveyId(1), 1, MONDAY, MONDAY + timedelta(days=14))
    assert r.state is RoundState.DRAFT
    assert not r.accepts_answers(MONDAY)
    r.open(MONDAY)
    assert r.accepts_answers(MONDAY + timedelta(days=13))
    assert not r.accepts_answers(MONDAY + timedelta(days=14))
    with pytest.raises(Conflict):
        r.open(MONDAY)
    r.close(MONDAY + timedelta(days=3))
    assert not r.accepts_answers(MONDAY + timedelta(days=4))
    with pytest.raises(Conflict, match="already closed"):
        r.close(MONDAY + timedelta(days=5))
    with pytest.raises(InvalidInput, match="close after"):
        Round(SurveyId(1), 2, MONDAY, MONDAY)


def test_a_page_must_answer_every_question_with_1_to_5_or_not_applicable() -> None:
    inv = invitation()
    full: dict[str, int | None] = dict.fromkeys(INSTRUMENT.dimensions, 4)
    full["frequent"] = None
    page = check_page(inv, INSTRUMENT, AnswerPage("Doctors", full))
    assert page.scores["frequent"] is None
    partial = dict(full)
    del partial["timely"]
    with pytest.raises(InvalidInput, match="missing: timely"):
        check_page(inv, INSTRUMENT, AnswerPage("Doctors", partial))
    for bad in (0, 6, True, 2.5):
        with pytest.raises(InvalidInput, match="1-5"):
            check_page(inv, INSTRUMENT, AnswerPage("Doctors", {**full, "timely": bad}))  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="unknown question"):
        check_page(inv, INSTRUMENT, AnswerPage("Doctors", {**full, "humour": 3}))
    with pytest.raises(InvalidInput, match="not one of the roles"):
        check_page(inv, INSTRUMENT, AnswerPage("Pharmacists", full))


def test_progress_follows_the_invitation_order() -> None:
    inv = invitation(("Nurses", "Doctors", "Pharmacists"))
    progress = progress_of(inv, ["Doctors"])
    assert progress.answered == ("Doctors",)
    assert progress.next_role == "Nurses"
    assert progress.total == 3
    assert progress_of(inv, ["Nurses", "Doctors", "Pharmacists"]).complete


def test_response_summary_counts_per_role() -> None:
    s = survey()
    r = Round(SurveyId(1), 1, MONDAY, MONDAY + timedelta(days=14), RoundState.OPEN)
    invs = [
        Invitation(
            RoundId(1), ParticipantId(i), role, ("Nurses",), started_at=started, completed_at=done
        )
        for i, (role, started, done) in enumerate(
            [
                ("Nurses", MONDAY, MONDAY),
                ("Nurses", MONDAY, None),
                ("Nurses", None, None),
                ("Doctors", MONDAY, MONDAY),
            ]
        )
    ]
    status = summarise_responses(s, r, invs)
    assert [(x.role, x.invited, x.started, x.completed) for x in status.by_role] == [
        ("Nurses", 3, 2, 1),
        ("Doctors", 1, 1, 1),
    ]
    assert status.rate == pytest.approx(0.5)
    assert status.by_role[0].rate == pytest.approx(1 / 3)
