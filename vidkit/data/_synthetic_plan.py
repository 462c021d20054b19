"""Planning a synthetic video: every random draw for one ``(spec, split, index)`` (classes,
shapes, colours, paths, the long variant's evidence window), and the frames that follow from them.

A video is a pure function of its seed ``SeedSequence(spec.seed, spawn_key=(variant, split,
index))``, so any one can be re-rendered alone, in any process, in any order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from vidkit.data import _render
from vidkit.data._render import Sprite
from vidkit.data._synthetic_novel import draw_novel_sprite
from vidkit.data._synthetic_spec import CLASSES, REVERSAL_PAIRS, SPLITS, VARIANTS, SyntheticSpec, check_split
from vidkit.errors import ConfigError

_ATTRIBUTE = {"move_right": "x", "move_down": "y", "grow": "radius", "rotate_cw": "angle"}
# Circumradius range of a moving or rotating object, as a fraction of the frame's short side.
_RADIUS = {"x": (0.10, 0.18), "y": (0.10, 0.18), "angle": (0.22, 0.40)}
_FORWARD = {c: pair[0] for pair in REVERSAL_PAIRS for c in pair}


@dataclass(frozen=True)
class Plan:
    """Everything drawn at random for one video; the pixels follow from it deterministically."""

    video_id: str
    split: str
    index: int
    labels: tuple[int, ...]
    sprites: tuple[Sprite, ...]
    background_colors: np.ndarray
    background_seed: np.random.SeedSequence
    evidence_frames: tuple[int, int] | None


def _class_index(label: int | str, classes: tuple[str, ...]) -> int:
    if isinstance(label, str):
        if label not in classes:
            raise ConfigError(f"unknown synthetic class {label!r}; the classes are {', '.join(classes)}")
        return classes.index(label)
    if not 0 <= label < len(classes):
        raise ConfigError(f"synthetic class index {label} out of range (0..{len(classes) - 1})")
    return int(label)


def video_id(spec: SyntheticSpec, split: str, index: int) -> str:
    # Unique across splits, as YouTube ids are in Kinetics: validation numbers follow training's.
    offset = 0 if split == "train" else spec.num_videos("train")
    return f"synth{offset + index:05d}"


def _rng_seed(spec: SyntheticSpec, split: str, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(spec.seed, spawn_key=(VARIANTS.index(spec.variant), SPLITS.index(split), index))


def _draw_sprite(
    rng: np.random.Generator,
    *,
    cls: str,
    progress: np.ndarray,
    height: int,
    width: int,
    scale: float,
    background: np.ndarray,
    visible: np.ndarray | None = None,
) -> Sprite:
    """Draw one object doing ``cls``: ``progress`` (0 -> 1 over the frames) moves the class's
    quantity from ``lo`` to ``hi``; the backward class of a pair makes the identical draws and is
    reversed in time. Objects stay entirely inside the frame; where ``visible`` (bool per frame) is
    False the object is hidden (radius 0)."""
    attribute = _ATTRIBUTE[_FORWARD[cls]]
    short = min(height, width)
    # A turning circle shows its turn only through the small marker disc, which a 32-pixel crop
    # all but erases; turning objects are polygons, whose outline shows it.
    shapes = _render.SHAPES if attribute != "angle" else tuple(x for x in _render.SHAPES if x != "circle")
    shape = shapes[rng.integers(len(shapes))]
    color, marker = _render.pick_colors(rng, background)

    def interval(low: float, high: float, min_fraction: float) -> tuple[float, float]:
        # A travel of at least min_fraction of the range (the speed), then a start that fits it.
        d = rng.uniform(min_fraction, 1.0) * (high - low)
        lo = rng.uniform(low, high - d)
        return lo, lo + d

    if attribute == "radius":
        r_lo, r_hi = interval(0.06 * short * scale, 0.30 * short * scale, 0.4)
        r_max = r_hi
    else:
        r_lo = r_hi = r_max = rng.uniform(*_RADIUS[attribute]) * short * scale
    margin = r_max + 1.0
    x_lo = x_hi = rng.uniform(margin, width - margin)
    y_lo = y_hi = rng.uniform(margin, height - margin)
    if attribute == "x":
        x_lo, x_hi = interval(margin, width - margin, 0.5)
    elif attribute == "y":
        y_lo, y_hi = interval(margin, height - margin, 0.5)
    a_lo = a_hi = rng.uniform(0, 2 * math.pi)
    if attribute == "angle":
        a_hi = a_lo + rng.uniform(2 * math.pi / 3, 4 * math.pi / 3)  # < 1/10 turn between sampled frames

    def path(lo: float, hi: float) -> np.ndarray:
        return lo + (hi - lo) * progress if hi != lo else np.full(progress.shape, lo)

    radius = path(r_lo, r_hi)
    if visible is not None:
        radius = np.where(visible, radius, 0.0)
    sprite = Sprite(shape, color, marker, path(x_lo, x_hi), path(y_lo, y_hi), radius, path(a_lo, a_hi))
    return sprite.reversed() if cls != _FORWARD[cls] else sprite


# The long variant's distractor: a new random place, size and turn every this many seconds.
_DISTRACTOR_HOLD_S = 2.0


def _draw_distractor(
    rng: np.random.Generator, *, frames: int, fps: float, height: int, width: int, background: np.ndarray
) -> Sprite:
    """A grey object without a marker, there over the whole clip and still, but for a jump to a random
    new place, size and angle every ``_DISTRACTOR_HOLD_S`` — so a frame outside the evidence window
    shows an object that says nothing about the class (a moving one would look like a class's motion)."""
    short = min(height, width)
    shape = _render.SHAPES[rng.integers(len(_render.SHAPES))]
    color, _ = _render.pick_colors(rng, background)
    grey = float(np.rint(0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]))
    grey = grey if abs(grey - float(np.mean(background))) >= 60 else (grey + 128) % 256
    hold = max(round(_DISTRACTOR_HOLD_S * fps), 1)
    poses = -(-frames // hold)
    r_max = 0.16 * short
    x, y, radius, angle = (
        np.repeat(p, hold)[:frames]
        for p in (
            rng.uniform(r_max + 1, width - r_max - 1, poses),
            rng.uniform(r_max + 1, height - r_max - 1, poses),
            rng.uniform(0.08 * short, r_max, poses),
            rng.uniform(0, 2 * math.pi, poses),
        )
    )
    return Sprite(shape, (grey,) * 3, (grey,) * 3, x, y, radius, angle)


def plan_video(spec: SyntheticSpec, *, split: str, index: int, label: int | str | None = None) -> Plan:
    """The random draws of video ``index`` of ``split``; ``label`` overrides the class (single-object
    variants) while keeping every draw, so the other class of a reversal pair plays the clip backwards."""
    split = check_split(split)
    if not 0 <= index < spec.num_videos(split):
        raise IndexError(f"synthetic {split} index {index} out of range (0..{spec.num_videos(split) - 1})")
    height, width = spec.size
    t_count = spec.frames
    seed = _rng_seed(spec, split, index)
    background_seed, draw_seed = seed.spawn(2)
    rng = np.random.default_rng(draw_seed)
    colors = _render.background_colors(rng)
    if spec.background == "dark":
        # One flat dark colour (channels <= 38); objects are picked to contrast with it, so they are
        # brighter: one polarity of edges, as in tools/probe_learnability.py's bright squares on black.
        colors = np.rint(colors[[0, 0]] * 0.15)
    ramp = np.arange(t_count, dtype=np.float64) / (t_count - 1)
    if spec.variant == "actors":
        if label is not None:
            raise ConfigError("label= overrides the class of single-object variants only, not 'actors'")
        count = int(rng.integers(spec.num_actors[0], spec.num_actors[1] + 1))
        labels = tuple(int(rng.integers(len(CLASSES))) for _ in range(count))
        sprites = tuple(
            _draw_sprite(rng, cls=CLASSES[c], progress=ramp, height=height, width=width, scale=0.6, background=colors)
            for c in labels
        )
        return Plan(video_id(spec, split, index), split, index, labels, sprites, colors, background_seed, None)

    cls = index % len(spec.classes) if label is None else _class_index(label, spec.classes)
    if spec.variant == "novel":
        sprite = draw_novel_sprite(
            rng, cls=spec.classes[cls], progress=ramp, height=height, width=width, background=colors
        )
        return Plan(video_id(spec, split, index), split, index, (cls,), (sprite,), colors, background_seed, None)
    if spec.variant != "long":
        sprite = _draw_sprite(
            rng, cls=CLASSES[cls], progress=ramp, height=height, width=width, scale=1.0, background=colors
        )
        return Plan(video_id(spec, split, index), split, index, (cls,), (sprite,), colors, background_seed, None)
    # The long variant: the object appears only for its motion (the evidence window, at a random time)
    # and a still distractor, jumping every 2 s, is there all along: few uniformly spaced frames miss the evidence.
    lo_s, hi_s = spec.evidence_s
    length = min(max(round(rng.uniform(lo_s, hi_s) * spec.fps), 1), t_count - 1)
    start = int(rng.integers(0, t_count - length))
    frame = np.arange(t_count)
    progress = np.clip((frame - start) / length, 0.0, 1.0)
    sprite = _draw_sprite(
        rng,
        cls=CLASSES[cls],
        progress=progress,
        height=height,
        width=width,
        scale=1.0,
        background=colors,
        visible=(frame >= start) & (frame <= start + length),
    )
    distractor = _draw_distractor(rng, frames=t_count, fps=spec.fps, height=height, width=width, background=colors)
    if CLASSES[cls] != _FORWARD[CLASSES[cls]]:
        distractor = distractor.reversed()  # the whole clip plays backwards, distractor included
    evidence = _visible_span(sprite)
    return Plan(
        video_id(spec, split, index), split, index, (cls,), (distractor, sprite), colors, background_seed, evidence
    )


def _visible_span(sprite: Sprite) -> tuple[int, int]:
    """First visible frame and one past the last: where the sprite shows (hidden before and after)."""
    shown = np.flatnonzero(sprite.radius > 0)
    return int(shown[0]), int(shown[-1]) + 1


def render_background(spec: SyntheticSpec, plan: Plan) -> np.ndarray:
    """The static background, float32 ``[H, W, 3]`` of whole numbers, drawn from the plan's own seed."""
    height, width = spec.size
    return _render.make_background(
        np.random.default_rng(plan.background_seed),
        plan.background_colors,
        height,
        width,
        textured=spec.background == "texture",
    )


def render_frames(plan: Plan, background: np.ndarray) -> Iterator[np.ndarray]:
    """The frames one by one; a frame whose objects did not change is the previous array again
    (the long variant's static stretches cost nothing to draw)."""
    sprites = list(plan.sprites)
    last_state, last = None, None
    for t in range(len(sprites[0].x)):
        state = [s.state(t) for s in sprites]
        if state != last_state:
            last, last_state = _render.draw_frame(background, sprites, t), state
        yield last
