"""Files for people and tools: CSV tables, the XLSX workbook, the Markdown report, the
anonymised extract and the figures. Everything here reads an :class:`Analysis`, which holds
only publishable figures, so no file can contain a suppressed value or a respondent id.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, wait
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from surveys.dimensions import DIMENSIONS

from .outputs import (
    DIMENSIONS_CSV,
    DIMENSIONS_PNG,
    EXTRACT_JSON,
    HEATMAP_PNG,
    KNOWN_OUTPUTS,
    NETWORK_PNG,
    RATES_CSV,
    REPORT_MD,
    REPORT_XLSX,
    ROLES_CSV,
    TIES_CSV,
    TREND_PNG,
    TRENDS_CSV,
)
from .scores import BY_ROLE, OVERALL, ROLE_COLUMNS, sort_roles
from .xlsx import Sheet, Style, workbook_bytes

if TYPE_CHECKING:
    from openpyxl import Workbook

    from .pipeline import Analysis
    from .trends import TrendOptions

# Pillow (the pictures, in :mod:`analytics.figures`) is imported when a picture is drawn, not
# with this module: the server and quick commands import it for its names and never draw.
# The workbook is written by :mod:`analytics.xlsx` (no openpyxl).

TIES_CSV_COLUMNS: tuple[str, ...] = (
    "respondent_role",
    "partner_role",
    "n",
    "rc_index",
    *DIMENSIONS,
    "band",
    "suppressed",
)
__all__ = [  # the file names are defined in .outputs (no pandas) and re-exported here
    "DIMENSIONS_CSV",
    "DIMENSIONS_PNG",
    "EXTRACT_JSON",
    "HEATMAP_PNG",
    "KNOWN_OUTPUTS",
    "NETWORK_PNG",
    "RATES_CSV",
    "REPORT_MD",
    "REPORT_XLSX",
    "ROLES_CSV",
    "TIES_CSV",
    "TRENDS_CSV",
    "TREND_PNG",
]
DECIMALS = 2
EXTRACT_FORMAT = "rcbot-rc-extract"
EXTRACT_VERSION = 1


def suppression_notes(analysis: Analysis, quote: Callable[[str], str] = str) -> list[str]:
    """Plain-language notes on what is hidden and why; ``quote`` formats role names."""
    k = analysis.min_group
    notes = [
        f"A cell (what one role said about one partner role on one of the seven questions) "
        f"is shown only when at least {k} people answered it. Answers in a hidden cell are "
        "left out of every figure, for everyone: a tie's n, RC index and subscores use only "
        "its shown questions, and a hidden question is left empty.",
        f"A tie (one role about another) is shown only when at least one of its questions "
        f"is, so at least {k} people stand behind it; otherwise its scores, band and n are "
        "left empty in every file and image.",
        "A tie that nobody answered, or that nobody was asked about, looks exactly like a "
        f"hidden one (empty, or 'n<{k}' in the pictures), and every role is listed whether "
        "or not anyone in it answered: nothing shows whether a hidden group is empty or small.",
        "A role's own count, reported-by and within-role figures cover its respondents' "
        f"answers in shown ties only, and are hidden when fewer than {k} of them have answers "
        "there; what other roles report about it (received) comes from their shown ties.",
        "Totals (role reported-by and received, overall RC, within and between roles, "
        "dimension profiles, reliability, changes since the last round and the extract) use "
        "only shown cells. A hidden answer therefore cannot be worked out by subtracting "
        "shown figures from a total; the price is that a tie's RC covers its shown questions "
        "and a role's total covers the partners whose ties are shown.",
        f"Response rates: invited and completed counts below {k} (zero included) are hidden, "
        "for everyone, each role and each team; further counts are hidden wherever adding and "
        "subtracting the shown ones (across roles, teams and the total) would give a hidden "
        "one. A rate is shown only with both of its counts.",
        "What no rule can hide: when everyone in a shown tie gave the same answer, the mean "
        f"tells each of them what the others said; someone in a tie of exactly {k} people can "
        "subtract their own answers from the shown total to learn the sum of the others'; and "
        "a rate of 100% shows that everyone in that group answered.",
        "Individual answers are never shown. Answers are confidential, not anonymous: the bot "
        "knows who has not answered only to send reminders.",
    ]
    if analysis.pooled:
        pools: dict[str, list[str]] = {}
        for role, pool in analysis.pooled.items():
            pools.setdefault(pool, []).append(role)
        listed = "; ".join(
            f"{', '.join(quote(r) for r in sorted(m))} counted in {quote(p)}"
            for p, m in pools.items()
        )
        notes.append(
            f"Roles with fewer than {k} respondents were pooled so their answers count: "
            f"{listed}. What others report about these roles keeps their own names."
        )
    return notes


# --------------------------------------------------------------------------- CSV tables


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A CSV text cell starting with one of these would be read as a formula by a spreadsheet."""


def csv_safe_text(value: str) -> str:
    """Neutralise a text cell for CSV: a leading ``=``, ``+``, ``-``, ``@``, tab or carriage
    return gets an apostrophe in front (OWASP's advice against CSV injection), so a
    spreadsheet shows ``=SUM(1+1)`` as text instead of running it; other text is unchanged."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv(frame: pd.DataFrame) -> str:
    """CSV text with booleans as true/false, numbers as numbers and every text cell made
    safe for spreadsheets (see :func:`csv_safe_text`)."""
    out = frame.copy()
    for column in out.columns:
        dtype = out[column].dtype
        if pd.api.types.is_bool_dtype(dtype):
            out[column] = out[column].map({True: "true", False: "false"})
        elif not pd.api.types.is_numeric_dtype(dtype):
            text = out[column].astype("string")
            risky = text.str.startswith(FORMULA_STARTS).fillna(False).astype(bool)
            out[column] = text.mask(risky, "'" + text)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, na_rep="", float_format=f"%.{DECIMALS}f", lineterminator="\n")
    return buffer.getvalue()


def ties_csv(analysis: Analysis) -> str:
    """``ties.csv``: the contract's columns; suppressed rows have empty n, scores and band."""
    return _csv(analysis.ties.loc[:, list(TIES_CSV_COLUMNS)])


def roles_csv(analysis: Analysis) -> str:
    """``roles.csv``: one row per role (see ``ROLE_COLUMNS`` in :mod:`analytics.scores`)."""
    return _csv(analysis.roles.loc[:, list(ROLE_COLUMNS)])


def dimensions_csv(analysis: Analysis) -> str:
    """``dimensions.csv``: scope (overall or respondent_role), role, dimension, mean, band."""
    return _csv(analysis.dimensions)


def rates_csv(analysis: Analysis) -> str:
    if analysis.response_rates is None:
        raise ValueError("no invitations were given, so there are no response rates")
    return _csv(analysis.response_rates)


TRENDS_CSV_COLUMNS: tuple[str, ...] = (
    "level",
    "respondent_role",
    "partner_role",
    "role",
    "measure",
    "previous",
    "current",
    "change",
    "ci_low",
    "ci_high",
    "within_noise",
    "n_previous",
    "n_current",
)


def trends_frame(analysis: Analysis) -> pd.DataFrame:
    """Ties, roles and overall changes in one long table."""
    if analysis.trends is None:
        raise ValueError("there is no previous round to compare with")
    trends = analysis.trends
    parts = [
        trends.ties.assign(level="tie", measure="rc_index"),
        trends.roles.assign(level="role"),
    ]
    if trends.overall is not None:
        overall = pd.DataFrame([dict(trends.overall.__dict__)]).assign(
            level="overall", measure="rc"
        )
        parts.append(overall)
    parts = [p for p in parts if not p.empty]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    frame = frame.reindex(columns=list(TRENDS_CSV_COLUMNS))
    frame["within_noise"] = frame["within_noise"].astype(bool)
    for column in ("n_previous", "n_current"):
        frame[column] = frame[column].astype("Int64")
    return frame


# --------------------------------------------------------------------------- extract


def build_extract(
    analysis: Analysis, role_families: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The anonymised extract: suppression-safe aggregates only, optionally by role family.

    It holds no respondent ids, names, e-mails or free text, and every number in it is
    derived from the published ties (and published reliability and response rates): ties
    whose roles map to the same family are merged with weights equal to their n, so ``n`` in
    a merged tie counts respondent-partner scores rather than distinct people.
    """
    family = dict(role_families or {})

    def fam(label: object) -> str:
        return family.get(str(label), str(label))

    shown = analysis.ties[~analysis.ties["suppressed"]]
    sources = [fam(r) for r in shown["respondent_role"]]
    targets = [fam(p) for p in shown["partner_role"]]
    columns = ["rc_index", *DIMENSIONS, "communication", "relationship"]
    matrix = shown[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    weights = shown["n"].to_numpy(dtype=np.float64, na_value=0.0)

    def weighted(rows: npt.NDArray[np.bool_]) -> dict[str, float | None]:
        """n-weighted means of the published values of the selected ties."""
        values = matrix[rows]
        w = np.where(np.isnan(values), 0.0, weights[rows, None])
        totals = w.sum(axis=0)
        sums = np.where(np.isnan(values), 0.0, values * w).sum(axis=0)
        return {
            c: (_round(float(sums[j] / totals[j])) if totals[j] > 0 else None)
            for j, c in enumerate(columns)
        }

    source_array = np.array(sources, dtype=object)
    target_array = np.array(targets, dtype=object)
    ties: list[dict[str, object]] = []
    for source, target in sorted(set(zip(sources, targets, strict=True))):
        rows = (source_array == source) & (target_array == target)
        row: dict[str, object] = {
            "respondent_role": source,
            "partner_role": target,
            "within_role": source == target,
            "n": int(weights[rows].sum()),
        }
        row.update(weighted(rows))
        row["band"] = analysis.bands.classify(_as_float(row["rc_index"]))
        ties.append(row)

    roles: list[dict[str, object]] = []
    for label in sort_roles([*sources, *targets]):
        reported = source_array == label
        received = (target_array == label) & (source_array != label)
        own = reported & (target_array == label)
        roles.append(
            {
                "role": label,
                "reported_by": weighted(reported)["rc_index"],
                "received": weighted(received)["rc_index"],
                "within_role": weighted(own)["rc_index"],
            }
        )

    overall = weighted(np.ones(len(shown), dtype=bool))
    extract: dict[str, object] = {
        "format": EXTRACT_FORMAT,
        "version": EXTRACT_VERSION,
        "min_group": analysis.min_group,
        "bands": {
            "weak_below": analysis.bands.weak_below,
            "strong_above": analysis.bands.strong_above,
        },
        "role_families_applied": bool(family),
        "overall": {
            "rc": overall["rc_index"],
            "communication": overall["communication"],
            "relationship": overall["relationship"],
            "dimensions": {d: overall[d] for d in DIMENSIONS},
            "band": analysis.bands.classify(_as_float(overall["rc_index"])),
            "published_ties": len(shown),
        },
        "ties": ties,
        "roles": roles,
        "reliability": {
            "cronbach_alpha": _round(analysis.reliability.alpha),
            "complete_cases": analysis.reliability.n_complete,
        },
        "response_rates": _extract_rates(analysis, fam),
        "notes": (
            "Aggregates only; ties with fewer than min_group respondents are left out and no "
            "figure depends on them. n counts respondent-partner scores behind a figure."
        ),
    }
    return extract


def _extract_rates(
    analysis: Analysis, fam: Callable[[object], str]
) -> list[dict[str, object]] | None:
    rates = analysis.response_rates
    if rates is None:
        return None
    rows: list[dict[str, object]] = []
    for by in ("all", "role"):
        part = rates[rates["by"] == by].copy()
        part["family"] = part["group"].map(fam) if by == "role" else part["group"]
        for label, group in part.groupby("family", sort=True):
            # A family's count is shown only when every member's is: a sum of shown counts
            # adds nothing a reader could not add up from the table already.
            invited = None if group["invited"].isna().any() else int(group["invited"].sum())
            completed = None if group["completed"].isna().any() else int(group["completed"].sum())
            rows.append(
                {
                    "by": by,
                    "group": str(label),
                    "invited": invited,
                    "completed": completed,
                    "rate": _round(completed / invited)
                    if completed is not None and invited is not None and invited
                    else None,
                }
            )
    return rows


def _as_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _round(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), DECIMALS)


# --------------------------------------------------------------------------- Markdown report


def _md(text: object) -> str:
    """Escape Markdown so role names show as written."""
    out = str(text)
    for char in "\\`*_{}[]<>#!|":
        out = out.replace(char, "\\" + char)
    return out


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    return f"{float(value):.{DECIMALS}f}"  # type: ignore[arg-type]


def _tie_line(tie: pd.Series, analysis: Analysis) -> str:
    reverse = analysis.tie(str(tie["partner_role"]), str(tie["respondent_role"]))
    text = (
        f"- **{_md(tie['respondent_role'])} about {_md(tie['partner_role'])}**: "
        f"{_fmt(tie['rc_index'])} ({tie['band']}, n={int(tie['n'])})"
    )
    if tie["respondent_role"] == tie["partner_role"]:
        return text + " - within the role"
    if reverse is not None and not bool(reverse["suppressed"]):
        text += f"; the other way round: {_fmt(reverse['rc_index'])}"
    return text


def trend_method_note(options: TrendOptions) -> str:
    """How the intervals of the changes since the previous round are made."""
    tail = (1 - options.confidence) / 2 * 100
    return (
        f"Changes since the previous round come with a {options.confidence:.0%} interval, "
        "a percentile bootstrap: in each round separately, the respondents behind a figure "
        f"are drawn again at random, with replacement and with all their scores, "
        f"{options.resamples:,} times; the change is worked out each time, and the interval "
        f"runs from the {tail:g}th to the {100 - tail:g}th percentile of those changes. A "
        "change whose interval covers 0 is within noise: it could come from who happened to "
        "answer. The draws are seeded, so the same answers always give the same intervals."
    )


def report_markdown(analysis: Analysis, images: Mapping[str, str]) -> str:
    """A one-page summary for facilitated sense-making: patterns between roles, not people."""
    overall = analysis.overall
    lines = ["# Relational Coordination: results for discussion", ""]
    if overall.suppressed:
        lines += [
            f"Too few answers to show results: no tie reached {analysis.min_group} respondents.",
            "",
        ]
    else:
        lines.append(
            f"Overall RC **{_fmt(overall.rc)}** on a 1-5 scale ({overall.band}), from "
            f"{overall.n_respondents} respondents in {overall.n_ties} shown ties. Within roles "
            f"{_fmt(overall.within_role)}, between roles {_fmt(overall.between_role)}; "
            f"communication {_fmt(overall.communication)}, relationships "
            f"{_fmt(overall.relationship)}."
        )
    rates = analysis.response_rates
    if rates is not None:
        total = rates[rates["by"] == "all"].iloc[0]
        if not bool(total["suppressed"]):
            lines.append(
                f"Response rate {float(total['rate']):.0%} ({int(total['completed'])} of "
                f"{int(total['invited'])} invited)."
            )
    if analysis.reliability.alpha is not None:
        lines.append(
            f"Reliability of the seven questions: Cronbach's alpha "
            f"{analysis.reliability.alpha:.2f}."
        )
    lines.append("")
    for name, title in (
        (HEATMAP_PNG, "Heat map of RC between roles"),
        (NETWORK_PNG, "Network of roles"),
        (DIMENSIONS_PNG, "RC by dimension"),
        (TREND_PNG, "Change since the previous round"),
    ):
        if name in images:
            lines.append(f"![{title}]({images[name]})")
    lines.append("")

    shown = analysis.ties[~analysis.ties["suppressed"]].sort_values(
        ["rc_index", "respondent_role", "partner_role"], ascending=[False, True, True]
    )
    if len(shown):
        count = min(3, max(1, len(shown) // 2))
        lines += ["## Where coordination is strongest", ""]
        lines += [_tie_line(t, analysis) for _, t in shown.head(count).iterrows()]
        lines += ["", "## Where it is weakest", ""]
        lines += [_tie_line(t, analysis) for _, t in shown.tail(count)[::-1].iterrows()]
        lines.append("")

    if analysis.trends is not None and analysis.trends.overall is not None:
        change = analysis.trends.overall
        noise = "within noise" if change.within_noise else "beyond noise"
        lines += [
            "## Since the previous round",
            "",
            f"Overall RC changed by {change.change:+.2f} ({noise}; interval "
            f"{change.ci_low:+.2f} to {change.ci_high:+.2f}).",
            "",
        ]

    lines += [
        "## Questions for the conversation",
        "",
        "1. What makes the strongest ties work? Which habits or routines could other roles borrow?",
        "2. For the weakest ties, how does each side see the work between them? Ties are "
        "asymmetric: compare how A describes B with how B describes A.",
        "3. Which one or two ties matter most for the work we do together, and what small "
        "change could we try before the next round?",
        "",
        "## Reading these results",
        "",
        f"Scores run from 1 (weakest) to 5; below {analysis.bands.weak_below:g} is weak, "
        f"{analysis.bands.weak_below:g}-{analysis.bands.strong_above:g} moderate, above "
        f"{analysis.bands.strong_above:g} strong. They describe how roles experience working "
        "together, a property of how the work is organised, not a verdict on any person or "
        "team. Use them to open a facilitated conversation, not to assign blame.",
        "",
    ]
    if analysis.trends is not None:
        lines += [trend_method_note(analysis.trends.options), ""]
    lines += [f"- {note}" for note in suppression_notes(analysis, _md)]
    lines += [
        "",
        f"Detailed tables: [{TIES_CSV}]({TIES_CSV}), [{ROLES_CSV}]({ROLES_CSV}) and "
        f"[{REPORT_XLSX}]({REPORT_XLSX}).",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- workbook


HEADER = Style(bold=True, fill="DDEBF7")
HIDDEN_FILL = "E7E6E6"


def _put(sheet: Sheet, row: int, column: int, value: object) -> None:
    """Write a value; text is always stored as text, never as a formula."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        sheet.put(row, column, "yes" if value else "no")
    elif isinstance(value, float):
        sheet.put(row, column, value)
        sheet.restyle(row, column, number_format="0.00")
    elif isinstance(value, int):
        sheet.put(row, column, value)
    else:
        sheet.put(row, column, str(value))


def _table(sheet: Sheet, frame: pd.DataFrame, *, start_row: int = 1) -> None:
    for j, column in enumerate(frame.columns, start=1):
        _put(sheet, start_row, j, str(column))  # as text: a role name may start with "="
        sheet.restyle(start_row, j, bold=HEADER.bold, fill=HEADER.fill)
    hidden = frame["suppressed"].to_numpy(dtype=bool) if "suppressed" in frame else None
    for i, values in enumerate(frame.itertuples(index=False), start=start_row + 1):
        for j, value in enumerate(values, start=1):
            _put(sheet, i, j, value)
            if hidden is not None and hidden[i - start_row - 1]:
                sheet.restyle(i, j, fill=HIDDEN_FILL)
    sheet.freeze_rows = start_row
    for j, column in enumerate(frame.columns, start=1):
        sheet.widths[j] = max(10, min(28, len(column) + 3))


def _key_values(sheet: Sheet, rows: Iterable[tuple[str, object]]) -> None:
    for i, (key, value) in enumerate(rows, start=1):
        _put(sheet, i, 1, key)
        sheet.restyle(i, 1, bold=True)
        _put(sheet, i, 2, value)
    sheet.widths[1] = 40
    sheet.widths[2] = 60


def report_workbook(analysis: Analysis) -> bytes:
    """``report.xlsx``: Summary, Ties, Roles, Dimensions, Response rates, Notes on suppression
    (and Trends when a previous round was given), written by :mod:`analytics.xlsx`."""
    return workbook_bytes(workbook_sheets(analysis))


def build_workbook(analysis: Analysis) -> Workbook:
    """The workbook :func:`report_workbook` writes, read back with openpyxl (for tests and
    tools that look into it; imports openpyxl)."""
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(report_workbook(analysis)))


def workbook_sheets(analysis: Analysis) -> list[Sheet]:
    """The sheets of :func:`report_workbook`, in their order."""
    summary = Sheet("Summary")
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
    _key_values(summary, rows)
    sheets = [summary]

    for title, table in (
        ("Ties", analysis.ties),
        ("Roles", analysis.roles),
        ("Dimensions", _dimensions_wide(analysis)),
    ):
        sheets.append(Sheet(title))
        _table(sheets[-1], table)

    rates_sheet = Sheet("Response rates")
    if analysis.response_rates is None:
        _put(rates_sheet, 1, 1, "No invitation list was given, so there are no response rates.")
    else:
        _table(rates_sheet, analysis.response_rates)
        for i in range(len(analysis.response_rates)):
            rates_sheet.restyle(i + 2, 5, number_format="0%")
    sheets.append(rates_sheet)

    notes = Sheet("Notes on suppression")
    notes.widths[1] = 120
    for i, note in enumerate(suppression_notes(analysis), start=1):
        _put(notes, i, 1, note)
        notes.restyle(i, 1, wrap_top=True)
    sheets.append(notes)

    if analysis.trends is not None:
        sheets.append(Sheet("Trends"))
        _table(sheets[-1], trends_frame(analysis))
    return sheets


def _dimensions_wide(analysis: Analysis) -> pd.DataFrame:
    frame = analysis.dimensions
    wide = pd.DataFrame({"dimension": list(DIMENSIONS)})
    overall = frame[frame["scope"] == OVERALL].set_index("dimension")["mean"]
    wide["all shown ties"] = wide["dimension"].map(overall).astype("float64")
    by_role = frame[frame["scope"] == BY_ROLE]
    for role in dict.fromkeys(str(r) for r in by_role["role"]):
        means = by_role[by_role["role"] == role].set_index("dimension")["mean"]
        wide[f"reported by {role}"] = wide["dimension"].map(means).astype("float64")
    return wide


# --------------------------------------------------------------------------- everything


def picture_names(analysis: Analysis) -> list[str]:
    """The pictures :func:`write_all` draws for this analysis."""
    return [HEATMAP_PNG, NETWORK_PNG, DIMENSIONS_PNG] + (
        [TREND_PNG] if analysis.trends is not None else []
    )


def render_files(
    analysis: Analysis, *, role_families: Mapping[str, str] | None = None
) -> dict[str, str | bytes]:
    """Every file but the pictures, exactly as :func:`write_all` writes it: text for the
    CSV, Markdown and JSON files, bytes for the workbook."""
    files = _render(analysis, role_families, report_workbook(analysis))
    return {name: content for name, content in files.items() if content is not None}


def _render(
    analysis: Analysis, role_families: Mapping[str, str] | None, workbook: bytes | None
) -> dict[str, str | bytes | None]:
    """The files of :func:`render_files` in their order; the workbook is None when it is
    made elsewhere."""
    files: dict[str, str | bytes | None] = {
        TIES_CSV: ties_csv(analysis),
        ROLES_CSV: roles_csv(analysis),
        DIMENSIONS_CSV: dimensions_csv(analysis),
    }
    if analysis.response_rates is not None:
        files[RATES_CSV] = rates_csv(analysis)
    if analysis.trends is not None:
        files[TRENDS_CSV] = _csv(trends_frame(analysis))
    files[REPORT_XLSX] = workbook
    files[REPORT_MD] = report_markdown(analysis, {name: name for name in picture_names(analysis)})
    extract = build_extract(analysis, role_families)
    files[EXTRACT_JSON] = json.dumps(extract, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return files


def prepare_worker() -> None:
    """Import and warm up what drawing needs, in a process that will run :func:`write_all`'s
    tasks: done while the answers are still being read, it is off the time anyone waits for.
    The scoring's modules come too: the analysis it is given is made of their classes (their
    import took about 6 ms of the worker's time once the analysis had come)."""
    from . import figures, pipeline  # noqa: F401

    figures.warm_up()


def write_all(
    analysis: Analysis,
    directory: Path,
    *,
    role_families: Mapping[str, str] | None = None,
    workers: Executor | None = None,
) -> list[str]:
    """Write every output into ``directory`` (which must exist); return the file names.

    With ``workers`` (a process forked from this one, see :func:`prepare_worker`), the
    pictures and the workbook are made there while the text files are written here; without,
    one after the other here. The files are the same.
    """
    pictures = picture_names(analysis)
    job: Future[None] | None = None
    if workers is not None:
        job = workers.submit(make_pictures_and_workbook, analysis, directory)
    try:
        workbook = None if job is not None else report_workbook(analysis)
        files = _render(analysis, role_families, workbook)
        for name, content in files.items():
            if isinstance(content, bytes):
                (directory / name).write_bytes(content)
            elif content is not None:
                (directory / name).write_text(content, encoding="utf-8", newline="")
        if job is None:
            _draw(analysis, directory, pictures)
        else:
            job.result()
    finally:
        if job is not None:
            job.cancel()
            wait([job])  # nothing is still writing into the directory when this returns
    return [*files, *pictures]


def _draw(analysis: Analysis, directory: Path, names: Iterable[str]) -> None:
    """Draw the named pictures of :func:`picture_names` (and make the workbook when
    ``REPORT_XLSX`` is among the names) into ``directory``."""
    from . import figures

    drawings: dict[str, Callable[[Analysis, Path], Path]] = {
        HEATMAP_PNG: figures.heatmap,
        NETWORK_PNG: figures.network_map,
        DIMENSIONS_PNG: figures.dimension_profile,
        TREND_PNG: figures.trend_chart,
    }
    for name in names:
        if name == REPORT_XLSX:
            (directory / name).write_bytes(report_workbook(analysis))
        else:
            drawings[name](analysis, directory / name)


def make_pictures_and_workbook(analysis: Analysis, directory: Path) -> None:
    """:func:`write_all`'s task for its worker: every picture and the workbook, in two
    processes at once (this one and a fork of it, which shares what it has imported)."""
    pictures = picture_names(analysis)
    # About half the work each: the heat map, the dimensions and the trend; the network map
    # (the slowest picture with many roles) and the workbook.
    forked = [n for n in (HEATMAP_PNG, DIMENSIONS_PNG, TREND_PNG) if n in pictures]
    here = [n for n in pictures if n not in forked] + [REPORT_XLSX]
    if not hasattr(os, "fork"):
        _draw(analysis, directory, [*forked, *here])
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the fork: draw, say what went wrong if anything did, and leave at once
        os.close(read_end)
        status = 0
        try:
            _draw(analysis, directory, forked)
        except BaseException as exc:
            os.write(write_end, f"{type(exc).__name__}: {exc}".encode()[:4000])
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        _draw(analysis, directory, here)
    finally:
        with os.fdopen(read_end, "rb") as pipe:
            failure = pipe.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"drawing the pictures failed: {failure or 'the process died'}")
