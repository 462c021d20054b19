"""Reading planned clips from real encoded files: the right frames come back (each test video carries
its frame index as a bit pattern), variable frame rate is sampled by time, and every view of a
video comes from one ``read_at`` call."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from vidkit.data.clips import Clip, read_clips, sample_clips
from vidkit.data.samplers import ClipPlan, MultiViewSampler, RandomClipSampler, SegmentSampler, UniformClipSampler
from vidkit.io import open_video
from vidkit.io.encode import write_video

H, W, BITS = 48, 64, 8  # eight 8-pixel-wide blocks across the top: frame index in binary


def marked_frames(n: int) -> list[np.ndarray]:
    """Grey frames whose top 16 rows spell the frame index in black/white blocks (least bit left):
    blocks survive lossy compression that would blur a grey-level code."""
    frames = []
    for i in range(n):
        image = np.full((H, W, 3), 128, dtype=np.uint8)
        for b in range(BITS):
            image[:16, 8 * b : 8 * b + 8] = 255 if (i >> b) & 1 else 0
        frames.append(image)
    return frames


def frame_indices(frames: torch.Tensor) -> list[int]:
    """Read the index back from each frame of ``[T, H, W, 3]``, from the blocks' inner pixels."""
    blocks = torch.stack(
        [frames[:, 4:12, 8 * b + 2 : 8 * b + 6].float().mean(dim=(1, 2, 3)) for b in range(BITS)], dim=1
    )
    return [sum(1 << b for b in range(BITS) if bright[b]) for bright in (blocks > 128).tolist()]


def nearest(times: list[float], written: list[float]) -> list[set[int]]:
    """For each time, the indices of the written frames nearest to it (two on an exact tie)."""
    out = []
    for t in times:
        gaps = [abs(w - t) for w in written]
        best = min(gaps)
        out.append({k for k, g in enumerate(gaps) if g - best < 1e-6})
    return out


class CountingReader:
    """Wraps a reader and counts ``read_at`` calls, keeping the last result."""

    def __init__(self, reader):
        self.reader, self.info, self.path = reader, reader.info, reader.path
        self.calls: list[list[float]] = []
        self.last = None

    def read_at(self, timestamps):
        self.calls.append(list(timestamps))
        self.last = self.reader.read_at(timestamps)
        return self.last


CFR_FPS, CFR_FRAMES = 25.0, 50
VFR_TIMES = [k * 0.1 for k in range(10)] + [1.0 + k / 30 for k in range(30)]  # 10 fps for 1 s, then 30 fps


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return {
        "cfr": write_video(root / "cfr.mp4", marked_frames(CFR_FRAMES), fps=CFR_FPS),
        "vfr": write_video(root / "vfr.mp4", marked_frames(len(VFR_TIMES)), fps=30, timestamps=VFR_TIMES),
        "short": write_video(root / "short.mp4", marked_frames(6), fps=25),
        "one": write_video(root / "one.mp4", marked_frames(1), fps=25),
    }


def test_marker_survives_encoding(videos):
    with open_video(videos["cfr"]) as video:
        frames = next(video.stream(chunk_size=CFR_FRAMES))
    assert frame_indices(frames.data) == list(range(CFR_FRAMES))


def test_clips_hold_the_frames_nearest_to_the_planned_times(videos, backend):
    written = [k / CFR_FPS for k in range(CFR_FRAMES)]
    sampler = RandomClipSampler(num_frames=8, interval_s=0.07)  # not a multiple of the frame period
    with open_video(videos["cfr"], backend=backend) as video:
        for seed in range(5):
            [clip] = read_clips(video, sampler(video.info, rng=random.Random(seed)))
            got = frame_indices(clip.frames)
            assert all(g in want for g, want in zip(got, nearest(list(clip.plan.timestamps), written)))
            assert clip.pts.dtype == torch.float64
            assert clip.pts.tolist() == pytest.approx([written[g] for g in got], abs=1e-3)
            assert clip.frames.dtype == torch.uint8 and clip.frames.shape == (8, H, W, 3)
            assert not clip.plan.padded and clip.warnings == []


def test_variable_frame_rate_is_sampled_by_time(videos, backend):
    sampler = UniformClipSampler(num_clips=1, num_frames=19, interval_s=0.1)
    with open_video(videos["vfr"], backend=backend) as video:
        assert video.info.is_vfr
        [clip] = read_clips(video, sampler(video.info))
        fps, start = video.info.fps, video.info.start_s
    times = list(clip.plan.timestamps)
    got = frame_indices(clip.frames)
    want = nearest(times, VFR_TIMES)
    assert all(g in w for g, w in zip(got, want)), (got, want)
    # 0.1 s apart is one frame apart in the 10 fps second and three frames apart in the 30 fps one.
    steps = [b - a for a, b in zip(got, got[1:])]
    assert steps[:8] == [1] * 8 and steps[-7:] == [3] * 7, got
    # A sampler that takes frame round(t * fps) from the average frame rate gets most of them wrong.
    naive = [min(round((t - start) * fps), len(VFR_TIMES) - 1) for t in times]
    wrong = sum(n not in w for n, w in zip(naive, want))
    assert wrong >= len(times) // 2, naive


def test_segment_sampling_on_a_file_takes_tsn_frames(videos):
    with open_video(videos["cfr"]) as video:
        [clip] = read_clips(video, SegmentSampler(num_segments=8, mode="test")(video.info))
    tick = CFR_FRAMES / 8
    assert frame_indices(clip.frames) == [int(tick / 2 + tick * k) for k in range(8)]


def test_multi_view_reads_once_and_matches_reading_each_clip(videos, backend):
    sampler = MultiViewSampler(temporal=UniformClipSampler(num_clips=5, num_frames=4, interval_s=0.2), num_crops=3)
    with open_video(videos["cfr"], backend=backend) as video:
        counting = CountingReader(video)
        plans = sampler(video.info)
        clips = read_clips(counting, plans)
        assert len(counting.calls) == 1
        # each distinct time asked for once, in order
        assert counting.calls[0] == sorted({t for p in plans for t in p.timestamps})
        one_by_one = [read_clips(video, [plan])[0] for plan in plans]
    assert [c.plan for c in clips] == plans
    for clip, alone in zip(clips, one_by_one):
        assert torch.equal(clip.frames, alone.frames) and torch.equal(clip.pts, alone.pts)
    # the three crops of a temporal clip share one tensor rather than three copies
    for i in range(5):
        assert clips[3 * i].frames is clips[3 * i + 1].frames is clips[3 * i + 2].frames
    written = [k / CFR_FPS for k in range(CFR_FRAMES)]
    for clip in clips:
        assert all(g in w for g, w in zip(frame_indices(clip.frames), nearest(list(clip.plan.timestamps), written)))


def test_a_single_training_clip_is_a_view_of_the_decoded_frames(videos):
    with open_video(videos["cfr"]) as video:
        counting = CountingReader(video)
        [clip] = read_clips(
            counting, RandomClipSampler(num_frames=8, interval_s=0.08)(video.info, rng=random.Random(1))
        )
    assert clip.frames.data_ptr() == counting.last.data.data_ptr()


def test_short_video_pads_by_repeating_the_last_frame(videos, backend):
    with open_video(videos["short"], backend=backend) as video:  # 6 frames, 0.24 s
        [clip] = read_clips(video, RandomClipSampler(num_frames=10, interval_s=0.04)(video.info, rng=random.Random(0)))
        [strided] = read_clips(
            video, RandomClipSampler(num_frames=4, interval_s=0.08)(video.info, rng=random.Random(0))
        )
    assert clip.plan.padded and strided.plan.padded
    assert frame_indices(clip.frames) == [0, 1, 2, 3, 4, 5, 5, 5, 5, 5]
    assert frame_indices(strided.frames) == [0, 2, 4, 5]
    assert clip.warnings == []  # padding is planned, not the decoder running out of frames


def test_one_frame_video_gives_full_clips(videos, backend):
    clips = sample_clips(videos["one"], UniformClipSampler(num_clips=2, num_frames=4, interval_s=0.1), backend=backend)
    assert len(clips) == 2
    for clip in clips:
        assert clip.frames.shape == (4, H, W, 3) and clip.plan.padded
        assert frame_indices(clip.frames) == [0, 0, 0, 0]


def test_sample_clips_opens_a_path_or_uses_an_open_reader(videos):
    sampler = RandomClipSampler(num_frames=6, interval_s=0.12)
    from_path = sample_clips(videos["cfr"], sampler, rng=random.Random(4))
    with open_video(videos["cfr"]) as video:
        from_reader = sample_clips(video, sampler, rng=random.Random(4))
        video.read_at([0.0])  # left open
    assert [c.plan for c in from_path] == [c.plan for c in from_reader]
    assert torch.equal(from_path[0].frames, from_reader[0].frames)
    assert isinstance(from_path[0], Clip)


def test_read_clips_with_no_plans_reads_nothing(videos):
    with open_video(videos["cfr"]) as video:
        counting = CountingReader(video)
        assert read_clips(counting, []) == []
    assert counting.calls == []


def test_decoder_warnings_reach_every_clip(videos):
    # A hand-made plan past the end (samplers never make one) makes the reader warn.
    late = ClipPlan(timestamps=(1.0, 5.0), start_s=1.0, end_s=5.0)
    early = ClipPlan(timestamps=(0.0, 0.04), start_s=0.0, end_s=0.08)
    with open_video(videos["cfr"]) as video:
        clips = read_clips(video, [early, late])
    assert frame_indices(clips[1].frames) == [25, CFR_FRAMES - 1]
    assert all(any("past the last frame" in w for w in c.warnings) for c in clips)
