"""CSV, XLSX, Markdown and the anonymised extract."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pandas as pd

from analytics import Analysis, analyze
from analytics.exports import (
    TIES_CSV_COLUMNS,
    build_extract,
    report_markdown,
    report_workbook,
    roles_csv,
    ties_csv,
)
from analytics.scores import ROLE_COLUMNS

from .conftest import round_answers
from .helpers import frame, uniform_tie

CONTRACT_HEADER = (
    "respondent_role,partner_role,n,rc_index,frequent,timely,accurate,problem_solving,"
    "shared_goals,shared_knowledge,mutual_respect,band,suppressed"
)


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_ties_csv_header_is_exactly_the_contract(full_analysis: Analysis) -> None:
    text = ties_csv(full_analysis)
    assert text.splitlines()[0] == CONTRACT_HEADER
    assert ",".join(TIES_CSV_COLUMNS) == CONTRACT_HEADER


def test_ties_csv_rows(full_analysis: Analysis) -> None:
    rows = rows_of(ties_csv(full_analysis))
    pairs = [(r["respondent_role"], r["partner_role"]) for r in rows]
    assert len(pairs) == len(set(pairs)) == len(full_analysis.ties)
    by_pair = {(r["respondent_role"], r["partner_role"]): r for r in rows}
    hidden = by_pair[("Doctor", "Nurse")]
    assert hidden["suppressed"] == "true"
    assert all(hidden[c] == "" for c in TIES_CSV_COLUMNS[2:-1])  # n, scores and band empty
    shown = by_pair[("Nurse", "Nurse")]
    assert shown["suppressed"] == "false"
    assert shown["n"] == "8"
    assert len(shown["rc_index"].split(".")[1]) == 2  # two decimals
    expected = full_analysis.tie("Nurse", "Nurse")["rc_index"]  # type: ignore[index]
    assert float(shown["rc_index"]) == round(expected, 2)
    assert shown["band"] in {"weak", "moderate", "strong"}


def test_roles_csv(full_analysis: Analysis) -> None:
    text = roles_csv(full_analysis)
    assert text.splitlines()[0] == ",".join(ROLE_COLUMNS)
    rows = {r["role"]: r for r in rows_of(text)}
    assert rows["Pharmacist"]["pooled_into"] == "Other roles"
    assert rows["Pharmacist"]["n_respondents"] == ""
    assert rows["Pharmacist"]["received"] != ""  # nurses describe pharmacists (n=8)
    assert rows["Nurse"]["n_respondents"] == "8"


def test_workbook_opens_and_has_the_sheets(full_analysis: Analysis, tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    path.write_bytes(report_workbook(full_analysis))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [
        "Summary",
        "Ties",
        "Roles",
        "Dimensions",
        "Response rates",
        "Notes on suppression",
        "Trends",
    ]
    summary = {row[0].value: row[1].value for row in book["Summary"].iter_rows()}
    assert summary["Overall RC (1-5)"] == full_analysis.overall.rc
    assert summary["Minimum group size"] == 5
    ties = book["Ties"]
    header = [c.value for c in ties[1]]
    assert header[:2] == ["respondent_role", "partner_role"]
    assert ties.max_row == len(full_analysis.ties) + 1
    notes = [row[0].value for row in book["Notes on suppression"].iter_rows()]
    assert any("at least 5" in str(n) for n in notes)


def test_workbook_stores_formula_like_role_names_as_text(tmp_path: Path) -> None:
    answers = frame(uniform_tie("=HYPERLINK(1)", "+B", [4] * 5))
    path = tmp_path / "r.xlsx"
    path.write_bytes(report_workbook(analyze(answers)))
    ties = openpyxl.load_workbook(path)["Ties"]
    assert ties["A2"].value == "=HYPERLINK(1)"
    assert ties["A2"].data_type == "s"
    rates = openpyxl.load_workbook(path)["Response rates"]
    assert "No invitation list" in str(rates["A1"].value)


def test_markdown_report_frames_results_for_discussion(full_analysis: Analysis) -> None:
    text = report_markdown(full_analysis, {"heatmap.png": "heatmap.png"})
    assert text.startswith("# Relational Coordination")
    assert "![Heat map of RC between roles](heatmap.png)" in text
    assert "## Where coordination is strongest" in text
    assert "## Where it is weakest" in text
    assert "## Questions for the conversation" in text
    assert "not to assign blame" in text
    assert "Doctor about Nurse" not in text  # a hidden tie is never named with a score
    assert text.count("\n1. ") + text.count("\n2. ") + text.count("\n3. ") == 3
    assert len(text.splitlines()) < 70  # one page


def test_markdown_escapes_role_names() -> None:
    answers = frame(uniform_tie("*Nurse*", "[Doctor](x)", [4] * 5))
    text = report_markdown(analyze(answers), {})
    assert "\\*Nurse\\*" in text
    assert "\\[Doctor\\](x)" in text


def test_extract_holds_aggregates_only(full_analysis: Analysis) -> None:
    extract = build_extract(full_analysis)
    dumped = json.dumps(extract)
    for respondent in round_answers()["respondent"].unique():
        assert f'"{respondent}"' not in dumped
    assert "@" not in dumped
    ties = {(t["respondent_role"], t["partner_role"]): t for t in extract["ties"]}  # type: ignore[attr-defined]
    assert ("Doctor", "Nurse") not in ties  # suppressed ties are left out entirely
    assert ties[("Nurse", "Nurse")]["n"] == 8
    assert extract["overall"]["rc"] == round(full_analysis.overall.rc, 2)  # type: ignore[index, arg-type]
    roles = {r["role"]: r for r in extract["roles"]}  # type: ignore[attr-defined]
    expected = full_analysis.role("Nurse")["reported_by"]  # type: ignore[index]
    assert roles["Nurse"]["reported_by"] == round(expected, 2)


def test_extract_maps_roles_to_families(full_analysis: Analysis) -> None:
    families = {"Nurse": "Nursing", "Doctor": "Medicine", "Pharmacist": "Allied health"}
    extract = build_extract(full_analysis, families)
    assert extract["role_families_applied"] is True
    ties = {(t["respondent_role"], t["partner_role"]): t for t in extract["ties"]}  # type: ignore[attr-defined]
    assert ("Nursing", "Allied health") in ties
    assert not any("Nurse" in json.dumps(key) for key in ties)
    merged = build_extract(full_analysis, {"Nurse": "Clinical", "Doctor": "Clinical"})
    clinical = {(t["respondent_role"], t["partner_role"]): t for t in merged["ties"]}  # type: ignore[attr-defined]
    shown = full_analysis.ties[
        ~full_analysis.ties["suppressed"]
        & full_analysis.ties["respondent_role"].isin(["Nurse", "Doctor"])
        & full_analysis.ties["partner_role"].isin(["Nurse", "Doctor"])
    ]
    weighted = (shown["rc_index"] * shown["n"]).sum() / shown["n"].sum()
    assert clinical[("Clinical", "Clinical")]["rc_index"] == round(float(weighted), 2)
    assert clinical[("Clinical", "Clinical")]["n"] == int(shown["n"].sum())
    rates = {r["group"]: r for r in merged["response_rates"] if r["by"] == "role"}  # type: ignore[attr-defined]
    assert rates["Clinical"]["invited"] == 16


def test_trends_csv_and_response_rates_in_outputs(full_analysis: Analysis) -> None:
    from analytics.exports import rates_csv, trends_frame

    frame_ = trends_frame(full_analysis)
    assert set(frame_["level"]) == {"tie", "role", "overall"}
    rates = pd.read_csv(io.StringIO(rates_csv(full_analysis)))
    assert rates.loc[rates["by"] == "all", "completed"].tolist() == [19]


def test_no_csv_cell_can_run_as_a_formula(tmp_path: Path) -> None:
    # Regression (issue 14, item 5): role names were written raw into every CSV.
    from analytics import write_outputs
    from analytics.exports import FORMULA_STARTS

    evil = ['=HYPERLINK("http://x")', "+1+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"]
    rows = []
    for i, role in enumerate(evil):
        partner = evil[(i + 1) % len(evil)]
        rows += uniform_tie(role, partner, [4, 4, 3, 5, 4], prefix=f"r{i}")
        rows += uniform_tie(role, role, [4, 2, 3, 5, 4], prefix=f"r{i}")
    answers = frame(rows)
    invited = answers.drop_duplicates("respondent")[["respondent", "respondent_role"]]
    invited = invited.rename(columns={"respondent_role": "role"})
    invited["completed"] = True
    invited["team"] = "=1+1"
    previous = frame([(r, role, p, d, 3.0 if s else s) for r, role, p, d, s in rows])
    analysis = analyze(answers, previous=previous, invitations=invited)
    write_outputs(analysis, tmp_path)
    csvs = sorted(tmp_path.glob("*.csv"))
    assert {p.name for p in csvs} == {
        "ties.csv",
        "roles.csv",
        "dimensions.csv",
        "response_rates.csv",
        "trends.csv",
    }
    seen_names = set()
    for path in csvs:
        for record in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))):
            for cell in record:
                try:
                    float(cell)
                    continue  # numbers stay numbers, even negative changes
                except ValueError:
                    pass
                assert not cell.startswith(FORMULA_STARTS), (path.name, cell)
                seen_names.add(cell)
    assert {"'" + role for role in evil} <= seen_names  # still readable
    assert "'=1+1" in seen_names
    book = openpyxl.load_workbook(tmp_path / "report.xlsx")
    for sheet in book.worksheets:
        for cells in sheet.iter_rows():
            for each in cells:
                assert each.data_type != "f", (sheet.title, each.coordinate)
