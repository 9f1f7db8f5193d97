from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from surveys.errors import InvalidInput
from surveys.importing import (
    ImportRejected,
    ParticipantRecord,
    check_table,
    parse_csv_text,
    read_table,
)
from surveys.model import Platform

ROLES = ["Nurses", "Doctors"]


def check(text: str, roles: list[str] | None = ROLES, **kw: Any) -> list[ParticipantRecord]:
    return check_table(parse_csv_text(text, "people.csv"), known_roles=roles, **kw)


def rejected(text: str, roles: list[str] | None = ROLES) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        check(text, roles)
    return [str(p) for p in caught.value.problems]


def test_a_good_file_with_optional_columns() -> None:
    records = check(
        "Email,Name,Role,Timezone,Platform,Team,Teams User ID\n"
        "ANN@nhs.net, Ann  Lee ,nurses,Europe/London,,Ward 3,\n"
        "bob@nhs.net,Bob,Doctors,,teams,,\n"
        "cy@nhs.net,Cy,Doctors,,,,29:abc\n"
    )
    ann, bob, cy = records
    assert ann.email == "ann@nhs.net"
    assert ann.name == "Ann Lee"
    assert ann.role == "Nurses"
    assert ann.team == "Ward 3"
    assert ann.line == 2
    assert bob.platform is Platform.TEAMS
    assert bob.timezone is None
    assert cy.platform is Platform.TEAMS


def test_default_platform_applies_when_a_row_names_none() -> None:
    (record,) = check("email,name,role\na@x.org,A,Nurses\n", default_platform=Platform.TEAMS)
    assert record.platform is Platform.TEAMS


def test_every_bad_row_is_listed_with_line_and_column() -> None:
    found = rejected(
        "email,name,role,timezone,platform\n"
        "a@x.org,Ann,Nurses,,\n"  # fine
        ",Bob,Nurses,,\n"  # missing e-mail
        "not-an-email,Cy,Nurses,,\n"
        "a@x.org,Ann again,Nurses,,\n"  # duplicate
        "d@x.org,,Nurses,,\n"  # no name
        "e@x.org,Eve,Porters,,\n"  # unknown role
        "f@x.org,Fay,Doctors,Mars/Base,\n"  # unknown timezone
        "g@x.org,Gus,Doctors,,carrier pigeon\n"  # unknown platform
        "h@x.org,Hal,Doctors,,,extra\n"  # too many values
    )
    assert found == [
        "line 3, email: the e-mail address is empty",
        "line 4, email: 'not-an-email' is not a valid e-mail address",
        "line 5, email: a@x.org is already on line 2",
        "line 6, name: the name is empty",
        "line 7, role: 'Porters' is not a role of this survey (Nurses, Doctors)",
        "line 8, timezone: 'Mars/Base' is not an IANA timezone such as Europe/London",
        "line 9, platform: 'carrier pigeon' is not a platform; use slack or teams",
        "line 10, (extra): has more values than the header has columns",
    ]


def test_missing_and_unknown_columns() -> None:
    found = rejected("e-mail,name,timezon\nx@y.org,X,UTC\n")
    assert "header, email: this required column is missing" in found
    assert "header, role: this required column is missing" in found
    assert "header, timezon: is not a known column; did you mean 'timezone'?" in found


def test_unknown_columns_are_reported_together_with_bad_rows() -> None:
    found = rejected("email,name,role,notes\nbad,X,Nurses,hi\n")
    assert found == [
        "header, notes: is not a known column",
        "line 2, email: 'bad' is not a valid e-mail address",
    ]


def test_any_role_is_accepted_when_the_survey_has_none_yet() -> None:
    (record,) = check("email,name,role\na@x.org,A,Health visitors\n", roles=None)
    assert record.role == "Health visitors"


def test_empty_files() -> None:
    with pytest.raises(InvalidInput, match="is empty"):
        check("")
    with pytest.raises(InvalidInput, match="no participants"):
        check("email,name,role\n\n")


def test_the_message_counts_rows_and_header() -> None:
    with pytest.raises(ImportRejected) as caught:
        check("email,name,role,x\nbad,A,Nurses,\nworse,B,Nurses,\n")
    assert "the header and 2 rows have problems; nothing was changed" in str(caught.value)


def test_csv_with_bom_and_xlsx(tmp_path: Path) -> None:
    csv_path = tmp_path / "people.csv"
    csv_path.write_bytes("\ufeffemail,name,role\nä@x.org,Zoë,Nurses\n".encode())
    table = read_table(csv_path)
    assert table.header == ("email", "name", "role")

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["email", "name", "role", "team"])
    sheet.append(["a@x.org", "Ann", "Nurses", None])
    sheet.append([None, None, None, None])
    sheet.append(["b@x.org", "Bob", "Ghosts", "Ward 1"])
    xlsx = tmp_path / "people.xlsx"
    book.save(xlsx)
    with pytest.raises(ImportRejected) as caught:
        check_table(read_table(xlsx), known_roles=ROLES)
    assert [str(p) for p in caught.value.problems] == [
        "line 4, role: 'Ghosts' is not a role of this survey (Nurses, Doctors)"
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("none.csv", None, "does not exist"),
        ("people.pdf", b"%PDF", "must be a .csv or .xlsx"),
        ("latin1.csv", "email,name,role\na@x.org,Zo\xeb,N\n".encode("latin-1"), "not UTF-8"),
        ("broken.xlsx", b"not a zip", "not a readable .xlsx"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        read_table(path)


def test_one_chat_account_is_one_participant_in_a_file() -> None:
    # Regression (issue 14, item 4): one Slack or Teams id on two people let one person
    # answer twice and could lift a group of four over the minimum.
    found = rejected(
        "email,name,role,slack_user_id,teams_user_id\n"
        "a@x.org,Ann,Nurses,U1,\n"
        "b@x.org,Bob,Nurses,U2,29:abc\n"
        "c@x.org,Cy,Nurses,U1,\n"
        "d@x.org,Di,Doctors,,29:ABC\n"
    )
    assert found == [
        "line 4, slack_user_id: U1 is already on line 2; one chat account can belong to one "
        "participant only",
        "line 5, teams_user_id: 29:ABC is already on line 3; one chat account can belong to one "
        "participant only",
    ]
