"""The tie table rcbot prints: laid out as rich lays out its default table, in one pass."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table

from bot.cli.show import HEADER, Grid, TieRow, TieTable, print_tie_table

ROLES = ("Nurse", "Consultant oncologist", "Pharmacist", "Ward clerk", "Allied health professional")


def _rows(count: int) -> list[TieRow]:
    rows = []
    for i in range(count):
        role, partner = ROLES[i % len(ROLES)], ROLES[(i * 3 + 1) % len(ROLES)]
        if i % 4 == 3:
            rows.append(TieRow(role, partner, "", "", "hidden (< 5)", True))
        else:
            rows.append(TieRow(role, partner, str(10 + i), f"{3 + i / 100:.2f}", "moderate"))
    return rows


def _plain(renderable: object, width: int, **options: object) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, **options)  # type: ignore[arg-type]
    with console.capture() as captured:
        console.print(renderable)
    return captured.get()


def _rich_table(title: str, rows: list[TieRow]) -> Table:
    table = Table(*HEADER, title=title)
    for row in rows:
        table.add_row(*row[:5])
    return table


@pytest.mark.parametrize("count", [0, 1, 7, 30])
@pytest.mark.parametrize("width", [80, 120, 200])
def test_a_table_that_fits_is_rich_s_table_character_for_character(count: int, width: int) -> None:
    rows = _rows(count)
    assert _plain(Grid("RC per tie", HEADER, rows), width) == _plain(
        _rich_table("RC per tie", rows), width
    )


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(
        st.tuples(
            st.text(st.sampled_from("ab cdé漢[]/"), min_size=0, max_size=30),
            st.text(st.sampled_from("xy z漢"), min_size=0, max_size=30),
        ),
        max_size=6,
    ),
    width=st.integers(min_value=30, max_value=90),
)
def test_every_line_fits_the_terminal_and_no_text_is_lost(
    cells: list[tuple[str, str]], width: int
) -> None:
    rows = [TieRow(a, b, "12", "3.50", "moderate") for a, b in cells]
    lines = _plain(Grid("RC per tie", HEADER, rows), width).splitlines()
    from rich.cells import cell_len

    assert all(cell_len(line) <= width for line in lines)
    shown = "".join(lines)
    for a, b in cells:  # every word of every cell is there (maybe folded over lines)
        for word in (a + " " + b).split():
            for piece in word:
                assert piece in shown


def test_narrow_terminals_fold_the_widest_columns_between_words() -> None:
    rows = [
        TieRow("Community mental health nurse", "Consultant psychiatrist", "12", "3.50", "moderate")
    ]
    text = _plain(Grid("RC per tie", HEADER, rows), 50)
    assert max(len(line) for line in text.splitlines()) <= 50
    assert "│ Community " in text  # broken after a whole word
    assert "│ nurse " in text


def test_names_are_shown_as_written_never_as_markup() -> None:
    table = TieTable(
        None, (TieRow("[bold]Nurse[/]", "Doctor", "12", "3.50", "moderate"),), 0, 5, "t"
    )
    console = Console(file=io.StringIO(), width=80, color_system=None)
    with console.capture() as captured:
        print_tie_table(console, table)
    assert "[bold]Nurse[/]" in captured.get()


def test_hidden_ties_are_dimmed_and_the_rest_are_not() -> None:
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system="standard")
    with console.capture() as captured:
        console.print(Grid("t", HEADER, _rows(4)))
    lines = captured.get().splitlines()
    hidden = [line for line in lines if "hidden" in line]
    shown = [line for line in lines if "moderate" in line]
    assert hidden
    assert shown
    assert all("\x1b[2m" in line for line in hidden)
    assert not any("\x1b[2m" in line for line in shown)


def test_a_terminal_without_unicode_gets_an_ascii_frame() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    console = Console(file=stream, width=80, color_system=None)
    console.print(Grid("t", HEADER, _rows(2)))
    stream.flush()
    text = raw.getvalue().decode("ascii")  # nothing outside ASCII was written
    assert "+-----" in text
    assert "| Nurse" in text


def test_a_column_is_as_wide_as_its_widest_cell_whatever_comes_after() -> None:
    """A cell of combining accents (more characters than cells) after a wider one does not
    narrow its column: every line of the table is as wide as the rest."""
    from rich.cells import cell_len

    rows = [
        TieRow("Pharmacist technician", "Doctor", "12", "3.50", "moderate"),
        TieRow("e\u0301" * 11, "Doctor", "12", "3.50", "moderate"),  # 22 characters, 11 cells
    ]
    lines = _plain(Grid("t", HEADER, rows), 120).splitlines()
    assert len({cell_len(line) for line in lines[1:]}) == 1
    assert _plain(Grid("t", HEADER, rows), 120) == _plain(_rich_table("t", rows), 120)
