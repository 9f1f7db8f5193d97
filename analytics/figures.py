"""PNG figures for chat previews and reports (1200 x 900 px), drawn with Pillow.

Each picture is drawn by :mod:`analytics.canvas` (no display, no global state, safe in a web
worker). Scores are coloured with ColorBrewer's RdYlBu (readable with the common
colour-vision deficiencies), centred on the moderate band, so weak ties are red-orange and
strong ties blue; every coloured value is also printed as a number, in black or white,
whichever reads better on its colour. Hidden figures are grey, hatched and labelled
``n<N`` (the minimum, never a count or a score), and a figure nobody answered looks exactly
the same.

Each picture is drawn only from a small frozen data object (:func:`heatmap_data`,
:func:`network_data`, :func:`dimension_data`, :func:`trend_data`; all of them:
:func:`figure_data`), a pure function of the published :class:`Analysis`, so tests can check
what a picture shows without reading pixels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from surveys.dimensions import COMMUNICATION, DIMENSIONS, MAX_SCORE, MIN_SCORE

from .canvas import (
    HEIGHT_PX,
    POINT,
    WIDTH_PX,
    Box,
    Canvas,
    Colour,
    ColourScale,
    Point,
    blend,
    nice_ticks,
    rgb,
    text_colour,
    wrap,
)
from .scores import BY_ROLE, OVERALL

if TYPE_CHECKING:
    from .pipeline import Analysis

__all__ = ["HEIGHT_PX", "WIDTH_PX"]  # the picture size, defined in .canvas

SUPPRESSED_GREY = "#d9d9d9"
HATCH_GREY = "#8c8c8c"
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
"""How far arrows bow out (the control point's offset, as a share of the distance between
the two roles), so A->B and B->A are two arcs."""
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


# --------------------------------------------------------------------------- common parts

TITLE = 18 * POINT
SUBTITLE = 10.5 * POINT
AXIS_TITLE = 12 * POINT
LEGEND = 10 * POINT
TICK = 10 * POINT


def warm_up() -> None:
    """Draw a little of everything on a small picture and write it to nowhere, so that the
    first real picture of this process does not pay for loading the fonts and the PNG
    writer."""
    canvas = Canvas(80, 40)
    for size in (TITLE, SUBTITLE, AXIS_TITLE, LEGEND, _font_size(6), _font_size(12)):
        canvas.text((1, 1), "RC 3.50\nn<5", size, bold=True)
    canvas.text((40, 20), "Role", TICK, anchor="rt", angle=30)
    _hidden(canvas, (2, 2, 30, 30))
    _arrow(canvas, np.array([[5.0, 5.0], [30.0, 20.0], [60.0, 30.0]]), 3.0, rgb("#74add1"))
    canvas.scale_bar((70, 2, 78, 38), _colour_scale(Scale(3.5, 4.0)))
    canvas.save(os.devnull)


def _colour_scale(scale: Scale) -> ColourScale:
    return ColourScale(MIN_SCORE, (scale.weak_below + scale.strong_above) / 2, MAX_SCORE)


def _font_size(count: int) -> float:
    """Text size (in pixels) for labels of a picture with ``count`` rows or columns."""
    return max(7, min(13, 15 - count * 0.6)) * POINT


def _score(value: float) -> str:
    """A band limit or tick as written on a scale: 3.5, 4.0, 3.25."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _band_ticks(scale: Scale) -> list[float]:
    return [MIN_SCORE, scale.weak_below, scale.strong_above, MAX_SCORE]


def _fit(canvas: Canvas, text: str, size: float, width: float) -> str:
    """``text`` broken into lines no wider than ``width`` (at the text size ``size``)."""
    lines: list[str] = []
    for word in text.split():
        if lines and canvas.measure(f"{lines[-1]} {word}", size)[0] <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def _titles(canvas: Canvas, title: str, subtitle: str | None = None) -> float:
    """The title (and a subtitle under it) across the top; returns where they end."""
    box = canvas.text((WIDTH_PX / 2, 22), title, TITLE, anchor="mt")
    end = box[3]
    if subtitle:
        text = _fit(canvas, subtitle, SUBTITLE, WIDTH_PX - 60)
        end = canvas.text((WIDTH_PX / 2, end + 10), text, SUBTITLE, anchor="mt")[3]
    return end


def _empty_message(canvas: Canvas, box: Box, message: str) -> None:
    left, top, right, bottom = box
    text = _fit(canvas, message, 16 * POINT, right - left)
    canvas.text(((left + right) / 2, (top + bottom) / 2), text, 16 * POINT, anchor="mm")


def _scale_bar(canvas: Canvas, box: Box, scale: Scale, label: str) -> None:
    """The colour scale as a vertical bar, with the band limits marked and ``label``
    along its right."""
    colours = _colour_scale(scale)
    canvas.scale_bar(box, colours)
    _, top, right, bottom = box
    widest = 0.0
    for value in _band_ticks(scale):
        y = bottom - float(colours.position(value)) * (bottom - top)
        canvas.line([(right, y), (right + 5, y)], "#333333", 1.0)
        text = _score(value)
        canvas.text((right + 8, y), text, TICK, anchor="lm")
        widest = max(widest, canvas.measure(text, TICK)[0])
    canvas.text((right + 14 + widest, (top + bottom) / 2), label, 11 * POINT, anchor="mt", angle=90)


def _hidden(canvas: Canvas, box: Box) -> None:
    """A hidden figure's place: grey, hatched."""
    canvas.rect(box, fill=SUPPRESSED_GREY)
    canvas.hatch_rect(box, HATCH_GREY)


# --------------------------------------------------------------------------- heat map


def heatmap(analysis: Analysis, path: str | Path) -> Path:
    """Role x role matrix of tie RC: rows rate columns; n in every cell; hidden cells hatched."""
    return draw_heatmap(heatmap_data(analysis), path)


HEATMAP_GRID: Box = (240.0, 117.0, 1032.0, 747.0)
"""Where the heat map's cells go (left, top, right, bottom)."""
HEATMAP_BAR: Box = (1068.0, 117.0, 1098.0, 747.0)
"""Where the heat map's colour scale goes."""


def heatmap_cell(data: HeatmapData, row: int, column: int) -> Box:
    """The box of one cell of the heat map (rows from the top, columns from the left)."""
    left, top, right, bottom = HEATMAP_GRID
    width = (right - left) / max(len(data.columns), 1)
    height = (bottom - top) / max(len(data.rows), 1)
    return (
        left + column * width,
        top + row * height,
        left + (column + 1) * width,
        top + (row + 1) * height,
    )


def draw_heatmap(data: HeatmapData, path: str | Path) -> Path:
    rows, columns = list(data.rows), list(data.columns)
    canvas = Canvas()
    colours = _colour_scale(data.scale)
    _titles(
        canvas,
        "Relational Coordination between roles",
        f"Mean RC (1-5) that the row's respondents report about the column role; n = "
        f"respondents. Grey, hatched: hidden, fewer than {data.min_group} respondents "
        "(or none).",
    )
    left, top, right, bottom = HEATMAP_GRID
    size = _font_size(max(len(rows), len(columns)))
    width = (right - left) / max(len(columns), 1)
    height = (bottom - top) / max(len(rows), 1)
    shown = [c[0] for r in data.cells for c in r if c is not None]
    fills = iter(colours.colours(shown))
    hidden_label = f"n<{data.min_group}"
    for i, row in enumerate(rows):
        for j, cell in enumerate(data.cells[i]):
            box = heatmap_cell(data, i, j)
            centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            if cell is None:  # hidden, or nobody answered: drawn the same
                _hidden(canvas, box)
                canvas.rect(box, outline="#888888", width=0.5)
                canvas.text(
                    centre, hidden_label, size, colour="#333333", anchor="mm",
                    background=SUPPRESSED_GREY,
                )  # fmt: skip
                continue
            rc, n = cell
            red, green, blue = (int(c) for c in next(fills))
            canvas.rect(box, fill=(red, green, blue), outline="white", width=1.0)
            canvas.text(
                centre,
                f"{rc:.2f}\nn={n}",
                size,
                colour=text_colour((red, green, blue)),
                anchor="mm",
                bold=row == columns[j],
            )
    for i, row in enumerate(rows):  # outline the within-role cells, over their neighbours
        if row in columns:
            canvas.rect(heatmap_cell(data, i, columns.index(row)), outline="black", width=2.0)
    widest = 0.0
    for i, row in enumerate(rows):
        label = wrap(row, 22)
        widest = max(widest, canvas.measure(label, size)[0])
        canvas.text((left - 8, top + (i + 0.5) * height), label, size, anchor="rm")
    lowest = 0.0
    slant = math.radians(30)
    # Slanted labels of neighbouring columns run parallel, this far apart: as many lines as
    # fit in it (at most three), so that they never overlap.
    room = width * math.sin(slant) - 4
    lines = max(1, min(3, int(room // (canvas.measure("Hg", size)[1] * 1.25))))
    for j, column in enumerate(columns):
        label = wrap(column, 16, lines) if lines > 1 else wrap(column, 34, 1)
        w, h = canvas.measure(label, size)
        lowest = max(lowest, w * math.sin(slant) + h * math.cos(slant))
        canvas.text((left + (j + 0.5) * width, bottom + 6), label, size, anchor="rt", angle=30)
    canvas.text(
        ((left + right) / 2, min(bottom + 12 + lowest, HEIGHT_PX - 30)),
        "Partner role (the role being described)",
        AXIS_TITLE,
        anchor="mt",
    )
    canvas.text(
        (max(left - 20 - widest, 30), (top + bottom) / 2),
        "Respondent role (who answered)",
        AXIS_TITLE,
        anchor="mb",
        angle=90,
    )
    _scale_bar(
        canvas,
        HEATMAP_BAR,
        data.scale,
        f"RC score (weak < {_score(data.scale.weak_below)}, moderate, strong > "
        f"{_score(data.scale.strong_above)})",
    )
    return canvas.save(path)


# --------------------------------------------------------------------------- network


def network_map(analysis: Analysis, path: str | Path) -> Path:
    """Roles on a circle; an arrow A->B is what A reports about B, coloured and sized by RC."""
    return draw_network(network_data(analysis), path)


def _arc(start: Point, end: Point, bend: float, gap: float) -> npt.NDArray[np.float64]:
    """Points along the arc from ``start`` to ``end`` (a quadratic Bezier curve bowing out
    by ``bend``), without its parts within ``gap`` of either end."""
    p0, p2 = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    dx, dy = p2 - p0
    control = (p0 + p2) / 2 + bend * np.array([dy, -dx])
    t = np.linspace(0.0, 1.0, 61)[:, None]
    curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * control + t**2 * p2
    outside = (np.hypot(*(curve - p0).T) >= gap) & (np.hypot(*(curve - p2).T) >= gap)
    kept: npt.NDArray[np.float64] = curve[outside]
    return kept


def _arrow(canvas: Canvas, points: npt.NDArray[np.float64], width: float, colour: Colour) -> None:
    """A curved arrow along ``points`` (picture pixels): a line ``width`` wide with a
    dark outline, ending in a head at the last point."""
    if len(points) < 2:
        return
    tip = points[-1]
    direction = tip - points[-min(6, len(points))]
    direction = direction / max(float(np.hypot(*direction)), 1e-9)
    normal = np.array([-direction[1], direction[0]])
    length, half = 10 + 1.6 * width, 4.5 + 0.9 * width
    base = tip - length * direction
    # The line stops inside the head, so its end does not poke through the tip.
    line = points[np.hypot(*(points - tip).T) > length * 0.6]
    head = [
        (float(tip[0]), float(tip[1])),
        (float(base[0] + half * normal[0]), float(base[1] + half * normal[1])),
        (float(base[0] - half * normal[0]), float(base[1] - half * normal[1])),
    ]
    dark = rgb("#4d4d4d")
    if len(line) >= 2:
        canvas.stroke(line, dark, width + 1.6 * POINT)
        canvas.stroke(line, colour, width)
    canvas.polygon(head, colour, outline=dark, width=1.2)


NETWORK_AREA: Box = (36.0, 90.0, 996.0, 864.0)
"""Where the circle of roles goes."""
NETWORK_LIMIT = 1.55
"""The circle of roles has radius 1 in a square of side 2 x this."""


def network_layout(roles: Sequence[str]) -> tuple[dict[str, Point], float]:
    """Where each role's node goes (clockwise from the top) and the nodes' radius."""
    left, top, right, bottom = NETWORK_AREA
    unit = min(right - left, bottom - top) / (2 * NETWORK_LIMIT)  # pixels per unit
    cx, cy = (left + right) / 2, (top + bottom) / 2
    count = max(len(roles), 1)
    position: dict[str, Point] = {}
    for k, role in enumerate(roles):
        angle = math.pi / 2 - 2 * math.pi * k / count
        position[role] = (cx + math.cos(angle) * unit, cy - math.sin(angle) * unit)
    return position, max(0.06, min(0.14, 0.9 / count)) * unit


def network_arc(roles: Sequence[str], source: str, target: str) -> npt.NDArray[np.float64]:
    """The points of the arrow from ``source`` to ``target`` (up to its head)."""
    position, radius = network_layout(roles)
    # Negative: pixels grow downwards, so this bows A->B and B->A apart on either side.
    return _arc(position[source], position[target], -ARROW_BEND, radius * 1.3)


def draw_network(data: NetworkData, path: str | Path) -> Path:
    roles = list(data.roles)
    canvas = Canvas()
    _titles(
        canvas,
        "Network of roles: who reports what about whom",
        "Arrow A -> B: what A's respondents report about B, coloured and sized by RC. "
        "Node colour: RC within the role.",
    )
    if not roles:
        _empty_message(canvas, NETWORK_AREA, "No roles to show")
        return canvas.save(path)
    colours = _colour_scale(data.scale)
    position, radius = network_layout(roles)
    centre = ((NETWORK_AREA[0] + NETWORK_AREA[2]) / 2, (NETWORK_AREA[1] + NETWORK_AREA[3]) / 2)
    size = _font_size(len(roles)) * 1.08

    edge_colours = colours.colours([rc for _, _, rc in data.edges])
    for (source, target, rc), fill in zip(data.edges, edge_colours, strict=True):
        width = (0.8 + 4.2 * (rc - MIN_SCORE) / (MAX_SCORE - MIN_SCORE)) * POINT
        red, green, blue = (int(c) for c in fill)
        _arrow(canvas, network_arc(roles, source, target), width, (red, green, blue))
    for role, value in zip(roles, data.within, strict=True):
        x, y = position[role]
        if value is None:  # hidden, or nobody answered: drawn the same
            canvas.circle((x, y), radius, fill=SUPPRESSED_GREY)
            canvas.hatch_circle((x, y), radius, HATCH_GREY)
            canvas.circle((x, y), radius, outline="black", width=1.0)
            caption = f"within: n<{data.min_group}"
        else:
            canvas.circle((x, y), radius, fill=colours.colour(value), outline="black", width=1.0)
            caption = f"within: {value:.2f}"
        ux, uy = x - centre[0], centre[1] - y  # outwards, y up
        length = max(math.hypot(ux, uy), 1e-9)
        ux, uy = ux / length, uy / length
        outward = radius * 1.35 + 4
        at = (x + ux * outward, y - uy * outward)
        across = "m" if abs(ux) < 0.3 else ("l" if ux > 0 else "r")
        down = "m" if abs(ux) >= 0.3 else ("b" if uy > 0 else "t")
        canvas.text(at, wrap(role, 18) + f"\n{caption}", size, anchor=across + down)
    _network_legend(canvas, data.min_group)
    _scale_bar(canvas, (1080, 135, 1106, 630), data.scale, "RC score")
    return canvas.save(path)


def _network_legend(canvas: Canvas, min_group: int) -> None:
    x, y = 930.0, 690.0
    for value in (2, 3, 4, 5):
        width = (0.8 + 4.2 * (value - 1) / 4) * POINT
        canvas.line([(x, y), (x + 30, y)], "#555555", width)
        canvas.text((x + 40, y), f"RC {value:g}", LEGEND, anchor="lm")
        y += 21
    canvas.text((x + 40, y), f"no arrow: hidden (n<{min_group}) or none", LEGEND, anchor="lm")
    y += 23
    canvas.circle((x + 15, y), 9, fill="white", outline="black")
    canvas.text((x + 40, y), "node colour: within role", LEGEND, anchor="lm")
    y += 23
    canvas.circle((x + 15, y), 9, fill=SUPPRESSED_GREY)
    canvas.hatch_circle((x + 15, y), 9, HATCH_GREY, spacing=6)
    canvas.circle((x + 15, y), 9, outline="black")
    canvas.text((x + 40, y), f"hatched: hidden (n<{min_group}) or none", LEGEND, anchor="lm")


# --------------------------------------------------------------------------- dimensions


def dimension_profile(analysis: Analysis, path: str | Path, *, max_roles: int = 8) -> Path:
    """The seven dimensions: bars for all published ties, markers for each respondent role."""
    return draw_dimensions(dimension_data(analysis, max_roles=max_roles), path)


def _star(points: int, outer: float, inner: float) -> tuple[tuple[float, float], ...]:
    return tuple(
        (
            math.sin(math.pi * k / points) * (outer if k % 2 == 0 else inner),
            -math.cos(math.pi * k / points) * (outer if k % 2 == 0 else inner),
        )
        for k in range(2 * points)
    )


# The outline of each marker but the circle, around (0, 0), about 2 wide (y grows downwards).
MARKER_SHAPES: dict[str, tuple[tuple[float, float], ...]] = {
    "s": ((-1, -1), (1, -1), (1, 1), (-1, 1)),
    "D": ((0, -1.25), (1.0, 0), (0, 1.25), (-1.0, 0)),
    "^": ((0, -1.2), (1.1, 0.8), (-1.1, 0.8)),
    "v": ((0, 1.2), (1.1, -0.8), (-1.1, -0.8)),
    "P": (
        (-0.4, -1.1), (0.4, -1.1), (0.4, -0.4), (1.1, -0.4), (1.1, 0.4), (0.4, 0.4),
        (0.4, 1.1), (-0.4, 1.1), (-0.4, 0.4), (-1.1, 0.4), (-1.1, -0.4), (-0.4, -0.4),
    ),
    "X": (
        (-0.8, -1.1), (0, -0.3), (0.8, -1.1), (1.1, -0.8), (0.3, 0), (1.1, 0.8),
        (0.8, 1.1), (0, 0.3), (-0.8, 1.1), (-1.1, 0.8), (-0.3, 0), (-1.1, -0.8),
    ),
    "*": _star(5, 1.3, 0.55),
}  # fmt: skip


def _marker(canvas: Canvas, kind: str, at: Point, size: float, fill: str) -> None:
    """One of :data:`MARKERS` (named as in matplotlib) centred on ``at``."""
    x, y = at
    r = size / 2
    if kind == "o":
        canvas.circle(at, r, fill=fill, outline="black", width=0.7)
        return
    points = [(x + dx * r, y + dy * r) for dx, dy in MARKER_SHAPES[kind]]
    canvas.polygon(points, fill, outline="black", width=0.7)


def draw_dimensions(data: DimensionData, path: str | Path) -> Path:
    canvas = Canvas()
    _titles(canvas, "Relational Coordination by dimension")
    left, top, right, bottom = 300.0, 126.0, 900.0, 810.0
    if not data.overall:
        _empty_message(
            canvas,
            (left, top, right, bottom),
            f"Not enough respondents (fewer than {data.min_group})",
        )
        return canvas.save(path)
    colours = _colour_scale(data.scale)
    scale = data.scale
    positions = np.arange(len(DIMENSIONS))[::-1].astype(float)
    positions[len(COMMUNICATION) :] -= 0.5  # a gap between communication and relationship
    # (more room above: the bands' names go there)
    y_low, y_high = float(positions.min()) - 0.8, float(positions.max()) + 1.0

    def px(value: float) -> float:
        return left + (value - MIN_SCORE) / (MAX_SCORE - MIN_SCORE) * (right - left)

    def py(value: float) -> float:
        return bottom - (value - y_low) / (y_high - y_low) * (bottom - top)

    for low, high, tint, band in (
        (MIN_SCORE, scale.weak_below, "#fdd9c4", "weak"),
        (scale.weak_below, scale.strong_above, "#fff4c2", "moderate"),
        (scale.strong_above, MAX_SCORE, "#d4e6f4", "strong"),
    ):
        canvas.rect((px(low), top, px(high), bottom), fill=blend(tint, 0.35))
        if px(high) - px(low) >= canvas.measure(band, LEGEND)[0] + 4:
            canvas.text(((px(low) + px(high)) / 2, top + 5), band, LEGEND, colour="#555555",
                        anchor="mt")  # fmt: skip
    split = py(float(positions[len(COMMUNICATION) - 1]) - 0.75)
    canvas.line([(left, split), (right, split)], "#666666", 0.8 * POINT)
    bar = 0.3 * (bottom - top) / (y_high - y_low)  # half a bar's height
    for pos, value in zip(positions, data.overall, strict=True):
        y = py(float(pos))
        if value is None:
            canvas.text(
                (px(MIN_SCORE + 0.05), y), f"hidden (n<{data.min_group})", TICK, anchor="lm"
            )
            continue
        canvas.rect(
            (px(MIN_SCORE), y - bar, px(value), y + bar),
            fill=colours.colour(value),
            outline="#333333",
            width=1.0,
        )
        canvas.text((px(value) + 5, y - bar - 3), f"{value:.2f}", 11 * POINT, anchor="lb")
    where = dict(zip(DIMENSIONS, positions, strict=True))
    for k, (_, means) in enumerate(data.by_role):
        for dimension, value in means:
            _marker(
                canvas,
                MARKERS[k % len(MARKERS)],
                (px(value), py(float(where[dimension]))),
                11.0,
                SERIES_COLOURS[k % len(SERIES_COLOURS)],
            )
    canvas.rect((left, top, right, bottom), outline="black", width=1.0)
    for d, pos in zip(DIMENSIONS, positions, strict=True):
        label = DIMENSION_LABELS.get(d, d)
        canvas.text((left - 8, py(float(pos))), label, AXIS_TITLE, anchor="rm")
    for value in sorted({*_band_ticks(scale), 2.0, 3.0}):
        canvas.line([(px(value), bottom), (px(value), bottom + 5)], "black", 1.0)
        canvas.text((px(value), bottom + 8), _score(value), TICK, anchor="mt")
    canvas.text(
        ((left + right) / 2, bottom + 30),
        "Mean score (1-5); bars: all published ties",
        AXIS_TITLE,
        anchor="mt",
    )
    canvas.text((right + 6, py(float(positions[0])) - bar), "Communication", TICK, anchor="lb",
                angle=-90)  # fmt: skip
    canvas.text(
        (right + 6, py(float(positions[len(COMMUNICATION)])) - bar),
        "Relationship",
        TICK,
        anchor="lb",
        angle=-90,
    )
    line = canvas.measure("Hg", LEGEND)[1]
    y = top + 12
    for k, (role, _) in enumerate(data.by_role):
        _marker(canvas, MARKERS[k % len(MARKERS)], (950, y), 11.0, SERIES_COLOURS[k % 8])
        label = wrap(f"reported by {role}", 30, 2)
        box = canvas.text((965, y - line / 2), label, LEGEND, anchor="lt")
        y = box[3] + 10 + line / 2
    return canvas.save(path)


# --------------------------------------------------------------------------- trend


def trend_chart(analysis: Analysis, path: str | Path, *, max_ties: int = 20) -> Path:
    """Change per tie since the previous round with its bootstrap interval."""
    return draw_trend(trend_data(analysis, max_ties=max_ties), path)


def _decimals(step: float) -> int:
    """How many decimals show every multiple of ``step`` exactly."""
    for decimals in range(6):
        if abs(round(step, decimals) - step) < 1e-9:
            return decimals
    return 6


def draw_trend(data: TrendData, path: str | Path) -> Path:
    canvas = Canvas()
    _titles(
        canvas,
        "Change since the previous round",
        f"Current minus previous tie RC with {data.coverage}% bootstrap interval; grey = within "
        "noise (the interval covers 0). Only ties shown in both rounds.",
    )
    left, top, right, bottom = 336.0, 126.0, 1128.0, 810.0
    if not data.ties:
        _empty_message(canvas, (left, top, right, bottom), "No tie was published in both rounds")
        return canvas.save(path)
    low = min(0.0, *(t[2] for t in data.ties))
    high = max(0.0, *(t[3] for t in data.ties))
    margin = max(high - low, 0.1) * 0.05
    low, high = low - margin, high + margin
    count = len(data.ties)

    def px(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    def py(index: int) -> float:  # the first tie at the bottom
        return bottom - (index + 0.5) / count * (bottom - top)

    ticks = nice_ticks(low, high, 10)
    decimals = _decimals(ticks[1] - ticks[0]) if len(ticks) > 1 else 2
    for value in ticks:
        canvas.line([(px(value), bottom), (px(value), bottom + 5)], "black", 1.0)
        text = f"{value:.{decimals}f}" if value else f"{0:.{decimals}f}"  # never "-0.0"
        canvas.text((px(value), bottom + 8), text, TICK, anchor="mt")
    canvas.line([(px(0.0), top), (px(0.0), bottom)], "black", 1.5)
    size = _font_size(count // 2)
    for index, (label, value, lo, hi, quiet) in enumerate(data.ties):
        colour = "#8c8c8c" if quiet else (SERIES_COLOURS[0] if value > 0 else SERIES_COLOURS[5])
        y = py(index)
        canvas.line([(px(lo), y), (px(hi), y)], colour, 2 * POINT)
        for end in (lo, hi):
            canvas.line([(px(end), y - 5.5), (px(end), y + 5.5)], colour, 1.4)
        canvas.circle((px(value), y), 5.5, fill=colour)
        canvas.text((left - 8, y), label, size, anchor="rm")
    canvas.rect((left, top, right, bottom), outline="black", width=1.0)
    canvas.text(
        ((left + right) / 2, bottom + 30),
        "Change in RC (points on the 1-5 scale)",
        AXIS_TITLE,
        anchor="mt",
    )
    entries = (
        (SERIES_COLOURS[0], "higher, beyond noise"),
        (SERIES_COLOURS[5], "lower, beyond noise"),
        ("#8c8c8c", "within noise"),
    )
    width = 50 + max(canvas.measure(text, LEGEND)[0] for _, text in entries)
    box = (right - 10 - width, bottom - 10 - 24 * len(entries) - 8, right - 10, bottom - 10)
    canvas.rect(box, fill="white", outline="#cccccc", width=1.0)
    y = box[1] + 16
    for colour, text in entries:
        canvas.line([(box[0] + 8, y), (box[0] + 36, y)], colour, 2 * POINT)
        canvas.circle((box[0] + 22, y), 4.5, fill=colour)
        canvas.text((box[0] + 44, y), text, LEGEND, anchor="lm")
        y += 24
    return canvas.save(path)
