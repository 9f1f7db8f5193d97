"""The PNG figures: files that open, at chat-preview size, with hidden cells marked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from analytics import Analysis, analyze
from analytics import figures as fig

from .helpers import frame, uniform_tie

DRAWINGS: list[tuple[str, Callable[[Analysis, Path], Path]]] = [
    ("heatmap", fig.heatmap),
    ("network", fig.network_map),
    ("dimensions", fig.dimension_profile),
    ("trend", fig.trend_chart),
]


def pixels(path: Path) -> np.ndarray:
    data = image.imread(path)
    assert data.shape[2] in (3, 4)
    return data


@pytest.mark.parametrize(("name", "draw"), DRAWINGS)
def test_each_figure_is_a_png_of_1200_by_900(
    full_analysis: Analysis, tmp_path: Path, name: str, draw: Callable[[Analysis, Path], Path]
) -> None:
    path = draw(full_analysis, tmp_path / f"{name}.png")
    assert path == tmp_path / f"{name}.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = pixels(path)
    assert data.shape[:2] == (fig.HEIGHT_PX, fig.WIDTH_PX)
    assert data[..., :3].std() > 0.05  # not a blank image


def test_heatmap_marks_hidden_cells_in_hatched_grey(
    full_analysis: Analysis, tmp_path: Path
) -> None:
    data = pixels(fig.heatmap(full_analysis, tmp_path / "h.png"))
    grey = np.all(np.abs(data[..., :3] - 217 / 255) < 0.01, axis=-1)
    assert grey.sum() > 1000  # the Doctor -> Nurse cell (4 doctors) is grey


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
