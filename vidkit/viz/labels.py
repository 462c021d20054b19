"""What ``vidkit render`` draws on each frame of a video: the labels of the segment playing, a timeline of
every segment's label along the bottom, and people's boxes with their actions around their keyframes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidkit.viz.draw import Rect, blend, draw_box, draw_timeline, label_color, panel, text_size


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

    def _timeline(self, width: int, height: int) -> np.ndarray:
        """Each column in the colour of the label playing at its time (dark grey where nothing is)."""
        bar = np.full((height, width, 3), 48, dtype=np.uint8)
        if not self.segments:
            return bar
        playing = segment_at(self.segments, (np.arange(width) + 0.5) * self.duration_s / width)
        colors = np.array([label_color(s.labels[0][0]) if s.labels else (48, 48, 48) for s in self.segments], np.uint8)
        bar[:, playing >= 0] = colors[playing[playing >= 0]]
        return bar

    def patch(self, index: int) -> np.ndarray:
        if index not in self._patches:
            labels = self.segments[index].labels[: self.top_k]
            self._patches[index] = panel(labels or (("no label", None),), size=self.size)
        return self._patches[index]

    def __call__(self, frame: np.ndarray, t: float) -> list[Rect]:
        drawn: list[Rect] = []
        index = segment_at(self.segments, t)
        if index is not None:
            rect = blend(frame, self.patch(index), self.margin, self.margin)
            if rect:
                drawn.append(rect)
        drawn.append(draw_timeline(frame, self.bar, t, self.duration_s))
        drawn += self._draw_boxes(frame, t)
        return drawn

    def _draw_boxes(self, frame: np.ndarray, t: float) -> list[Rect]:
        height, width = frame.shape[:2]
        drawn = []
        for person in self.boxes:
            if abs(person.time_s - t) > self.box_window_s:
                continue
            x1, y1, x2, y2 = person.box
            pixels = (x1 * width, y1 * height, x2 * width, y2 * height)
            color = label_color(person.labels[0][0]) if person.labels else (255, 255, 255)
            drawn.append(draw_box(frame, pixels, color, thickness=max(2, height // 200)))
            caption = panel(person.labels[: self.top_k], size=max(10, self.size * 2 // 3))
            rect = blend(frame, caption, max(0, int(pixels[1]) - caption.shape[0]), int(pixels[0]))
            if rect:
                drawn.append(rect)
        return drawn


__all__ = ["LabelOverlay", "PersonBox", "Segment", "segment_at"]
