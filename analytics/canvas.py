"""A small drawing surface for the figures, on Pillow.

Shapes are drawn at twice the picture's size and scaled down at the end, so lines and arcs
come out smooth; text is then written at the final size, on top. Coordinates are in pixels
of the final picture, ``(0, 0)`` at the top left. Text uses the scalable font Pillow bundles
(``ImageFont.load_default(size=...)``); it covers printable ASCII, so other characters are
written as their closest ASCII form (``é`` as ``e``, a dash as ``-``) or ``?``: a name
never turns into empty boxes.

The colour scale is ColorBrewer's RdYlBu (readable with the common colour-vision
deficiencies), centred on the middle of the moderate band: values map to the scale in two
linear halves, minimum to centre and centre to maximum, as in the RC bands.
"""

from __future__ import annotations

import math
import textwrap
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from .png import png_file

WIDTH_PX = 1200
HEIGHT_PX = 900
SUPERSAMPLE = 2
"""Drawn at this multiple of the final size, then scaled down (smooth edges)."""
POINT = 100 / 72
"""Pixels per typographic point (the figures were designed at 100 dots per inch)."""

Colour = tuple[int, int, int]
Point = tuple[float, float]
Box = tuple[float, float, float, float]
"""left, top, right, bottom."""

# ColorBrewer RdYlBu, 11 classes (Cynthia Brewer, colorbrewer2.org): weakest red to
# strongest blue, pale yellow in the middle.
RDYLBU_STOPS: tuple[str, ...] = (
    "#a50026",
    "#d73027",
    "#f46d43",
    "#fdae61",
    "#fee090",
    "#ffffbf",
    "#e0f3f8",
    "#abd9e9",
    "#74add1",
    "#4575b4",
    "#313695",
)
BLACK: Colour = (0, 0, 0)
WHITE: Colour = (255, 255, 255)


_NAMED: dict[str, Colour] = {"black": (0, 0, 0), "white": (255, 255, 255)}


def rgb(colour: str | Colour) -> Colour:
    """``"#rrggbb"``, ``"black"``, ``"white"`` (or an RGB triple) as an RGB triple."""
    if isinstance(colour, tuple):
        return colour
    if colour in _NAMED:
        return _NAMED[colour]
    text = colour.lstrip("#")
    return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))


def blend(colour: str | Colour, alpha: float, under: str | Colour = WHITE) -> Colour:
    """``colour`` laid with opacity ``alpha`` over ``under``."""
    top, bottom = rgb(colour), rgb(under)
    return (
        round(top[0] * alpha + bottom[0] * (1 - alpha)),
        round(top[1] * alpha + bottom[1] * (1 - alpha)),
        round(top[2] * alpha + bottom[2] * (1 - alpha)),
    )


def luminance(colour: str | Colour) -> float:
    """Relative luminance (WCAG 2)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(v) for v in rgb(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def text_colour(background: str | Colour) -> Colour:
    """Black or white, whichever contrasts more with ``background`` (WCAG contrast ratio)."""
    light = luminance(background)
    on_black = (light + 0.05) / 0.05
    on_white = 1.05 / (light + 0.05)
    return BLACK if on_black >= on_white else WHITE


@dataclass(frozen=True)
class ColourScale:
    """Scores from ``low`` to ``high`` on RdYlBu, ``centre`` at the middle of the colours."""

    low: float
    centre: float
    high: float

    def position(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Where each value sits on the scale, 0 (low) to 1 (high), in two linear halves."""
        v = np.asarray(values, dtype=np.float64)
        below = 0.5 * (v - self.low) / (self.centre - self.low)
        above = 0.5 + 0.5 * (v - self.centre) / (self.high - self.centre)
        return np.clip(np.where(v <= self.centre, below, above), 0.0, 1.0)

    def colours(self, values: npt.ArrayLike) -> npt.NDArray[np.uint8]:
        """An RGB row (uint8) per value."""
        at = self.position(values)
        stops = np.array([rgb(c) for c in RDYLBU_STOPS], dtype=np.float64)
        where = np.linspace(0.0, 1.0, len(stops))
        channels = [np.interp(at, where, stops[:, k]) for k in range(3)]
        return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)

    def colour(self, value: float) -> Colour:
        red, green, blue = (int(c) for c in self.colours([value])[0])
        return (red, green, blue)


# --------------------------------------------------------------------------- text


@cache
def font(size: float) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font at ``size`` pixels (of the drawing surface)."""
    loaded = ImageFont.load_default(size=max(1, round(size)))
    assert isinstance(loaded, ImageFont.FreeTypeFont), "Pillow lacks FreeType support"
    return loaded


_PROBE_SIZE = 20
_PUNCTUATION = {
    "\u2010": "-",  # hyphen
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u00a0": " ",
    "\u2026": "...",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2192": "->",
}


@cache
def _missing_glyph() -> bytes:
    return bytes(font(_PROBE_SIZE).getmask("\uffff"))


@cache
def has_glyph(char: str) -> bool:
    """Whether the bundled font draws ``char`` (rather than its box for a missing glyph)."""
    if char.isascii():
        return True
    return bytes(font(_PROBE_SIZE).getmask(char)) != _missing_glyph()


@cache
def _plain_char(char: str) -> str:
    if has_glyph(char):
        return char
    if char in _PUNCTUATION:
        return _PUNCTUATION[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(has_glyph(c) for c in base):
        return base
    return "?"


def drawable(text: str) -> str:
    """``text`` with every character the bundled font lacks replaced (see the module note)."""
    if text.isascii():
        return text
    return "".join(_plain_char(c) for c in text)


def wrap(label: str, width: int = 16, lines: int = 3) -> str:
    """A label on at most ``lines`` lines of about ``width`` characters."""
    return "\n".join(textwrap.wrap(label, width=width, max_lines=lines, placeholder="...")) or label


# --------------------------------------------------------------------------- the canvas


class Canvas:
    """A picture being drawn; :meth:`save` writes it as a PNG of ``width`` x ``height``."""

    def __init__(
        self, width: int = WIDTH_PX, height: int = HEIGHT_PX, scale: int = SUPERSAMPLE
    ) -> None:
        self.width, self.height, self.scale = width, height, scale
        self.image = Image.new("RGB", (width * scale, height * scale), WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self._text: list[_Lines | _Rotated] = []

    def _xy(self, point: Point) -> tuple[float, float]:
        return (point[0] * self.scale, point[1] * self.scale)

    def _box(self, box: Box) -> tuple[float, float, float, float]:
        left, top, right, bottom = box
        s = self.scale
        return (left * s, top * s, right * s, bottom * s)

    def _width(self, width: float) -> int:
        return max(1, round(width * self.scale))

    # shapes ----------------------------------------------------------------------------

    def rect(
        self,
        box: Box,
        fill: str | Colour | None = None,
        outline: str | Colour | None = None,
        width: float = 1.0,
    ) -> None:
        self.draw.rectangle(
            self._box(box),
            fill=None if fill is None else rgb(fill),
            outline=None if outline is None else rgb(outline),
            width=self._width(width) if outline is not None else 0,
        )

    def circle(
        self,
        centre: Point,
        radius: float,
        fill: str | Colour | None = None,
        outline: str | Colour | None = None,
        width: float = 1.0,
    ) -> None:
        x, y = centre
        self.draw.ellipse(
            self._box((x - radius, y - radius, x + radius, y + radius)),
            fill=None if fill is None else rgb(fill),
            outline=None if outline is None else rgb(outline),
            width=self._width(width) if outline is not None else 0,
        )

    def line(self, points: Sequence[Point], colour: str | Colour, width: float = 1.0) -> None:
        self.draw.line(
            [self._xy(p) for p in points], fill=rgb(colour), width=self._width(width), joint="curve"
        )

    def stroke(
        self, points: Sequence[Point] | npt.NDArray[np.float64], colour: str | Colour, width: float
    ) -> None:
        """A thick curve through ``points`` as one filled outline (smoother than joined
        line segments)."""
        path = np.asarray(points, dtype=np.float64)
        if len(path) < 2:
            return
        step = np.empty_like(path)  # the direction of the curve at each point
        step[1:-1] = path[2:] - path[:-2]
        step[0], step[-1] = path[1] - path[0], path[-1] - path[-2]
        tangent = step / np.maximum(np.hypot(step[:, 0], step[:, 1]), 1e-12)[:, None]
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1) * (width / 2)
        outline = np.concatenate([path + normal, (path - normal)[::-1]]) * self.scale
        self.draw.polygon(outline.ravel().tolist(), fill=rgb(colour))

    def polygon(
        self,
        points: Sequence[Point],
        fill: str | Colour,
        outline: str | Colour | None = None,
        width: float = 1.0,
    ) -> None:
        corners = [self._xy(p) for p in points]
        self.draw.polygon(corners, fill=rgb(fill))
        if outline is not None:
            # As a closed line: Pillow draws a polygon's wide outline through a mask the
            # size of the whole picture, which costs more than the rest of a small shape.
            self.draw.line(
                [*corners, corners[0]], fill=rgb(outline), width=self._width(width), joint="curve"
            )

    def hatch_rect(self, box: Box, colour: str | Colour, spacing: float = 9.0) -> None:
        """Diagonal lines (bottom left to top right) across ``box``."""
        left, top, right, bottom = box
        for c in _steps(left + top, right + bottom, spacing):
            # the line x + y = c, inside the box
            x0, x1 = max(left, c - bottom), min(right, c - top)
            if x1 > x0:
                self.line([(x0, c - x0), (x1, c - x1)], colour, 1.0)

    def hatch_circle(
        self, centre: Point, radius: float, colour: str | Colour, spacing: float = 9.0
    ) -> None:
        """Diagonal lines (bottom left to top right) across a circle."""
        cx, cy = centre
        for c in _steps(cx + cy - radius * math.sqrt(2), cx + cy + radius * math.sqrt(2), spacing):
            offset = (c - cx - cy) / 2  # the line's point nearest the centre: centre + offset
            distance = abs(offset) * math.sqrt(2)
            if distance >= radius:
                continue
            half = math.sqrt(radius**2 - distance**2) / math.sqrt(2)
            fx, fy = cx + offset, cy + offset
            self.line([(fx - half, fy + half), (fx + half, fy - half)], colour, 1.0)

    def paste(self, picture: Image.Image, at: Point) -> None:
        """Paste an image drawn at this canvas's scale, its top left at ``at``."""
        x, y = self._xy(at)
        self.image.paste(picture, (round(x), round(y)))

    def scale_bar(self, box: Box, scale: ColourScale) -> None:
        """A vertical bar of the colour scale, ``scale.low`` at the bottom, outlined."""
        left, top, right, bottom = self._box(box)
        height = max(1, round(bottom - top))
        at = 1 - (np.arange(height, dtype=np.float64) + 0.5) / height  # 1 at the top
        stops = np.array([rgb(c) for c in RDYLBU_STOPS], dtype=np.float64)
        where = np.linspace(0.0, 1.0, len(stops))
        rows = np.stack([np.interp(at, where, stops[:, k]) for k in range(3)], axis=-1)
        width = max(1, round(right - left))
        pixels = np.repeat(np.rint(rows).astype(np.uint8)[:, None, :], width, axis=1)
        self.image.paste(Image.fromarray(pixels, "RGB"), (round(left), round(top)))
        self.rect(box, outline="#333333", width=1.0)

    # text ------------------------------------------------------------------------------

    def measure(self, text: str, size: float, *, spacing: float = 1.2) -> tuple[float, float]:
        """Width and height of (possibly several lines of) text, in picture pixels."""
        face = font(size)
        lines = drawable(text).split("\n")
        ascent, descent = face.getmetrics()
        width = max(face.getlength(line) for line in lines)
        height = ascent + descent + (len(lines) - 1) * (ascent + descent) * spacing
        return width, height

    def text(
        self,
        at: Point,
        text: str,
        size: float,
        *,
        colour: str | Colour = BLACK,
        anchor: str = "lt",
        bold: bool = False,
        angle: float = 0.0,
        spacing: float = 1.2,
        background: str | Colour | None = None,
    ) -> Box:
        """Write ``text`` (lines split at newlines); return its box (when not rotated).

        ``anchor``: which point of the text's box is ``at``: ``l``/``m``/``r`` across and
        ``t``/``m``/``b`` down (lines are aligned the same way across). ``angle`` turns the
        text about that point, counter-clockwise in degrees. ``background`` fills the
        text's box (with a little margin) first.

        Text goes on top of every shape: it is drawn at the final size (FreeType smooths it
        itself) once the shapes are scaled down, which takes a quarter of the work.
        """
        face = font(size)
        lines = drawable(text).split("\n")
        ascent, descent = face.getmetrics()
        step = (ascent + descent) * spacing
        widths = [face.getlength(line) for line in lines]
        block_w = max(widths)
        block_h = ascent + descent + (len(lines) - 1) * step
        across, down = anchor[0], anchor[1]
        ax = {"l": 0.0, "m": block_w / 2, "r": block_w}[across]
        ay = {"t": 0.0, "m": block_h / 2, "b": block_h}[down]
        # Bold: the text again a little to the right (keeps small digits open).
        shifts = (0.0, max(0.5, size / 36)) if bold else (0.0,)
        written = _Lines(
            (at[0] - ax, at[1] - ay), tuple(lines), tuple(widths), step, across, face,
            rgb(colour), shifts, None if background is None else rgb(background),
        )  # fmt: skip
        if angle == 0:
            self._text.append(written)
            return written.box
        pad = 4
        layer = Image.new("L", (math.ceil(block_w) + 2 * pad, math.ceil(block_h) + 2 * pad), 0)
        replace(written, origin=(pad, pad), fill=255).write(ImageDraw.Draw(layer))
        self._text.append(_Rotated(layer, (pad + ax, pad + ay), at, angle, rgb(colour)))
        return (at[0], at[1], at[0], at[1])

    # output ----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Scale down to the final size (each pixel the mean of the ``scale`` x ``scale``
        pixels drawn for it), write the text on it and save it as a PNG."""
        target = Path(path)
        final = self.image.reduce(self.scale) if self.scale > 1 else self.image
        draw = ImageDraw.Draw(final)
        for item in self._text:
            item.draw(final, draw)
        pixels = np.asarray(final, dtype=np.uint8)  # RGB, as drawn
        height, width, _ = pixels.shape
        scanlines = np.zeros((height, 1 + width * 3), dtype=np.uint8)  # filter byte 0: none
        scanlines[:, 1:] = pixels.reshape(height, width * 3)
        target.write_bytes(png_file(width, height, scanlines.tobytes(), alpha=False, level=3))
        return target


@dataclass(frozen=True)
class _Lines:
    """Lines of text to write on the final picture (see :meth:`Canvas.text`)."""

    origin: Point
    lines: tuple[str, ...]
    widths: tuple[float, ...]
    step: float
    across: str
    face: ImageFont.FreeTypeFont
    fill: Colour | int
    shifts: tuple[float, ...]
    background: Colour | None

    @property
    def box(self) -> Box:
        (x, y), width = self.origin, max(self.widths)
        ascent, descent = self.face.getmetrics()
        return (x, y, x + width, y + ascent + descent + (len(self.lines) - 1) * self.step)

    def draw(self, image: Image.Image, draw: ImageDraw.ImageDraw) -> None:
        if self.background is not None:
            left, top, right, bottom = self.box
            draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=self.background)
        self.write(draw)

    def write(self, draw: ImageDraw.ImageDraw) -> None:
        block = max(self.widths)
        for k, (line, width) in enumerate(zip(self.lines, self.widths, strict=True)):
            offset = {"l": 0.0, "m": (block - width) / 2, "r": block - width}[self.across]
            for shift in self.shifts:
                xy = (self.origin[0] + offset + shift, self.origin[1] + k * self.step)
                draw.text(xy, line, font=self.face, fill=self.fill, anchor="la")


@dataclass(frozen=True)
class _Rotated:
    """A text mask to turn about ``pivot`` (in the mask) and paste in ``colour`` so that the
    pivot lands on ``at``."""

    layer: Image.Image
    pivot: Point
    at: Point
    angle: float
    colour: Colour

    def draw(self, image: Image.Image, draw: ImageDraw.ImageDraw) -> None:
        turned = self.layer.rotate(self.angle, resample=Image.Resampling.BICUBIC, expand=True)
        theta = math.radians(self.angle)
        dx = self.pivot[0] - self.layer.width / 2
        dy = self.pivot[1] - self.layer.height / 2
        # counter-clockwise on screen (y grows downwards)
        rx = dx * math.cos(theta) + dy * math.sin(theta)
        ry = -dx * math.sin(theta) + dy * math.cos(theta)
        px, py = turned.width / 2 + rx, turned.height / 2 + ry
        image.paste(self.colour, (round(self.at[0] - px), round(self.at[1] - py)), mask=turned)


def _steps(start: float, stop: float, spacing: float) -> Iterable[float]:
    """Multiples of ``spacing`` from ``start`` to ``stop`` (a pattern fixed to the canvas)."""
    k = math.ceil(start / spacing)
    while k * spacing <= stop:
        yield k * spacing
        k += 1


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2, 2.5 or 5 times a power of ten)
    covering ``low`` to ``high``."""
    span = high - low
    if span <= 0:
        return [low]
    rough = span / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(rough))
    step = next((m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough), 10 * power)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(k * step, 10) for k in range(first, last + 1)]
