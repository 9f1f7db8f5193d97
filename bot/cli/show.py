"""Printing results in the terminal (the CLI and the demo share these); rich is imported
only to print, so the analysis process makes its :class:`TieTable` without it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

    from analytics import Analysis


HEADER = ("Respondent role", "About", "n", "RC", "Band")


class TieRow(NamedTuple):
    """One tie as shown: plain text (never markup), ``hidden`` when it is suppressed."""

    respondent_role: str
    partner_role: str
    n: str
    rc: str
    band: str
    hidden: bool = False


@dataclass(frozen=True)
class TieTable:
    """What :func:`print_ties` prints, as plain text: made where the analysis is (a process
    of its own for ``rcbot analyze``) and printed where the terminal is."""

    overall: str | None
    rows: tuple[TieRow, ...]
    hidden: int
    min_group: int
    title: str


def tie_table(
    analysis: Analysis, *, title: str = "RC per tie", hide_suppressed: bool = False
) -> TieTable:
    """Overall RC, then each tie; suppressed ties say so and show nothing else (or, with
    ``hide_suppressed``, are only counted)."""
    overall = analysis.overall
    line = None
    if overall.rc is not None:
        line = f"Overall RC [bold]{overall.rc:.2f}[/] of 5 ({overall.band})."
    ties = analysis.ties
    rows: list[TieRow] = []
    hidden = 0
    for role, partner, suppressed, n, rc, band in zip(
        ties["respondent_role"].tolist(),
        ties["partner_role"].tolist(),
        ties["suppressed"].tolist(),
        ties["n"].tolist(),
        ties["rc_index"].tolist(),
        ties["band"].tolist(),
        strict=True,
    ):
        if suppressed and hide_suppressed:
            hidden += 1
        elif suppressed:
            rows.append(
                TieRow(str(role), str(partner), "", "", f"hidden (< {analysis.min_group})", True)
            )
        else:
            rows.append(TieRow(str(role), str(partner), str(int(n)), f"{float(rc):.2f}", str(band)))
    return TieTable(line, tuple(rows), hidden, analysis.min_group, title)


def print_tie_table(console: Console, table: TieTable) -> None:
    if table.overall is not None:
        console.print(table.overall)
    console.print(Grid(table.title, HEADER, table.rows))
    if table.hidden:
        console.print(
            f"{table.hidden} more ties are hidden: fewer than {table.min_group} people answered "
            "about them, too few to keep answers confidential."
        )


@dataclass(frozen=True)
class Grid:
    """A table drawn as rich draws its default table (a heavy head, a title in italics above,
    the header in bold, each column as wide as its widest cell), but laid out here in one
    pass: rich measures and wraps every cell through its renderables, about 45 ms for the
    144 ties of twelve roles, against about 2 ms here. Cells are plain text; a row whose
    last field is true is dimmed. Where the terminal is too narrow, the widest columns are
    narrowed and their cells folded onto more lines, between words where possible."""

    title: str
    header: tuple[str, ...]
    rows: Sequence[tuple[str | bool, ...]]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.cells import cell_len
        from rich.segment import Segment
        from rich.style import Style

        columns = len(self.header)
        cells = [tuple(str(cell) for cell in row[:columns]) for row in self.rows]
        widths = [cell_len(name) for name in self.header]
        for row in cells:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], cell_len(cell))
        _fit(widths, options.max_width - 3 * columns - 1)
        box = _ASCII if options.ascii_only else _HEAVY_HEAD
        total = sum(widths) + 3 * columns + 1  # with the bars and padding
        newline = Segment.line()
        if self.title:
            for line in _fold(self.title, total):
                yield Segment(_pad_centre(line, total), Style(italic=True))
                yield newline

        def rule(left: str, fill: str, cross: str, right: str) -> Segment:
            return Segment(left + cross.join(fill * (w + 2) for w in widths) + right + "\n")

        def lines(row: Sequence[str], bar: str, style: Style | None) -> Iterator[Segment]:
            folded = [_fold(cell, width) for cell, width in zip(row, widths, strict=True)]
            for k in range(max(len(parts) for parts in folded)):
                for i, parts in enumerate(folded):
                    text = parts[k] if k < len(parts) else ""
                    yield Segment(bar + " ")
                    yield Segment(text + " " * (widths[i] - cell_len(text)) + " ", style)
                yield Segment(bar + "\n")

        yield rule(box[0], box[1], box[2], box[3])
        yield from lines(self.header, box[4], Style(bold=True))
        yield rule(box[5], box[6], box[7], box[8])
        dim = Style(dim=True)
        for row, source in zip(cells, self.rows, strict=True):
            yield from lines(row, box[9], dim if len(source) > columns and source[-1] else None)
        yield rule(box[10], box[11], box[12], box[13])


# Corners, fills, crossings and bars: top, header, under the header, body, bottom.
_HEAVY_HEAD = ("┏", "━", "┳", "┓", "┃", "┡", "━", "╇", "┩", "│", "└", "─", "┴", "┘")
_ASCII = ("+", "-", "+", "+", "|", "+", "=", "+", "+", "|", "+", "-", "+", "+")


def _fit(widths: list[int], room: int) -> None:
    """Narrow the widest columns, one cell at a time, until they fit in ``room`` (each keeps
    at least one cell)."""
    excess = sum(widths) - max(room, len(widths))
    while excess > 0:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= 1:
            return
        widths[widest] -= 1
        excess -= 1


def _fold(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` cells, broken between words where possible."""
    from rich.cells import cell_len, chop_cells

    if cell_len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        joined = f"{line} {word}" if line else word
        if cell_len(joined) <= width:
            line = joined
            continue
        if line:
            lines.append(line)
        pieces = chop_cells(word, width) or [""]
        lines.extend(pieces[:-1])
        line = pieces[-1]
    lines.append(line)
    return lines


def _pad_centre(text: str, width: int) -> str:
    from rich.cells import cell_len

    space = max(width - cell_len(text), 0)
    return " " * (space // 2) + text + " " * (space - space // 2)


def print_ties(
    console: Console,
    analysis: Analysis,
    *,
    title: str = "RC per tie",
    hide_suppressed: bool = False,
) -> None:
    """Overall RC, then each tie; suppressed ties say so and show nothing else (or, with
    ``hide_suppressed``, are only counted under the table)."""
    print_tie_table(console, tie_table(analysis, title=title, hide_suppressed=hide_suppressed))
