"""The built-in "synthetic-motion" dataset: short real H.264 videos whose classes differ only in
temporal order.

Each clip shows a marked shape (circle, square, triangle, star or cross) over a static textured
background, doing one of eight motions. The classes come in reversal pairs (``REVERSAL_PAIRS``):
``move_right``/``move_left``, ``move_down``/``move_up``, ``grow``/``shrink``,
``rotate_cw``/``rotate_ccw``. A clip of the second class of a pair is drawn exactly like one of the
first (same random draws: two end values ``lo < hi``, shape, colours, background) and then played
backwards, so the *set* of frames carries no information about which of the two it is; a model that
ignores frame order sits at chance within each pair, which makes the set a quick check of temporal
modelling (the argument behind Something-Something's mirrored classes, Goyal et al., ICCV 2017, in
miniature)::

    ds = synthetic_dataset()                   # generated under ~/.cache/vidkit/synthetic on first use
    ds.classes                                 # ('grow', 'move_down', ..., 'shrink'): sorted, index = label
    for path, label in ds.samples("train"):    # Kinetics-style (path, label index) pairs
        ...

Three variants share the renderer (``SyntheticSpec.variant``):

* ``"motion"`` (default): 48 frames (~2 s) at 25 fps, 128x128, the motion spans the whole clip.
* ``"long"``: 250 frames (10 s); the object is static except in one 1-2 s window at a random
  position (the *evidence window*, written to the CSVs), for adaptive frame selection.
* ``"actors"``: 100 frames (4 s) with 2-3 objects, each doing its own motion, annotated in the AVA
  format (Gu et al., CVPR 2018): one box per object per keyframe, at integer seconds.

The folder layout follows Kinetics (``train/<class>/<youtube_id>_<start:06d>_<end:06d>.mp4``,
``train.csv`` with ``label,youtube_id,time_start,time_end,split``); the actors variant stores
``train/<video_id>.mp4`` with ``ava_train.csv`` and ``ava_action_list.pbtxt``. ``manifest.json``
lists every file with its size and SHA-1; a first build writes it last and atomically, so its
presence means the set was completed. On load, missing or damaged files are rebuilt one by one,
since every video is a pure function of ``(spec, split, index)``.

Rendering is bit-exact for a given numpy; the encoder runs single-threaded with a fixed GOP and no
macroblock tree (see ``_encoder_options``), so the same FFmpeg/x264 build writes byte-identical files.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import multiprocessing
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vidkit._paths import cache_dir
from vidkit.data import _render
from vidkit.data._render import Sprite
from vidkit.errors import ConfigError
from vidkit.io.encode import write_video

# Bump when a change to this module changes the videos or annotations it writes: the folder name
# hashes it, so existing caches are left alone and a fresh set is generated.
GENERATOR_VERSION = 1

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

VARIANTS = ("motion", "long", "actors")
SPLITS = ("train", "val")

_DEFAULT_FRAMES = {"motion": 48, "long": 250, "actors": 100}
_ATTRIBUTE = {"move_right": "x", "move_down": "y", "grow": "radius", "rotate_cw": "angle"}
_FORWARD = {c: pair[0] for pair in REVERSAL_PAIRS for c in pair}
_VERIFY = ("none", "size", "checksum")
# mkstemp, under both writers, creates files 0600; a shared cache wants them readable by all.
_FILE_MODE = 0o644


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. Every field enters the folder name's hash, so any change gives a new set.

    ``num_train_per_class``/``num_val_per_class``: videos per class and split; the actors variant
    makes ``8 x`` that many videos per split, each object's class drawn at random. ``size`` is
    ``(height, width)``, both even (H.264 4:2:0). ``num_frames=None`` takes the variant's default
    (48 motion, 250 long, 100 actors). ``evidence_s`` is the range of the long variant's motion
    window in seconds, ``num_actors`` the range of objects per actors clip. ``crf``/``gop``/
    ``b_frames`` are the x264 quality, keyframe interval and consecutive B-frames.
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

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ConfigError(f"unknown synthetic variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
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
            raise ConfigError(f"synthetic long variant: evidence window {self.evidence_s} s does not fit in "
                              f"{self.frames} frames")
        if not 1 <= self.num_actors[0] <= self.num_actors[1]:
            raise ConfigError(f"synthetic num_actors={self.num_actors} must be (min, max) with 1 <= min <= max")
        if self.variant == "actors" and self.frames / self.fps < 1:
            raise ConfigError("synthetic actors variant needs at least 1 s of video for a keyframe at 1 s")

    @property
    def frames(self) -> int:
        """Frames per video, the variant's default resolved."""
        return self.num_frames if self.num_frames is not None else _DEFAULT_FRAMES[self.variant]

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    def num_videos(self, split: str) -> int:
        per_class = {"train": self.num_train_per_class, "val": self.num_val_per_class}[_check_split(split)]
        return per_class * len(CLASSES)

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


@dataclass(frozen=True)
class SyntheticVideo:
    """One generated video. ``labels`` holds one class index per object, in drawing order (a single
    one outside the actors variant); ``evidence_s`` is the long variant's motion window."""

    path: Path
    video_id: str
    split: str
    index: int
    labels: tuple[int, ...]
    evidence_s: tuple[float, float] | None = None

    @property
    def label(self) -> int:
        """The class index, or -1 for a clip with several objects (one label each, see ``labels``)."""
        return self.labels[0] if len(self.labels) == 1 else -1


@dataclass(frozen=True)
class SyntheticDataset:
    """A generated set on disk: its folder, class names (index order) and videos per split."""

    root: Path
    spec: SyntheticSpec
    classes: tuple[str, ...]
    train: tuple[SyntheticVideo, ...]
    val: tuple[SyntheticVideo, ...]

    def videos(self, split: str) -> tuple[SyntheticVideo, ...]:
        return getattr(self, _check_split(split))

    def samples(self, split: str) -> list[tuple[Path, int]]:
        """``(path, label index)`` pairs as Kinetics-style loaders take them (label -1 for actors)."""
        return [(v.path, v.label) for v in self.videos(split)]

    def annotations(self, split: str) -> Path:
        """The split's annotation CSV: Kinetics format, or AVA format for the actors variant."""
        prefix = "ava_" if self.spec.variant == "actors" else ""
        return self.root / f"{prefix}{_check_split(split)}.csv"


@dataclass(frozen=True, eq=False)
class RenderedVideo:
    """A video rendered in memory, with its ground truth.

    ``frames`` uint8 ``[T, H, W, 3]``; ``boxes`` float64 ``[T, K, 4]`` exact object extents
    ``(x1, y1, x2, y2)`` in pixels for the K objects; ``evidence_frames`` the first and last frame
    of the long variant's motion (static before and after); ``background`` uint8 ``[H, W, 3]``, what
    every pixel no object touches shows; ``masks`` bool ``[T, K, H, W]`` (pixel centres inside each
    object, occlusion ignored) when asked for.
    """

    video_id: str
    split: str
    index: int
    labels: tuple[int, ...]
    frames: np.ndarray
    boxes: np.ndarray
    background: np.ndarray
    evidence_frames: tuple[int, int] | None = None
    masks: np.ndarray | None = None

    @property
    def label(self) -> int:
        return self.labels[0] if len(self.labels) == 1 else -1


@dataclass(frozen=True)
class _Plan:
    """Everything drawn at random for one video; the pixels follow from it deterministically."""

    video_id: str
    split: str
    index: int
    labels: tuple[int, ...]
    sprites: tuple[Sprite, ...]
    background_colors: np.ndarray
    background_seed: np.random.SeedSequence
    evidence_frames: tuple[int, int] | None


def render_video(spec: SyntheticSpec, *, split: str, index: int, label: int | str | None = None,
                 masks: bool = False) -> RenderedVideo:
    """Render video ``index`` of ``split`` in memory, exactly as the dataset stores it before encoding.

    ``label`` overrides the class (motion and long variants) while keeping every random draw: the
    override to the other class of a reversal pair gives the same clip played backwards, which is
    how the tests show the pair cannot be told apart without order.
    """
    plan = _plan(spec, split=split, index=index, label=label)
    background = _background(spec, plan)
    frames = np.stack(list(_frames(plan, background)))
    height, width = spec.size
    mask_array = None
    if masks:
        mask_array = np.stack([np.stack([_render.sprite_mask(s, t, height, width) for s in plan.sprites])
                               for t in range(spec.frames)])
    boxes = np.stack([s.boxes() for s in plan.sprites], axis=1)
    return RenderedVideo(plan.video_id, plan.split, plan.index, plan.labels, frames, boxes,
                         background.astype(np.uint8), plan.evidence_frames, mask_array)


def synthetic_dataset(spec: SyntheticSpec | None = None, *, root: str | os.PathLike | None = None,
                      progress: bool = True, verify: str = "size", workers: int | None = None) -> SyntheticDataset:
    """Return the synthetic set described by ``spec``, generating or repairing it first if needed.

    The set lives in ``<root>/<spec.name>``, ``root`` defaulting to ``cache_dir("synthetic")``.
    ``verify`` says how the files listed in the manifest are checked on load: ``"size"`` (exists
    with the right size; cheap), ``"checksum"`` (SHA-1 of every file) or ``"none"``. Files that fail
    are rebuilt, others are not touched. Generation holds an exclusive ``flock`` on ``.lock`` in
    the folder, so concurrent callers wait for one another instead of writing the same files;
    ``workers`` processes render and encode in parallel (default: the usable CPUs, at most 8).
    """
    spec = spec or SyntheticSpec()
    if verify not in _VERIFY:
        raise ConfigError(f"verify={verify!r}: choose one of {', '.join(_VERIFY)}")
    folder = Path(root) if root is not None else cache_dir("synthetic")
    folder = folder / spec.name
    expected = _expected_files(spec)
    if _needs_work(folder, spec, expected, verify):
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder / ".lock"):
            # Re-check under the lock: another process may have just finished the same set.
            todo = _needs_work(folder, spec, expected, verify)
            if todo:
                _generate(folder, spec, expected, todo, progress=progress, workers=workers)
    return _load(folder, spec)


# ---------------------------------------------------------------------------------------------
# Planning: the random draws of one video.


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


def _class_index(label: int | str) -> int:
    if isinstance(label, str):
        if label not in CLASSES:
            raise ConfigError(f"unknown synthetic class {label!r}; the classes are {', '.join(CLASSES)}")
        return CLASSES.index(label)
    if not 0 <= label < len(CLASSES):
        raise ConfigError(f"synthetic class index {label} out of range (0..{len(CLASSES) - 1})")
    return int(label)


def _video_id(spec: SyntheticSpec, split: str, index: int) -> str:
    # Unique across splits, as YouTube ids are in Kinetics: validation numbers follow training's.
    offset = 0 if split == "train" else spec.num_videos("train")
    return f"synth{offset + index:05d}"


def _rng_seed(spec: SyntheticSpec, split: str, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(spec.seed, spawn_key=(VARIANTS.index(spec.variant), SPLITS.index(split), index))


def _draw_sprite(rng: np.random.Generator, *, cls: str, progress: np.ndarray, height: int, width: int,
                 scale: float, background: np.ndarray) -> Sprite:
    """Draw one object doing ``cls``: ``progress`` (0 -> 1 over the frames) moves the class's
    quantity from ``lo`` to ``hi``; the backward class of a pair makes the identical draws and is
    reversed in time. Objects stay entirely inside the frame."""
    attribute = _ATTRIBUTE[_FORWARD[cls]]
    short = min(height, width)
    shape = _render.SHAPES[rng.integers(len(_render.SHAPES))]
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
        r_lo = r_hi = r_max = rng.uniform(0.10, 0.18 if attribute in ("x", "y") else 0.24) * short * scale
    margin = r_max + 1.0
    x_lo = x_hi = rng.uniform(margin, width - margin)
    y_lo = y_hi = rng.uniform(margin, height - margin)
    if attribute == "x":
        x_lo, x_hi = interval(margin, width - margin, 0.3)
    elif attribute == "y":
        y_lo, y_hi = interval(margin, height - margin, 0.3)
    a_lo = a_hi = rng.uniform(0, 2 * math.pi)
    if attribute == "angle":
        a_hi = a_lo + rng.uniform(math.pi / 3, math.pi)

    def path(lo: float, hi: float) -> np.ndarray:
        return lo + (hi - lo) * progress if hi != lo else np.full(progress.shape, lo)

    sprite = Sprite(shape, color, marker, path(x_lo, x_hi), path(y_lo, y_hi), path(r_lo, r_hi), path(a_lo, a_hi))
    return sprite.reversed() if cls != _FORWARD[cls] else sprite


def _plan(spec: SyntheticSpec, *, split: str, index: int, label: int | str | None = None) -> _Plan:
    split = _check_split(split)
    if not 0 <= index < spec.num_videos(split):
        raise IndexError(f"synthetic {split} index {index} out of range (0..{spec.num_videos(split) - 1})")
    height, width = spec.size
    t_count = spec.frames
    seed = _rng_seed(spec, split, index)
    background_seed, draw_seed = seed.spawn(2)
    rng = np.random.default_rng(draw_seed)
    colors = _render.background_colors(rng)
    ramp = np.arange(t_count, dtype=np.float64) / (t_count - 1)
    if spec.variant == "actors":
        if label is not None:
            raise ConfigError("label= overrides the class of single-object variants only, not 'actors'")
        count = int(rng.integers(spec.num_actors[0], spec.num_actors[1] + 1))
        labels = tuple(int(rng.integers(len(CLASSES))) for _ in range(count))
        sprites = tuple(_draw_sprite(rng, cls=CLASSES[c], progress=ramp, height=height, width=width, scale=0.6,
                                     background=colors) for c in labels)
        return _Plan(_video_id(spec, split, index), split, index, labels, sprites, colors, background_seed, None)

    cls = index % len(CLASSES) if label is None else _class_index(label)
    progress = ramp
    if spec.variant == "long":
        lo_s, hi_s = spec.evidence_s
        length = min(max(round(rng.uniform(lo_s, hi_s) * spec.fps), 1), t_count - 1)
        start = int(rng.integers(0, t_count - length))
        progress = np.clip((np.arange(t_count) - start) / length, 0.0, 1.0)
    sprite = _draw_sprite(rng, cls=CLASSES[cls], progress=progress, height=height, width=width, scale=1.0,
                          background=colors)
    evidence = _moving_span(sprite) if spec.variant == "long" else None
    return _Plan(_video_id(spec, split, index), split, index, (cls,), (sprite,), colors, background_seed, evidence)


def _moving_span(sprite: Sprite) -> tuple[int, int]:
    """First and last frame of the span in which the sprite changes (static before and after)."""
    state = np.stack([sprite.x, sprite.y, sprite.radius, sprite.angle], axis=1)
    changed = np.flatnonzero(np.any(state[1:] != state[:-1], axis=1))
    return int(changed[0]), int(changed[-1]) + 1


def _background(spec: SyntheticSpec, plan: _Plan) -> np.ndarray:
    height, width = spec.size
    return _render.make_background(np.random.default_rng(plan.background_seed), plan.background_colors, height, width)


def _frames(plan: _Plan, background: np.ndarray) -> Iterator[np.ndarray]:
    """The frames one by one; a frame whose objects did not change is the previous array again
    (the long variant's static stretches cost nothing to draw)."""
    sprites = list(plan.sprites)
    last_state, last = None, None
    for t in range(len(sprites[0].x)):
        state = [s.state(t) for s in sprites]
        if state != last_state:
            last, last_state = _render.draw_frame(background, sprites, t), state
        yield last


# ---------------------------------------------------------------------------------------------
# Files: names, annotations, generation, verification.


def _video_relpath(spec: SyntheticSpec, label: int | None, split: str, index: int) -> str:
    vid = _video_id(spec, split, index)
    if spec.variant == "actors":
        return f"{split}/{vid}.mp4"
    end = math.ceil(spec.duration_s - 1e-9)
    return f"{split}/{CLASSES[label]}/{vid}_{0:06d}_{end:06d}.mp4"


def _expected_files(spec: SyntheticSpec) -> dict[str, tuple[str, int] | None]:
    """Every file of the set: video paths map to ``(split, index)``, annotation files to None."""
    files: dict[str, tuple[str, int] | None] = {}
    for split in SPLITS:
        for index in range(spec.num_videos(split)):
            label = None if spec.variant == "actors" else index % len(CLASSES)
            files[_video_relpath(spec, label, split, index)] = (split, index)
    if spec.variant == "actors":
        names = ["ava_train.csv", "ava_val.csv", "ava_action_list.pbtxt"]
    else:
        names = ["train.csv", "val.csv"]
    for name in names + ["classes.txt"]:
        files[name] = None
    return files


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.6f}".rstrip("0").rstrip(".")


def _annotation_text(spec: SyntheticSpec, name: str) -> str:
    """The content of annotation file ``name``; deterministic from the spec (no pixels needed)."""
    if name == "classes.txt":
        return "".join(f"{c}\n" for c in CLASSES)
    if name == "ava_action_list.pbtxt":
        return "".join(f'label {{\n  name: "{c}"\n  label_id: {i + 1}\n  label_type: PERSON_MOVEMENT\n}}\n'
                       for i, c in enumerate(CLASSES))
    split = name.removeprefix("ava_").removesuffix(".csv")
    lines = []
    if spec.variant == "actors":
        # AVA: no header; keyframes at whole seconds 1, 2, ... inside the clip (0 has no past context);
        # boxes normalised to [0, 1]; action ids 1-based; person id = drawing order.
        height, width = spec.size
        keyframes = [s for s in range(1, math.floor(spec.duration_s) + 1) if round(s * spec.fps) < spec.frames]
        for index in range(spec.num_videos(split)):
            plan = _plan(spec, split=split, index=index)
            boxes = [sprite.boxes() for sprite in plan.sprites]
            for s in keyframes:
                t = round(s * spec.fps)
                for person, label in enumerate(plan.labels):
                    x1, y1, x2, y2 = boxes[person][t]
                    box = (min(max(x1 / width, 0.0), 1.0), min(max(y1 / height, 0.0), 1.0),
                           min(max(x2 / width, 0.0), 1.0), min(max(y2 / height, 0.0), 1.0))
                    lines.append(f"{plan.video_id},{s:04d},{box[0]:.4f},{box[1]:.4f},{box[2]:.4f},{box[3]:.4f},"
                                 f"{label + 1},{person}")
        return "".join(f"{line}\n" for line in lines)
    header = "label,youtube_id,time_start,time_end,split"
    if spec.variant == "long":
        header += ",evidence_start_s,evidence_end_s"
    end = math.ceil(spec.duration_s - 1e-9)
    for index in range(spec.num_videos(split)):
        row = f"{CLASSES[index % len(CLASSES)]},{_video_id(spec, split, index)},0,{end},{split}"
        if spec.variant == "long":
            a, b = _plan(spec, split=split, index=index).evidence_frames
            row += f",{_fmt_s(a / spec.fps)},{_fmt_s(b / spec.fps)}"
        lines.append(row)
    return "".join(f"{line}\n" for line in [header] + lines)


def _encoder_options(spec: SyntheticSpec) -> dict[str, str]:
    # A fixed GOP of IBBP... (b-adapt=0, no scene cuts) so every file has I-, P- and B-frames. One
    # thread so the bitstream does not depend on the machine's core count, and no macroblock-tree
    # rate control: with it, x264 165 gives different bytes for the same frames from run to run on
    # small pictures (seen at 64x64), which would break the checksums in the manifest.
    return {"preset": "veryfast", "crf": str(spec.crf), "g": str(spec.gop), "bf": str(spec.b_frames),
            "threads": "1", "x264-params": "b-adapt=0:scenecut=0:mbtree=0"}


def _build_video(spec: SyntheticSpec, folder: str, relpath: str, split: str, index: int) -> str:
    """Render and encode one video to ``folder/relpath`` (atomically); runs in a worker process."""
    plan = _plan(spec, split=split, index=index)
    path = write_video(Path(folder, relpath), _frames(plan, _background(spec, plan)), fps=spec.fps,
                       options=_encoder_options(spec))
    path.chmod(_FILE_MODE)
    return relpath


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(folder: Path, spec: SyntheticSpec) -> dict | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None
    if manifest.get("params") != spec.params():
        return None
    return manifest


def _intact(path: Path, entry: dict | None, verify: str) -> bool:
    if entry is None:
        return False
    if verify == "none":
        return True
    try:
        if path.stat().st_size != entry.get("size"):
            return False
    except OSError:
        return False
    return verify != "checksum" or _sha1(path) == entry.get("sha1")


def _needs_work(folder: Path, spec: SyntheticSpec, expected: dict, verify: str) -> list[str]:
    """Files to (re)build. Without a manifest (first use, or a build that was interrupted), every
    file not yet on disk; files already there were written atomically by this same spec."""
    manifest = _read_manifest(folder, spec)
    if manifest is None:
        missing = [rel for rel in expected if not (folder / rel).is_file()]
        # Nothing missing but no manifest: the build stopped just before writing it; an empty
        # rebuild list still leads to the manifest being written.
        return missing or ["manifest.json"]
    return [rel for rel in expected if not _intact(folder / rel, manifest["files"].get(rel), verify)]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _generate(folder: Path, spec: SyntheticSpec, expected: dict, todo: list[str], *, progress: bool,
              workers: int | None) -> None:
    """Build the files in ``todo`` (videos in parallel), then write the manifest.

    Damaged files are deleted first, so an interrupted repair leaves them missing, never trusted.
    A manifest already there stays during a repair and its entries are kept for the files not
    rebuilt: a file that passed a size check but was altered in place is still caught by a later
    ``verify="checksum"``. On a first build the manifest appears only at the end.
    """
    from tqdm.auto import tqdm

    previous = _read_manifest(folder, spec)
    previous = previous["files"] if previous else {}
    # Temporary files left by a killed writer (write_video and _atomic_write name them ".<name>.*").
    for stale in folder.rglob(".*"):
        if stale.is_file() and stale.name != ".lock":
            stale.unlink(missing_ok=True)
    todo = [rel for rel in todo if rel in expected]
    for rel in todo:
        (folder / rel).unlink(missing_ok=True)
    for rel in todo:
        if expected[rel] is None:
            _atomic_write(folder / rel, _annotation_text(spec, rel))
    videos = [(rel, *expected[rel]) for rel in todo if expected[rel] is not None]
    workers = min(workers or _default_workers(), len(videos))
    bar = tqdm(total=len(videos), desc=f"synthetic {spec.name}", unit="video", disable=None if progress else True)
    with bar:
        if workers <= 1:
            for rel, split, index in videos:
                _build_video(spec, str(folder), rel, split, index)
                bar.update()
        else:
            # fork: workers inherit the imported modules (torch included) instead of re-importing them.
            context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
            pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
            try:
                futures = [pool.submit(_build_video, spec, str(folder), rel, split, index)
                           for rel, split, index in videos]
                for future in concurrent.futures.as_completed(futures):
                    future.result()
                    bar.update()
            finally:
                pool.shutdown(cancel_futures=True)  # on an error, do not wait for the rest of the queue
    rebuilt = set(todo)
    files = {rel: previous[rel] if rel in previous and rel not in rebuilt else
             {"size": (folder / rel).stat().st_size, "sha1": _sha1(folder / rel)} for rel in expected}
    manifest = {"name": spec.name, "generator_version": GENERATOR_VERSION, "params": spec.params(),
                "classes": list(CLASSES), "files": files}
    _atomic_write(folder / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _load(folder: Path, spec: SyntheticSpec) -> SyntheticDataset:
    splits = {}
    for split in SPLITS:
        videos = []
        for index in range(spec.num_videos(split)):
            if spec.variant == "motion":  # the label follows from the index; no need to draw the plan
                labels, evidence = (index % len(CLASSES),), None
            else:
                plan = _plan(spec, split=split, index=index)
                labels = plan.labels
                evidence = None
                if plan.evidence_frames is not None:
                    evidence = (plan.evidence_frames[0] / spec.fps, plan.evidence_frames[1] / spec.fps)
            rel = _video_relpath(spec, labels[0] if spec.variant != "actors" else None, split, index)
            videos.append(SyntheticVideo(folder / rel, _video_id(spec, split, index), split, index, labels, evidence))
        splits[split] = tuple(videos)
    return SyntheticDataset(folder, spec, CLASSES, splits["train"], splits["val"])
