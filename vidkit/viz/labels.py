"""What ``vidkit render`` draws on each frame of a video: the labels of the segment playing, a timeline of
every segment's label along the bottom, and people's boxes with their actions around their keyframes."""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidkit.viz.draw import Rect, canvas, draw_box, draw_timeline, label_color, panel, text_size


@dataclass(frozen=True)
class Segment:
    """Labels ``((label, score), …)`` (best first) for stream times ``[start_s, end_s)``."""

    start_s: float
    end_s: float
    labels: tuple[tuple[str, float], ...]

    @property
    def centre_s(self) -> float:
        return (self.start_s + self.end_s) / 2


@dataclass(frozen=True)
class PersonBox:
    """A person at keyframe ``time_s``: ``box`` ``(x1, y1, x2, y2)`` as fractions of the frame (AVA's
    convention) and their actions ``((name, score), …)``."""

    time_s: float
    box: tuple[float, float, float, float]
    labels: tuple[tuple[str, float], ...]


def segment_at(segments: Sequence[Segment], t: float | np.ndarray) -> int | None | np.ndarray:
    """The index of the segment playing at ``t``: of those covering it, the one whose centre is nearest
    (windows of ``tag --segments`` overlap when their stride is shorter); None when none covers it. For an
    array of times, an array of indices (-1 where none covers)."""
    times = np.atleast_1d(np.asarray(t, dtype=np.float64))[:, None]
    starts = np.array([s.start_s for s in segments], dtype=np.float64)[None]
    ends = np.array([s.end_s for s in segments], dtype=np.float64)[None]
    covered = (starts - 1e-9 <= times) & (times < ends - 1e-9)
    distance = np.where(covered, np.abs(times - (starts + ends) / 2), np.inf)
    index = np.where(covered.any(1), distance.argmin(1) if len(segments) else -1, -1)
    if np.ndim(t) == 0:
        return None if index[0] < 0 else int(index[0])
    return index


class LabelOverlay:
    """Draw ``segments``' labels (``top_k`` of them, top-left), their timeline over ``duration_s`` (bottom)
    and ``boxes`` on frames of ``height`` × ``width``; calling it on ``(frame, t)`` draws in place and returns
    the rectangles drawn in."""

    def __init__(
        self,
        segments: Sequence[Segment],
        *,
        duration_s: float,
        height: int,
        width: int,
        top_k: int = 3,
        boxes: Sequence[PersonBox] = (),
        box_window_s: float = 0.5,
    ):
        self.segments = sorted(segments, key=lambda s: (s.start_s, s.end_s))
        self.duration_s = max(duration_s, max((s.end_s for s in self.segments), default=0.0), 1e-3)
        self.size = text_size(height)
        self.margin = max(2, height // 60)
        self.top_k = top_k
        self.boxes = sorted(boxes, key=lambda b: b.time_s)
        self.box_window_s = box_window_s
        self.bar = self._timeline(width, max(4, height // 40))
        self._patches: dict[int, np.ndarray] = {}
        self._captions: dict[tuple, np.ndarray] = {}

    def _timeline(self, width: int, height: int) -> np.ndarray:
        """An opaque RGBA bar: each column in the colour of the label playing at its time (dark grey where
        nothing is)."""
        bar = np.full((height, width, 4), 48, dtype=np.uint8)
        bar[..., 3] = 255
        if not self.segments:
            return bar
        playing = segment_at(self.segments, (np.arange(width) + 0.5) * self.duration_s / width)
        colors = np.array([label_color(s.labels[0][0]) if s.labels else (48, 48, 48) for s in self.segments], np.uint8)
        bar[:, playing >= 0, :3] = colors[playing[playing >= 0]]
        return bar

    def _caption(self, person: PersonBox) -> np.ndarray:
        key = (person.time_s, person.box)
        if key not in self._captions:
            self._captions[key] = panel(person.labels[: self.top_k], size=max(10, self.size * 2 // 3))
        return self._captions[key]

    def patch(self, index: int) -> np.ndarray:
        if index not in self._patches:
            labels = self.segments[index].labels[: self.top_k]
            self._patches[index] = panel(labels or (("no label", None),), size=self.size)
        return self._patches[index]

    def __call__(self, frame, t: float) -> list[Rect]:
        """Draw on ``frame`` (an RGB array, or a :class:`~vidkit.viz.draw.YUVCanvas`) as it shows at ``t``."""
        target = canvas(frame)
        drawn: list[Rect] = []
        index = segment_at(self.segments, t)
        if index is not None:
            rect = target.blend(self.patch(index), self.margin, self.margin)
            if rect:
                drawn.append(rect)
        drawn.append(draw_timeline(target, self.bar, t, self.duration_s))
        drawn += self._draw_boxes(target, t)
        return drawn

    def _draw_boxes(self, target, t: float) -> list[Rect]:
        height, width = target.height, target.width
        drawn = []
        for person in self.boxes:
            if abs(person.time_s - t) > self.box_window_s:
                continue
            x1, y1, x2, y2 = person.box
            pixels = (x1 * width, y1 * height, x2 * width, y2 * height)
            color = label_color(person.labels[0][0]) if person.labels else (255, 255, 255)
            drawn.append(draw_box(target, pixels, color, thickness=max(2, height // 200)))
            caption = self._caption(person)
            rect = target.blend(caption, max(0, int(pixels[1]) - caption.shape[0]), int(pixels[0]))
            if rect:
                drawn.append(rect)
        return drawn


class LiveOverlay:
    """What ``vidkit watch --draw`` draws on each frame of a live source: the last scored window's labels
    (top-left) and, along the bottom, the last ``history_s`` seconds of windows in their top label's colour
    (the newest at the right edge). :meth:`update` is called as windows are scored (the model's thread),
    the overlay on frames as they arrive (the reading thread)."""

    def __init__(self, *, height: int, width: int, top_k: int = 3, history_s: float = 30.0):
        self.size = text_size(height)
        self.margin = max(2, height // 60)
        self.bar_height = max(4, height // 40)
        self.top_k, self.history_s = top_k, history_s
        self._lock = threading.Lock()
        self._patch: np.ndarray | None = None
        self._history: collections.deque = collections.deque()  # (start_s, end_s, colour)

    def update(self, start_s: float, end_s: float, labels: Sequence[tuple[str, float]]) -> None:
        patch = panel(labels[: self.top_k] or (("no label", None),), size=self.size)
        color = label_color(labels[0][0]) if labels else (48, 48, 48)
        with self._lock:
            self._patch = patch
            self._history.append((start_s, end_s, color))
            while self._history and self._history[0][1] < end_s - self.history_s:
                self._history.popleft()

    def __call__(self, frame, t: float) -> list[Rect]:
        with self._lock:
            patch, history = self._patch, tuple(self._history)
        target = canvas(frame)
        height, width = target.height, target.width
        drawn = []
        if patch is not None and (rect := target.blend(patch, self.margin, self.margin)):
            drawn.append(rect)
        h = min(self.bar_height, height)
        target.fill(height - h, 0, h, width, (48, 48, 48))
        scale = width / self.history_s
        for start, end, color in history:  # a few dozen windows: slices of the strip, not pixels
            a, b = max(0, int(width - (t - start) * scale)), min(width, int(round(width - (t - end) * scale)))
            if b > a:
                target.fill(height - h, a, h, b - a, color)
        drawn.append((height - h, 0, h, width))
        return drawn


__all__ = ["LabelOverlay", "LiveOverlay", "PersonBox", "Segment", "segment_at"]
