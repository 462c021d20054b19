"""PyAV and decord, frame for frame: on every file both can read they must give the same frames at
the same times, stream and ``read_at`` alike, and describe the file the same way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidkit.io import VideoDecodeError, open_video

pytest.importorskip("decord")


def _assert_same_frames(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    if not torch.equal(ours, theirs):  # the two FFmpeg builds may convert to RGB a little differently
        assert float((ours.float() - theirs.float()).abs().mean()) < 1.0


def _decord_or_skip(video):
    if video.decord_reason:
        pytest.skip(f"{video.name}: {video.decord_reason}")


def test_stream_frame_for_frame(video):
    _decord_or_skip(video)
    with open_video(video.path) as pyav, open_video(video.path, backend="decord") as decord:
        ours, theirs = list(pyav.stream(chunk_size=8)), list(decord.stream(chunk_size=8))
    assert [len(c) for c in ours] == [len(c) for c in theirs]
    for a, b in zip(ours, theirs):
        assert a.pts.tolist() == pytest.approx(b.pts.tolist(), abs=1e-3)
        _assert_same_frames(a.data, b.data)
    assert sum(len(c) for c in ours) == video.num_frames


def test_read_at_frame_for_frame(video):
    _decord_or_skip(video)
    rng = np.random.default_rng(11)
    t = video.times
    times = [x for x in rng.uniform(t[0] - 0.02, t[-1], 40) if video.away_from_ties(x)][:20]
    times += [times[0], times[1]]  # repeats
    with open_video(video.path) as pyav, open_video(video.path, backend="decord") as decord:
        ours, theirs = pyav.read_at(times), decord.read_at(times)
    assert ours.pts.tolist() == pytest.approx(theirs.pts.tolist(), abs=1e-3)
    _assert_same_frames(ours.data, theirs.data)
    assert ours.warnings == theirs.warnings == []


def test_read_at_past_the_end_frame_for_frame(long_gop):
    times = [12.0, 0.0, 9.99]
    with open_video(long_gop.path) as pyav, open_video(long_gop.path, backend="decord") as decord:
        ours, theirs = pyav.read_at(times), decord.read_at(times)
    _assert_same_frames(ours.data, theirs.data)
    assert long_gop.indices(theirs.data) == [299, 0, 299]
    assert len(ours.warnings) == len(theirs.warnings) == 1


def test_info_is_the_same_but_decord_counts_every_frame(video):
    _decord_or_skip(video)
    with open_video(video.path) as pyav, open_video(video.path, backend="decord") as decord:
        ours, theirs = pyav.info.to_dict(), decord.info.to_dict()
    assert (theirs["backend"], theirs["num_frames"], theirs["num_frames_exact"]) == ("decord", video.num_frames, True)
    assert theirs["num_frames_source"] == (ours["num_frames_source"] if ours["rotation"] else "packets")
    differ = {"backend", "num_frames", "num_frames_exact", "num_frames_source", "warnings"}
    assert {k: v for k, v in ours.items() if k not in differ} == {k: v for k, v in theirs.items() if k not in differ}
    # decord 0.6 cannot decode rotated video (dmlc/decord#336): the reader says PyAV reads it instead
    expected = (
        [f"decord cannot decode rotated video (rotation {ours['rotation']}); read with PyAV"]
        if ours["rotation"]
        else []
    )
    assert theirs["warnings"] == expected


def test_decord_refuses_what_it_cannot_read_with_a_decode_error(make_video):
    video = make_video("av1")
    try:
        with open_video(video.path, backend="decord") as reader:
            next(reader.stream(chunk_size=4))
    except VideoDecodeError as e:
        assert e.path == str(video.path) and "decord" in e.reason
    else:
        pytest.skip("this decord reads AV1")
