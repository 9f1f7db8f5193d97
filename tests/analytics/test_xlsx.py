"""The report workbook written by :mod:`analytics.xlsx` reads back, through openpyxl, exactly
as the workbook openpyxl itself wrote before (kept below as the reference): the same sheets,
and in each cell the same value, type, number format, bold, fill and alignment, the same
column widths and frozen rows."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import zipfile
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from analytics import Analysis, analyze
from analytics.exports import (
    _dimensions_wide,
    report_workbook,
    suppression_notes,
    trends_frame,
)
from analytics.xlsx import Sheet, Style, column_letter, workbook_bytes

from .conftest import round_answers
from .helpers import frame, uniform_tie

# ----------------------------------------------------------------- the writer it replaced

_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HIDDEN_FILL = PatternFill("solid", fgColor="E7E6E6")


def _put(sheet: Worksheet, row: int, column: int, value: object) -> None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return
    if isinstance(value, np.generic):
        value = value.item()
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, bool):
        cell.value = "yes" if value else "no"
    elif isinstance(value, int | float):
        cell.value = value
        if isinstance(value, float):
            cell.number_format = "0.00"
    else:
        cell.value = str(value)
        cell.data_type = "s"


def _table(sheet: Worksheet, frame: pd.DataFrame) -> None:
    for j, column in enumerate(frame.columns, start=1):
        header = sheet.cell(row=1, column=j)
        _put(sheet, 1, j, str(column))
        header.font = _FONT
        header.fill = _HEADER_FILL
    hidden = frame["suppressed"].to_numpy(dtype=bool) if "suppressed" in frame else None
    for i, values in enumerate(frame.itertuples(index=False), start=2):
        for j, value in enumerate(values, start=1):
            _put(sheet, i, j, value)
            if hidden is not None and hidden[i - 2]:
                sheet.cell(row=i, column=j).fill = _HIDDEN_FILL
    sheet.freeze_panes = "A2"
    for j, column in enumerate(frame.columns, start=1):
        sheet.column_dimensions[get_column_letter(j)].width = max(10, min(28, len(column) + 3))


def openpyxl_workbook(analysis: Analysis) -> bytes:
    """``report.xlsx`` as openpyxl wrote it before :mod:`analytics.xlsx`."""
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    overall = analysis.overall
    rows: list[tuple[str, object]] = [
        ("Overall RC (1-5)", overall.rc),
        ("Band", overall.band),
        ("Communication", overall.communication),
        ("Relationship", overall.relationship),
        ("Within-role ties", overall.within_role),
        ("Between-role ties", overall.between_role),
        ("Respondents in shown ties", overall.n_respondents),
        ("Shown ties", overall.n_ties),
        ("Hidden ties", int(analysis.ties["suppressed"].sum())),
        ("Cronbach's alpha (7 items)", analysis.reliability.alpha),
        ("Complete cases for alpha", analysis.reliability.n_complete),
        ("Minimum group size", analysis.min_group),
        (
            "Bands",
            f"weak < {analysis.bands.weak_below:g} <= moderate <= "
            f"{analysis.bands.strong_above:g} < strong",
        ),
    ]
    if analysis.trends is not None and analysis.trends.overall is not None:
        rows.append(("Change in overall RC since previous round", analysis.trends.overall.change))
    for i, (key, value) in enumerate(rows, start=1):
        _put(summary, i, 1, key)
        summary.cell(row=i, column=1).font = _FONT
        _put(summary, i, 2, value)
    summary.column_dimensions["A"].width = 40
    summary.column_dimensions["B"].width = 60
    _table(book.create_sheet("Ties"), analysis.ties)
    _table(book.create_sheet("Roles"), analysis.roles)
    _table(book.create_sheet("Dimensions"), _dimensions_wide(analysis))
    rates_sheet = book.create_sheet("Response rates")
    if analysis.response_rates is None:
        _put(rates_sheet, 1, 1, "No invitation list was given, so there are no response rates.")
    else:
        _table(rates_sheet, analysis.response_rates)
        for i in range(len(analysis.response_rates)):
            rates_sheet.cell(row=i + 2, column=5).number_format = "0%"
    notes = book.create_sheet("Notes on suppression")
    notes.column_dimensions["A"].width = 120
    for i, note in enumerate(suppression_notes(analysis), start=1):
        _put(notes, i, 1, note)
        notes.cell(row=i, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    if analysis.trends is not None:
        _table(book.create_sheet("Trends"), trends_frame(analysis))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------- comparing


def _fill(cell: Any) -> tuple[object, ...]:
    fill = cell.fill
    return (fill.fill_type, fill.fgColor.rgb if fill.fill_type else None)


def everything(content: bytes) -> dict[str, object]:
    """What a reader of the workbook gets from openpyxl, sheet by sheet and cell by cell."""
    book = openpyxl.load_workbook(io.BytesIO(content))
    sheets: dict[str, object] = {}
    for sheet in book.worksheets:
        cells = {
            cell.coordinate: (
                cell.value,
                type(cell.value).__name__,
                repr(cell.value) if isinstance(cell.value, float) else None,
                cell.data_type,
                cell.number_format,
                bool(cell.font.b),
                _fill(cell),
                cell.alignment.wrap_text,
                cell.alignment.vertical,
            )
            for row in sheet.iter_rows()
            for cell in row
        }
        widths = {
            letter: dimension.width
            for letter, dimension in sheet.column_dimensions.items()
            if dimension.customWidth
        }
        sheets[sheet.title] = {
            "cells": cells,
            "size": (sheet.max_row, sheet.max_column),
            "widths": widths,
            "freeze": sheet.freeze_panes,
        }
    sheets["order"] = book.sheetnames
    return sheets


def assert_same_workbook(old: bytes, new: bytes) -> None:
    before, after = everything(old), everything(new)
    assert before["order"] == after["order"]
    for title, old_sheet in before.items():
        new_sheet = after[title]
        if isinstance(old_sheet, dict) and isinstance(new_sheet, dict):
            cells_before, cells_after = old_sheet["cells"], new_sheet["cells"]
            changed = [
                (ref, cells_before.get(ref), cells_after.get(ref))
                for ref in sorted(cells_before.keys() | cells_after.keys())
                if cells_before.get(ref) != cells_after.get(ref)
            ]
            assert not changed, (title, changed[:3])
    assert before == after


def analyses() -> dict[str, Analysis]:
    from .conftest import invitations

    evil = frame(
        uniform_tie("=HYPERLINK(1)", "+B", [4] * 5)
        + uniform_tie("  spaced  ", "<&\"'>", [3, 5, 2, 4, 1, 5])
        + uniform_tie("Ünïcødé ✓", "#N/A", [2] * 5)
        + uniform_tie("-x", "@y", [1, 2])
    )
    return {
        "full": analyze(
            round_answers(shift=1), previous=round_answers(), invitations=invitations()
        ),
        "plain": analyze(round_answers()),
        "rates": analyze(round_answers(), invitations=invitations(), min_group=3),
        "evil": analyze(evil),
        "all hidden": analyze(round_answers(), min_group=25),
    }


@pytest.mark.parametrize("name", list(analyses()))
def test_the_workbook_reads_back_as_openpyxl_wrote_it(name: str) -> None:
    analysis = analyses()[name]
    assert_same_workbook(openpyxl_workbook(analysis), report_workbook(analysis))


def test_the_demo_and_golden_workbooks_read_back_as_before() -> None:
    from analytics import load_answers
    from tests.golden.regenerate import INPUTS

    current, previous = (load_answers(INPUTS / f"{n}.csv") for n in ("current", "previous"))
    for analysis in (analyze(current), analyze(current, previous=previous)):
        assert_same_workbook(openpyxl_workbook(analysis), report_workbook(analysis))


def test_the_workbook_is_the_same_bytes_every_time(full_analysis: Analysis) -> None:
    assert report_workbook(full_analysis) == report_workbook(full_analysis)


def test_the_parts_are_well_formed_xml(full_analysis: Analysis) -> None:
    from xml.etree import ElementTree

    with zipfile.ZipFile(io.BytesIO(report_workbook(full_analysis))) as archive:
        assert archive.testzip() is None
        for name in archive.namelist():
            ElementTree.fromstring(archive.read(name))


def test_writer_cells_and_styles() -> None:
    sheet = Sheet("A & B")
    sheet.put(1, 1, " lead", Style(bold=True))
    sheet.put(1, 2, 1.0)
    sheet.put(2, 28, 1234567, Style(number_format="#,##0"))
    sheet.restyle(3, 1, fill="123456", wrap_top=True)
    sheet.put(3, 1, "kept style")
    book = openpyxl.load_workbook(io.BytesIO(workbook_bytes([sheet, Sheet("Empty")])))
    assert book.sheetnames == ["A & B", "Empty"]
    first = book["A & B"]
    assert first["A1"].value == " lead"
    assert first["A1"].font.b
    assert (first["B1"].value, first["B1"].data_type) == (1, "n")
    assert (first["AB2"].value, first["AB2"].number_format) == (1234567, "#,##0")
    assert (first["A3"].value, first["A3"].fill.fgColor.rgb) == ("kept style", "00123456")
    assert first["A3"].alignment.wrap_text
    assert [column_letter(n) for n in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]
    bad = Sheet("Bad")
    bad.put(1, 1, "bell\x07")
    with pytest.raises(ValueError, match="character"):
        workbook_bytes([bad])


def test_writing_the_workbook_does_not_import_openpyxl() -> None:
    code = (
        "import sys\n"
        "from analytics import analyze\n"
        "from analytics.exports import report_workbook\n"
        "from tests.analytics.conftest import round_answers\n"
        "report_workbook(analyze(round_answers()))\n"
        "assert 'openpyxl' not in sys.modules, 'openpyxl was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
