"""The "novel" variant's motions: an object moving along a diagonal, or orbiting a fixed centre.

None of them is a motion of ``CLASSES``, which is what makes the variant a fine-tuning target for a
model trained on the motion variant. As there, the classes come in reversal pairs
(``NOVEL_REVERSAL_PAIRS``): the backward class makes the forward class's draws and plays them in
reverse, so only the order of the frames tells the two apart.
"""

from __future__ import annotations

import math

import numpy as np

from vidkit.data import _render
from vidkit.data._render import Sprite
from vidkit.data._synthetic_spec import NOVEL_REVERSAL_PAIRS

_FORWARD = {c: pair[0] for pair in NOVEL_REVERSAL_PAIRS for c in pair}
# Circumradius of a diagonally moving object, as a fraction of the frame's short side (as the
# straight moves of CLASSES), and of an orbiting one with its orbit's radius: the orbit and the object
# fit in the frame down to the smallest size allowed (16 pixels: (0.28 + 0.14) * 16 + 1 < 8).
_MOVE_RADIUS = (0.10, 0.18)
_ORBITER_RADIUS = (0.08, 0.14)
_ORBIT_RADIUS = (0.18, 0.28)
# The arc an orbit sweeps, in radians: at least half a turn, so the path is a visible curve, at most
# three quarters, so its two ends stay apart (a full turn would start and end in the same place).
_ORBIT_SWEEP = (math.pi, 1.5 * math.pi)


def draw_novel_sprite(
    rng: np.random.Generator, *, cls: str, progress: np.ndarray, height: int, width: int, background: np.ndarray
) -> Sprite:
    """Draw one object doing ``cls`` (a ``NOVEL_CLASSES`` name) over ``progress`` (0 -> 1 over the
    frames). Diagonals: x and y each travel at least half of their range (as ``move_right`` does),
    so the direction lies between about 27 and 63 degrees from the horizontal; forward is down (y
    increasing), to the right or to the left. Orbits: the centre moves along an arc of a circle about
    a fixed point, its angle increasing (clockwise on screen, y pointing down); the object itself
    does not turn. The object stays entirely inside the frame."""
    forward = _FORWARD[cls]
    short = min(height, width)
    shape = _render.SHAPES[rng.integers(len(_render.SHAPES))]
    color, marker = _render.pick_colors(rng, background)
    angle = np.full(progress.shape, rng.uniform(0, 2 * math.pi))
    if forward == "orbit_cw":
        radius = rng.uniform(*_ORBITER_RADIUS) * short
        orbit = rng.uniform(*_ORBIT_RADIUS) * short
        margin = orbit + radius + 1.0
        cx, cy = rng.uniform(margin, width - margin), rng.uniform(margin, height - margin)
        start = rng.uniform(0, 2 * math.pi)
        phase = start + rng.uniform(*_ORBIT_SWEEP) * progress
        x, y = cx + orbit * np.cos(phase), cy + orbit * np.sin(phase)
    else:
        radius = rng.uniform(*_MOVE_RADIUS) * short
        margin = radius + 1.0

        def travel(extent: int) -> tuple[float, float]:
            # At least half the range (the speed), then a start that fits it; as _synthetic_plan's moves.
            d = rng.uniform(0.5, 1.0) * (extent - 2 * margin)
            lo = rng.uniform(margin, extent - margin - d)
            return lo, lo + d

        x_lo, x_hi = travel(width)
        y_lo, y_hi = travel(height)
        if forward == "move_down_left":
            x_lo, x_hi = x_hi, x_lo
        x, y = x_lo + (x_hi - x_lo) * progress, y_lo + (y_hi - y_lo) * progress
    sprite = Sprite(shape, color, marker, x, y, np.full(progress.shape, radius), angle)
    return sprite.reversed() if cls != forward else sprite
