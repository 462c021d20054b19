"""The watcher's windows, hand-over and streaming, on a made-up source: windows planned as `vidkit tag`
plans its segments; a model slower than the source drops the oldest windows, counted, with memory that
does not grow with the stream; a file read as fast as it decodes drops nothing; a reconnect starts the
windows and the streaming model's caches over; stop() ends a run."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from vidkit.data.views import ViewSpec
from vidkit.engine.watcher import Handoff, Watcher, WindowCutter
from vidkit.io.live import LiveFrame, LiveStats

SPEC = ViewSpec(num_clips=1, num_crops=1, num_frames=4, interval_s=0.1, crop_size=16, test_scale=16)


class FakeSource:
    """``seconds`` of frames at ``fps`` (each frame's value its index), as fast as asked, or ``pace`` s apart;
    ``cut_at``: frame indices where a new connection starts."""

    def __init__(self, seconds: float, fps: float = 10.0, *, pace: float = 0.0, cut_at=()):
        self.n, self.fps, self.pace, self.cut_at = round(seconds * fps), fps, pace, set(cut_at)
        self.stats = LiveStats(fps=fps)
        self._stop = threading.Event()

    def stop(self):
        self._stop.set()

    def frames(self):
        connection = 0
        for i in range(self.n):
            if self._stop.is_set():
                return
            if i in self.cut_at:
                connection += 1
            if self.pace:
                time.sleep(self.pace)
            rgb = np.full((16, 20, 3), i % 256, dtype=np.uint8)
            self.stats.frames += 1
            yield LiveFrame(rgb, i / self.fps, time.monotonic(), connection)


class Mean(nn.Module):
    """Scores from the clip's mean brightness (so a window's frames show in its scores); ``delay_s`` per call."""

    def __init__(self, delay_s: float = 0.0):
        super().__init__()
        self.delay_s = delay_s
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        time.sleep(self.delay_s)
        m = x.mean(dim=(1, 2, 3, 4))
        return torch.stack([m, -m], 1)


def _watch(source, model, **kwargs):
    watcher = Watcher(source, model, spec=SPEC, transform=_Identity(), device=torch.device("cpu"), **kwargs)
    return watcher, list(watcher.run())


class _Identity:
    def normalize(self, views):
        return views.permute(0, 4, 1, 2, 3).float()


def _tag_windows(seconds: float, fps: float, window_s: float, hop_s: float):
    """The (start, end) of each window `vidkit tag --segments window_s --stride hop_s` cuts from a video of
    ``seconds``: one every ``hop_s``, the last the first to reach the end, cut short there."""
    count = 1 + max(0, math.ceil((seconds - window_s - 1e-6) / hop_s))
    return [(round(k * hop_s, 6), round(min(k * hop_s + window_s, seconds), 6)) for k in range(count)]


@pytest.mark.parametrize("seconds,window_s,hop_s", [(10.0, 2.0, 0.5), (10.3, 2.0, 0.5), (7.0, 1.0, 1.5)])
def test_windows_are_tags_segments(seconds, window_s, hop_s):
    cutter = WindowCutter(SPEC, window_s=window_s, hop_s=hop_s)
    windows = []
    for frame in FakeSource(seconds).frames():
        windows += cutter.push(frame, 10.0)
    windows += cutter.finish()
    assert [(round(w.start_s, 6), round(w.end_s, 6)) for w in windows] == _tag_windows(seconds, 10.0, window_s, hop_s)
    # each window's frames are those its sampler plans: the centred clip of 4 frames 0.1 s apart
    first = windows[0]
    middle = (first.start_s + first.end_s - 0.1) / 2
    expected = [round((middle - 0.15 + 0.1 * i) * 10) for i in range(4)]
    assert first.frames[:, 0, 0, 0].tolist() == expected
    assert cutter.peak <= window_s * 10 + 2  # a window's frames, and one before it


def test_a_model_slower_than_the_source_drops_the_oldest_in_flat_memory():
    peaks = []
    for seconds in (4.0, 12.0):
        source = FakeSource(seconds, fps=50, pace=0.002)
        watcher, events = _watch(source, Mean(delay_s=0.05), hop_s=0.1, queue=2, drop="oldest", batch_size=1)
        assert watcher.handoff.dropped > 0 and watcher.handoff.peak <= 2
        assert len(events) + watcher.handoff.dropped == round((seconds - 2.0) / 0.1) + 1
        starts = [e.start_s for e in events]
        assert starts == sorted(starts)
        peaks.append(watcher.peak_frames)
    assert peaks[0] == peaks[1] <= 2 * 50 + 2 + 2 * SPEC.num_frames  # the same three times as long


def test_block_drops_nothing():
    watcher, events = _watch(FakeSource(6.0), Mean(delay_s=0.01), hop_s=0.5, queue=1, drop="block")
    assert watcher.handoff.dropped == 0 and len(events) == len(_tag_windows(6.0, 10.0, 2.0, 0.5))


def test_a_reconnect_starts_the_windows_over():
    watcher, events = _watch(FakeSource(8.0, cut_at=[40]), Mean(), hop_s=1.0, drop="block")
    assert [(e.start_s, e.end_s) for e in events] == [
        (0.0, 2.0),
        (1.0, 3.0),
        (2.0, 4.0),
        (4.0, 6.0),
        (5.0, 7.0),
        (6.0, 8.0),
    ]


class Streaming(nn.Module):
    """A streaming model whose frame scores are its running count of frames since its caches started."""

    streamable = True

    def __init__(self):
        super().__init__()
        self.seen, self.starts = 0, 0

    def streaming(self):
        import contextlib

        @contextlib.contextmanager
        def context():
            self.seen, self.starts = 0, self.starts + 1
            yield self

        return context()

    def step(self, x):  # [V, 3, t, H, W] -> [V, t, 2]
        t = x.shape[2]
        counts = torch.arange(self.seen + 1, self.seen + t + 1, dtype=torch.float32)
        self.seen += t
        return torch.stack([counts, torch.zeros(t)], -1)[None].expand(x.shape[0], t, 2).log()


def test_streaming_steps_every_frame_and_restarts_its_caches_on_a_reconnect():
    model = Streaming()
    watcher, events = _watch(
        FakeSource(6.0, cut_at=[30]), model, stream=True, step_s=0.1, window_s=1.0, hop_s=1.0, drop="block"
    )
    assert model.starts == 2
    assert [(round(e.start_s, 6), round(e.end_s, 6), e.frames) for e in events] == [
        (0.0, 1.0, 10),
        (1.0, 2.0, 10),
        (2.0, 3.0, 10),
        (3.0, 4.0, 10),
        (4.0, 5.0, 10),
        (5.0, 6.0, 10),
    ]


def test_steps_finer_than_the_frames_take_every_frame():
    # a model trained at 25 steps a second on a 10 fps stream: each frame is stepped, each window closed by its last
    watcher, events = _watch(
        FakeSource(4.0), Streaming(), stream=True, step_s=0.04, window_s=1.0, hop_s=1.0, drop="block"
    )
    assert [(round(e.start_s, 6), round(e.end_s, 6), e.frames) for e in events] == [
        (0.0, 1.0, 10),
        (1.0, 2.0, 10),
        (2.0, 3.0, 10),
        (3.0, 4.0, 10),
    ]


def test_stop_ends_a_run_of_an_endless_source():
    source = FakeSource(10_000.0, pace=0.001)
    watcher = Watcher(source, Mean(), spec=SPEC, transform=_Identity(), device=torch.device("cpu"), drop="oldest")
    threading.Timer(1.0, watcher.stop).start()
    started = time.monotonic()
    events = list(watcher.run())
    assert events and time.monotonic() - started < 5


def test_handoff_policies():
    stop = threading.Event()
    oldest = Handoff(2, "oldest")
    for i in range(5):
        oldest.put(i, stop=stop)
    assert oldest.take(10, 0.1) == [3, 4] and oldest.dropped == 3
    oldest.close()
    assert oldest.take(10, 0.1) is None
    with pytest.raises(ValueError, match="drop 'newest'"):
        Handoff(2, "newest")
