"""The built-in "synthetic-motion" dataset: short real H.264 videos whose classes differ only in
temporal order.

Each clip shows a marked shape (circle, square, triangle, star or cross; the turning ones are
polygons) over a static textured background (or, with ``background="dark"``, one flat dark colour,
the easier set the default training run uses), doing one of eight motions. The classes come in
reversal pairs (``REVERSAL_PAIRS``): ``move_right``/``move_left``, ``move_down``/``move_up``,
``grow``/``shrink``, ``rotate_cw``/``rotate_ccw``. A clip of the second class of a pair is drawn exactly like one of the
first (same random draws: two end values ``lo < hi``, shape, colours, background) and then played
backwards, so the *set* of frames carries no information about which of the two it is; a model that
ignores frame order sits at chance within each pair, which makes the set a quick check of temporal
modelling (the argument behind Something-Something's mirrored classes, Goyal et al., ICCV 2017, in
miniature)::

    ds = synthetic_dataset()                   # generated under ~/.cache/vidkit/synthetic on first use
    ds.classes                                 # ('grow', 'move_down', ..., 'shrink'): sorted, index = label
    for path, label in ds.samples("train"):    # Kinetics-style (path, label index) pairs
        ...

Four variants share the renderer (``SyntheticSpec.variant``):

* ``"motion"`` (default): 48 frames (~2 s) at 25 fps, 128x128, the motion spans the whole clip.
* ``"long"``: 250 frames (10 s); the object shows only during its motion, one 1-2 s window at a
  random time (the *evidence window*, written to the CSVs), while a grey unmarked distractor
  sits elsewhere, jumping to a new place every 2 s: a few uniformly spaced frames miss the
  evidence, which is what adaptive frame selection (AdaFrame) is for.
* ``"actors"``: 100 frames (4 s) with 2-3 objects, each doing its own motion, annotated in the AVA
  format (Gu et al., CVPR 2018): one box per object per keyframe, at integer seconds.
* ``"novel"``: clips like the motion variant's, with six classes it does not have
  (``NOVEL_CLASSES``): the four diagonal moves and an orbit about a fixed centre, clockwise or
  counter-clockwise, in the reversal pairs ``NOVEL_REVERSAL_PAIRS`` (``move_down_right``/
  ``move_up_left``, ``move_down_left``/``move_up_right``, ``orbit_cw``/``orbit_ccw``): the set to
  fine-tune a model trained on the motion variant on (``SyntheticSpec.classes`` and
  ``SyntheticDataset.classes`` give a set's classes; ``CLASSES`` are the other variants').

The folder layout follows Kinetics (``train/<class>/<youtube_id>_<start:06d>_<end:06d>.mp4``,
``train.csv`` with ``label,youtube_id,time_start,time_end,split``); the actors variant stores
``train/<video_id>.mp4`` with ``ava_train.csv`` and ``ava_action_list.pbtxt``. ``manifest.json``
lists every file with its size and SHA-1; a first build writes it last and atomically, so its
presence means the set was completed. On load, missing or damaged files are rebuilt one by one,
since every video is a pure function of ``(spec, split, index)``.

Rendering is bit-exact for a given numpy; the encoder runs single-threaded with a fixed GOP and no
macroblock tree (see ``_synthetic_store._encoder_options``), so the same FFmpeg/x264 build writes
byte-identical files.

This module is the public face; the machinery is private: ``_synthetic_spec`` (the constants and
``SyntheticSpec``, re-exported here), ``_synthetic_plan`` (one video's random draws and frames),
``_synthetic_novel`` (the novel variant's motions), ``_synthetic_store`` (file names, annotations,
encoding, manifest, generation) and ``_render`` (drawing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidkit.data import _render
from vidkit.data._synthetic_plan import plan_video, render_background, render_frames, video_id
from vidkit.data._synthetic_spec import (
    CLASSES,
    GENERATOR_VERSION,
    NOVEL_CLASSES,
    NOVEL_REVERSAL_PAIRS,
    REVERSAL_PAIRS,
    SPLITS,
    VARIANTS,
    SyntheticSpec,
    check_split,
)
from vidkit.data._synthetic_store import expected_files, generate, needs_work, video_relpath
from vidkit.errors import ConfigError
from vidkit.utils import cache_dir, file_lock

__all__ = [
    "CLASSES",
    "GENERATOR_VERSION",
    "NOVEL_CLASSES",
    "NOVEL_REVERSAL_PAIRS",
    "REVERSAL_PAIRS",
    "SPLITS",
    "VARIANTS",
    "RenderedVideo",
    "SyntheticDataset",
    "SyntheticSpec",
    "SyntheticVideo",
    "render_video",
    "synthetic_catalog",
    "synthetic_dataset",
]

_VERIFY = ("none", "size", "checksum")


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
        return getattr(self, check_split(split))

    def samples(self, split: str) -> list[tuple[Path, int]]:
        """``(path, label index)`` pairs as Kinetics-style loaders take them (label -1 for actors)."""
        return [(v.path, v.label) for v in self.videos(split)]

    def annotations(self, split: str) -> Path:
        """The split's annotation CSV: Kinetics format, or AVA format for the actors variant."""
        prefix = "ava_" if self.spec.variant == "actors" else ""
        return self.root / f"{prefix}{check_split(split)}.csv"


@dataclass(frozen=True, eq=False)
class RenderedVideo:
    """A video rendered in memory, with its ground truth.

    ``frames`` uint8 ``[T, H, W, 3]``; ``boxes`` float64 ``[T, K, 4]`` exact object extents
    ``(x1, y1, x2, y2)`` in pixels for the K objects; ``evidence_frames`` the first frame of the
    long variant's object and one past its last (hidden before and after; its distractor is object 0);
    ``background`` uint8 ``[H, W, 3]``, what every pixel no object touches shows; ``masks`` bool
    ``[T, K, H, W]`` (pixel centres inside each object, occlusion ignored) when asked for.
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


def render_video(
    spec: SyntheticSpec, *, split: str, index: int, label: int | str | None = None, masks: bool = False
) -> RenderedVideo:
    """Render video ``index`` of ``split`` in memory, exactly as the dataset stores it before encoding.

    ``label`` overrides the class (motion, long and novel variants; a name or index of
    ``spec.classes``) while keeping every random draw: the override to the other class of a reversal
    pair gives the same clip played backwards, which is how the tests show the pair cannot be told
    apart without order.
    """
    plan = plan_video(spec, split=split, index=index, label=label)
    background = render_background(spec, plan)
    frames = np.stack(list(render_frames(plan, background)))
    height, width = spec.size
    mask_array = None
    if masks:
        mask_array = np.stack(
            [np.stack([_render.sprite_mask(s, t, height, width) for s in plan.sprites]) for t in range(spec.frames)]
        )
    boxes = np.stack([s.boxes() for s in plan.sprites], axis=1)
    return RenderedVideo(
        plan.video_id,
        plan.split,
        plan.index,
        plan.labels,
        frames,
        boxes,
        background.astype(np.uint8),
        plan.evidence_frames,
        mask_array,
    )


def synthetic_dataset(
    spec: SyntheticSpec | None = None,
    *,
    root: str | os.PathLike | None = None,
    progress: bool = True,
    verify: str = "size",
    workers: int | None = None,
) -> SyntheticDataset:
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
    expected = expected_files(spec)
    if needs_work(folder, spec, expected, verify):
        folder.mkdir(parents=True, exist_ok=True)
        with file_lock(folder / ".lock"):
            # Re-check under the lock: another process may have just finished the same set.
            todo = needs_work(folder, spec, expected, verify)
            if todo:
                generate(folder, spec, expected, todo, progress=progress, workers=workers)
    return _load(folder, spec)


def _load(folder: Path, spec: SyntheticSpec) -> SyntheticDataset:
    splits = {}
    for split in SPLITS:
        videos = []
        for index in range(spec.num_videos(split)):
            if spec.variant in ("motion", "novel"):  # the label follows from the index; no plan to draw
                labels, evidence = (index % len(spec.classes),), None
            else:
                plan = plan_video(spec, split=split, index=index)
                labels = plan.labels
                evidence = None
                if plan.evidence_frames is not None:
                    evidence = (plan.evidence_frames[0] / spec.fps, plan.evidence_frames[1] / spec.fps)
            rel = video_relpath(spec, labels[0] if spec.variant != "actors" else None, split, index)
            videos.append(SyntheticVideo(folder / rel, video_id(spec, split, index), split, index, labels, evidence))
        splits[split] = tuple(videos)
    return SyntheticDataset(folder, spec, spec.classes, splits["train"], splits["val"])


def synthetic_catalog(config: dict, *, split: str, root: str | None = None, progress: bool = False):
    """The built-in set a run was trained on (``config`` is its training config: the spec from
    ``data.synthetic``, the folder from ``data.root`` unless ``root`` is given), one split as a
    :class:`~vidkit.data.catalog.Catalog`."""
    from vidkit.data.catalog import Catalog, VideoEntry

    data = config.get("data") or {}
    spec = SyntheticSpec.from_config(data.get("synthetic"))
    split = {"validation": "val", "validate": "val"}.get(split, split)
    if split not in ("train", "val"):
        raise ConfigError(f"--split {split}: the synthetic set has train and val")
    dataset = synthetic_dataset(spec, root=root or data.get("root"), progress=progress)
    entries = tuple(VideoEntry(key=v.path.stem, path=str(v.path), label=v.label) for v in dataset.videos(split))
    return Catalog(
        name="synthetic",
        split=split,
        classes=tuple(dataset.classes),
        entries=entries,
        annotations=str(dataset.annotations(split)),
        videos_root=str(dataset.root),
        flip_label_map={},
        default_flip=False,
        warnings=(),
    )
