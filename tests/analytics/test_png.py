"""The PNG writer the figures and the Teams icons use: Pillow reads back every pixel."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analytics.canvas import Canvas
from analytics.png import png_file, png_rows


@pytest.mark.parametrize(("alpha", "mode"), [(False, "RGB"), (True, "RGBA")])
@pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 3), (64, 65)])
def test_pillow_reads_back_every_pixel(alpha: bool, mode: str, width: int, height: int) -> None:
    channels = 4 if alpha else 3
    pixels = np.random.default_rng(width * height).integers(
        0, 256, size=(height, width, channels), dtype=np.uint8
    )
    rows = [pixels[y].tobytes() for y in range(height)]
    for data in (
        png_rows(width, height, rows, alpha=alpha),
        png_rows(width, height, rows, alpha=alpha, level=0),
    ):
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.format == "PNG"
            assert image.mode == mode
            assert image.size == (width, height)
            assert np.array_equal(np.asarray(image), pixels)


def test_sizes_that_do_not_match_the_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="do not match"):
        png_rows(2, 2, [b"\x00" * 6], alpha=False)  # one row of two
    with pytest.raises(ValueError, match="do not match"):
        png_rows(2, 1, [b"\x00" * 7], alpha=False)  # a byte too many
    with pytest.raises(ValueError, match="do not match"):
        png_file(0, 1, b"\x00", alpha=False)  # no pixels
    with pytest.raises(ValueError, match="do not match"):
        png_file(1, 1, b"\x00\x00\x00\x00", alpha=True)  # a pixel short of its alpha byte


def test_a_canvas_saves_the_picture_it_drew(tmp_path: Path) -> None:
    """The file holds exactly the scaled-down picture with its text, as Pillow would save it."""

    canvas = Canvas(40, 30)
    canvas.rect((2, 2, 20, 15), "#4575b4")
    canvas.circle((30, 20), 6, "#d73027")
    canvas.text((5, 20), "RC 3.5", 8)
    path = canvas.save(tmp_path / "picture.png")
    with Image.open(path) as saved:
        saved.load()
        assert saved.size == (40, 30)
        assert saved.mode == "RGB"
        drawn = np.asarray(saved)
    assert drawn[8, 10].tolist() == [0x45, 0x75, 0xB4]  # inside the rectangle
    assert drawn[20, 30].tolist() == [0xD7, 0x30, 0x27]  # the circle's centre
    assert drawn[0, 39].tolist() == [255, 255, 255]  # the background
    assert (drawn[16:28, 5:30] < 128).any()  # some dark text
