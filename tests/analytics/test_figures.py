"""The PNG figures: files that open, at chat-preview size, showing what their data says:
every shown value in its colour on the scale, hidden cells grey and hatched with no figure,
arrows coloured by the tie they stand for, and nothing that depends on hidden answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from analytics import Analysis, analyze
from analytics import canvas as cv
from analytics import figures as fig
from surveys.dimensions import MAX_SCORE, MIN_SCORE

from .conftest import round_answers
from .helpers import frame, uniform_tie

DRAWINGS: list[tuple[str, Callable[[Analysis, Path], Path]]] = [
    ("heatmap", fig.heatmap),
    ("network", fig.network_map),
    ("dimensions", fig.dimension_profile),
    ("trend", fig.trend_chart),
]
Pixels = npt.NDArray[np.int64]


def pixels(path: Path) -> Pixels:
    """The picture as (rows, columns, RGB) integers."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int64)


def at(data: Pixels, x: float, y: float) -> tuple[int, int, int]:
    red, green, blue = (int(v) for v in data[int(y), int(x)])
    return (red, green, blue)


def near(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int) -> bool:
    return max(abs(a - b) for a, b in zip(colour, expected, strict=True)) <= tolerance


def scale_of(analysis: Analysis) -> cv.ColourScale:
    bands = analysis.bands
    return cv.ColourScale(MIN_SCORE, (bands.weak_below + bands.strong_above) / 2, MAX_SCORE)


@pytest.fixture
def texts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[cv.Point, str]]:
    """Every text the figures write, with the point it is anchored at."""
    written: list[tuple[cv.Point, str]] = []
    original = cv.Canvas.text

    def record(self: cv.Canvas, point: cv.Point, text: str, *args: object, **kw: object) -> cv.Box:
        written.append((point, text))
        return original(self, point, text, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(cv.Canvas, "text", record)
    return written


@pytest.mark.parametrize(("name", "draw"), DRAWINGS)
def test_each_figure_is_a_png_of_1200_by_900(
    full_analysis: Analysis, tmp_path: Path, name: str, draw: Callable[[Analysis, Path], Path]
) -> None:
    path = draw(full_analysis, tmp_path / f"{name}.png")
    assert path == tmp_path / f"{name}.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = pixels(path)
    assert data.shape == (fig.HEIGHT_PX, fig.WIDTH_PX, 3)
    assert data.std() > 10  # not a blank image


def test_each_shown_cell_of_the_heat_map_has_the_colour_of_its_value(
    full_analysis: Analysis, tmp_path: Path, texts: list[tuple[cv.Point, str]]
) -> None:
    data = fig.heatmap_data(full_analysis)
    image = pixels(fig.heatmap(full_analysis, tmp_path / "h.png"))
    scale = scale_of(full_analysis)
    shown = 0
    for i, row in enumerate(data.cells):
        for j, cell in enumerate(row):
            if cell is None:
                continue
            shown += 1
            left, top, right, bottom = fig.heatmap_cell(data, i, j)
            # inside the cell, clear of its outline and of its text in the middle
            colour = at(image, left + 0.15 * (right - left), top + 0.15 * (bottom - top))
            assert near(colour, scale.colour(cell[0]), 1), (data.rows[i], data.columns[j])
            written = [t for p, t in texts if left < p[0] < right and top < p[1] < bottom]
            assert written == [f"{cell[0]:.2f}\nn={cell[1]}"]
    assert shown >= 3


def test_hidden_cells_are_grey_hatched_and_show_no_figure(
    full_analysis: Analysis, tmp_path: Path, texts: list[tuple[cv.Point, str]]
) -> None:
    data = fig.heatmap_data(full_analysis)
    image = pixels(fig.heatmap(full_analysis, tmp_path / "h.png"))
    grey, hatch = cv.rgb(fig.SUPPRESSED_GREY), cv.rgb(fig.HATCH_GREY)
    hidden = 0
    for i, row in enumerate(data.cells):
        for j, cell in enumerate(row):
            if cell is not None:
                continue
            hidden += 1
            left, top, right, bottom = fig.heatmap_cell(data, i, j)
            inside = image[int(top) + 4 : int(bottom) - 4, int(left) + 4 : int(right) - 4]
            flat = inside.reshape(-1, 3)
            # only greys (the fill, the hatching, the label), nothing from the colour scale
            assert (flat.max(axis=1) - flat.min(axis=1) <= 2).all()
            assert (flat == grey).all(axis=1).mean() > 0.3
            assert (flat[:, 0] <= (grey[0] + hatch[0]) // 2 + 8).any()  # hatched: darker lines
            written = [t for p, t in texts if left < p[0] < right and top < p[1] < bottom]
            assert written == [f"n<{data.min_group}"]  # the minimum, never a count or score
    assert hidden >= 1  # the Doctor -> Nurse cell (4 doctors)


def test_the_colour_bar_runs_along_the_scale(full_analysis: Analysis, tmp_path: Path) -> None:
    image = pixels(fig.heatmap(full_analysis, tmp_path / "h.png"))
    scale = scale_of(full_analysis)
    left, top, right, bottom = fig.HEATMAP_BAR
    for value in (1.2, 2.0, 3.0, 3.75, 4.5, 4.9):
        y = bottom - float(scale.position(value)) * (bottom - top)
        assert near(at(image, (left + right) / 2, y), scale.colour(value), 4), value


def test_the_scale_is_centred_on_the_moderate_band() -> None:
    scale = cv.ColourScale(1.0, 3.75, 5.0)
    assert scale.colour(1.0) == cv.rgb(cv.RDYLBU_STOPS[0])
    assert scale.colour(3.75) == cv.rgb(cv.RDYLBU_STOPS[5])  # the pale yellow middle
    assert scale.colour(5.0) == cv.rgb(cv.RDYLBU_STOPS[-1])
    assert scale.position(2.375) == pytest.approx(0.25)
    assert scale.position(4.375) == pytest.approx(0.75)


def test_text_on_every_colour_of_the_scale_is_readable() -> None:
    """Black or white, whichever contrasts more: at least 4.5:1 (WCAG AA) everywhere."""
    scale = cv.ColourScale(1.0, 3.75, 5.0)
    for value in np.linspace(1, 5, 81):
        background = scale.colour(float(value))
        text = cv.text_colour(background)
        light, dark = sorted((cv.luminance(background), cv.luminance(text)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, value
    assert cv.text_colour(scale.colour(5.0)) == cv.WHITE
    assert cv.text_colour(scale.colour(3.75)) == cv.BLACK


def test_network_arrows_take_the_colour_of_their_tie(tmp_path: Path) -> None:
    rows = uniform_tie("A", "B", [5] * 6) + uniform_tie("B", "A", [3] * 6)
    analysis = analyze(frame(rows))
    data = fig.network_data(analysis)
    assert sorted(data.edges) == [("A", "B", 5.0), ("B", "A", 3.0)]
    image = pixels(fig.network_map(analysis, tmp_path / "n.png"))
    scale = scale_of(analysis)
    for source, target, rc in data.edges:
        arc = fig.network_arc(data.roles, source, target)
        x, y = arc[len(arc) // 2]
        assert near(at(image, x, y), scale.colour(rc), 3), (source, target)


def test_hidden_nodes_are_grey_and_hatched(full_analysis: Analysis, tmp_path: Path) -> None:
    data = fig.network_data(full_analysis)
    image = pixels(fig.network_map(full_analysis, tmp_path / "n.png"))
    position, radius = fig.network_layout(data.roles)
    scale = scale_of(full_analysis)
    for role, value in zip(data.roles, data.within, strict=True):
        x, y = position[role]
        patch = image[
            int(y - radius / 2) : int(y + radius / 2), int(x - radius / 2) : int(x + radius / 2)
        ]
        flat = patch.reshape(-1, 3)
        if value is None:
            assert (flat.max(axis=1) - flat.min(axis=1) <= 2).all(), role
            assert (flat == cv.rgb(fig.SUPPRESSED_GREY)).all(axis=1).mean() > 0.3, role
        else:
            assert (np.abs(flat - scale.colour(value)).max(axis=1) <= 1).mean() > 0.9, role


def test_dimension_bars_take_the_colour_of_their_mean(
    full_analysis: Analysis, tmp_path: Path, texts: list[tuple[cv.Point, str]]
) -> None:
    data = fig.dimension_data(full_analysis)
    image = pixels(fig.dimension_profile(full_analysis, tmp_path / "d.png"))
    scale = scale_of(full_analysis)
    shown = [v for v in data.overall if v is not None]
    assert shown
    for value in shown:
        assert f"{value:.2f}" in [t for _, t in texts]
    # every bar starts at 1: just right of the axis, each row's colour is its bar's
    colours = {at(image, 302, y) for y in range(130, 800)}
    for value in shown:
        assert any(near(c, scale.colour(value), 1) for c in colours), value


def test_answers_in_hidden_cells_change_no_pixel(tmp_path: Path) -> None:
    """The pictures are drawn from published figures only: whatever the four doctors who
    describe nurses (a hidden tie) said, every picture is the same, byte for byte."""
    before = analyze(round_answers())
    changed = round_answers()
    hidden = (changed["respondent_role"] == "Doctor") & (changed["partner_role"] == "Nurse")
    changed.loc[hidden, "score"] = 1.0
    after = analyze(changed)
    assert after.tie("Doctor", "Nurse") is not None
    for name, draw in DRAWINGS[:3]:
        a = draw(before, tmp_path / f"before-{name}.png").read_bytes()
        b = draw(after, tmp_path / f"after-{name}.png").read_bytes()
        assert a == b, name


def test_names_the_font_cannot_draw_are_written_plainly() -> None:
    assert cv.drawable("Nurse, night") == "Nurse, night"
    assert cv.drawable("Médecin – nuit") == "Medecin - nuit"
    assert cv.drawable("Nurse’s aide") == "Nurse’s aide"  # the font has this one
    assert cv.drawable("护士") == "??"  # never an empty box


def test_figures_cope_with_nothing_to_show(tmp_path: Path) -> None:
    tiny = analyze(frame(uniform_tie("A", "B", [3, 4])))
    assert tiny.overall.suppressed
    for name, draw in DRAWINGS[:3]:
        assert pixels(draw(tiny, tmp_path / f"{name}.png")).shape[:2] == (900, 1200)
    with pytest.raises(ValueError, match="previous round"):
        fig.trend_chart(tiny, tmp_path / "trend.png")


def test_figures_with_twelve_roles_and_long_names(tmp_path: Path) -> None:
    roles = [f"Role number {i} with a rather long name" for i in range(12)]
    rows = []
    for i, role in enumerate(roles):
        for j, partner in enumerate(roles):
            if (i + j) % 3:
                rows += uniform_tie(role, partner, [1 + (i * j) % 5] * 5, prefix=f"{i}")
    analysis = analyze(frame(rows))
    for name, draw in DRAWINGS[:3]:
        assert pixels(draw(analysis, tmp_path / f"{name}.png")).shape[:2] == (900, 1200)
