"""The readers on a codec / container matrix of small files the tests write (H.264 with and without
B-frames, HEVC, VP9, MPEG-4 part 2, AV1, variable frame rate, odd size, one frame, rotated): what
``info`` says, that streaming gives every frame once and in order in bounded chunks, and that
``read_at`` returns the frame nearest to each time, seeking across GOPs when times are far apart.

Every frame carries its index as a block pattern (see conftest), so each check is on *which* frame
came back. Reader behaviour is checked through both backends; ``info`` is PyAV's (decord's copies it)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from vidkit.io import open_video, probe


def _all(chunks) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    chunks = list(chunks)
    data = torch.cat([c.data for c in chunks]) if chunks else torch.empty(0, dtype=torch.uint8)
    pts = torch.cat([c.pts for c in chunks]) if chunks else torch.empty(0, dtype=torch.float64)
    return data, pts, [w for c in chunks for w in c.warnings]


def _display(video) -> tuple[int, int]:
    return (video.width, video.height) if video.rotation in (90, 270) else (video.height, video.width)


# -- info -------------------------------------------------------------------------------------


def test_info_describes_the_file(video):
    info = probe(video.path)
    n = video.num_frames
    assert info.codec == video.codec
    assert (info.width, info.height) == (video.width, video.height)
    assert info.display_size == _display(video)
    assert info.rotation == video.rotation
    assert info.is_vfr == video.vfr
    if video.b_frames is not None:
        assert info.has_b_frames == video.b_frames
    assert info.fps == pytest.approx(video.fps, rel=0.15 if video.vfr else 0.01)
    assert info.num_frames_exact == video.count_exact
    if video.count_exact:
        assert info.num_frames == n
    else:  # estimated from duration x fps
        assert abs(info.num_frames - n) <= 1
    assert info.start_s == pytest.approx(video.times[0], abs=1e-3)
    # the duration covers every frame, the last one shown for about one frame period
    assert video.times[-1] < info.duration_s <= video.times[-1] + 2 / video.fps + 1e-3
    assert info.warnings == ()
    assert info.path == str(video.path) and info.backend == "pyav"


def test_keyframe_interval_is_measured(long_gop):
    info = probe(long_gop.path)
    assert info.keyframe_interval_s == pytest.approx(1.0, abs=1e-3)  # g=30 at 30 fps
    assert info.has_b_frames and not info.is_vfr


# -- streaming --------------------------------------------------------------------------------


def test_stream_gives_every_frame_once_in_order(video, backend, readable):
    readable(video)
    with open_video(video.path, backend=backend) as reader:
        chunks = list(reader.stream(chunk_size=7))
        lifetime_warnings = list(reader.warnings)
    n = video.num_frames
    assert [len(c) for c in chunks] == [7] * (n // 7) + ([n % 7] if n % 7 else [])
    data, pts, warnings = _all(chunks)
    assert data.dtype == torch.uint8 and data.shape == (n, *_display(video), 3)
    assert pts.dtype == torch.float64 and pts.shape == (n,)
    assert video.indices(data, upright=True) == list(range(n))
    assert pts.tolist() == pytest.approx(list(video.times), abs=1e-3)
    assert bool((pts[1:] > pts[:-1]).all())
    assert warnings == []
    # decord 0.6 cannot decode rotated video (dmlc/decord#336): its reader hands it to PyAV and says so
    assert lifetime_warnings == (
        [f"decord cannot decode rotated video (rotation {video.rotation}); read with PyAV"]
        if backend == "decord" and video.rotation
        else []
    )


@pytest.mark.parametrize("chunk_size", [1, 3, 40, 100])
def test_chunks_are_chunk_size_except_the_last(make_video, backend, chunk_size):
    video = make_video("h264_bframes")  # 40 frames
    with open_video(video.path, backend=backend) as reader:
        sizes = [len(c) for c in reader.stream(chunk_size=chunk_size)]
    n = video.num_frames
    assert sizes == [chunk_size] * (n // chunk_size) + ([n % chunk_size] if n % chunk_size else [])


def test_stream_holds_one_chunk_at_a_time(long_gop, backend):
    """300 frames through chunks of 4: each chunk owns only its own pixels (not a view into a whole
    decoded video), and the memory Python sees allocated never nears the size of the video."""
    frame_bytes = long_gop.height * long_gop.width * 3
    with open_video(long_gop.path, backend=backend) as reader:
        stream = reader.stream(chunk_size=4)
        tracemalloc.start()
        try:
            count = 0
            for chunk in stream:
                assert len(chunk) <= 4
                assert chunk.data.untyped_storage().nbytes() == len(chunk) * frame_bytes
                count += len(chunk)
                del chunk
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 300
    assert peak < 40 * frame_bytes, f"peak {peak / frame_bytes:.0f} frames' worth of memory while streaming"


def test_stream_is_lazy(long_gop, backend):
    with open_video(long_gop.path, backend=backend) as reader:
        stream = reader.stream(chunk_size=5)
        first = next(stream)
        assert long_gop.indices(first.data) == [0, 1, 2, 3, 4]
        stream.close()  # abandoning a stream half way is fine
        assert len(reader.read_at([1.0])) == 1


@pytest.mark.parametrize("name", ["h264_bframes", "vfr", "long_gop"])
def test_start_and_end_bound_the_stream(make_video, long_gop, backend, name):
    """``start_s`` is inclusive and ``end_s`` exclusive, on frame times or between them."""
    video = long_gop if name == "long_gop" else make_video(name)
    t, n = video.times, video.num_frames

    def indices(**bounds) -> list[int]:
        with open_video(video.path, backend=backend) as reader:
            data, pts, warnings = _all(reader.stream(chunk_size=4, **bounds))
        assert warnings == []
        got = video.indices(data)
        assert pts.tolist() == pytest.approx([t[i] for i in got], abs=1e-3)
        return got

    a, b = n // 4, 3 * n // 4
    assert indices(start_s=t[a], end_s=t[b]) == list(range(a, b))
    just_after = lambda i: t[i] + 0.3 * (t[i + 1] - t[i])  # noqa: E731
    assert indices(start_s=just_after(a), end_s=just_after(b)) == list(range(a + 1, b + 1))
    assert indices(start_s=t[b]) == list(range(b, n))
    assert indices(end_s=t[a]) == list(range(a))
    assert indices(start_s=t[-1] + 1.0) == []
    assert indices(start_s=t[a], end_s=t[a]) == []


def test_stream_bounds_in_a_long_gop_file_seek(long_gop, backend):
    # 7.7 s is in the middle of the GOP that starts at 7.0 s; 5.0 s is a keyframe.
    with open_video(long_gop.path, backend=backend) as reader:
        for start, end, want in [
            (7.7, 8.2, range(231, 246)),
            (5.0, 5.5, range(150, 165)),
            (9.9, None, range(297, 300)),
        ]:
            data, _, _ = _all(reader.stream(chunk_size=8, start_s=start, end_s=end))
            assert long_gop.indices(data) == list(want)


# -- read_at ----------------------------------------------------------------------------------


def _times_for(video, rng: np.random.Generator, count: int = 25) -> list[float]:
    """Random times over the video in random order, with repeats, away from exact ties; one just
    before the first frame."""
    t = np.asarray(video.times)
    times: list[float] = []
    while len(times) < count:
        x = float(rng.uniform(t[0], t[-1])) if len(t) > 1 else float(t[0] - rng.uniform(0, 0.01))
        if video.away_from_ties(x):
            times.append(x)
    times += [times[0], times[3], t[0] - 0.01, float(t[-1])]
    rng.shuffle(times)
    return times


def test_read_at_returns_the_nearest_frames(video, backend, readable):
    readable(video)
    times = _times_for(video, np.random.default_rng(7))
    with open_video(video.path, backend=backend) as reader:
        frames = reader.read_at(times)
    want = [video.nearest(x) for x in times]
    assert len(frames) == len(times) and frames.data.shape == (len(times), *_display(video), 3)
    assert video.indices(frames.data, upright=True) == want
    assert frames.pts.dtype == torch.float64
    assert frames.pts.tolist() == pytest.approx([video.times[i] for i in want], abs=1e-3)
    assert frames.warnings == []


def test_read_at_ties_go_to_the_earlier_frame(make_video, backend):
    video = make_video("h264_ip")  # 16 fps: frame k at k/16 s exactly, so (k + 0.5)/16 is an exact tie
    ks = [0, 5, 11, 12, 20, 30]
    with open_video(video.path, backend=backend) as reader:
        frames = reader.read_at([(k + 0.5) / 16 for k in reversed(ks)])
    assert video.indices(frames.data) == list(reversed(ks))


def test_read_at_past_the_end_repeats_the_last_frame_with_a_warning(video, backend, readable):
    readable(video)
    n, last = video.num_frames, video.times[-1]
    with open_video(video.path, backend=backend) as reader:
        frames = reader.read_at([last + 5.0, video.times[0], last + 1.0])
    assert video.indices(frames.data, upright=True) == [n - 1, 0, n - 1]
    assert frames.pts.tolist() == pytest.approx([last, video.times[0], last], abs=1e-3)
    assert len(frames.warnings) == 1 and "past" in frames.warnings[0]


def test_read_at_far_apart_in_a_long_gop_file(long_gop, backend):
    """Times seconds apart make the PyAV reader skip whole GOPs by seeking; frames next to a
    keyframe (every 1 s) must still be the nearest, whichever side of it they lie."""
    fps = long_gop.fps
    near_keys = [5.0 - 0.4 / fps, 5.0 - 0.6 / fps, 1.0 + 0.4 / fps, 8.0 + 0.2 / fps, 3.0]
    rng = np.random.default_rng(3)
    times = near_keys + [9.5, 0.2, 9.96, 0.0, 4.4] + _times_for(long_gop, rng, count=20)
    with open_video(long_gop.path, backend=backend) as reader:
        for order in (times, sorted(times), sorted(times, reverse=True)):
            frames = reader.read_at(order)
            assert long_gop.indices(frames.data) == [long_gop.nearest(x) for x in order]
            assert frames.warnings == []
    assert [long_gop.nearest(x) for x in near_keys] == [150, 149, 30, 240, 90]


def test_the_reader_counts_the_frames_its_decoder_produced(long_gop):
    with open_video(long_gop.path, backend="pyav") as reader:
        assert long_gop.indices(reader.read_at([4.5]).data) == [135]
        # probing decoded the first frame; the read sought to the keyframe at 4 s and decoded on to 4.5 s
        # (and one frame past it, to know 4.5 s is nearest) — never the 135 frames before it
        assert 1 + 16 <= reader.frames_decoded <= 1 + 16 + 4
    with open_video(long_gop.path, backend="pyav") as reader:
        data, _, _ = _all(reader.stream(chunk_size=64))
        assert reader.frames_decoded == len(data) == long_gop.num_frames  # the probe's frame is the stream's first


def test_a_seek_lands_on_the_keyframe_just_before_the_time_asked(long_gop):
    """MP4's seek compares display times: aiming earlier by the B-frame delay (what a demuxer comparing
    decode times needs) would land a whole GOP early for a time just after a keyframe."""
    with open_video(long_gop.path, backend="pyav") as reader:
        start = reader.frames_decoded
        assert long_gop.indices(reader.read_at([1.02]).data) == [31]
        assert reader.frames_decoded - start <= 5  # from the keyframe at 1 s, not the one at 0
    with open_video(long_gop.path, backend="pyav") as reader:
        times = [1.02 + k for k in range(9)]  # one just after each keyframe
        assert long_gop.indices(reader.read_at(times).data) == [31 + 30 * k for k in range(9)]
        assert reader.frames_decoded <= 1 + 9 * 5  # never a frame decoded twice, never a GOP for nothing


def test_reads_far_apart_seek_where_the_index_lists_only_the_first_keyframe(tmp_path):
    """A small Matroska file's cues list only its first keyframe: the interval the probe measured then
    says when a later read is worth a seek, instead of decoding every frame in between."""
    from vidkit.io.encode import write_video

    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (150, 64, 96, 3), dtype=np.uint8))
    path = write_video(tmp_path / "cues.mkv", frames, fps=30, options={"g": "30", "bf": "2", "sc_threshold": "0"})
    with open_video(path, backend="pyav") as reader:
        assert reader.info.keyframe_interval_s == pytest.approx(1.0)
        for t in (1.02, 2.5, 3.01, 4.2):
            reader.read_at([t])
        assert reader.frames_decoded < 100  # 127 when every frame up to 4.2 s is decoded


def test_a_read_later_in_the_same_gop_carries_on_from_the_previous_one(long_gop):
    """Reads stepping forward within a GOP (AdaFrame's looks, one at a time) continue decoding where the
    last one stopped instead of seeking back to the keyframe; a read behind it, or past a keyframe, seeks."""
    decoded: list[float] = []
    with open_video(long_gop.path, backend="pyav") as reader:
        original = reader._decode

        def counting():
            for timed in original():
                decoded.append(timed.time)
                yield timed

        reader._decode = counting
        counted = reader.frames_decoded
        steps = [2.1, 2.3, 2.5, 2.9]  # keyframes every 1 s: all after the one at 2.0
        for t in steps:
            assert long_gop.indices(reader.read_at([t]).data) == [long_gop.nearest(t)]
        assert len(decoded) == len(set(decoded))  # no frame decoded twice: one pass from the keyframe
        assert min(decoded) == pytest.approx(2.0) and max(decoded) < 3.0
        assert reader.frames_decoded - counted == len(decoded)  # what the reader says the reads cost
        before = len(decoded)
        assert long_gop.indices(reader.read_at([2.2]).data) == [66]  # behind: seeks back to the keyframe
        assert decoded[before] <= 2.0
        before = len(decoded)
        assert long_gop.indices(reader.read_at([5.5]).data) == [165]  # keyframes between: seeks ahead
        assert decoded[before] == pytest.approx(5.0)
        # a walk of reads, mostly forward, some back, now and then a stream: still the nearest frames
        rng = np.random.default_rng(5)
        t = 0.0
        for k in range(60):
            t = float(np.clip(t + rng.uniform(-0.4, 0.6), 0.0, 9.9))
            times = [x for x in t + rng.uniform(0, 0.3, size=int(rng.integers(1, 4))) if long_gop.away_from_ties(x)]
            if times:
                assert long_gop.indices(reader.read_at(times).data) == [long_gop.nearest(x) for x in times]
            if k % 20 == 19:
                data, _, _ = _all(reader.stream(chunk_size=64, start_s=t))
                assert long_gop.indices(data)[-1] == long_gop.num_frames - 1
        assert reader.warnings == []


def test_read_at_and_stream_in_any_order_on_one_reader(long_gop, backend):
    n = long_gop.num_frames
    with open_video(long_gop.path, backend=backend) as reader:
        assert long_gop.indices(reader.read_at([9.0]).data) == [270]
        data, _, _ = _all(reader.stream(chunk_size=64))
        assert long_gop.indices(data) == list(range(n))
        half = reader.stream(chunk_size=10)
        next(half)
        next(half)  # left half-read
        assert long_gop.indices(reader.read_at([8.0, 0.1]).data) == [240, 3]
        data, _, _ = _all(reader.stream(chunk_size=50, start_s=2.0))
        assert long_gop.indices(data) == list(range(60, n))
        assert long_gop.indices(reader.read_at([0.0, 2.0]).data) == [0, 60]
        data, _, _ = _all(reader.stream(chunk_size=64))
        assert long_gop.indices(data) == list(range(n))
        assert reader.warnings == []


def test_one_frame_video(make_video, backend):
    video = make_video("one_frame")
    with open_video(video.path, backend=backend) as reader:
        assert video.indices(reader.read_at([0.0, 0.01]).data) == [0, 0]
        late = reader.read_at([3.0])
        assert video.indices(late.data) == [0] and late.warnings
        assert [len(c) for c in reader.stream(chunk_size=4)] == [1]


# -- arguments --------------------------------------------------------------------------------


def test_bad_arguments_are_refused(make_video, backend):
    video = make_video("h264_bframes")
    with open_video(video.path, backend=backend) as reader:
        with pytest.raises(ValueError, match="chunk_size"):
            next(reader.stream(chunk_size=0))
        with pytest.raises(ValueError, match="at least one"):
            reader.read_at([])
        with pytest.raises(ValueError, match="finite"):
            reader.read_at([0.0, float("nan")])
        assert len(reader.read_at(np.array([[0.0, 0.04]]))) == 2  # any array-like, flattened


def test_unknown_backend_is_refused(make_video):
    with pytest.raises(ValueError, match="unknown backend 'ffmpeg'"):
        open_video(make_video("h264_bframes").path, backend="ffmpeg")


def test_single_threaded_decoding_gives_the_same_frames(make_video):
    video = make_video("h264_bframes")
    with open_video(video.path, threads=1) as one, open_video(video.path) as auto:
        assert torch.equal(_all(one.stream(16))[0], _all(auto.stream(16))[0])


def test_repr_names_the_file(make_video):
    video = make_video("h264_bframes")
    with open_video(video.path) as reader:
        assert str(video.path) in repr(reader) and "h264 64x48" in repr(reader)
