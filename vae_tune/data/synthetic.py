"""The embedded default dataset: catalogue-style product photos drawn from code.

The default study must run without a download or an account, so it trains on
pictures made here: t-shirts, trousers, dresses, shoes, handbags, caps,
watches, backpacks, sunglasses and socks on a pure white background, like the
Kaggle *Fashion Product Images* photos. Each product is a silhouette of
polygons filled with a garment colour and a pattern (plain, stripes, checks,
dots), lit with a soft gradient, outlined, and finished with category details
(neckline, waistband, sole and heel, clasp, dial, lenses ...), so that a
person can tell what it is and a VAE has real edges and textures to
reconstruct.

Image ``i`` depends only on ``(seed, i)``: asking for more images keeps the
first ones identical, bit for bit, and any image can be regenerated alone.

Drawing happens at twice the target size and is box-filtered down
(``Image.reduce``), which anti-aliases edges for the price of one cheap pass.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vae_tune.imaging import image_grid

__all__ = ["CATEGORIES", "contact_sheet", "generate_catalogue"]

Point = tuple[float, float]
Colour = tuple[int, int, int]

CATEGORIES: tuple[str, ...] = (
    "tshirt",
    "trousers",
    "dress",
    "shoe",
    "handbag",
    "cap",
    "watch",
    "backpack",
    "sunglasses",
    "socks",
)

WHITE: Colour = (255, 255, 255)

# Drawing at 2x and averaging 2x2 blocks anti-aliases every edge; measured to
# cost far less than per-primitive anti-aliasing would.
_SUPERSAMPLE = 2

# Colours as garments come in catalogue photos, not saturated primaries.
_COLOURS: dict[str, Colour] = {
    "navy": (34, 45, 78),
    "black": (32, 32, 36),
    "charcoal": (66, 68, 74),
    "grey": (148, 150, 152),
    "white": (234, 234, 230),
    "cream": (236, 228, 208),
    "beige": (206, 186, 152),
    "khaki": (170, 152, 108),
    "olive": (104, 110, 62),
    "forest": (44, 86, 60),
    "teal": (32, 112, 118),
    "denim": (72, 98, 138),
    "royal": (52, 84, 168),
    "sky": (132, 172, 210),
    "red": (178, 36, 40),
    "burgundy": (112, 30, 48),
    "pink": (232, 162, 178),
    "lavender": (170, 150, 196),
    "mustard": (212, 162, 52),
    "orange": (222, 112, 44),
    "brown": (104, 66, 40),
    "tan": (176, 124, 76),
}

_ALL = tuple(_COLOURS)

# Metals and dials for watches and hardware (clasps, buckles, zip pulls).
_METALS: tuple[Colour, ...] = ((196, 198, 204), (206, 168, 84), (190, 140, 120), (44, 44, 48))
_DIALS: tuple[Colour, ...] = ((246, 244, 238), (30, 30, 34), (34, 48, 92), (236, 226, 200), (40, 82, 62))
_LENSES: tuple[Colour, ...] = ((38, 40, 46), (70, 52, 36), (40, 62, 50), (44, 66, 104))

_PATTERNS = ("plain", "stripes", "checks", "dots")


def _shade(colour: Sequence[float], factor: float) -> Colour:
    """Darker below 1 (towards black), lighter above 1 (towards white)."""
    if factor <= 1.0:
        return tuple(int(c * factor) for c in colour)  # type: ignore[return-value]
    return tuple(int(c + (255 - c) * (factor - 1.0)) for c in colour)  # type: ignore[return-value]


def _luminance(colour: Sequence[float]) -> float:
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


# ---------------------------------------------------------------------------
# Geometry helpers in the product's own frame: x right, y down, the product
# filling roughly [-1, 1] x [-1, 1].


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 12) -> list[Point]:
    """Points along an ellipse from `start` to `end` degrees (90 is straight down)."""
    step = (end - start) / (n - 1)
    return [
        (cx + rx * math.cos(math.radians(start + k * step)), cy + ry * math.sin(math.radians(start + k * step)))
        for k in range(n)
    ]


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 20) -> list[Point]:
    return _arc(cx, cy, rx, ry, 0.0, 360.0 - 360.0 / n, n)


def _bezier(p0: Point, p1: Point, p2: Point, n: int = 8) -> list[Point]:
    """A quadratic curve from p0 to p2 pulled towards p1: soft garment lines."""
    points = []
    for k in range(n):
        t = k / (n - 1)
        a, b, d = (1 - t) ** 2, 2 * t * (1 - t), t * t
        points.append((a * p0[0] + b * p1[0] + d * p2[0], a * p0[1] + b * p1[1] + d * p2[1]))
    return points


def _mirrored(right_half: list[Point]) -> list[Point]:
    """A left-right symmetric outline from its right half (top centre to bottom centre)."""
    return right_half + [(-x, y) for x, y in reversed(right_half)]


def _rounded_rect(x0: float, y0: float, x1: float, y1: float, r_top: float, r_bottom: float) -> list[Point]:
    points: list[Point] = []
    points += _arc(x1 - r_top, y0 + r_top, r_top, r_top, 270, 360, 6)
    points += _arc(x1 - r_bottom, y1 - r_bottom, r_bottom, r_bottom, 0, 90, 6)
    points += _arc(x0 + r_bottom, y1 - r_bottom, r_bottom, r_bottom, 90, 180, 6)
    points += _arc(x0 + r_top, y0 + r_top, r_top, r_top, 180, 270, 6)
    return points


def _band(path: list[Point], half_width: float) -> list[Point]:
    """A strip of constant width around a polyline (a strap, a handle, a seam tape)."""
    left: list[Point] = []
    right: list[Point] = []
    for k, (x, y) in enumerate(path):
        ax, ay = path[max(k - 1, 0)]
        bx, by = path[min(k + 1, len(path) - 1)]
        dx, dy = bx - ax, by - ay
        norm = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / norm * half_width, dx / norm * half_width
        left.append((x + nx, y + ny))
        right.append((x - nx, y - ny))
    return left + right[::-1]


def _moved(points: list[Point], dx: float, dy: float) -> list[Point]:
    return [(x + dx, y + dy) for x, y in points]


# ---------------------------------------------------------------------------
# Style: what varies between two images of the same category.


@dataclass(frozen=True)
class _Style:
    colour: Colour
    colour_name: str
    pattern: str
    second: Colour  # stripe / check / dot colour
    period: float  # pattern repeat in frame units
    duty: float  # share of a period taken by the second colour (stripes, dots)
    angle: float  # stripe direction in radians; 0 gives horizontal stripes
    folds: float  # amplitude of vertical fold shading (draped garments)
    fold_phase: float
    outline: Colour


@dataclass(frozen=True)
class _Pose:
    """Where the product frame lands on the (supersampled) canvas."""

    cx: float
    cy: float
    scale: float  # canvas pixels per frame unit
    cos: float
    sin: float
    flip: float  # -1 mirrors left-right (shoes, caps and socks face either way)
    aspect: float  # horizontal stretch, for slimmer / wider cuts


class _Canvas:
    """A supersampled RGB canvas that draws in the product frame.

    `part` pastes the product's patterned, shaded texture through a polygon
    mask, so patterns stay inside the silhouette; `polygon` and `line` add
    flat-coloured details on top. Calls draw immediately, in order, so later
    parts cover earlier ones (a bag's body covers the ends of its handle).
    """

    def __init__(self, size: int, pose: _Pose, style: _Style, texture: Callable[[float], Image.Image]):
        self.size = size
        self.pose = pose
        self.style = style
        self._texture = texture
        self._textures: dict[float, Image.Image] = {}
        big = size * _SUPERSAMPLE
        self.image = Image.new("RGB", (big, big), WHITE)
        self._draw = ImageDraw.Draw(self.image)

    def px(self, points: Sequence[Point]) -> list[Point]:
        p = self.pose
        fx = p.flip * p.aspect * p.scale
        s = p.scale
        return [(p.cx + p.cos * fx * x - p.sin * s * y, p.cy + p.sin * fx * x + p.cos * s * y) for x, y in points]

    def width(self, frame_width: float) -> int:
        return max(1, round(frame_width * self.pose.scale))

    def part(self, polygons: Sequence[list[Point]], shade: float = 1.0, outline: bool = True) -> None:
        big = self.size * _SUPERSAMPLE
        # A bilevel mask: anti-aliasing comes from the final reduce, and a
        # "1" mask pastes several times faster than an "L" one.
        mask = Image.new("1", (big, big), 0)
        mask_draw = ImageDraw.Draw(mask)
        pixel_polygons = [self.px(polygon) for polygon in polygons]
        for polygon in pixel_polygons:
            mask_draw.polygon(polygon, fill=1)
        if shade not in self._textures:
            texture = self._texture(shade)
            if _SUPERSAMPLE > 1:
                texture = texture.resize((big, big), Image.Resampling.NEAREST)
            self._textures[shade] = texture
        box = mask.getbbox()
        if box is not None:
            self.image.paste(self._textures[shade].crop(box), box, mask.crop(box))
        if outline:
            colour = _shade(self.style.outline, shade)
            for polygon in pixel_polygons:
                self._draw.polygon(polygon, outline=colour, width=self.width(0.018))

    def polygon(self, points: list[Point], colour: Colour, outline: Colour | None = None) -> None:
        width = self.width(0.015) if outline is not None else 1
        self._draw.polygon(self.px(points), fill=colour, outline=outline, width=width)

    def line(self, points: list[Point], colour: Colour, width: float = 0.02) -> None:
        self._draw.line(self.px(points), fill=colour, width=self.width(width), joint="curve")

    def result(self) -> np.ndarray:
        image = self.image.reduce(_SUPERSAMPLE) if _SUPERSAMPLE > 1 else self.image
        return np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(self.size, self.size, 3)


# ---------------------------------------------------------------------------
# The shared pattern: colour, pattern and lighting on the 1x pixel grid,
# expressed in frame coordinates so stripes turn and scale with the product.


def _texture(u: np.ndarray, v: np.ndarray, style: _Style, shade: float) -> Image.Image:
    """The product's cloth: base colour, pattern in the second colour, lighting.

    Computed one channel at a time on [H, W] planes, which numpy does several
    times faster than on interleaved [H, W, 3] arrays.
    """
    if style.pattern == "stripes":
        t = (u * math.sin(style.angle) + v * math.cos(style.angle)) / style.period
        amount = ((t - np.floor(t)) < style.duty).astype(np.float32)
    elif style.pattern == "checks":
        # Gingham: where a horizontal and a vertical band cross the colour is
        # full strength, where one band lies it is half: the woven look.
        a = (u / style.period) % 1.0 < 0.5
        b = (v / style.period) % 1.0 < 0.5
        amount = 0.5 * (a.astype(np.float32) + b.astype(np.float32))
    elif style.pattern == "dots":
        row = np.floor(v / style.period)
        du = (u / style.period + 0.5 * (row % 2.0)) % 1.0 - 0.5
        dv = (v / style.period) % 1.0 - 0.5
        amount = (du * du + dv * dv < style.duty * 0.25).astype(np.float32)
    else:
        amount = None
    # Studio light from the upper left, plus soft vertical folds on draped cloth.
    light = (1.0 - 0.07 * u - 0.10 * v) * shade
    if style.folds:
        light += (style.folds * shade) * np.cos(u * 7.0 + style.fold_phase)
    channels = []
    for base, second in zip(style.colour, style.second):
        plane = light * float(base) if amount is None else light * (base + (second - base) * amount)
        # Capped below pure white so a white shirt never melts into the backdrop.
        channels.append(Image.fromarray(np.minimum(plane, 250.0).astype(np.uint8)))
    return Image.merge("RGB", channels)


# ---------------------------------------------------------------------------
# One drawing function per category. Each draws in the frame [-1, 1]^2 with y
# down; `rng` varies cut and details, `style` carries colour and pattern.


def _draw_tshirt(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    neck_w = rng.uniform(0.17, 0.23)
    neck_depth = rng.uniform(0.14, 0.24)
    top = -0.88
    body_w = rng.uniform(0.46, 0.54)
    right: list[Point] = [(0.0, top - 0.04)] + _arc(0.0, top, neck_w, 0.04, 270, 360, 5)
    right.append((0.46, -0.8))
    long_sleeves = rng.random() < 0.25
    if long_sleeves:
        cuff = [(0.88, 0.5), (0.7, 0.55)]
        right += [(0.62, -0.7), *cuff, (body_w, -0.36)]
    else:
        cuff = [(0.94, -0.38), (0.76, -0.18)]
        right += [*cuff, (body_w + 0.01, -0.38)]
    right += [(body_w + 0.02, 0.92), (0.0, 0.94)]
    c.part([_mirrored(right)])

    darker = _shade(style.colour, 0.8)
    # Through the neck opening one sees the inside of the back: darker.
    front = _arc(0.0, top, neck_w, neck_depth, 0, 180, 12)
    back = _arc(0.0, top, neck_w, 0.03, 180, 360, 6)
    c.polygon(front + back, _shade(style.colour, 0.55))
    rib = style.second if rng.random() < 0.3 else darker
    c.line(front, rib, 0.045)
    # Hem and sleeve stitching, a little inside the edges.
    c.line([(-body_w, 0.86), (body_w, 0.86)], darker, 0.014)
    for sx in (1.0, -1.0):
        (ax, ay), (bx, by) = cuff
        inward = (-0.05, -0.04) if not long_sleeves else (0.0, -0.07)
        c.line([(sx * (ax + inward[0]), ay + inward[1]), (sx * (bx + inward[0]), by + inward[1])], darker, 0.014)
    if style.pattern == "plain" and rng.random() < 0.45:
        # A chest print: a block, a disc or a band, as on graphic tees.
        ink = style.second
        kind = rng.integers(3)
        if kind == 0:
            w, h = rng.uniform(0.15, 0.26), rng.uniform(0.1, 0.22)
            c.polygon([(-w, -0.35 - h), (w, -0.35 - h), (w, -0.35 + h), (-w, -0.35 + h)], ink)
        elif kind == 1:
            c.polygon(_ellipse(0.0, -0.3, 0.2, 0.2), ink)
        else:
            c.polygon([(-body_w, -0.2), (body_w, -0.2), (body_w, -0.05), (-body_w, -0.05)], ink)


def _draw_trousers(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    waist = rng.uniform(0.44, 0.52)
    hem_out = waist + rng.uniform(-0.1, 0.1)
    hem_in = hem_out - rng.uniform(0.38, 0.48)
    crotch = rng.uniform(-0.32, -0.2)
    right = [(0.0, -0.94), (waist, -0.94), (waist + 0.05, -0.5), (hem_out, 0.95), (hem_in, 0.96), (0.03, crotch), (0.0, crotch)]
    c.part([_mirrored(right)])

    denim = style.colour_name == "denim"
    stitch = (206, 150, 60) if denim else _shade(style.colour, 0.65)
    c.polygon([(-waist, -0.94), (waist, -0.94), (waist + 0.01, -0.81), (-waist - 0.01, -0.81)], _shade(style.colour, 0.88), style.outline)
    for x in (-0.82 * waist, -0.3, 0.3, 0.82 * waist):
        c.polygon([(x - 0.03, -0.96), (x + 0.03, -0.96), (x + 0.03, -0.78), (x - 0.03, -0.78)], _shade(style.colour, 0.75))
    metal = _METALS[1] if denim else _shade(style.colour, 0.5)
    c.polygon(_ellipse(0.0, -0.875, 0.04, 0.04, 10), metal)
    c.line([(0.0, -0.8), (0.0, -0.45)], _shade(style.colour, 0.6), 0.018)
    c.line([(0.09, -0.8), (0.09, -0.5), (0.0, -0.4)], stitch, 0.014)
    for sx in (1.0, -1.0):
        c.line([(sx * 0.24, -0.81), (sx * 0.34, -0.68), (sx * (waist + 0.03), -0.6)], stitch, 0.016)
        crease_top = (sx * (waist + hem_in) * 0.5, -0.7)
        c.line([crease_top, (sx * (hem_out + hem_in) * 0.5, 0.93)], _shade(style.colour, 0.85), 0.012)


def _draw_dress(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    waist_y = rng.uniform(-0.3, -0.15)
    waist_w = rng.uniform(0.22, 0.28)
    hem_w = rng.uniform(0.55, 0.82)
    hem_y = rng.uniform(0.82, 0.94)
    v_neck = rng.random() < 0.4
    neck_w = rng.uniform(0.14, 0.19)
    neck_bottom = -0.55 if v_neck else -0.7
    if v_neck:
        front = [(-neck_w, -0.9), (0.0, neck_bottom), (neck_w, -0.9)]
    else:
        front = _arc(0.0, -0.9, neck_w, 0.2, 180, 0, 10)
    right: list[Point] = [(0.0, -0.93), (neck_w, -0.9), (0.3, -0.92)]
    if rng.random() < 0.45:  # cap sleeves
        right += [(0.47, -0.82), (0.45, -0.64), (0.34, -0.64)]
    else:
        right += [(0.3, -0.76), (0.34, -0.62)]
    right += [(0.34, -0.5), (waist_w, waist_y), (hem_w * 0.7, (waist_y + hem_y) * 0.5), (hem_w, hem_y)]
    right += _arc(0.0, hem_y, hem_w, 0.05, 0, 90, 8)[1:]
    c.part([_mirrored(right)])

    back = [(neck_w, -0.9), (0.0, -0.93), (-neck_w, -0.9)]
    c.polygon(front[::-1] + back, _shade(style.colour, 0.55))
    c.line(front, _shade(style.colour, 0.7), 0.018)
    belt = rng.random() < 0.4
    belt_colour = _COLOURS["black"] if belt and style.pattern != "plain" else _shade(style.colour, 0.78)
    c.polygon(
        [(-waist_w, waist_y - 0.04), (waist_w, waist_y - 0.04), (waist_w + 0.01, waist_y + 0.05), (-waist_w - 0.01, waist_y + 0.05)],
        belt_colour,
        style.outline if belt else None,
    )
    fold = _shade(style.colour, 0.8)
    for k in (-2, -1, 1, 2):
        c.line([(k * 0.07, waist_y + 0.1), (k * hem_w * 0.33, hem_y - 0.02)], fold, 0.014)


def _draw_shoe(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    formal = style.pattern == "plain" and style.colour_name in ("black", "brown", "tan", "burgundy") and rng.random() < 0.6
    base = style.colour
    if formal:
        # A derby: low, a long convex vamp down to a rounded toe, thin sole,
        # separate heel block.
        upper = _bezier((-0.97, 0.14), (-0.98, -0.02), (-0.7, -0.06), 6)
        upper += _bezier((-0.7, -0.06), (-0.2, -0.14), (0.18, -0.3), 8)[1:]
        upper += [(0.3, -0.3), (0.5, -0.24), (0.7, -0.27), (0.86, -0.32)]
        upper += _bezier((0.86, -0.32), (0.96, -0.2), (0.93, 0.16), 5)[1:]
        c.part([upper])
        sole = _shade(base, 0.4) if rng.random() < 0.7 else (60, 40, 28)
        outsole = _bezier((-0.99, 0.12), (-1.0, 0.23), (-0.8, 0.23), 5) + [(0.94, 0.22), (0.94, 0.14)]
        c.polygon(outsole, sole, _shade(sole, 0.6))
        c.polygon([(0.5, 0.2), (0.94, 0.2), (0.93, 0.38), (0.55, 0.38)], _shade(sole, 0.85), _shade(sole, 0.5))
        c.polygon([(0.3, -0.3), (0.5, -0.24), (0.7, -0.27), (0.5, -0.28)], _shade(base, 0.3))
        # Quarter seam, toe cap seam and a polished highlight: "leather shoe".
        c.line(_bezier((0.16, -0.28), (0.2, 0.0), (0.08, 0.15), 6), _shade(base, 0.6), 0.016)
        c.line(_arc(-0.97, 0.14, 0.36, 0.26, -45, 0, 8), _shade(base, 0.6), 0.016)
        c.polygon(_ellipse(-0.7, 0.0, 0.13, 0.03, 12), _shade(base, 1.45))
        for k in range(3):
            x = -0.08 + 0.1 * k
            c.line([(x, -0.18 - 0.04 * k), (x + 0.1, -0.23 - 0.04 * k)], _shade(base, 0.4), 0.02)
        return
    tongue = [(0.06, -0.34), (0.12, -0.6), (0.32, -0.6), (0.36, -0.4)]
    c.polygon(tongue, _shade(base, 0.85), style.outline)
    upper = [(-0.95, 0.12)] + _bezier((-0.95, 0.12), (-0.96, -0.1), (-0.6, -0.15), 6)[1:]
    upper += [(-0.3, -0.22), (0.1, -0.38), (0.28, -0.44), (0.48, -0.36), (0.72, -0.44), (0.84, -0.4)]
    upper += _bezier((0.84, -0.4), (0.96, -0.3), (0.94, 0.1), 5)[1:]
    c.part([upper])
    sole = (240, 240, 236) if rng.random() < 0.65 else (_COLOURS["black"] if _luminance(base) > 120 else (172, 120, 70))
    # Thicker under the heel than under the toe, and curling up at the toe.
    outsole = [(-0.9, 0.06), (0.95, 0.04), (0.96, 0.24)] + _bezier((0.96, 0.24), (0.95, 0.32), (0.7, 0.32), 4)[1:]
    outsole += [(-0.7, 0.28)] + _bezier((-0.7, 0.28), (-1.02, 0.27), (-0.98, 0.1), 6)[1:]
    c.polygon(outsole, sole, _shade(sole, 0.6))
    c.line([(-0.9, 0.22), (0.93, 0.24)], _shade(sole, 0.78), 0.016)
    c.polygon([(0.28, -0.44), (0.48, -0.36), (0.72, -0.44), (0.5, -0.4)], _shade(base, 0.3))
    accent = style.second if style.pattern == "plain" else (240, 240, 236)
    if rng.random() < 0.65:
        # A side stripe sweeping up to the heel, the mark of a trainer.
        swoosh = _bezier((-0.38, -0.04), (0.1, 0.14), (0.82, -0.3), 10)
        swoosh += _bezier((0.82, -0.3), (0.15, 0.0), (-0.38, -0.04), 10)[1:]
        c.polygon(swoosh, accent, _shade(accent, 0.7))
    c.polygon([(0.74, -0.43), (0.85, -0.39), (0.9, -0.22), (0.8, -0.26)], _shade(accent, 0.85))
    c.line(_arc(-0.95, 0.1, 0.36, 0.26, -50, 0, 8), _shade(base, 0.7), 0.016)
    lace = (240, 240, 236) if _luminance(base) < 150 else _shade(base, 0.5)
    for k in range(4):
        x, y = -0.2 + 0.09 * k, -0.25 - 0.045 * k
        c.line([(x - 0.05, y - 0.05), (x + 0.07, y + 0.04)], lace, 0.028)


def _draw_handbag(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    top_w = rng.uniform(0.5, 0.62)
    bottom_w = rng.uniform(0.72, 0.86)
    top_y = rng.uniform(-0.28, -0.12)
    handle_h = rng.uniform(0.5, 0.68)
    hardware = _METALS[int(rng.integers(3))]
    handle_colour = _shade(style.colour, 0.75) if style.pattern == "plain" else _COLOURS["brown"]
    tote = rng.random() < 0.4
    if tote:
        # The back handle shows behind the front one, darker.
        back = _arc(0.0, top_y, top_w * 0.5, handle_h, 200, 340, 12)
        c.polygon(_band(back, 0.035), _shade(handle_colour, 0.7), _shade(handle_colour, 0.5))
    handle = _arc(0.0, top_y, top_w * 0.62, handle_h, 195, 345, 14)
    c.polygon(_band(handle, 0.045), handle_colour, _shade(handle_colour, 0.6))
    body = [(-top_w, top_y), (top_w, top_y)]
    body += _arc(bottom_w - 0.15, 0.78, 0.15, 0.15, 0, 90, 6)
    body += _arc(-bottom_w + 0.15, 0.78, 0.15, 0.15, 90, 180, 6)
    c.part([body])
    for sx in (1.0, -1.0):
        c.polygon(_ellipse(sx * top_w * 0.62 * math.cos(math.radians(15)), top_y + 0.02, 0.05, 0.05, 10), hardware, _shade(hardware, 0.6))
    if tote:
        c.line([(-top_w + 0.05, top_y + 0.07), (top_w - 0.05, top_y + 0.07)], _shade(style.colour, 0.6), 0.02)
        return
    flap_y = rng.uniform(0.15, 0.35)
    flap = [(-top_w - 0.02, top_y - 0.01), (top_w + 0.02, top_y - 0.01), (top_w + 0.07, flap_y)]
    flap += _arc(0.0, flap_y, top_w + 0.07, 0.12, 0, 180, 10)[1:]
    c.polygon(flap, _shade(style.colour, 0.9), style.outline)
    c.line(_arc(0.0, flap_y - 0.04, top_w - 0.01, 0.1, 10, 170, 10), _shade(style.colour, 0.7), 0.012)
    c.polygon([(-0.09, flap_y + 0.04), (0.09, flap_y + 0.04), (0.09, flap_y + 0.16), (-0.09, flap_y + 0.16)], hardware, _shade(hardware, 0.55))


def _draw_cap(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    # Side view, peak forward: the long curved peak is what makes it a cap.
    height = rng.uniform(0.58, 0.7)
    peak = rng.uniform(0.9, 1.02)
    dx, dy = -0.08, 0.1
    base_y = 0.2
    top = (-0.22, base_y - height)
    crown = _bezier((-0.86, base_y), (-0.92, top[1] + 0.05), top, 10)
    crown += _bezier(top, (0.38, top[1] + 0.02), (0.42, base_y), 10)[1:]
    brim_colour = _shade(style.colour, 0.85) if rng.random() < 0.7 else style.second
    brim = _bezier((0.22, base_y - 0.03), (0.7, base_y - 0.1), (peak, base_y + 0.12), 8)
    brim += _bezier((peak, base_y + 0.12), (peak + 0.02, base_y + 0.2), (peak - 0.08, base_y + 0.22), 4)[1:]
    brim += _bezier((peak - 0.08, base_y + 0.22), (0.66, base_y + 0.08), (0.24, base_y + 0.1), 8)[1:]
    c.part([_moved(crown, dx, dy)])
    c.polygon(_moved(brim, dx, dy), brim_colour, _shade(brim_colour, 0.55))
    # The peak's underside shows as a darker strip along its lower edge.
    under = _bezier((peak - 0.1, base_y + 0.2), (0.66, base_y + 0.07), (0.3, base_y + 0.08), 6)
    c.line(_moved(under, dx, dy), _shade(brim_colour, 0.6), 0.03)
    seam = _shade(style.colour, 0.62)
    c.line(_moved(_bezier(top, (0.12, top[1] + 0.12), (0.05, base_y), 8), dx, dy), seam, 0.014)
    c.line(_moved(_bezier(top, (-0.55, top[1] + 0.1), (-0.5, base_y), 8), dx, dy), seam, 0.014)
    c.line(_moved([(-0.84, base_y - 0.04), (0.3, base_y - 0.04)], dx, dy), seam, 0.02)
    c.polygon(_moved(_ellipse(top[0], top[1] + 0.01, 0.08, 0.035, 10), dx, dy), _shade(style.colour, 0.55))
    for x, y in ((-0.02, base_y - 0.72 * height), (-0.5, base_y - 0.62 * height)):
        c.polygon(_moved(_ellipse(x, y, 0.022, 0.022, 8), dx, dy), _shade(style.colour, 0.4))
    if rng.random() < 0.5:  # a front logo patch
        c.polygon(_moved(_ellipse(0.17, base_y - 0.42 * height, 0.11, 0.09, 14), dx, dy), style.second)


def _draw_watch(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    strap_w = rng.uniform(0.18, 0.24)
    c.part([[(-strap_w, -0.96), (strap_w, -0.96), (strap_w + 0.04, 0.0), (strap_w, 0.96), (-strap_w, 0.96), (-strap_w - 0.04, 0.0)]])
    metal = _METALS[int(rng.integers(len(_METALS)))]
    radius = rng.uniform(0.36, 0.46)
    # Lugs, crown, case, then the dial inside it.
    for sy in (1.0, -1.0):
        c.polygon([(-strap_w - 0.02, sy * radius * 0.7), (strap_w + 0.02, sy * radius * 0.7), (strap_w, sy * (radius + 0.1)), (-strap_w, sy * (radius + 0.1))], metal, _shade(metal, 0.55))
    c.polygon([(radius - 0.02, -0.06), (radius + 0.08, -0.06), (radius + 0.08, 0.06), (radius - 0.02, 0.06)], metal, _shade(metal, 0.55))
    c.polygon(_ellipse(0.0, 0.0, radius, radius, 28), metal, _shade(metal, 0.5))
    dial = _DIALS[int(rng.integers(len(_DIALS)))]
    inner = radius * 0.82
    c.polygon(_ellipse(0.0, 0.0, inner, inner, 28), dial, _shade(metal, 0.7))
    ink = (30, 30, 34) if _luminance(dial) > 128 else (236, 236, 232)
    for k in range(12):
        a = math.radians(30 * k)
        r0 = inner * (0.72 if k % 3 == 0 else 0.82)
        c.line([(r0 * math.cos(a), r0 * math.sin(a)), (inner * 0.92 * math.cos(a), inner * 0.92 * math.sin(a))], ink, 0.02 if k % 3 == 0 else 0.012)
    hour, minute = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)
    c.line([(0.0, 0.0), (0.5 * inner * math.sin(hour), -0.5 * inner * math.cos(hour))], ink, 0.035)
    c.line([(0.0, 0.0), (0.8 * inner * math.sin(minute), -0.8 * inner * math.cos(minute))], ink, 0.022)
    if style.colour_name in ("brown", "tan", "black"):
        # Leather strap: holes below, a buckle at the top end.
        for k in range(4):
            c.polygon(_ellipse(0.0, radius + 0.2 + 0.1 * k, 0.025, 0.025, 8), _shade(style.colour, 0.4))
        c.line([(-strap_w - 0.02, -0.85), (strap_w + 0.02, -0.85), (strap_w + 0.02, -0.7), (-strap_w - 0.02, -0.7), (-strap_w - 0.02, -0.85)], metal, 0.03)
    else:
        for y in (-0.9, -0.8, -0.7, -0.6, 0.6, 0.7, 0.8, 0.9):
            c.line([(-strap_w, y), (strap_w, y)], _shade(style.colour, 0.75), 0.012)


def _draw_backpack(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    width = rng.uniform(0.55, 0.66)
    strap_colour = _shade(style.colour, 0.6) if style.pattern == "plain" else _COLOURS["black"]
    for sx in (1.0, -1.0):
        strap = [(sx * width * 0.6, -0.6), (sx * (width + 0.08), 0.0), (sx * (width + 0.12), 0.7)]
        c.polygon(_band(strap, 0.06), strap_colour, _shade(strap_colour, 0.6))
    loop = _arc(0.0, -0.7, 0.16, 0.2, 190, 350, 10)
    c.polygon(_band(loop, 0.035), strap_colour, _shade(strap_colour, 0.6))
    c.part([_rounded_rect(-width, -0.74, width, 0.92, width * 0.75, 0.14)])
    zip_colour = _shade(style.colour, 0.45)
    c.line(_arc(0.0, -0.74 + width * 0.75, width - 0.08, width * 0.75 - 0.08, 190, 350, 14), zip_colour, 0.02)
    pocket_top = rng.uniform(0.05, 0.3)
    pocket_colour = _shade(style.colour, 0.88) if rng.random() < 0.6 else style.second
    c.polygon(_rounded_rect(-width * 0.75, pocket_top, width * 0.75, 0.84, 0.16, 0.1), pocket_colour, style.outline)
    c.line([(-width * 0.6, pocket_top + 0.08), (width * 0.6, pocket_top + 0.08)], _shade(pocket_colour, 0.5), 0.02)
    metal = _METALS[int(rng.integers(len(_METALS)))]
    for x, y in ((width * 0.3, pocket_top + 0.08), (-width * 0.55, -0.32)):
        c.polygon([(x - 0.03, y), (x + 0.03, y), (x + 0.03, y + 0.13), (x - 0.03, y + 0.13)], metal, _shade(metal, 0.5))


def _draw_sunglasses(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    rx, ry = rng.uniform(0.32, 0.38), rng.uniform(0.23, 0.3)
    flat_top = rng.random() < 0.6  # wayfarer-like; otherwise round
    gap = rng.uniform(0.08, 0.14)

    def lens_shape(cx: float, scale: float) -> list[Point]:
        points = _ellipse(cx, 0.0, rx * scale, ry * scale, 24)
        if flat_top:
            points = [(x, max(y, -0.78 * ry * scale)) for x, y in points]
        return points

    centres = (-(rx + gap * 0.5 + 0.04), rx + gap * 0.5 + 0.04)
    bridge = [(-gap * 0.5 - 0.05, -0.16), (0.0, -0.22), (gap * 0.5 + 0.05, -0.16), (gap * 0.5 + 0.05, -0.08), (0.0, -0.14), (-gap * 0.5 - 0.05, -0.08)]
    temples = [
        [(sx * (abs(centres[0]) + rx * 0.95), -0.2), (sx * 0.95, -0.26), (sx * 0.95, -0.17), (sx * (abs(centres[0]) + rx * 0.95), -0.1)]
        for sx in (-1.0, 1.0)
    ]
    c.part([lens_shape(x, 1.18) for x in centres] + [bridge] + temples)
    lens = _LENSES[int(rng.integers(len(_LENSES)))]
    for x in centres:
        c.polygon(lens_shape(x, 1.0), lens, _shade(lens, 0.5))
        # A soft reflection sells "glass".
        c.polygon(_ellipse(x - rx * 0.35, -ry * 0.35, rx * 0.22, ry * 0.14, 10), _shade(lens, 1.35))


def _draw_socks(c: _Canvas, rng: np.random.Generator, style: _Style) -> None:
    leg_w = rng.uniform(0.36, 0.44)
    foot = rng.uniform(0.62, 0.78)

    def sock(dx: float, dy: float) -> list[Point]:
        x0 = -0.62
        outline = [(x0, -0.95), (x0 + leg_w, -0.95), (x0 + leg_w, 0.25), (x0 + leg_w + foot - 0.2, 0.3)]
        outline += _arc(x0 + leg_w + foot - 0.2, 0.52, 0.22, 0.22, -90, 90, 9)[1:]
        outline += [(x0 + 0.28, 0.74)] + _arc(x0 + 0.28, 0.46, 0.28, 0.28, 90, 180, 7)[1:]
        return _moved(outline, dx, dy)

    # The pair: the back sock peeks out, darker, behind the front one.
    c.part([sock(0.22, -0.03)], shade=0.78)
    c.part([sock(0.0, 0.0)])
    contrast = style.second if rng.random() < 0.6 else _shade(style.colour, 0.75)
    x0 = -0.62
    c.polygon([(x0, -0.95), (x0 + leg_w, -0.95), (x0 + leg_w, -0.75), (x0, -0.75)], _shade(style.colour, 0.9), style.outline)
    for k in range(1, 6):
        x = x0 + leg_w * k / 6
        c.line([(x, -0.93), (x, -0.77)], _shade(style.colour, 0.7), 0.012)
    toe_x = x0 + leg_w + foot - 0.2
    c.polygon(_arc(toe_x, 0.52, 0.22, 0.22, -90, 90, 9) + [(toe_x - 0.05, 0.74), (toe_x - 0.05, 0.3)], contrast, style.outline)
    c.polygon(_arc(x0 + 0.28, 0.46, 0.28, 0.28, 90, 200, 8) + [(x0 + 0.3, 0.38)], contrast, style.outline)


@dataclass(frozen=True)
class _Category:
    draw: Callable[[_Canvas, np.random.Generator, _Style], None]
    colours: tuple[str, ...]
    patterns: tuple[float, float, float, float]  # weights of plain, stripes, checks, dots
    stripe_angles: tuple[float, ...]  # degrees; 0 horizontal, 90 vertical
    folds: float = 0.0


_SPECS: dict[str, _Category] = {
    "tshirt": _Category(_draw_tshirt, _ALL, (0.5, 0.3, 0.08, 0.12), (0.0, 0.0, 90.0)),
    "trousers": _Category(
        _draw_trousers,
        ("denim", "denim", "navy", "black", "charcoal", "grey", "khaki", "beige", "olive", "brown", "cream"),
        (0.8, 0.1, 0.1, 0.0),
        (90.0,),
        folds=0.025,
    ),
    "dress": _Category(_draw_dress, _ALL, (0.45, 0.2, 0.12, 0.23), (0.0, 90.0, 45.0), folds=0.045),
    "shoe": _Category(
        _draw_shoe,
        ("black", "black", "brown", "tan", "burgundy", "white", "white", "navy", "grey", "red", "olive", "beige", "royal", "pink"),
        (0.85, 0.05, 0.1, 0.0),
        (0.0,),
    ),
    "handbag": _Category(
        _draw_handbag,
        ("black", "brown", "tan", "burgundy", "beige", "cream", "red", "pink", "navy", "olive", "mustard", "grey"),
        (0.75, 0.1, 0.1, 0.05),
        (90.0, 0.0),
    ),
    "cap": _Category(_draw_cap, _ALL, (0.8, 0.08, 0.12, 0.0), (0.0,)),
    "watch": _Category(_draw_watch, ("black", "brown", "tan", "navy", "olive", "grey", "charcoal"), (1.0, 0.0, 0.0, 0.0), (0.0,)),
    "backpack": _Category(
        _draw_backpack,
        ("black", "navy", "charcoal", "grey", "olive", "forest", "red", "royal", "mustard", "teal", "khaki", "burgundy"),
        (0.75, 0.1, 0.1, 0.05),
        (0.0, 90.0),
    ),
    "sunglasses": _Category(
        _draw_sunglasses, ("black", "black", "brown", "tan", "burgundy", "navy", "white", "red"), (0.85, 0.0, 0.0, 0.15), (0.0,)
    ),
    "socks": _Category(_draw_socks, _ALL, (0.35, 0.45, 0.08, 0.12), (0.0,)),
}

assert tuple(_SPECS) == CATEGORIES  # one drawing function per category, same order


def _choose_style(rng: np.random.Generator, spec: _Category) -> _Style:
    name = spec.colours[int(rng.integers(len(spec.colours)))]
    colour = _COLOURS[name]
    cumulative = list(itertools.accumulate(spec.patterns))
    pattern = _PATTERNS[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
    # The second colour must stand out from the first or the pattern vanishes.
    contrasting = [n for n in _ALL if abs(_luminance(_COLOURS[n]) - _luminance(colour)) > 70]
    if rng.random() < 0.45 and _luminance(colour) < 170:
        second = _COLOURS["white"]
    else:
        second = _COLOURS[contrasting[int(rng.integers(len(contrasting)))]]
    outline = _shade(colour, 0.55) if _luminance(colour) > 60 else _shade(colour, 0.4)
    return _Style(
        colour=colour,
        colour_name=name,
        pattern=pattern,
        second=second,
        period=float(rng.uniform(0.12, 0.3)),
        duty=float(rng.uniform(0.3, 0.55)),
        angle=math.radians(float(spec.stripe_angles[int(rng.integers(len(spec.stripe_angles)))])),
        folds=spec.folds * float(rng.uniform(0.5, 1.5)),
        fold_phase=float(rng.uniform(0, 2 * math.pi)),
        outline=outline,
    )


def _draw_one(image_size: int, category: int, seed: int, index: int, centres: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng([seed, 1, index])
    spec = _SPECS[CATEGORIES[category]]
    style = _choose_style(rng, spec)
    big = image_size * _SUPERSAMPLE
    angle = math.radians(rng.uniform(-4.0, 4.0))
    pose = _Pose(
        cx=big * (0.5 + rng.uniform(-0.04, 0.04)),
        cy=big * (0.5 + rng.uniform(-0.04, 0.04)),
        scale=big * rng.uniform(0.36, 0.44),
        cos=math.cos(angle),
        sin=math.sin(angle),
        flip=-1.0 if rng.random() < 0.5 else 1.0,
        aspect=rng.uniform(0.92, 1.04),
    )
    # Texture coordinates: 1x pixel centres taken back into the product frame
    # (un-mirrored, so patterns need not care which way the product faces).
    dx = centres - pose.cx
    dy = centres - pose.cy
    u = (pose.cos * dx[None, :] + pose.sin * dy[:, None]) / (pose.scale * pose.aspect)
    v = (-pose.sin * dx[None, :] + pose.cos * dy[:, None]) / pose.scale
    canvas = _Canvas(image_size, pose, style, lambda shade: _texture(u, v, style, shade))
    spec.draw(canvas, rng, style)
    return canvas.result()


def _labels(count: int, seed: int) -> np.ndarray:
    """Each block of len(CATEGORIES) consecutive images holds every category once,
    in an order shuffled per block: balanced for any count, and a prefix of a
    longer catalogue has the same labels."""
    k = len(CATEGORIES)
    blocks = -(-count // k)
    order = [np.random.default_rng([seed, 0, block]).permutation(k) for block in range(blocks)]
    return np.concatenate(order)[:count].astype(np.int64)


def generate_catalogue(count: int, image_size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw `count` product photos on white.

    Returns (images, labels): images uint8 [count, image_size, image_size, 3],
    labels int64 [count] indexing CATEGORIES. Image i depends only on
    (seed, i), so the first k images of a longer catalogue equal
    generate_catalogue(k, image_size, seed).
    """
    count = _integer("count", count)
    image_size = _integer("image_size", image_size)
    seed = _integer("seed", seed)
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if image_size < 16 or image_size % 16:
        raise ValueError(f"image_size must be a positive multiple of 16 (16, 32, 64, 128, ...), got {image_size}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    labels = _labels(count, seed)
    images = np.empty((count, image_size, image_size, 3), dtype=np.uint8)
    centres = (np.arange(image_size, dtype=np.float32) + 0.5) * _SUPERSAMPLE
    for index in range(count):
        images[index] = _draw_one(image_size, int(labels[index]), seed, index, centres)
    return images, labels


def _integer(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def contact_sheet(images: np.ndarray, labels: np.ndarray, columns: int = 8) -> Image.Image:
    """Tile images in rows of `columns`, each with its category name underneath."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"contact_sheet needs images [N, H, W, 3] and N labels, got {images.shape} and {labels.shape}")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    count, height, width, _ = images.shape
    # Small images are enlarged (nearest neighbour) so a name fits under each.
    zoom = max(1, -(-64 // width))
    if zoom > 1:
        images = images.repeat(zoom, axis=1).repeat(zoom, axis=2)
        height, width = height * zoom, width * zoom
    caption = 14
    rows = -(-count // columns)
    cells = np.full((rows * columns, height + caption, width, 3), 255, dtype=np.uint8)
    cells[:count, :height] = images
    padding = 2
    # Grey gutters: white-background tiles would otherwise run into each other.
    sheet = image_grid(cells.reshape(rows, columns, height + caption, width, 3), padding=padding, background=215)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(11)
    for index, label in enumerate(labels):
        row, column = divmod(index, columns)
        x = padding + column * (width + padding) + width / 2
        y = padding + row * (height + caption + padding) + height + caption / 2
        draw.text((x, y), CATEGORIES[int(label)], fill=(60, 60, 60), font=font, anchor="mm")
    return sheet
