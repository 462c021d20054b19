"""Drawing for the synthetic datasets: static textured backgrounds and anti-aliased marked shapes.

Everything here is vectorised numpy over pixel grids (no per-pixel Python) and deterministic: the
same arguments give the same bytes. Coordinates are in pixels with the image origin at the top-left
corner of the top-left pixel, x to the right and y down, so pixel ``(row i, column j)`` is sampled at
its centre ``(j + 0.5, i + 0.5)``. Angles are in radians in that frame, so an increasing angle turns
a shape clockwise on screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross")
BACKGROUNDS = ("noise", "stripes", "checker")

# Every shape carries a marker disc toward its "up" vertex, so that rotation is visible even for
# the circle and for the square's and cross's 90-degree symmetry. Offset and radius are fractions
# of the circumradius, chosen so the disc stays inside every shape (the narrowest case, the star's
# tip, leaves 0.288 > 0.24 around the marker centre; the triangle 0.325).
_MARKER_OFFSET = 0.35
_MARKER_RADIUS = 0.24


def _unit_polygons() -> dict[str, np.ndarray]:
    """Vertices ``[E, 2]`` of each polygonal shape at angle 0 with circumradius 1, top vertex up."""

    def ring(n: int, radii: tuple[float, ...], start: float) -> np.ndarray:
        k = np.arange(n)
        a = start + 2 * math.pi * k / n
        r = np.resize(np.asarray(radii, dtype=np.float64), n)
        return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)

    w = 0.35  # half-width of the cross's arms
    a = math.sqrt(1 - w * w)  # arm length so that the corners lie on the unit circle
    cross = np.array(
        [(-w, -a), (w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a), (-w, a), (-w, w), (-a, w), (-a, -w), (-w, -w)],
        dtype=np.float64,
    )
    return {
        "square": ring(4, (1.0,), -math.pi / 2 + math.pi / 4),
        "triangle": ring(3, (1.0,), -math.pi / 2),
        "star": ring(10, (1.0, 0.5), -math.pi / 2),
        "cross": cross,
    }


_POLYGONS = _unit_polygons()


@dataclass(frozen=True)
class Sprite:
    """One object over a whole clip: its look and its per-frame state (arrays of length T).

    ``x``, ``y`` are the centre, ``radius`` the circumradius (the shape always lies within the disc
    of that radius; 0 hides the object in that frame), ``angle`` the orientation; all in
    pixels/radians, float64.
    """

    shape: str
    color: tuple[float, float, float]
    marker_color: tuple[float, float, float]
    x: np.ndarray
    y: np.ndarray
    radius: np.ndarray
    angle: np.ndarray

    def reversed(self) -> Sprite:
        """The same object played backwards in time."""
        return Sprite(
            self.shape,
            self.color,
            self.marker_color,
            self.x[::-1].copy(),
            self.y[::-1].copy(),
            self.radius[::-1].copy(),
            self.angle[::-1].copy(),
        )

    def state(self, t: int) -> tuple[float, float, float, float]:
        return float(self.x[t]), float(self.y[t]), float(self.radius[t]), float(self.angle[t])

    def boxes(self) -> np.ndarray:
        """Exact extents ``[T, 4]`` (x1, y1, x2, y2 in pixels) of the shape in every frame."""
        if self.shape == "circle":
            r = self.radius
            return np.stack([self.x - r, self.y - r, self.x + r, self.y + r], axis=1)
        v = _POLYGONS[self.shape]  # [E, 2]
        c, s = np.cos(self.angle)[:, None], np.sin(self.angle)[:, None]
        r = self.radius[:, None]
        vx = self.x[:, None] + r * (c * v[:, 0] - s * v[:, 1])
        vy = self.y[:, None] + r * (s * v[:, 0] + c * v[:, 1])
        return np.stack([vx.min(1), vy.min(1), vx.max(1), vy.max(1)], axis=1)


def _polygon_sdf(u: np.ndarray, v: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Signed distance from points ``(u, v)`` to a closed polygon, negative inside.

    Distance to the nearest edge segment, with the sign from the even-odd crossing rule, which
    handles the non-convex star and cross (I. Quilez, "2D distance functions", polygon SDF).
    """
    a = vertices[:, :, None, None]  # [E, 2, 1, 1]
    b = np.roll(vertices, -1, axis=0)[:, :, None, None]
    ex, ey = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]  # edge vectors [E, 1, 1]
    wx, wy = u[None] - a[:, 0], v[None] - a[:, 1]  # point relative to edge start [E, h, w]
    h = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    dist = np.sqrt(np.min((wx - ex * h) ** 2 + (wy - ey * h) ** 2, axis=0))
    # Even-odd rule: count the edges that straddle the point's row and pass to its right.
    straddle = (a[:, 1] > v[None]) != (b[:, 1] > v[None])
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = a[:, 0] + ex * (v[None] - a[:, 1]) / ey
    inside = (np.count_nonzero(straddle & (u[None] < x_cross), axis=0) % 2) == 1
    return np.where(inside, -dist, dist)


def _coverage(sprite: Sprite, t: int, height: int, width: int):
    """Anti-aliased shape and marker coverage of ``sprite`` at frame ``t`` inside its bounding crop.

    Returns ``(rows, cols, shape_alpha, marker_alpha, signed_distance)`` or None when the sprite is
    entirely off-canvas. Coverage is ``clip(0.5 - d, 0, 1)`` with ``d`` the signed distance in
    pixels: a one-pixel linear ramp across the edge, so a pixel whose centre lies on the outline
    is half covered.
    """
    cx, cy, r, th = sprite.state(t)
    if r <= 0:  # hidden in this frame (the long variant's object outside its window)
        return None
    x0, x1 = max(math.floor(cx - r - 1), 0), min(math.ceil(cx + r + 1) + 1, width)
    y0, y1 = max(math.floor(cy - r - 1), 0), min(math.ceil(cy + r + 1) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return None
    px = (np.arange(x0, x1, dtype=np.float64) + 0.5 - cx)[None, :]
    py = (np.arange(y0, y1, dtype=np.float64) + 0.5 - cy)[:, None]
    c, s = math.cos(th), math.sin(th)
    # Rotate the pixel grid back into the shape's own frame, in units of the circumradius.
    u, v = (c * px + s * py) / r, (-s * px + c * py) / r
    if sprite.shape == "circle":
        d = (np.sqrt(u * u + v * v) - 1.0) * r
    else:
        d = _polygon_sdf(u, v, _POLYGONS[sprite.shape]) * r
    alpha = np.clip(0.5 - d, 0.0, 1.0)
    dm = (np.sqrt(u * u + (v + _MARKER_OFFSET) ** 2) - _MARKER_RADIUS) * r
    marker = np.clip(0.5 - dm, 0.0, 1.0)
    return slice(y0, y1), slice(x0, x1), alpha, marker, d


def draw_frame(background: np.ndarray, sprites: list[Sprite], t: int) -> np.ndarray:
    """Composite ``sprites`` (first drawn first, so later ones occlude) over ``background`` at frame ``t``.

    ``background`` is float32 ``[H, W, 3]`` holding whole numbers, so pixels no sprite touches come
    out exactly equal to it. Returns uint8 ``[H, W, 3]``.
    """
    canvas = background.copy()
    height, width = background.shape[:2]
    for sprite in sprites:
        cov = _coverage(sprite, t, height, width)
        if cov is None:
            continue
        rows, cols, alpha, marker, _ = cov
        crop = canvas[rows, cols]
        a = alpha[..., None].astype(np.float32)
        crop = crop * (1 - a) + np.asarray(sprite.color, np.float32) * a
        m = marker[..., None].astype(np.float32)
        canvas[rows, cols] = crop * (1 - m) + np.asarray(sprite.marker_color, np.float32) * m
    return np.rint(canvas).astype(np.uint8)


def sprite_mask(sprite: Sprite, t: int, height: int, width: int) -> np.ndarray:
    """Pixels whose centre lies inside the shape at frame ``t`` (coverage >= 0.5), bool ``[H, W]``."""
    mask = np.zeros((height, width), dtype=bool)
    cov = _coverage(sprite, t, height, width)
    if cov is not None:
        rows, cols, _, _, d = cov
        mask[rows, cols] = d <= 0
    return mask


def _linear_upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a small ``[gh, gw]`` grid to ``[height, width]`` as two matrix products."""

    def weights(n_out: int, n_in: int) -> np.ndarray:
        pos = (np.arange(n_out) + 0.5) * (n_in - 1) / n_out  # sample positions on the grid's axis
        lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
        frac = pos - lo
        w = np.zeros((n_out, n_in))
        w[np.arange(n_out), lo] = 1 - frac
        w[np.arange(n_out), lo + 1] = frac
        return w

    return weights(height, grid.shape[0]) @ grid @ weights(width, grid.shape[1]).T


def background_colors(rng: np.random.Generator) -> np.ndarray:
    """Two related random colours ``[2, 3]`` for a background texture to blend."""
    c1 = rng.uniform(0, 255, size=3)
    c2 = np.clip(c1 + rng.normal(0, 60, size=3), 0, 255)
    return np.stack([c1, c2])


def make_background(
    rng: np.random.Generator, colors: np.ndarray, height: int, width: int, *, textured: bool = True
) -> np.ndarray:
    """A static texture (smoothed noise, oblique stripes or a checkerboard, chosen with ``rng``)
    blending the two ``colors``, as float32 ``[H, W, 3]`` holding whole numbers; with
    ``textured=False``, the first colour alone (a flat background, no draws from ``rng``)."""
    c1, c2 = np.asarray(colors, dtype=np.float64)
    if not textured:
        return np.broadcast_to(np.rint(c1).astype(np.float32), (height, width, 3)).copy()
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    y, x = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    if kind == "noise":
        gh, gw = rng.integers(3, 9, size=2)
        mix = _linear_upsample(rng.random((gh, gw)), height, width)
    elif kind == "stripes":
        period = rng.uniform(6, 24)
        theta = rng.uniform(0, math.pi)
        phase = rng.uniform(0, 2 * math.pi)
        mix = 0.5 + 0.5 * np.sin(2 * math.pi * (x * math.cos(theta) + y * math.sin(theta)) / period + phase)
    else:
        cell = rng.uniform(6, 20)
        ox, oy = rng.uniform(0, cell, size=2)
        mix = ((np.floor((x + ox) / cell) + np.floor((y + oy) / cell)) % 2).astype(np.float64)
    image = c1 * (1 - mix[..., None]) + c2 * mix[..., None]
    return np.rint(image).astype(np.float32)


def pick_colors(
    rng: np.random.Generator, background: np.ndarray, *, min_distance: float = 100.0
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """An object colour at least ``min_distance`` (RGB, Euclidean) from every blend of the two
    background colours ``background[0]``..``background[1]``, and a marker colour that contrasts with
    it (near-black on light objects, near-white on dark ones).

    Rejection sampling with a bounded number of draws keeps it deterministic; the fallback is the
    draw farthest from the background.
    """
    c1, c2 = np.asarray(background, dtype=np.float64)
    seg = c2 - c1
    best, best_d = None, -1.0
    for _ in range(64):
        color = rng.uniform(0, 255, size=3)
        h = np.clip(np.dot(color - c1, seg) / max(float(np.dot(seg, seg)), 1e-9), 0.0, 1.0)
        d = float(np.linalg.norm(color - (c1 + h * seg)))
        if d > best_d:
            best, best_d = color, d
        if d >= min_distance:
            break
    color = tuple(float(c) for c in np.rint(best))
    luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    marker = (20.0, 20.0, 20.0) if luma > 128 else (235.0, 235.0, 235.0)
    return color, marker
