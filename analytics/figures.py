"""PNG figures for chat previews and reports (1200 x 900 px), drawn without pyplot.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, so drawing needs
no display, touches no global pyplot state and is safe in a web worker. Scores are coloured
with ColorBrewer's RdYlBu (readable with the common colour-vision deficiencies), centred on
the moderate band, so weak ties are red-orange and strong ties blue; every coloured value is
also printed as a number. Suppressed figures are grey, hatched and labelled ``n<N``, and a
figure nobody answered looks exactly the same.

Each picture is drawn only from a small frozen data object (:func:`heatmap_data`,
:func:`network_data`, :func:`dimension_data`, :func:`trend_data`; all of them:
:func:`figure_data`), a pure function of the published :class:`Analysis`, so tests can check
what a picture shows without reading pixels.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, Patch, Rectangle
from matplotlib.path import Path as MplPath
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
ARROW_BEND = 0.14
"""How far arrows bow out (matplotlib's arc3 rad), so A->B and B->A are two arcs."""
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
class Scale:
    """The band limits the colours are centred on."""

    weak_below: float
    strong_above: float


@dataclass(frozen=True)
class HeatmapData:
    """Rows rate columns; a cell is (RC, n) when its tie is shown, None when it is hidden
    (fewer than ``min_group`` respondents, or nobody answered or was asked about it)."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[tuple[float, int] | None, ...], ...]
    min_group: int
    scale: Scale


@dataclass(frozen=True)
class NetworkData:
    """Roles on a circle, an arrow per shown tie between two roles (source, target, RC),
    and each role's shown within-role RC (None: hidden, for whatever reason)."""

    roles: tuple[str, ...]
    edges: tuple[tuple[str, str, float], ...]
    within: tuple[float | None, ...]
    min_group: int
    scale: Scale


@dataclass(frozen=True)
class DimensionData:
    """Mean per dimension over all shown cells (None: hidden), and per respondent role the
    dimensions it has shown cells in; ``overall`` is empty when nothing is shown."""

    overall: tuple[float | None, ...]
    by_role: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]
    min_group: int
    scale: Scale


@dataclass(frozen=True)
class TrendData:
    """The ties with the largest changes (label, change, interval low, high, within noise),
    in drawing order."""

    ties: tuple[tuple[str, float, float, float, bool], ...]
    coverage: int


def _scale(analysis: Analysis) -> Scale:
    return Scale(analysis.bands.weak_below, analysis.bands.strong_above)


def _shown_ties(analysis: Analysis) -> dict[tuple[str, str], tuple[float, int]]:
    """(respondent role, partner role) -> (RC, n) of every shown tie."""
    frame = analysis.ties[~analysis.ties["suppressed"].to_numpy(dtype=bool)]
    rc = frame["rc_index"].to_numpy(dtype=np.float64, na_value=np.nan)
    n = frame["n"].to_numpy(dtype=np.float64, na_value=np.nan)
    return {
        (str(source), str(target)): (float(value), int(count))
        for source, target, value, count in zip(
            frame["respondent_role"], frame["partner_role"], rc, n, strict=True
        )
        if not (math.isnan(value) or math.isnan(count))
    }


def heatmap_data(analysis: Analysis) -> HeatmapData:
    shown = _shown_ties(analysis)
    rows, columns = tuple(analysis.respondent_roles), tuple(analysis.partner_roles)
    cells = tuple(tuple(shown.get((row, column)) for column in columns) for row in rows)
    return HeatmapData(rows, columns, cells, analysis.min_group, _scale(analysis))


def network_data(analysis: Analysis) -> NetworkData:
    shown = _shown_ties(analysis)
    roles = tuple(dict.fromkeys([*analysis.respondent_roles, *analysis.partner_roles]))
    edges = tuple(
        (source, target, rc)
        for (source, target), (rc, _) in shown.items()
        if source != target and source in roles and target in roles
    )
    within = tuple(shown[(role, role)][0] if (role, role) in shown else None for role in roles)
    return NetworkData(roles, edges, within, analysis.min_group, _scale(analysis))


def dimension_data(analysis: Analysis, *, max_roles: int = 8) -> DimensionData:
    frame = analysis.dimensions
    overall_means = frame[frame["scope"] == OVERALL].set_index("dimension")["mean"]
    overall: tuple[float | None, ...] = ()
    if not overall_means.empty:
        overall = tuple(
            float(v) if v is not None and np.isfinite(v) else None
            for v in (overall_means.get(d) for d in DIMENSIONS)
        )
    by_role_frame = frame[frame["scope"] == BY_ROLE]
    names = list(dict.fromkeys(str(r) for r in by_role_frame["role"]))[:max_roles]
    by_role = []
    for role in names:
        means = by_role_frame[by_role_frame["role"] == role].set_index("dimension")["mean"]
        by_role.append(
            (
                role,
                tuple(
                    (d, float(means[d]))
                    for d in DIMENSIONS
                    if d in means.index and np.isfinite(means[d])
                ),
            )
        )
    return DimensionData(overall, tuple(by_role), analysis.min_group, _scale(analysis))


def trend_data(analysis: Analysis, *, max_ties: int = 20) -> TrendData:
    if analysis.trends is None:
        raise ValueError("there is no previous round to compare with")
    trends = analysis.trends
    ties = trends.ties
    coverage = round(trends.options.confidence * 100)
    if ties.empty:
        return TrendData((), coverage)
    change = ties["change"].to_numpy(dtype=np.float64)
    order = np.argsort(-np.abs(change), kind="stable")[:max_ties]
    order = order[np.argsort(change[order], kind="stable")]
    low = ties["ci_low"].to_numpy(dtype=np.float64)
    high = ties["ci_high"].to_numpy(dtype=np.float64)
    noise = ties["within_noise"].to_numpy(dtype=bool)
    rows = tuple(
        (
            f"{ties['respondent_role'].iloc[i]} about {ties['partner_role'].iloc[i]}",
            float(change[i]),
            float(low[i]),
            float(high[i]),
            bool(noise[i]),
        )
        for i in order.tolist()
    )
    return TrendData(rows, coverage)


def figure_data(analysis: Analysis) -> dict[str, object]:
    """What each picture of :func:`analytics.exports.write_all` is drawn from, by file name."""
    data: dict[str, object] = {
        "heatmap.png": heatmap_data(analysis),
        "network.png": network_data(analysis),
        "dimensions.png": dimension_data(analysis),
    }
    if analysis.trends is not None:
        data["trend.png"] = trend_data(analysis)
    return data


def warm_up() -> None:
    """Load the colour map and the fonts, and draw a little text, so that the first real
    picture of this process does not pay for them."""
    _colour_map()
    figure = Figure(figsize=(1, 1), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.text(0.5, 0.5, "RC 3.50", fontsize=12, fontweight="bold")
    figure.text(0.5, 0.2, "n<5", fontsize=10)
    figure.canvas.draw()


def _colour_map() -> Colormap:
    from matplotlib import colormaps

    return colormaps["RdYlBu"]


def _norm(scale: Scale) -> TwoSlopeNorm:
    centre = (scale.weak_below + scale.strong_above) / 2
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


def _band_ticks(scale: Scale) -> list[float]:
    return [MIN_SCORE, scale.weak_below, scale.strong_above, MAX_SCORE]


def _empty_message(axes: Axes, message: str) -> None:
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=16, wrap=True)


# --------------------------------------------------------------------------- heat map


def heatmap(analysis: Analysis, path: str | Path) -> Path:
    """Role x role matrix of tie RC: rows rate columns; n in every cell; hidden cells hatched."""
    return draw_heatmap(heatmap_data(analysis), path)


def draw_heatmap(data: HeatmapData, path: str | Path) -> Path:
    rows, columns = list(data.rows), list(data.columns)
    figure = _new_figure()
    axes = figure.add_axes((0.2, 0.17, 0.66, 0.7))
    cmap = _colour_map()
    norm = _norm(data.scale)
    size = _font_size(max(len(rows), len(columns)))
    colours = _colours(cmap, norm, [c[0] for r in data.cells for c in r if c is not None])
    # Cells, outlines, arrows and nodes are added with add_artist, not add_patch: the limits
    # are set below, so working out each patch's extent (slow for arrows) would be wasted.
    for i, row in enumerate(rows):
        for j, cell in enumerate(data.cells[i]):
            x, y = j, len(rows) - 1 - i
            if cell is None:  # hidden, or nobody answered: drawn the same
                axes.add_artist(
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
                    f"n<{data.min_group}",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="#333333",
                    bbox={"facecolor": SUPPRESSED_GREY, "edgecolor": "none", "pad": 1},
                )
                continue
            rc, n = cell
            colour = next(colours)
            axes.add_artist(Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white"))
            axes.text(
                x + 0.5,
                y + 0.5,
                f"{rc:.2f}\nn={n}",
                ha="center",
                va="center",
                fontsize=size,
                color=_text_colour(colour),
                fontweight="bold" if row == columns[j] else "normal",
            )
        if row in columns:  # outline the within-role cell
            j = columns.index(row)
            axes.add_artist(
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
        f"respondents. Hatched: hidden, fewer than {data.min_group} respondents (or none).",
        ha="center",
        fontsize=10.5,
        wrap=True,
    )
    bar_axes = figure.add_axes((0.89, 0.17, 0.025, 0.7))
    bar = figure.colorbar(_scalar_mappable(data.scale), cax=bar_axes)
    bar.set_ticks(_band_ticks(data.scale))
    bar.set_label("RC score (weak < 3.5, moderate, strong > 4.0)", fontsize=11)
    return _save(figure, path)


def _colours(cmap: Colormap, norm: TwoSlopeNorm, values: Sequence[float]) -> Iterator[Any]:
    """The colour of each value, in order (one call for all of them: each call is slow)."""
    if not values:
        return iter(())
    return iter(cmap(norm(np.asarray(values, dtype=np.float64))))


def _trimmed_arc(
    start: tuple[float, float], end: tuple[float, float], bend: float, gap: float
) -> MplPath:
    """The arc matplotlib's ``arc3,rad=bend`` draws from ``start`` to ``end`` (a quadratic
    Bezier curve), without its parts within ``gap`` of either end: what ``shrinkA`` and
    ``shrinkB`` give, worked out directly rather than by matplotlib's slow search."""
    p0, p2 = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    dx, dy = p2 - p0
    control = (p0 + p2) / 2 + bend * np.array([dy, -dx])

    def point(t: float) -> npt.NDArray[np.float64]:
        return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * control + t**2 * p2

    def crossing(inside: float, outside: float, centre: npt.NDArray[np.float64]) -> float:
        """Where the curve leaves the circle of radius ``gap`` around ``centre``."""
        for _ in range(40):
            middle = (inside + outside) / 2
            if np.hypot(*(point(middle) - centre)) < gap:
                inside = middle
            else:
                outside = middle
        return (inside + outside) / 2

    t0, t1 = crossing(0.0, 0.5, p0), crossing(1.0, 0.5, p2)
    # The piece of the curve between t0 and t1 is again a quadratic Bezier curve.
    middle = (1 - t0) * (1 - t1) * p0 + ((1 - t0) * t1 + t0 * (1 - t1)) * control + t0 * t1 * p2
    return MplPath([point(t0), middle, point(t1)], [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3])


def _scalar_mappable(scale: Scale) -> ScalarMappable:
    return ScalarMappable(norm=_norm(scale), cmap=_colour_map())


# --------------------------------------------------------------------------- network


def network_map(analysis: Analysis, path: str | Path) -> Path:
    """Roles on a circle; an arrow A->B is what A reports about B, coloured and sized by RC."""
    return draw_network(network_data(analysis), path)


def draw_network(data: NetworkData, path: str | Path) -> Path:
    roles = list(data.roles)
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
    norm = _norm(data.scale)
    count = len(roles)
    angles = [math.pi / 2 - 2 * math.pi * k / count for k in range(count)]
    position = {role: (math.cos(a), math.sin(a)) for role, a in zip(roles, angles, strict=True)}
    radius = max(0.06, min(0.14, 0.9 / count))
    size = _font_size(count) + 1
    node_points = radius * 0.86 * HEIGHT_PX * 0.86 / 2.6  # node radius in points, roughly
    limit = 1.55
    # Arrows stop node_points (measured along the arrow) from each node's centre; the axes
    # have an equal aspect, so that is a fixed distance in data units too.
    box = axes.get_position()
    points_per_unit = min(box.width * WIDTH_PX, box.height * HEIGHT_PX) / (2 * limit) * 72 / DPI
    gap = node_points / points_per_unit
    colours = _colours(cmap, norm, [rc for _, _, rc in data.edges])
    within_colours = _colours(cmap, norm, [v for v in data.within if v is not None])

    for source, target, rc in data.edges:
        width = 0.8 + 4.2 * (rc - MIN_SCORE) / (MAX_SCORE - MIN_SCORE)
        style: dict[str, Any] = {
            "color": next(colours),
            "linewidth": width,
            "arrowstyle": "-|>",
            "mutation_scale": 16,
            # a dark outline keeps pale (moderate) colours visible on white
            "path_effects": [withStroke(linewidth=width + 1.6, foreground="#4d4d4d")],
        }
        arc = _trimmed_arc(position[source], position[target], ARROW_BEND, gap)
        axes.add_artist(FancyArrowPatch(path=arc, zorder=1, **style))
    for role, value in zip(roles, data.within, strict=True):
        x, y = position[role]
        face: str | tuple[float, float, float, float]
        if value is None:  # hidden, or nobody answered: drawn the same
            face, hatch = SUPPRESSED_GREY, "///"
            caption = f"within: n<{data.min_group}"
        else:
            face, hatch = next(within_colours), None
            caption = f"within: {value:.2f}"
        axes.add_artist(
            Circle((x, y), radius, facecolor=face, edgecolor="black", hatch=hatch, zorder=3)
        )
        outward = 1 + radius * 1.35 / max(math.hypot(x, y), 1e-9)
        axes.text(
            x * outward,
            y * outward,
            _wrap(role, 18) + f"\n{caption}",
            ha="center" if abs(x) < 0.3 else ("left" if x > 0 else "right"),
            va="center" if abs(x) >= 0.3 else ("bottom" if y > 0 else "top"),
            fontsize=size,
            zorder=4,
        )
    axes.set_xlim(-limit, limit)
    axes.set_ylim(-limit, limit)
    handles: list[Artist] = [
        Line2D([], [], color="#555555", linewidth=0.8 + 4.2 * (v - 1) / 4, label=f"RC {v:g}")
        for v in (2, 3, 4, 5)
    ]
    handles.append(
        Line2D([], [], color="white", label=f"no arrow: hidden (n<{data.min_group}) or none")
    )
    handles.append(Patch(facecolor="white", edgecolor="black", label="node colour: within role"))
    figure.legend(handles=handles, loc="lower right", fontsize=10, frameon=False)
    bar_axes = figure.add_axes((0.9, 0.3, 0.022, 0.55))
    bar = figure.colorbar(_scalar_mappable(data.scale), cax=bar_axes)
    bar.set_ticks(_band_ticks(data.scale))
    bar.set_label("RC score", fontsize=11)
    return _save(figure, path)


# --------------------------------------------------------------------------- dimensions


def dimension_profile(analysis: Analysis, path: str | Path, *, max_roles: int = 8) -> Path:
    """The seven dimensions: bars for all published ties, markers for each respondent role."""
    return draw_dimensions(dimension_data(analysis, max_roles=max_roles), path)


def draw_dimensions(data: DimensionData, path: str | Path) -> Path:
    figure = _new_figure()
    axes = figure.add_axes((0.25, 0.1, 0.5, 0.76))
    figure.suptitle("Relational Coordination by dimension", fontsize=18, y=0.97)
    if not data.overall:
        _empty_message(axes, f"Not enough respondents (fewer than {data.min_group})")
        return _save(figure, path)
    cmap = _colour_map()
    norm = _norm(data.scale)
    scale = data.scale
    axes.axvspan(MIN_SCORE, scale.weak_below, color="#fdd9c4", alpha=0.35, zorder=0)
    axes.axvspan(scale.weak_below, scale.strong_above, color="#fff4c2", alpha=0.35, zorder=0)
    axes.axvspan(scale.strong_above, MAX_SCORE, color="#d4e6f4", alpha=0.35, zorder=0)
    positions = np.arange(len(DIMENSIONS))[::-1].astype(float)
    positions[len(COMMUNICATION) :] -= 0.5  # a gap between communication and relationship
    for pos, value in zip(positions, data.overall, strict=True):
        if value is None:
            axes.text(MIN_SCORE + 0.05, pos, f"hidden (n<{data.min_group})", va="center")
            continue
        axes.barh(
            pos,
            value - MIN_SCORE,
            left=MIN_SCORE,
            height=0.6,
            color=cmap(norm(value)),
            edgecolor="#333333",
            linewidth=1.0,
        )
        axes.text(value + 0.04, pos + 0.22, f"{value:.2f}", va="center", fontsize=11)
    where = dict(zip(DIMENSIONS, positions, strict=True))
    for k, (role, means) in enumerate(data.by_role):
        axes.scatter(
            [value for _, value in means],
            [where[d] for d, _ in means],
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
    axes.set_xticks([*_band_ticks(scale), 2.0, 3.0])
    axes.set_xlabel("Mean score (1-5); bars: all published ties", fontsize=12)
    axes.axhline(positions[len(COMMUNICATION) - 1] - 0.75, color="#666666", linewidth=0.8)
    axes.text(MAX_SCORE + 0.05, positions[0], "Communication", rotation=-90, va="top")
    axes.text(
        MAX_SCORE + 0.05, positions[len(COMMUNICATION)], "Relationship", rotation=-90, va="top"
    )
    if data.by_role:
        axes.legend(loc="upper left", bbox_to_anchor=(1.06, 1.0), fontsize=10, frameon=False)
    return _save(figure, path)


# --------------------------------------------------------------------------- trend


def trend_chart(analysis: Analysis, path: str | Path, *, max_ties: int = 20) -> Path:
    """Change per tie since the previous round with its bootstrap interval."""
    return draw_trend(trend_data(analysis, max_ties=max_ties), path)


def draw_trend(data: TrendData, path: str | Path) -> Path:
    figure = _new_figure()
    axes = figure.add_axes((0.28, 0.1, 0.66, 0.76))
    figure.suptitle("Change since the previous round", fontsize=18, y=0.97)
    figure.text(
        0.5,
        0.915,
        f"Current minus previous tie RC with {data.coverage}% bootstrap interval; grey = within "
        "noise (the interval covers 0). Only ties shown in both rounds.",
        ha="center",
        fontsize=10.5,
    )
    if not data.ties:
        _empty_message(axes, "No tie was published in both rounds")
        return _save(figure, path)
    ys = np.arange(len(data.ties), dtype=float)
    for y, (_, value, lo, hi, quiet) in zip(ys, data.ties, strict=True):
        colour = SERIES_COLOURS[0] if value > 0 else SERIES_COLOURS[5]
        if quiet:
            colour = "#8c8c8c"
        axes.errorbar(
            value,
            float(y),
            xerr=[[value - lo], [hi - value]],
            fmt="o",
            color=colour,
            ecolor=colour,
            elinewidth=2,
            capsize=4,
            markersize=8,
        )
    axes.axvline(0, color="black", linewidth=1)
    axes.set_yticks(ys)
    axes.set_yticklabels([t[0] for t in data.ties], fontsize=_font_size(len(data.ties) // 2))
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
