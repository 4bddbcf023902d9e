"""Drawing of one shapes scene from a random generator (used by :mod:`neuronscope.data.shapes`).

Coordinates are in pixels, x to the right and y down; pixel (row i, column j) is the point
(x=j, y=i). Shapes are filled without antialiasing so that every pixel belongs to exactly one
shape or to the background, which makes the concept masks exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "heart", "ring")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (235, 40, 40),
    "green": (40, 205, 60),
    "blue": (55, 100, 250),
    "yellow": (245, 225, 40),
    "magenta": (225, 50, 225),
    "cyan": (40, 225, 235),
    "white": (248, 248, 248),
    "orange": (250, 140, 20),
}
TEXTURES: tuple[str, ...] = ("plain", "stripes", "dots", "checker", "noise")

MIN_AREA_RATIO = 1.6  # the largest shape has at least this times the area of any other
_MAIN_SIDE = (18.0, 27.0)  # sqrt(area) of the largest shape, in pixels at size 64
_SMALL_SIDE = 7.0  # smallest sqrt(area) of another shape, at size 64
_SIDE_RATIO = 1.45  # sqrt(area) of another shape is at most main / this
_SPACING = 0.8  # centers at least this times the sum of the circumradii apart


@dataclass(frozen=True)
class ShapeInfo:
    """One drawn shape: class, color name and RGB, center (x, y), circumradius, angle, area."""

    kind: str
    color: str
    rgb: tuple[int, int, int]
    center: tuple[float, float]
    radius: float
    angle: float
    area: int  # pixels of the whole shape, before any occlusion


@dataclass(frozen=True)
class Scene:
    """One scene: background texture and its two colors, and the shapes in drawing order.

    The last shape is the largest one, drawn on top; ``label`` is its class index.
    """

    texture: str
    background: tuple[tuple[int, ...], tuple[int, ...]]
    shapes: list[ShapeInfo] = field(default_factory=list)
    label: int = 0


def _normalize(points: np.ndarray) -> np.ndarray:
    """Center a polygon on its centroid and scale it to area 1."""
    x, y = points[:, 0], points[:, 1]
    xs, ys = np.roll(x, -1), np.roll(y, -1)
    cross = x * ys - xs * y
    area = cross.sum() / 2.0
    cx = ((x + xs) * cross).sum() / (6.0 * area)
    cy = ((y + ys) * cross).sum() / (6.0 * area)
    return (points - [cx, cy]) / math.sqrt(abs(area))


def _regular(n: int, radii: tuple[float, ...], start: float = -90.0) -> np.ndarray:
    k = np.arange(n * len(radii))
    ang = np.deg2rad(start + k * 360.0 / len(k))
    r = np.array(radii)[k % len(radii)]
    return np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)


def _heart() -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)
    x = 16.0 * np.sin(t) ** 3
    y = -(13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y], axis=1)


def _cross(w: float = 0.32) -> np.ndarray:
    return np.array(
        [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w),
         (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)],
        dtype=float,
    )  # fmt: skip


# unit-area templates of the polygonal shapes
_POLYGONS: dict[str, np.ndarray] = {
    "square": _normalize(_regular(4, (1.0,), start=45.0)),
    "triangle": _normalize(_regular(3, (1.0,))),
    "star": _normalize(_regular(5, (1.0, 0.48))),
    "cross": _normalize(_cross()),
    "heart": _normalize(_heart()),
}
_RING_INNER = 0.5  # inner radius / outer radius
# circumradius of a shape of area 1
_UNIT_RADIUS: dict[str, float] = {
    "circle": 1.0 / math.sqrt(math.pi),
    "ring": 1.0 / math.sqrt(math.pi * (1.0 - _RING_INNER**2)),
    **{k: float(np.hypot(v[:, 0], v[:, 1]).max()) for k, v in _POLYGONS.items()},
}


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    xx.flags.writeable = yy.flags.writeable = False  # shared by every scene
    return xx, yy


def _shape_mask(
    kind: str, center: tuple[float, float], side: float, angle: float, size: int
) -> np.ndarray:
    """Bool mask [size, size] of a shape of area side**2."""
    cx, cy = center
    if kind in ("circle", "ring"):
        xx, yy = _grid(size)
        d2 = (xx - cx) ** 2 + (yy - cy) ** 2
        r = side * _UNIT_RADIUS[kind]
        mask = d2 <= r * r
        if kind == "ring":
            mask &= d2 > (r * _RING_INNER) ** 2
        return mask
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = _POLYGONS[kind] @ rot.T * side + [cx, cy]
    img = Image.new("L", (size, size), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in pts.tolist()], fill=1)
    return np.asarray(img, dtype=bool)


def _two_tone(sel: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """uint8 [3, H, W]: color c1 where `sel`, else c0 (channel-first: fast numpy loops)."""
    img = np.empty((3, *sel.shape), dtype=np.uint8)
    s = sel.view(np.uint8)
    for c in range(3):
        np.multiply(s, np.uint8(c1[c] - c0[c]), out=img[c])
        img[c] += c0[c]
    return img


def _background(
    rng: np.random.Generator, size: int
) -> tuple[np.ndarray, str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Textured background: uint8 [3, size, size], texture name, and its two colors."""
    f = size / 64.0
    texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
    base = rng.uniform(15.0, 100.0) + rng.uniform(-15.0, 15.0, size=3)
    c0 = np.rint(np.clip(base, 0, 255)).astype(np.uint8)
    c1 = np.rint(np.clip(c0 + rng.uniform(25.0, 55.0), 0, 255)).astype(np.uint8)
    xx, yy = _grid(size)
    if texture == "plain":
        img = np.empty((3, size, size), dtype=np.uint8)
        for c in range(3):
            img[c] = c0[c]
    elif texture == "noise":
        t = rng.random((size, size), dtype=np.float32)
        img = np.empty((3, size, size), dtype=np.uint8)
        for c in range(3):
            delta = np.float32(int(c1[c]) - int(c0[c]))
            img[c] = t * delta + np.float32(int(c0[c]) + 0.5)
    else:
        if texture == "stripes":
            phi, period, phase = rng.uniform(0, np.pi), rng.uniform(5.0, 11.0) * f, rng.random()
            cos, sin = math.cos(phi) / period, math.sin(phi) / period
            v = xx * np.float32(cos) + yy * np.float32(sin) + np.float32(phase)
            sel = v - np.floor(v) < 0.5
        elif texture == "dots":
            period, r = rng.uniform(6.0, 10.0) * f, rng.uniform(1.2, 2.2) * f
            ox, oy = rng.uniform(0, period, size=2)
            p = np.float32(period)
            dx, dy = xx - np.float32(ox), yy - np.float32(oy)
            dx -= p * np.floor(dx / p)
            dy -= p * np.floor(dy / p)
            dx, dy = np.minimum(dx, p - dx), np.minimum(dy, p - dy)
            sel = dx * dx + dy * dy <= np.float32(r * r)
        else:  # checker
            p = rng.uniform(4.0, 9.0) * f
            ox, oy = rng.uniform(0, p, size=2)
            u = np.floor((xx + np.float32(ox)) / np.float32(p)).astype(np.int32)
            w = np.floor((yy + np.float32(oy)) / np.float32(p)).astype(np.int32)
            sel = ((u + w) & 1) == 1
        img = _two_tone(sel, c0, c1)
    colors = (tuple(int(v) for v in c0), tuple(int(v) for v in c1))
    return img, texture, colors


def render(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, Scene, list[np.ndarray]]:
    """Draw one scene: (image uint8 [3, size, size], Scene, visible masks, one per shape).

    Example:
        >>> img, scene, visible = render(np.random.default_rng(0))
        >>> img.shape, len(visible) == len(scene.shapes)
        ((3, 64, 64), True)
    """
    f = size / 64.0
    img, texture, bg = _background(rng, size)
    names = list(COLORS)
    main_side = rng.uniform(*_MAIN_SIDE) * f
    n_small = int(rng.integers(3))
    kinds = [SHAPES[int(k)] for k in rng.integers(len(SHAPES), size=n_small + 1)]
    sides = [main_side] + [
        rng.uniform(_SMALL_SIDE * f, main_side / _SIDE_RATIO) for _ in range(n_small)
    ]
    palette = rng.permutation(len(names))  # distinct colors within a scene
    placed: list[tuple[str, float, float, tuple[float, float]]] = []  # kind, side, angle, center
    for kind, side in zip(kinds, sides, strict=True):
        radius = side * _UNIT_RADIUS[kind]
        lo, hi = radius + 1.0, size - 2.0 - radius
        for _ in range(30):
            center = tuple(rng.uniform(lo, hi, size=2)) if hi > lo else (size / 2, size / 2)
            if all(
                math.dist(center, c) >= _SPACING * (radius + s * _UNIT_RADIUS[k])
                for k, s, _, c in placed
            ):
                placed.append((kind, side, float(rng.uniform(0.0, 360.0)), center))
                break
    shapes, masks = [], []
    main_area = 0
    for idx, (kind, side, angle, center) in enumerate(placed):
        mask = _shape_mask(kind, center, side, angle, size)
        area = int(mask.sum())
        while idx > 0 and area * MIN_AREA_RATIO > main_area and side > 2.0:
            side *= 0.85  # rasterization made a small shape too big: shrink it
            mask = _shape_mask(kind, center, side, angle, size)
            area = int(mask.sum())
        if idx == 0:
            main_area = area
        elif area == 0 or area * MIN_AREA_RATIO > main_area:
            continue
        name = names[int(palette[idx])]
        jitter = rng.integers(-16, 17, size=3)
        rgb = tuple(int(v) for v in np.clip(np.array(COLORS[name]) + jitter, 0, 255))
        radius = side * _UNIT_RADIUS[kind]
        shapes.append(ShapeInfo(kind, name, rgb, (float(center[0]), float(center[1])),
                                float(radius), angle, area))  # fmt: skip
        masks.append(mask)
    # the largest shape is drawn last, on top of the others
    shapes = shapes[1:] + shapes[:1]
    masks = masks[1:] + masks[:1]
    for info, mask in zip(shapes, masks, strict=True):
        for c in range(3):
            img[c][mask] = info.rgb[c]
    visible: list[np.ndarray] = [np.empty(0)] * len(masks)
    covered = np.zeros((size, size), dtype=bool)
    for k in range(len(masks) - 1, -1, -1):
        visible[k] = masks[k] & ~covered
        covered |= masks[k]
    scene = Scene(texture, bg, shapes, SHAPES.index(shapes[-1].kind))
    return img, scene, visible
