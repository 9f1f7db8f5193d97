"""Printing results in the terminal (the CLI and the demo share these); rich is imported
only to print, so the analysis process makes its :class:`TieTable` without it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from analytics import Analysis


@dataclass(frozen=True)
class TieTable:
    """What :func:`print_ties` prints, as plain text: made where the analysis is (a process
    of its own for ``rcbot analyze``) and printed where the terminal is."""

    overall: str | None
    rows: tuple[tuple[str, str, str, str, str], ...]
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
    rows: list[tuple[str, str, str, str, str]] = []
    hidden = 0
    for _, tie in analysis.ties.iterrows():
        if bool(tie["suppressed"]) and hide_suppressed:
            hidden += 1
        elif bool(tie["suppressed"]):
            rows.append(
                (
                    str(tie["respondent_role"]),
                    str(tie["partner_role"]),
                    "",
                    "",
                    f"[dim]hidden (< {analysis.min_group})[/]",
                )
            )
        else:
            rows.append(
                (
                    str(tie["respondent_role"]),
                    str(tie["partner_role"]),
                    str(int(tie["n"])),
                    f"{float(tie['rc_index']):.2f}",
                    str(tie["band"]),
                )
            )
    return TieTable(line, tuple(rows), hidden, analysis.min_group, title)


def print_tie_table(console: Console, table: TieTable) -> None:
    from rich.table import Table

    if table.overall is not None:
        console.print(table.overall)
    shown = Table("Respondent role", "About", "n", "RC", "Band", title=table.title)
    for row in table.rows:
        shown.add_row(*row)
    console.print(shown)
    if table.hidden:
        console.print(
            f"{table.hidden} more ties are hidden: fewer than {table.min_group} people answered "
            "about them, too few to keep answers confidential."
        )


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
