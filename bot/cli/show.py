"""Printing results in the terminal (the CLI and the demo share these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from analytics import Analysis


def print_ties(
    console: Console,
    analysis: Analysis,
    *,
    title: str = "RC per tie",
    hide_suppressed: bool = False,
) -> None:
    """Overall RC, then each tie; suppressed ties say so and show nothing else (or, with
    ``hide_suppressed``, are only counted under the table)."""
    overall = analysis.overall
    if overall.rc is not None:
        console.print(f"Overall RC [bold]{overall.rc:.2f}[/] of 5 ({overall.band}).")
    table = Table("Respondent role", "About", "n", "RC", "Band", title=title)
    hidden = 0
    for _, tie in analysis.ties.iterrows():
        if bool(tie["suppressed"]) and hide_suppressed:
            hidden += 1
        elif bool(tie["suppressed"]):
            table.add_row(
                str(tie["respondent_role"]),
                str(tie["partner_role"]),
                "",
                "",
                f"[dim]hidden (< {analysis.min_group})[/]",
            )
        else:
            table.add_row(
                str(tie["respondent_role"]),
                str(tie["partner_role"]),
                str(int(tie["n"])),
                f"{float(tie['rc_index']):.2f}",
                str(tie["band"]),
            )
    console.print(table)
    if hidden:
        console.print(
            f"{hidden} more ties are hidden: fewer than {analysis.min_group} people answered "
            "about them, too few to keep answers confidential."
        )
