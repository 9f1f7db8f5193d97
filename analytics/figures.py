"""PNG figures for chat previews and reports (1200 x 900 px), drawn without pyplot.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, so drawing needs
no display, touches no global pyplot state and is safe in a web worker. Scores are coloured
with ColorBrewer's RdYlBu (readable with the common colour-vision deficiencies), centred on
the moderate band, so weak ties are red-orange and strong ties blue; every coloured value is
also printed as a number. Suppressed figures are grey, hatched and labelled ``n<N``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, Patch, Rectangle
from matplotlib.patheffects import withStroke

from surveys.dimensions import COMMUNICATION, DIMENSIONS, MAX_SCORE, MIN_SCORE

from .scores import BY_ROLE, OVERALL

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .pipeline import Analysis

WIDTH_PX = 1200
HEIGHT_PX = 900
DPI = 100
SUPPRESSED_GREY = "#d9d9d9"
ABSENT = "#ffffff"
# Okabe & Ito's palette, distinguishable with colour-vision deficiencies.
SERIES_COLOURS = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
DIMENSION_LABELS = {
    "frequent": "Frequent communication",
    "timely": "Timely communication",
    "accurate": "Accurate communication",
    "problem_solving": "Problem-solving communication",
    "shared_goals": "Shared goals",
    "shared_knowledge": "Shared knowledge",
    "mutual_respect": "Mutual respect",
}


@dataclass(frozen=True)
class _Tie:
    """One row of the published tie table with plain Python types."""

    source: str
    target: str
    rc: float | None
    n: int | None
    suppressed: bool


def _ties(analysis: Analysis) -> list[_Tie]:
    frame = analysis.ties
    rc = frame["rc_index"].to_numpy(dtype=np.float64, na_value=np.nan)
    n = frame["n"].to_numpy(dtype=np.float64, na_value=np.nan)
    return [
        _Tie(
            source=str(source),
            target=str(target),
            rc=None if math.isnan(value) else float(value),
            n=None if math.isnan(count) else int(count),
            suppressed=bool(hidden),
        )
        for source, target, value, count, hidden in zip(
            frame["respondent_role"],
            frame["partner_role"],
            rc,
            n,
            frame["suppressed"].to_numpy(dtype=bool),
            strict=True,
        )
    ]


def _colour_map() -> Colormap:
    from matplotlib import colormaps

    return colormaps["RdYlBu"]


def _norm(analysis: Analysis) -> TwoSlopeNorm:
    centre = (analysis.bands.weak_below + analysis.bands.strong_above) / 2
    return TwoSlopeNorm(vmin=MIN_SCORE, vcenter=centre, vmax=MAX_SCORE)


def _new_figure() -> Figure:
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    target = Path(path)
    figure.savefig(target, format="png", dpi=DPI)
    return target


def _wrap(label: str, width: int = 16) -> str:
    return "\n".join(textwrap.wrap(label, width=width, max_lines=3, placeholder="...")) or label


def _text_colour(rgba: Sequence[float]) -> str:
    red, green, blue = rgba[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.55 else "white"


def _font_size(count: int) -> float:
    return float(max(7, min(13, 15 - count * 0.6)))


def _band_ticks(analysis: Analysis) -> list[float]:
    return [MIN_SCORE, analysis.bands.weak_below, analysis.bands.strong_above, MAX_SCORE]


def _empty_message(axes: Axes, message: str) -> None:
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=16, wrap=True)


# --------------------------------------------------------------------------- heat map


def heatmap(analysis: Analysis, path: str | Path) -> Path:
    """Role x role matrix of tie RC: rows rate columns; n in every cell; hidden cells hatched."""
    rows = list(analysis.respondent_roles)
    columns = list(analysis.partner_roles)
    figure = _new_figure()
    axes = figure.add_axes((0.2, 0.17, 0.66, 0.7))
    cmap = _colour_map()
    norm = _norm(analysis)
    size = _font_size(max(len(rows), len(columns)))
    lookup = {(t.source, t.target): t for t in _ties(analysis)}
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            tie = lookup.get((row, column))
            x, y = j, len(rows) - 1 - i
            if tie is None:
                axes.add_patch(Rectangle((x, y), 1, 1, facecolor=ABSENT, edgecolor="#bbbbbb"))
                axes.text(x + 0.5, y + 0.5, "-", ha="center", va="center", fontsize=size)
                continue
            if tie.suppressed or tie.rc is None:
                axes.add_patch(
                    Rectangle(
                        (x, y),
                        1,
                        1,
                        facecolor=SUPPRESSED_GREY,
                        edgecolor="#888888",
                        hatch="///",
                        linewidth=0.5,
                    )
                )
                axes.text(
                    x + 0.5,
                    y + 0.5,
                    f"n<{analysis.min_group}",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="#333333",
                    bbox={"facecolor": SUPPRESSED_GREY, "edgecolor": "none", "pad": 1},
                )
                continue
            colour = cmap(norm(tie.rc))
            axes.add_patch(Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white"))
            axes.text(
                x + 0.5,
                y + 0.5,
                f"{tie.rc:.2f}\nn={tie.n}",
                ha="center",
                va="center",
                fontsize=size,
                color=_text_colour(colour),
                fontweight="bold" if row == column else "normal",
            )
        if row in columns:  # outline the within-role cell
            j = columns.index(row)
            axes.add_patch(
                Rectangle((j, len(rows) - 1 - i), 1, 1, fill=False, edgecolor="black", linewidth=2)
            )
    axes.set_xlim(0, max(len(columns), 1))
    axes.set_ylim(0, max(len(rows), 1))
    axes.set_xticks([j + 0.5 for j in range(len(columns))])
    axes.set_xticklabels([_wrap(c) for c in columns], rotation=30, ha="right", fontsize=size)
    axes.set_yticks([len(rows) - 1 - i + 0.5 for i in range(len(rows))])
    axes.set_yticklabels([_wrap(r, 22) for r in rows], fontsize=size)
    axes.set_xlabel("Partner role (the role being described)", fontsize=12)
    axes.set_ylabel("Respondent role (who answered)", fontsize=12)
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    figure.suptitle("Relational Coordination between roles", fontsize=18, y=0.97)
    figure.text(
        0.5,
        0.915,
        f"Mean RC (1-5) that the row's respondents report about the column role; n = "
        f"respondents. Hatched: fewer than {analysis.min_group} respondents, hidden.",
        ha="center",
        fontsize=10.5,
        wrap=True,
    )
    bar_axes = figure.add_axes((0.89, 0.17, 0.025, 0.7))
    mappable = _scalar_mappable(analysis)
    bar = figure.colorbar(mappable, cax=bar_axes)
    bar.set_ticks(_band_ticks(analysis))
    bar.set_label("RC score (weak < 3.5, moderate, strong > 4.0)", fontsize=11)
    return _save(figure, path)


def _scalar_mappable(analysis: Analysis) -> ScalarMappable:
    return ScalarMappable(norm=_norm(analysis), cmap=_colour_map())


# --------------------------------------------------------------------------- network


def network_map(analysis: Analysis, path: str | Path) -> Path:
    """Roles on a circle; an arrow A->B is what A reports about B, coloured and sized by RC."""
    roles = list(dict.fromkeys([*analysis.respondent_roles, *analysis.partner_roles]))
    figure = _new_figure()
    axes = figure.add_axes((0.03, 0.04, 0.8, 0.86))
    axes.set_aspect("equal")
    axes.axis("off")
    figure.suptitle("Network of roles: who reports what about whom", fontsize=18, y=0.97)
    figure.text(
        0.45,
        0.915,
        "Arrow A -> B: what A's respondents report about B, coloured and sized by RC. "
        "Node colour: RC within the role.",
        ha="center",
        fontsize=10.5,
    )
    if not roles:
        _empty_message(axes, "No roles to show")
        return _save(figure, path)
    cmap = _colour_map()
    norm = _norm(analysis)
    count = len(roles)
    angles = [math.pi / 2 - 2 * math.pi * k / count for k in range(count)]
    position = {role: (math.cos(a), math.sin(a)) for role, a in zip(roles, angles, strict=True)}
    radius = max(0.06, min(0.14, 0.9 / count))
    size = _font_size(count) + 1
    node_points = radius * 0.86 * HEIGHT_PX * 0.86 / 2.6  # node radius in points, roughly

    within: dict[str, _Tie] = {}
    for tie in _ties(analysis):
        source, target = tie.source, tie.target
        if source == target:
            within[source] = tie
            continue
        if source not in position or target not in position:
            continue
        if tie.suppressed or tie.rc is None:
            style: dict[str, Any] = {
                "color": "#9a9a9a",
                "linestyle": ":",
                "linewidth": 1.0,
                "arrowstyle": "-",
            }
        else:
            width = 0.8 + 4.2 * (tie.rc - MIN_SCORE) / (MAX_SCORE - MIN_SCORE)
            style = {
                "color": cmap(norm(tie.rc)),
                "linewidth": width,
                "arrowstyle": "-|>",
                "mutation_scale": 16,
                # a dark outline keeps pale (moderate) colours visible on white
                "path_effects": [withStroke(linewidth=width + 1.6, foreground="#4d4d4d")],
            }
        axes.add_patch(
            FancyArrowPatch(
                position[source],
                position[target],
                connectionstyle="arc3,rad=0.14",
                shrinkA=node_points,
                shrinkB=node_points,
                zorder=1,
                **style,
            )
        )
    for role in roles:
        x, y = position[role]
        own = within.get(role)
        value = None if own is None or own.suppressed else own.rc
        face: str | tuple[float, float, float, float]
        if value is None:
            face, hatch = SUPPRESSED_GREY, ("///" if own is not None else None)
            caption = f"within: n<{analysis.min_group}" if own is not None else ""
        else:
            face, hatch = cmap(norm(value)), None
            caption = f"within: {value:.2f}"
        axes.add_patch(
            Circle((x, y), radius, facecolor=face, edgecolor="black", hatch=hatch, zorder=3)
        )
        outward = 1 + radius * 1.35 / max(math.hypot(x, y), 1e-9)
        axes.text(
            x * outward,
            y * outward,
            _wrap(role, 18) + (f"\n{caption}" if caption else ""),
            ha="center" if abs(x) < 0.3 else ("left" if x > 0 else "right"),
            va="center" if abs(x) >= 0.3 else ("bottom" if y > 0 else "top"),
            fontsize=size,
            zorder=4,
        )
    limit = 1.55
    axes.set_xlim(-limit, limit)
    axes.set_ylim(-limit, limit)
    handles: list[Artist] = [
        Line2D([], [], color="#555555", linewidth=0.8 + 4.2 * (v - 1) / 4, label=f"RC {v:g}")
        for v in (2, 3, 4, 5)
    ]
    handles.append(
        Line2D([], [], color="#9a9a9a", linestyle=":", label=f"hidden (n<{analysis.min_group})")
    )
    handles.append(Patch(facecolor="white", edgecolor="black", label="node colour: within role"))
    figure.legend(handles=handles, loc="lower right", fontsize=10, frameon=False)
    bar_axes = figure.add_axes((0.9, 0.3, 0.022, 0.55))
    bar = figure.colorbar(_scalar_mappable(analysis), cax=bar_axes)
    bar.set_ticks(_band_ticks(analysis))
    bar.set_label("RC score", fontsize=11)
    return _save(figure, path)


# --------------------------------------------------------------------------- dimensions


def dimension_profile(analysis: Analysis, path: str | Path, *, max_roles: int = 8) -> Path:
    """The seven dimensions: bars for all published ties, markers for each respondent role."""
    figure = _new_figure()
    axes = figure.add_axes((0.25, 0.1, 0.5, 0.76))
    figure.suptitle("Relational Coordination by dimension", fontsize=18, y=0.97)
    frame = analysis.dimensions
    overall = frame[frame["scope"] == OVERALL].set_index("dimension")["mean"]
    if overall.empty:
        _empty_message(axes, f"Not enough respondents (fewer than {analysis.min_group})")
        return _save(figure, path)
    cmap = _colour_map()
    norm = _norm(analysis)
    bands = analysis.bands
    axes.axvspan(MIN_SCORE, bands.weak_below, color="#fdd9c4", alpha=0.35, zorder=0)
    axes.axvspan(bands.weak_below, bands.strong_above, color="#fff4c2", alpha=0.35, zorder=0)
    axes.axvspan(bands.strong_above, MAX_SCORE, color="#d4e6f4", alpha=0.35, zorder=0)
    positions = np.arange(len(DIMENSIONS))[::-1].astype(float)
    positions[len(COMMUNICATION) :] -= 0.5  # a gap between communication and relationship
    for pos, name in zip(positions, DIMENSIONS, strict=True):
        value = overall.get(name)
        if value is None or not np.isfinite(value):
            axes.text(MIN_SCORE + 0.05, pos, f"hidden (n<{analysis.min_group})", va="center")
            continue
        axes.barh(
            pos,
            float(value) - MIN_SCORE,
            left=MIN_SCORE,
            height=0.6,
            color=cmap(norm(value)),
            edgecolor="#333333",
            linewidth=1.0,
        )
        axes.text(float(value) + 0.04, pos + 0.22, f"{float(value):.2f}", va="center", fontsize=11)
    by_role = frame[frame["scope"] == BY_ROLE]
    roles = list(dict.fromkeys(str(r) for r in by_role["role"]))[:max_roles]
    for k, role in enumerate(roles):
        means = by_role[by_role["role"] == role].set_index("dimension")["mean"]
        ys = [p for p, d in zip(positions, DIMENSIONS, strict=True) if d in means.index]
        xs = [float(means[d]) for d in DIMENSIONS if d in means.index]
        axes.scatter(
            xs,
            ys,
            marker=MARKERS[k % len(MARKERS)],
            s=60,
            color=SERIES_COLOURS[k % len(SERIES_COLOURS)],
            edgecolor="black",
            linewidth=0.5,
            zorder=3,
            label=f"reported by {role}",
        )
    axes.set_yticks(positions)
    axes.set_yticklabels([DIMENSION_LABELS.get(d, d) for d in DIMENSIONS], fontsize=12)
    axes.set_xlim(MIN_SCORE, MAX_SCORE)
    axes.set_xticks([*_band_ticks(analysis), 2.0, 3.0])
    axes.set_xlabel("Mean score (1-5); bars: all published ties", fontsize=12)
    axes.axhline(positions[len(COMMUNICATION) - 1] - 0.75, color="#666666", linewidth=0.8)
    axes.text(MAX_SCORE + 0.05, positions[0], "Communication", rotation=-90, va="top")
    axes.text(
        MAX_SCORE + 0.05, positions[len(COMMUNICATION)], "Relationship", rotation=-90, va="top"
    )
    if roles:
        axes.legend(loc="upper left", bbox_to_anchor=(1.06, 1.0), fontsize=10, frameon=False)
    return _save(figure, path)


# --------------------------------------------------------------------------- trend


def trend_chart(analysis: Analysis, path: str | Path, *, max_ties: int = 20) -> Path:
    """Change per tie since the previous round with its bootstrap interval."""
    if analysis.trends is None:
        raise ValueError("there is no previous round to compare with")
    trends = analysis.trends
    figure = _new_figure()
    axes = figure.add_axes((0.28, 0.1, 0.66, 0.76))
    coverage = round(trends.options.confidence * 100)
    figure.suptitle("Change since the previous round", fontsize=18, y=0.97)
    figure.text(
        0.5,
        0.915,
        f"Current minus previous tie RC with {coverage}% bootstrap interval; grey = within noise "
        "(the interval covers 0). Only ties shown in both rounds.",
        ha="center",
        fontsize=10.5,
    )
    ties = trends.ties
    if ties.empty:
        _empty_message(axes, "No tie was published in both rounds")
        return _save(figure, path)
    change = ties["change"].to_numpy(dtype=np.float64)
    order = np.argsort(-np.abs(change), kind="stable")[:max_ties]
    order = order[np.argsort(change[order], kind="stable")]
    low = ties["ci_low"].to_numpy(dtype=np.float64)[order]
    high = ties["ci_high"].to_numpy(dtype=np.float64)[order]
    noise = ties["within_noise"].to_numpy(dtype=bool)[order]
    labels = [
        f"{ties['respondent_role'].iloc[i]} about {ties['partner_role'].iloc[i]}" for i in order
    ]
    chosen = change[order]
    ys = np.arange(len(order), dtype=float)
    for y, value, lo, hi, quiet in zip(ys, chosen, low, high, noise, strict=True):
        colour = SERIES_COLOURS[0] if value > 0 else SERIES_COLOURS[5]
        if quiet:
            colour = "#8c8c8c"
        axes.errorbar(
            float(value),
            float(y),
            xerr=[[float(value - lo)], [float(hi - value)]],
            fmt="o",
            color=colour,
            ecolor=colour,
            elinewidth=2,
            capsize=4,
            markersize=8,
        )
    axes.axvline(0, color="black", linewidth=1)
    axes.set_yticks(ys)
    axes.set_yticklabels(labels, fontsize=_font_size(len(labels) // 2))
    axes.set_xlabel("Change in RC (points on the 1-5 scale)", fontsize=12)
    axes.legend(
        handles=[
            Line2D([], [], marker="o", color=SERIES_COLOURS[0], label="higher, beyond noise"),
            Line2D([], [], marker="o", color=SERIES_COLOURS[5], label="lower, beyond noise"),
            Line2D([], [], marker="o", color="#8c8c8c", label="within noise"),
        ],
        loc="lower right",
        fontsize=10,
    )
    return _save(figure, path)
