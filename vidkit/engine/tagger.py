"""Batch tagging: every video of a list decoded in crash-isolated worker processes, clips of many
videos batched through the model, one result per video.

Workers (:func:`vidkit.utils.isolated_map`) only decode: :func:`decode_for_tagging` opens a video
with frames scaled to the test scale and yields its clips — all at once for a whole-video label, or
window by window with ``segment_s``, so a long video streams through in bounded memory. The parent
(:class:`Tagger`) cuts the crops on the model's device, packs clips of consecutive videos into
batches, and emits a video's result once all its clips have been through the model. A video whose
worker crashed or hung, or that could not be decoded, gets a result with its ``error``.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from vidkit.data.views import ViewSpec, crop_views, read_views
from vidkit.engine.loop import Precision
from vidkit.engine.readouts import ClassProbabilities
from vidkit.io import is_still_image
from vidkit.io.limits import limit
from vidkit.utils import failure_reason

__all__ = [
    "TagResult",
    "Tagger",
    "WindowTiming",
    "decode_for_tagging",
    "decode_worker",
    "look_for_tagging",
    "look_worker",
]

_WINDOWS_PER_READ = 8  # segment windows decoded per read_at: bounds memory, amortises seeking back to a keyframe


@dataclass(frozen=True)
class WindowTiming:
    """The timing of one window of a video (a ``--segments`` window, a watched stream's window), in the terms
    a clip sampler reads."""

    start_s: float
    duration_s: float
    fps: float

    @classmethod
    def between(cls, start_s: float, end_s: float, fps: float) -> WindowTiming:
        """``[start_s, end_s)``, at least one frame long."""
        return cls(start_s, max(end_s - start_s, 1.0 / (fps or 25)), fps)


def decode_for_tagging(
    path: str,
    *,
    spec: ViewSpec,
    segment_s: float | None = None,
    stride_s: float | None = None,
    backend: str = "pyav",
    timeout_s: float = 60.0,
):
    """A generator for the worker processes: yields ``{"segment", "clips", "clip_of_view", "boxes"}``
    for the whole video, or for each ``segment_s`` window (``segment`` = ``(index, start_s, end_s)``;
    windows start every ``stride_s``, default ``segment_s``: a shorter stride slides overlapping windows),
    and returns ``{"info": ..., "error": None}`` — or ``{"info": None, "error": reason}`` when the video
    cannot be read (decoding errors are results, not crashes)."""

    def clips(video):
        info = video.info
        sampler = spec.sampler()
        windows = iter([(None, info)] if segment_s is None else _windows(info, segment_s, stride_s or segment_s))
        while group := list(itertools.islice(windows, _WINDOWS_PER_READ)):
            views = read_views(video, [sampler(timing) for _, timing in group], spec.crop_size)
            for (segment, _), item in zip(group, views):
                if video.end_s is not None and segment is not None and segment[1] > video.end_s:
                    return {}  # the stream ended before its header said: the windows after it hold nothing
                # cloned: a window's clips alone cross the pipe, not the whole group's frames
                yield {
                    "segment": segment,
                    "clips": item["clips"].clone(),
                    "clip_of_view": item["clip_of_view"],
                    "boxes": item["boxes"],
                }
        return {}

    return (yield from _tag_video(path, clips, spec=spec, backend=backend, timeout_s=timeout_s))


def look_for_tagging(path: str, *, model: nn.Module, spec: ViewSpec, backend: str = "pyav", timeout_s: float = 60.0):
    """:func:`decode_for_tagging` for an adaptive frame selector (AdaFrame): the worker runs the policy
    itself (on the CPU, one thread), decoding only the frames it looks at, and yields the video's
    ``{"segment": None, "scores"}``; the info it returns says how many frames were decoded."""
    from vidkit.data.adaframe import look
    from vidkit.data.transforms import ClipTransform

    transform = ClipTransform(crop_size=spec.crop_size, test_scale=spec.test_scale, flip_prob=0.0)

    def looked(video):
        with torch.inference_mode():
            seen = look(model, video, transform, num_candidates=spec.num_frames, interval_s=spec.interval_s)
        yield {"segment": None, "scores": seen.logits.softmax(-1)}
        return {"frames_looked_at": seen.frames, "frames_decoded": seen.decoded}

    return (yield from _tag_video(path, looked, spec=spec, backend=backend, timeout_s=timeout_s))


def decode_worker(path: str, beat, **kwargs):
    """:func:`decode_for_tagging` in the form :func:`vidkit.utils.isolated_map` runs (``beat`` unused:
    the items themselves show progress)."""
    return (yield from decode_for_tagging(path, **kwargs))


def look_worker(path: str, beat, **kwargs):
    """:func:`look_for_tagging` in the form :func:`vidkit.utils.isolated_map` runs."""
    return (yield from look_for_tagging(path, **kwargs))


def _tag_video(path: str, items, *, spec: ViewSpec, backend: str, timeout_s: float):
    """Open ``path`` scaled to the test scale and yield what ``items(video)`` yields; return the video's
    info (with what ``items`` returned added) or the reason it could not be read."""
    from vidkit.errors import VideoDecodeError
    from vidkit.io import open_video

    if os.path.islink(path) and not os.path.exists(path):
        try:
            os.stat(path)
        except OSError as e:
            if e.errno == errno.ELOOP:  # the link leads back to itself, through links only
                return {"info": None, "error": f"a symlink loop (to {os.readlink(path)})"}
        return {"info": None, "error": f"a dangling link (to {os.readlink(path)})"}
    try:
        with open_video(path, backend=backend, timeout_s=timeout_s, short_side=spec.test_scale) as video:
            extra = yield from items(video)
            return {"info": {**_describe(video.info, video.warnings), **extra}, "error": None}
    except VideoDecodeError as e:
        return {"info": None, "error": e.reason}
    except ValueError as e:  # no usable timing (the samplers say why)
        return {"info": None, "error": str(e)}


def _windows(info, length: float, stride: float) -> Iterator[tuple[tuple[int, float, float], WindowTiming]]:
    """Windows of ``length`` seconds starting every ``stride`` seconds, the last one ending at the video's
    end (shorter when the video is), each with the timing its clips are planned in; made as they are
    needed. More than ``VIDKIT_MAX_WINDOWS`` (:mod:`vidkit.io.limits`) is the video's error, said before
    the first is decoded."""
    first, end = info.start_s, info.start_s + info.duration_s
    count = 1 + max(0, int(-(-(info.duration_s - length - 1e-6) // stride)))
    most = limit("VIDKIT_MAX_WINDOWS")
    if count > most:
        raise ValueError(
            f"{count} windows of {length:g} s every {stride:g} s for its {info.duration_s:.6g} s, over the limit "
            f"of {most} per file (raise it with VIDKIT_MAX_WINDOWS, or take longer --segments)"
        )
    for k in range(count):
        start = first + k * stride
        stop = min(start + length, end)
        yield (k, start, stop), WindowTiming.between(start, stop, info.fps)


def _describe(info, warnings) -> dict:
    keep = (
        "container",
        "codec",
        "width",
        "height",
        "fps",
        "duration_s",
        "num_frames",
        "num_frames_exact",
        "is_vfr",
        "rotation",
        "has_b_frames",
        "keyframe_interval_s",
    )
    d = {k: getattr(info, k) for k in keep}
    if is_still_image(info):
        d["still_image"] = True  # only then: a real video's record stays as it was
    if info.times_assumed:
        d["times_assumed"] = True  # a raw stream's: likewise
    d["warnings"] = sorted(set(warnings))
    return d


@dataclass
class TagResult:
    """One video's result: ``scores`` (mean class probabilities over its clips) or ``error``;
    ``segments``: ``[(start_s, end_s, scores)]`` with ``segment_s``; ``windows``: ``[(start_s, end_s,
    readout)]`` of each window (the whole video without ``segment_s``) when the readout keeps them
    (:class:`~vidkit.engine.readouts.Features`)."""

    path: str
    scores: torch.Tensor | None = None
    error: str | None = None
    info: dict | None = None
    clips: int = 0
    segments: list[tuple[float, float, torch.Tensor]] = field(default_factory=list)
    windows: list[tuple[float, float, torch.Tensor]] = field(default_factory=list)


@dataclass
class _Video:
    path: str
    waiting: int = 0  # clips queued, not yet through the model
    total: torch.Tensor | None = None
    clips: int = 0
    segments: dict[int, list] = field(default_factory=dict)  # index -> [start, end, summed probs, clip count]
    outcome: dict | None = None  # the worker's return value (or failure), once it finished
    windows: dict[int | None, torch.Tensor] = field(default_factory=dict)  # segment index -> readout (if kept)


class Tagger:
    """Consume :func:`vidkit.utils.isolated_map` events of :func:`decode_for_tagging` and yield a
    :class:`TagResult` per video, as soon as its last clip has been through the model. ``readout``
    (:mod:`vidkit.engine.readouts`): what is read out of the model per view, class probabilities by
    default (``vidkit tag``), or features (``vidkit extract``)."""

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: ViewSpec,
        device: torch.device,
        precision: Precision = Precision(),
        batch_size: int = 32,
        transform=None,
        readout=None,
    ):
        from vidkit.data.transforms import ClipTransform

        self.model = model.eval()
        self.spec = spec
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.transform = transform or ClipTransform()
        self.readout = readout or ClassProbabilities()
        self.clips_done = 0

    @torch.inference_mode()
    def run(self, events: Iterable[tuple[str, str, object]]) -> Iterator[TagResult]:
        videos: dict[str, _Video] = {}
        queue: list[tuple[_Video, int | None, torch.Tensor]] = []  # (video, segment, views [V, 3, T, S, S])
        queued = 0
        for path, kind, value in events:
            video = videos.setdefault(path, _Video(path))
            if kind == "item" and "scores" in value:  # scored in the worker (an adaptive frame selector)
                video.total = value["scores"].to(self.device)
                video.clips += 1
                self.clips_done += 1
                continue
            if kind == "item":
                views = crop_views(
                    value["clips"].to(self.device, non_blocking=True),
                    value["clip_of_view"],
                    value["boxes"],
                    self.spec.crop_size,
                )
                segment = value["segment"]
                if segment is not None:
                    video.segments[segment[0]] = [segment[1], segment[2], None, 0]
                queue.append((video, None if segment is None else segment[0], self.transform.normalize(views)))
                video.waiting += 1
                queued += len(views)
                if queued >= self.batch_size:
                    yield from self._flush(queue, videos)
                    queued = 0
                continue
            video.outcome = {"error": failure_reason(kind, value)} if kind != "done" else value
            if video.waiting == 0:
                yield self._result(videos.pop(path))
        yield from self._flush(queue, videos)
        for path in list(videos):  # events ended (closed pool): whatever finished is reported
            if videos[path].outcome is not None and videos[path].waiting == 0:
                yield self._result(videos.pop(path))

    def _flush(self, queue: list, videos: dict) -> Iterator[TagResult]:
        if not queue:
            return
        x = torch.cat([views for _, _, views in queue])
        probs = self.readout(self.model, x, precision=self.precision, device=self.device, batch_size=self.batch_size)
        self.clips_done += len(x)
        offset = 0
        for video, segment, views in queue:
            p = probs[offset : offset + len(views)]
            offset += len(views)
            mean = p.mean(0)
            video.total = mean if video.total is None else video.total + mean
            video.clips += len(views)
            if segment is not None:
                entry = video.segments[segment]
                entry[2] = p.sum(0) if entry[2] is None else entry[2] + p.sum(0)
                entry[3] += len(views)
            if self.readout.keeps_windows:
                video.windows[segment] = self.readout.window(p)
            video.waiting -= 1
        queue.clear()
        for path in [p for p, v in videos.items() if v.outcome is not None and v.waiting == 0]:
            yield self._result(videos.pop(path))

    @staticmethod
    def _result(video: _Video) -> TagResult:
        outcome = video.outcome or {}
        error = outcome.get("error")
        scores = None if error or video.total is None else video.total / (len(video.segments) or 1)
        segments = (
            [
                (start, end, summed / count)
                for _, (start, end, summed, count) in sorted(video.segments.items())
                if summed is not None
            ]
            if not error
            else []
        )
        if error is None and scores is None:
            error = "no clips could be read"
        windows = []
        if not error:
            for index, features in sorted(video.windows.items(), key=lambda item: -1 if item[0] is None else item[0]):
                whole = (0.0, (outcome.get("info") or {}).get("duration_s"))  # no segments: the whole video
                start, end = whole if index is None else video.segments[index][:2]
                windows.append((start, end, features))
        return TagResult(
            path=video.path,
            scores=scores,
            error=error,
            info=outcome.get("info"),
            clips=video.clips,
            segments=segments,
            windows=windows,
        )
