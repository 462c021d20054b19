"""What a synthetic-motion set is: its classes, variants and splits, and ``SyntheticSpec``, the
parameters that name it. Shared by the planner, the file store and ``vidkit.data.synthetic``, which
re-exports everything public here (see there for the dataset itself)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from vidkit.errors import ConfigError

# Bump when a change to the synthetic modules (synthetic.py, _synthetic_*.py, _render.py) changes the
# videos or annotations they write: the folder name hashes it, so existing caches are left alone and
# a fresh set is generated.
GENERATOR_VERSION = 3

# Sorted, as Kinetics-style loaders index classes; the label index is the position here.
CLASSES = ("grow", "move_down", "move_left", "move_right", "move_up", "rotate_ccw", "rotate_cw", "shrink")

# (forward, backward): a backward clip is a forward clip played in reverse. Forward means the
# varying quantity increases: x (right), y (down, image rows), radius (grow), angle (clockwise,
# because y points down).
REVERSAL_PAIRS = (
    ("move_right", "move_left"),
    ("move_down", "move_up"),
    ("grow", "shrink"),
    ("rotate_cw", "rotate_ccw"),
)

# The "novel" variant's classes, none of which the other variants have: the four diagonal moves and
# an orbit about a fixed centre, for fine-tuning a model trained on CLASSES. Sorted, as CLASSES.
NOVEL_CLASSES = ("move_down_left", "move_down_right", "move_up_left", "move_up_right", "orbit_ccw", "orbit_cw")

# Forward as above: y increases (down) along a diagonal, the orbit's angle increases (clockwise).
NOVEL_REVERSAL_PAIRS = (
    ("move_down_right", "move_up_left"),
    ("move_down_left", "move_up_right"),
    ("orbit_cw", "orbit_ccw"),
)

# Appended only: a variant's position here seeds its videos (_synthetic_plan._rng_seed).
VARIANTS = ("motion", "long", "actors", "novel")
BACKGROUNDS = ("texture", "dark")
SPLITS = ("train", "val")

_DEFAULT_FRAMES = {"motion": 48, "long": 250, "actors": 100, "novel": 48}


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. Every field enters the folder name's hash, so any change gives a new set.

    ``num_train_per_class``/``num_val_per_class``: videos per class and split; the actors variant
    makes ``8 x`` that many videos per split, each object's class drawn at random. ``size`` is
    ``(height, width)``, both even (H.264 4:2:0). ``num_frames=None`` takes the variant's default
    (48 motion, 250 long, 100 actors, 48 novel). ``variant="novel"`` is the motion variant with
    other classes (``NOVEL_CLASSES``, see ``classes``). ``evidence_s`` is the range of the long variant's motion
    window in seconds, ``num_actors`` the range of objects per actors clip. ``crf``/``gop``/
    ``b_frames`` are the x264 quality, keyframe interval and consecutive B-frames.
    ``background``: ``"texture"`` (a static random texture behind the objects: smoothed noise,
    stripes or a checkerboard) or ``"dark"`` (one flat dark colour, so every object is brighter
    than what is behind it). Textures, and objects that may be darker or brighter than the
    background, make the set much harder to learn from scratch, which is why the default training
    run uses the dark one (the README gives the figures).
    """

    variant: str = "motion"
    num_train_per_class: int = 32
    num_val_per_class: int = 8
    size: tuple[int, int] = (128, 128)
    num_frames: int | None = None
    fps: float = 25.0
    seed: int = 0
    evidence_s: tuple[float, float] = (1.0, 2.0)
    num_actors: tuple[int, int] = (2, 3)
    crf: int = 23
    gop: int = 24
    b_frames: int = 2
    background: str = "texture"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ConfigError(f"unknown synthetic variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.background not in BACKGROUNDS:
            raise ConfigError(
                f"unknown synthetic background {self.background!r}; choose one of {', '.join(BACKGROUNDS)}"
            )
        height, width = self.size
        if height < 16 or width < 16 or height % 2 or width % 2:
            raise ConfigError(f"synthetic size {self.size} must be (height, width), both even and >= 16 (H.264 4:2:0)")
        if self.num_train_per_class < 0 or self.num_val_per_class < 0:
            raise ConfigError("synthetic video counts per class must be >= 0")
        if self.num_frames is not None and self.num_frames < 2:
            raise ConfigError(f"synthetic num_frames={self.num_frames}: a motion needs at least 2 frames")
        if not self.fps > 0:
            raise ConfigError(f"synthetic fps={self.fps} must be positive")
        lo, hi = self.evidence_s
        if not 0 < lo <= hi:
            raise ConfigError(f"synthetic evidence_s={self.evidence_s} must be (min, max) seconds with 0 < min <= max")
        if self.variant == "long" and round(lo * self.fps) >= self.frames:
            raise ConfigError(
                f"synthetic long variant: evidence window {self.evidence_s} s does not fit in {self.frames} frames"
            )
        if not 1 <= self.num_actors[0] <= self.num_actors[1]:
            raise ConfigError(f"synthetic num_actors={self.num_actors} must be (min, max) with 1 <= min <= max")
        if self.variant == "actors" and self.frames / self.fps < 1:
            raise ConfigError("synthetic actors variant needs at least 1 s of video for a keyframe at 1 s")

    @classmethod
    def from_config(cls, section: Mapping | None) -> SyntheticSpec:
        """The spec a training config's ``data.synthetic`` section names (YAML-shaped: ``train_per_class``,
        ``val_per_class``, ``size``, ``num_frames``, ``seed``, ``background``, ``variant``), as ``vidkit
        train`` generates it and a checkpoint's saved config finds it again. Keys that are missing or
        None keep this class's defaults, so checkpoints saved before a key existed still name their set."""
        section = section or {}
        size = section.get("size")
        fields = {
            "num_train_per_class": section.get("train_per_class"),
            "num_val_per_class": section.get("val_per_class"),
            "size": tuple(size) if size else None,
            "num_frames": section.get("num_frames"),
            "seed": section.get("seed"),
            "background": section.get("background"),
            "variant": section.get("variant"),
        }
        return cls(**{k: v for k, v in fields.items() if v is not None})

    @property
    def frames(self) -> int:
        """Frames per video, the variant's default resolved."""
        return self.num_frames if self.num_frames is not None else _DEFAULT_FRAMES[self.variant]

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    @property
    def classes(self) -> tuple[str, ...]:
        """The variant's class names, sorted (index = label): ``NOVEL_CLASSES`` for ``"novel"``,
        ``CLASSES`` for the others."""
        return NOVEL_CLASSES if self.variant == "novel" else CLASSES

    @property
    def reversal_pairs(self) -> tuple[tuple[str, str], ...]:
        """The variant's (forward, backward) pairs: a backward clip is a forward one played in reverse."""
        return NOVEL_REVERSAL_PAIRS if self.variant == "novel" else REVERSAL_PAIRS

    def num_videos(self, split: str) -> int:
        per_class = {"train": self.num_train_per_class, "val": self.num_val_per_class}[check_split(split)]
        return per_class * len(self.classes)

    def params(self) -> dict:
        """The generation parameters as JSON values, defaults resolved, with the generator version."""
        d = dataclasses.asdict(self)
        d["num_frames"] = self.frames
        d["generator_version"] = GENERATOR_VERSION
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @property
    def name(self) -> str:
        """Folder name: the variant and a short hash of ``params()``, e.g. ``motion-1f3c0a9d2b``."""
        digest = hashlib.sha1(json.dumps(self.params(), sort_keys=True).encode()).hexdigest()
        return f"{self.variant}-{digest[:10]}"


def check_split(split: str) -> str:
    """``split`` itself if it is one of ``SPLITS``; a ``ConfigError`` naming them otherwise."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split
