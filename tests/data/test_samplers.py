"""The clip samplers on made-up video timings: counts, spacing, bounds, the papers' placement rules,
determinism, padding and argument checks. No decoding here (tests/data/test_clips.py decodes)."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from vidkit.data.samplers import (
    ClipPlan,
    MultiViewSampler,
    RandomClipSampler,
    SegmentSampler,
    UniformClipSampler,
)
from vidkit.io import VideoInfo


def timing(duration_s: float, fps: float, start_s: float = 0.0) -> VideoInfo:
    """A VideoInfo with only the timing filled in meaningfully: what the samplers read."""
    return VideoInfo(
        path="made-up.mp4",
        backend="none",
        container="mp4",
        codec="h264",
        width=64,
        height=48,
        fps=fps,
        duration_s=duration_s,
        num_frames=1,
        num_frames_exact=False,
        is_vfr=False,
        rotation=0,
        has_b_frames=False,
        start_s=start_s,
    )


def last_frame(video: VideoInfo) -> float:
    return video.start_s + max(video.duration_s - 1 / video.fps, 0.0)


def spacing(plan: ClipPlan) -> list[float]:
    return [b - a for a, b in zip(plan.timestamps, plan.timestamps[1:])]


# -- RandomClipSampler -------------------------------------------------------------------------


def test_random_clip_has_num_frames_at_exact_spacing_within_the_video():
    video = timing(10.0, 30.0, start_s=1.5)
    sampler = RandomClipSampler(num_frames=8, interval_s=0.25)
    for seed in range(50):
        [plan] = sampler(video, rng=random.Random(seed))
        assert plan.num_frames == 8
        assert spacing(plan) == pytest.approx([0.25] * 7)
        assert video.start_s <= plan.timestamps[0] and plan.timestamps[-1] <= last_frame(video) + 1e-9
        assert plan.start_s == plan.timestamps[0]
        assert plan.end_s == pytest.approx(plan.start_s + 8 * 0.25)
        assert (plan.clip_index, plan.num_clips, plan.crop_index, plan.num_crops, plan.padded) == (0, 1, None, 1, False)


def test_from_sampling_rate_speaks_pyslowfast_terms():
    # SlowFast 8x8: every 8th frame at 30 fps.
    assert RandomClipSampler.from_sampling_rate(num_frames=8, sampling_rate=8).interval_s == pytest.approx(8 / 30)
    assert RandomClipSampler.from_sampling_rate(
        num_frames=32, sampling_rate=2, target_fps=15
    ).interval_s == pytest.approx(2 / 15)
    uniform = UniformClipSampler.from_sampling_rate(num_clips=10, num_frames=8, sampling_rate=8)
    assert (uniform.num_clips, uniform.num_frames, uniform.interval_s) == (10, 8, pytest.approx(8 / 30))


def test_random_clip_is_deterministic_given_the_seed():
    video = timing(10.0, 30.0)
    sampler = RandomClipSampler(num_frames=8, interval_s=8 / 30)
    assert sampler(video, rng=random.Random(7)) == sampler(video, rng=random.Random(7))
    starts = {sampler(video, rng=random.Random(seed))[0].start_s for seed in range(20)}
    assert len(starts) == 20


def test_random_clip_draws_once_per_call_so_sequences_stay_aligned():
    video, short = timing(10.0, 30.0), timing(0.1, 30.0)
    sampler = RandomClipSampler(num_frames=8, interval_s=0.1)
    a, b = random.Random(3), random.Random(3)
    sampler(video, rng=a)
    sampler(short, rng=b)  # no room to move: still one draw
    assert a.random() == b.random()


def test_random_starts_cover_the_valid_range_uniformly():
    video = timing(10.0, 25.0, start_s=2.0)
    sampler = RandomClipSampler(num_frames=16, interval_s=0.1)
    delta = last_frame(video) - video.start_s - 15 * 0.1
    rng = random.Random(0)
    offsets = [sampler(video, rng=rng)[0].start_s - video.start_s for _ in range(4000)]
    assert 0 <= min(offsets) < 0.01 * delta
    assert 0.99 * delta < max(offsets) <= delta + 1e-9
    bins = [0] * 10
    for x in offsets:
        bins[min(int(x / delta * 10), 9)] += 1
    assert all(300 <= count <= 500 for count in bins), bins  # 400 expected per bin


def test_random_sampler_requires_an_rng():
    with pytest.raises(ValueError, match="rng=random.Random"):
        RandomClipSampler(num_frames=4, interval_s=0.1)(timing(5.0, 30.0))
    with pytest.raises(ValueError, match="random.Random"):
        RandomClipSampler(num_frames=4, interval_s=0.1)(timing(5.0, 30.0), rng=42)


# -- UniformClipSampler ------------------------------------------------------------------------


@pytest.mark.parametrize("num_clips", [2, 3, 10])
def test_uniform_clips_follow_pyslowfast_offset_rule_and_cover_the_video(num_clips):
    video = timing(12.0, 30.0, start_s=0.5)
    sampler = UniformClipSampler(num_clips=num_clips, num_frames=8, interval_s=8 / 30)
    plans = sampler(video)
    first, last = video.start_s, last_frame(video)
    delta = last - first - 7 * 8 / 30
    assert [p.clip_index for p in plans] == list(range(num_clips))
    assert all(p.num_clips == num_clips and p.num_frames == 8 and not p.padded for p in plans)
    assert [p.start_s for p in plans] == pytest.approx([first + delta * i / (num_clips - 1) for i in range(num_clips)])
    assert plans[0].timestamps[0] == pytest.approx(first)
    assert plans[-1].timestamps[-1] == pytest.approx(last)
    # symmetric about the middle of the video
    for i in range(num_clips):
        head = plans[i].timestamps[0] - first
        tail = last - plans[num_clips - 1 - i].timestamps[-1]
        assert head == pytest.approx(tail, abs=1e-9)
    for p in plans:
        assert spacing(p) == pytest.approx([8 / 30] * 7)


def test_single_uniform_clip_is_centred():
    video = timing(10.0, 25.0)
    [plan] = UniformClipSampler(num_clips=1, num_frames=8, interval_s=0.2)(video)
    assert plan.timestamps[0] - video.start_s == pytest.approx(last_frame(video) - plan.timestamps[-1])


def test_uniform_clips_ignore_rng():
    video = timing(10.0, 25.0)
    sampler = UniformClipSampler(num_clips=4, num_frames=8, interval_s=0.2)
    assert sampler(video) == sampler(video, rng=random.Random(1)) == sampler(video, rng=random.Random(2))


# -- SegmentSampler ----------------------------------------------------------------------------


def test_segment_centres_are_exact():
    video = timing(10.0, 30.0, start_s=1.0)
    [plan] = SegmentSampler(num_segments=8, mode="test")(video)
    # The segments split [start - 1/2 frame, start + duration - 1/2 frame): the times nearest each frame.
    origin, seg = 1.0 - 0.5 / 30, 10.0 / 8
    assert plan.timestamps == pytest.approx([origin + (k + 0.5) * seg for k in range(8)])
    assert (plan.start_s, plan.end_s) == (pytest.approx(1.0), pytest.approx(11.0))
    assert (plan.num_clips, plan.padded) == (1, False)


@pytest.mark.parametrize(("num_frames", "num_segments"), [(300, 8), (250, 7), (97, 3), (24, 8)])
def test_segment_test_mode_picks_tsn_frames(num_frames, num_segments):
    # TSN's test rule in frame indices: int(tick / 2 + tick * k), tick = num_frames / num_segments.
    fps = 30.0
    [plan] = SegmentSampler(num_segments=num_segments, mode="test")(timing(num_frames / fps, fps))
    nearest = [round(t * fps) for t in plan.timestamps]
    tick = num_frames / num_segments
    assert nearest == [int(tick / 2 + tick * k) for k in range(num_segments)]


def test_one_segment_per_frame_takes_every_frame_once():
    [plan] = SegmentSampler(num_segments=8, mode="test")(timing(8 / 25, 25.0))
    assert plan.timestamps == pytest.approx([k / 25 for k in range(8)])


def test_segment_train_takes_one_random_time_per_segment():
    video = timing(24 / 30, 30.0)  # 24 frames, 3 per segment
    sampler = SegmentSampler(num_segments=8, mode="train")
    rng = random.Random(0)
    counts = [[0, 0, 0] for _ in range(8)]
    for _ in range(3000):
        [plan] = sampler(video, rng=rng)
        assert plan.num_frames == 8 and list(plan.timestamps) == sorted(plan.timestamps)
        for k, t in enumerate(plan.timestamps):
            frame = round(t * 30)
            assert 3 * k <= frame < 3 * k + 3  # the frame nearest to the time lies in segment k
            counts[k][frame - 3 * k] += 1
    # every frame of a segment equally likely (1000 expected each)
    assert all(850 <= c <= 1150 for seg in counts for c in seg), counts
    assert sampler(video, rng=random.Random(5)) == sampler(video, rng=random.Random(5))
    assert sampler(video, rng=random.Random(5)) != sampler(video, rng=random.Random(6))
    with pytest.raises(ValueError, match="rng="):
        sampler(video)


def test_segments_on_a_video_with_fewer_frames_repeat_frames():
    [plan] = SegmentSampler(num_segments=8, mode="test")(timing(4 / 25, 25.0))
    assert sorted({round(t * 25) for t in plan.timestamps}) == [0, 1, 2, 3]
    assert all(0 <= t <= 3 / 25 + 1e-9 for t in plan.timestamps)
    assert not plan.padded


# -- MultiViewSampler --------------------------------------------------------------------------


def test_multi_view_is_clips_times_crops_clip_major():
    video = timing(10.0, 30.0)
    temporal = UniformClipSampler(num_clips=10, num_frames=8, interval_s=8 / 30)
    plans = MultiViewSampler(temporal=temporal, num_crops=3)(video)
    clips = temporal(video)
    assert len(plans) == 30
    assert [(p.clip_index, p.crop_index) for p in plans] == [(i, c) for i in range(10) for c in range(3)]
    assert all(p.num_clips == 10 and p.num_crops == 3 for p in plans)
    for i, clip in enumerate(clips):
        for c in range(3):
            assert plans[3 * i + c] == dataclasses.replace(clip, crop_index=c, num_crops=3)


def test_multi_view_passes_rng_to_a_random_temporal_sampler():
    video = timing(10.0, 30.0)
    sampler = MultiViewSampler(temporal=RandomClipSampler(num_frames=4, interval_s=0.1), num_crops=2)
    a, b = sampler(video, rng=random.Random(9))
    assert a.timestamps == b.timestamps and (a.crop_index, b.crop_index) == (0, 1)
    assert sampler(video, rng=random.Random(9)) == [a, b]


# -- short videos and padding ------------------------------------------------------------------


def test_short_video_gives_a_full_clip_repeating_the_last_frame():
    video = timing(6 / 25, 25.0)  # frames at 0, 0.04, ..., 0.20
    [plan] = RandomClipSampler(num_frames=10, interval_s=0.04)(video, rng=random.Random(0))
    assert plan.padded
    assert plan.timestamps == pytest.approx([0.0, 0.04, 0.08, 0.12, 0.16, 0.20, 0.20, 0.20, 0.20, 0.20])
    assert (plan.start_s, plan.end_s) == (0.0, pytest.approx(0.24))  # cut at the video's end


def test_clip_that_fits_exactly_is_not_padded():
    video = timing(8 / 30, 30.0)
    [plan] = UniformClipSampler(num_clips=1, num_frames=8, interval_s=1 / 30)(video)
    assert not plan.padded
    assert plan.timestamps == pytest.approx([k / 30 for k in range(8)])


def test_uniform_clips_on_a_short_video_all_start_at_the_first_frame():
    video = timing(0.3, 10.0)
    plans = UniformClipSampler(num_clips=3, num_frames=5, interval_s=0.1)(video)
    assert all(p.padded and p.timestamps == pytest.approx([0.0, 0.1, 0.2, 0.2, 0.2]) for p in plans)


@pytest.mark.parametrize("duration_s", [1 / 25, 0.0])  # containers report either for one frame
def test_one_frame_video(duration_s):
    video = timing(duration_s, 25.0, start_s=3.0)
    [plan] = RandomClipSampler(num_frames=4, interval_s=0.1)(video, rng=random.Random(0))
    assert plan.timestamps == (3.0,) * 4 and plan.padded
    [single] = RandomClipSampler(num_frames=1, interval_s=0.1)(video, rng=random.Random(0))
    assert single.timestamps == (3.0,) and not single.padded
    assert all(p.timestamps == (3.0,) * 2 for p in UniformClipSampler(num_clips=3, num_frames=2, interval_s=0.5)(video))
    [segments] = SegmentSampler(num_segments=5, mode="train")(video, rng=random.Random(0))
    assert segments.timestamps == (3.0,) * 5
    assert segments.end_s > segments.start_s


# -- argument checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: RandomClipSampler(num_frames=0, interval_s=0.1),
        lambda: RandomClipSampler(num_frames=-2, interval_s=0.1),
        lambda: RandomClipSampler(num_frames=2.5, interval_s=0.1),
        lambda: RandomClipSampler(num_frames=True, interval_s=0.1),
        lambda: RandomClipSampler(num_frames=4, interval_s=0),
        lambda: RandomClipSampler(num_frames=4, interval_s=-0.1),
        lambda: RandomClipSampler(num_frames=4, interval_s=math.nan),
        lambda: RandomClipSampler(num_frames=4, interval_s=math.inf),
        lambda: RandomClipSampler.from_sampling_rate(num_frames=4, sampling_rate=0),
        lambda: RandomClipSampler.from_sampling_rate(num_frames=4, sampling_rate=2, target_fps=0),
        lambda: UniformClipSampler(num_clips=0, num_frames=4, interval_s=0.1),
        lambda: UniformClipSampler(num_clips=3, num_frames=0, interval_s=0.1),
        lambda: SegmentSampler(num_segments=0, mode="test"),
        lambda: SegmentSampler(num_segments=8, mode="val"),
        lambda: MultiViewSampler(temporal=UniformClipSampler(num_clips=3, num_frames=4, interval_s=0.1), num_crops=0),
        lambda: MultiViewSampler(temporal="uniform", num_crops=3),
    ],
)
def test_bad_arguments_raise_value_error(build):
    with pytest.raises(ValueError):
        build()


def test_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="num_frames must be a positive int, got 0"):
        RandomClipSampler(num_frames=0, interval_s=0.1)
    with pytest.raises(ValueError, match="mode must be 'train' or 'test'"):
        SegmentSampler(num_segments=8, mode="val")


def test_samplers_are_keyword_only():
    with pytest.raises(TypeError):
        RandomClipSampler(8, 0.1)


@pytest.mark.parametrize(
    "video",
    [
        timing(10.0, 0.0),
        timing(10.0, math.nan),
        timing(math.nan, 30.0),
        timing(-1.0, 30.0),
        timing(10.0, 30.0, start_s=math.inf),
    ],
)
def test_unusable_video_timing_raises_value_error(video):
    with pytest.raises(ValueError, match="video"):
        UniformClipSampler(num_clips=3, num_frames=4, interval_s=0.1)(video)


def test_clip_plan_checks_itself_and_is_frozen():
    with pytest.raises(ValueError, match="at least one timestamp"):
        ClipPlan(timestamps=(), start_s=0.0, end_s=1.0)
    with pytest.raises(ValueError, match="crop_index"):
        ClipPlan(timestamps=(0.0,), start_s=0.0, end_s=1.0, crop_index=3, num_crops=3)
    with pytest.raises(ValueError, match="clip_index"):
        ClipPlan(timestamps=(0.0,), start_s=0.0, end_s=1.0, clip_index=1, num_clips=1)
    plan = ClipPlan(timestamps=(0.0,), start_s=0.0, end_s=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.padded = True
