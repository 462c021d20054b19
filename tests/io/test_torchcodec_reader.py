"""The torchcodec backend. Its reads go through the same tests as the other readers' (the ``backend`` fixture in
tests/conftest.py runs it); here: what it says where it cannot run (not installed, no FFmpeg shared libraries,
a release for another torch), and, where it runs, that it gives PyAV's frames at PyAV's times on the codec /
container matrix, describes files as PyAV does, scales and turns frames as PyAV does, and hands PyAV what it
cannot be trusted with."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import types

import numpy as np
import pytest
import torch

from vidkit.io import VideoDecodeError, open_video
from vidkit.io.encode import write_video
from vidkit.io.torchcodec_reader import torchcodec_unavailable

EXTRA = "pip install -e '.[torchcodec]'"


@pytest.fixture
def fresh_check(monkeypatch):
    """``torchcodec_unavailable`` asked afresh (it is cached per process), and afresh again afterwards."""
    torchcodec_unavailable.cache_clear()
    yield monkeypatch
    torchcodec_unavailable.cache_clear()


@pytest.fixture
def ready():
    reason = torchcodec_unavailable()
    if reason:
        pytest.skip(reason)


def _refusal(path) -> VideoDecodeError:
    with pytest.raises(VideoDecodeError) as caught:
        open_video(path, backend="torchcodec")
    error = caught.value
    assert error.path == str(path) and "\n" not in str(error)
    return error


# -- where it cannot run: one line saying what to install --------------------------------------------


def test_not_installed_names_the_extra(make_video, fresh_check):
    fresh_check.setitem(sys.modules, "torchcodec", None)  # import torchcodec raises ImportError
    error = _refusal(make_video("h264_ip").path)
    assert EXTRA in error.reason and "backend='pyav'" in error.reason


def _torchcodec_without_ffmpeg() -> types.ModuleType:
    """What torchcodec >= 0.12 is when it cannot load its FFmpeg-linked library: imported, no FFmpeg major."""
    module = types.ModuleType("torchcodec")
    module.__version__, module.ffmpeg_major_version = "0.17.0", None
    return module


def test_without_ffmpeg_libraries_the_reason_says_how_to_get_them(make_video, fresh_check):
    fresh_check.setitem(sys.modules, "torchcodec", _torchcodec_without_ffmpeg())
    fresh_check.setattr(ctypes.util, "find_library", lambda name: None)
    error = _refusal(make_video("h264_ip").path)
    assert "no FFmpeg shared libraries" in error.reason and "apt-get install ffmpeg" in error.reason


def test_with_ffmpeg_present_a_failed_load_points_at_the_torch_version(make_video, fresh_check):
    fresh_check.setitem(sys.modules, "torchcodec", _torchcodec_without_ffmpeg())
    fresh_check.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.57")
    fresh_check.setattr(ctypes, "CDLL", lambda name: None)  # it loads
    error = _refusal(make_video("h264_ip").path)
    assert f"another torch than {torch.__version__}" in error.reason and EXTRA in error.reason


def test_a_release_that_fails_at_import_says_why(make_video, fresh_check):
    """torchcodec before 0.12 loads FFmpeg at import and raises there (RuntimeError, many lines)."""

    class Broken:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "torchcodec":
                raise RuntimeError("Could not load libtorchcodec. Likely causes:\n  1. FFmpeg is not installed")
            return None

    fresh_check.delitem(sys.modules, "torchcodec", raising=False)
    fresh_check.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    error = _refusal(make_video("h264_ip").path)
    assert "Could not load libtorchcodec" in error.reason and "FFmpeg" in error.reason and EXTRA in error.reason


# -- where it runs: PyAV's frames and times --------------------------------------------------------------


def _same_frames(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape and theirs.dtype == torch.uint8
    if not torch.equal(ours, theirs):  # the system's FFmpeg may convert to RGB a little differently
        assert float((ours.float() - theirs.float()).abs().mean()) < 1.0


def test_stream_and_read_at_give_pyavs_frames(video, ready):
    rng = np.random.default_rng(5)
    t = video.times
    times = [x for x in rng.uniform(t[0] - 0.02, t[-1] + 0.02, 30) if video.away_from_ties(x)][:16]
    times += times[:2]  # repeats
    with open_video(video.path) as pyav, open_video(video.path, backend="torchcodec") as codec:
        ours, theirs = list(pyav.stream(chunk_size=8)), list(codec.stream(chunk_size=8))
        assert [len(c) for c in ours] == [len(c) for c in theirs]
        for a, b in zip(ours, theirs):
            assert b.pts.dtype == torch.float64 and b.pts.tolist() == pytest.approx(a.pts.tolist(), abs=1e-9)
            _same_frames(a.data, b.data)
        a, b = pyav.read_at(times), codec.read_at(times)
        assert b.pts.tolist() == pytest.approx(a.pts.tolist(), abs=1e-9)
        _same_frames(a.data, b.data)
        assert codec.warnings == [] and [w for c in theirs for w in c.warnings] == []


def test_info_is_pyavs_with_every_frame_counted(video, ready):
    with open_video(video.path) as pyav, open_video(video.path, backend="torchcodec") as codec:
        ours, theirs = pyav.info.to_dict(), codec.info.to_dict()
        assert codec.end_s == pytest.approx(video.times[-1], abs=1e-3)
    assert (theirs["backend"], theirs["num_frames"], theirs["num_frames_exact"]) == (
        "torchcodec",
        video.num_frames,
        True,
    )
    assert theirs["num_frames_source"] == "packets" and theirs["warnings"] == []
    differ = {"backend", "num_frames", "num_frames_exact", "num_frames_source"}
    assert {k: v for k, v in ours.items() if k not in differ} == {k: v for k, v in theirs.items() if k not in differ}


@pytest.mark.parametrize("apply_rotation", [True, False])
@pytest.mark.parametrize("name", ["rot90", "h264_bframes"])
def test_short_side_and_rotation_as_pyav_does_them(make_video, ready, name, apply_rotation):
    """torchcodec scales after the RGB conversion (antialiased) and always turns frames upright; the reader
    asks for PyAV's size and turns them back where rotation is not applied."""
    video = make_video(name)
    kw = dict(short_side=32, apply_rotation=apply_rotation)
    with open_video(video.path, **kw) as pyav, open_video(video.path, backend="torchcodec", **kw) as codec:
        assert codec.output_size() == pyav.output_size()
        a, b = pyav.read_at([0.0, 0.5, 1.0]), codec.read_at([0.0, 0.5, 1.0])
    assert b.data.shape[1:3] == codec.output_size() and b.data.is_contiguous()
    _same_frames(a.data, b.data)


def test_a_raw_stream_is_read_by_pyav_and_said(tmp_path, ready):
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(10)]
    path = write_video(tmp_path / "clip.h264", frames, container_format="h264")
    with open_video(path, backend="torchcodec") as codec:
        data = torch.cat([c.data for c in codec.stream(chunk_size=4)])
        assert codec.info.backend == "torchcodec" and codec.info.times_assumed
        assert "torchcodec cannot index a raw stream (no container); read with PyAV" in codec.warnings
    assert data.shape == (10, 48, 64, 3)


def test_frames_it_fails_on_are_read_by_pyav_and_said(bad_files, noisy_mkv, ready):
    """A packet its decoder refuses: those frames come from PyAV, the rest from a fresh torchcodec decoder."""
    with open_video(bad_files["damaged_packet_mkv"], backend="torchcodec") as codec:
        chunks = list(codec.stream(chunk_size=8))
        said = list(codec.warnings)
    got = noisy_mkv.indices(torch.cat([c.data for c in chunks]))
    assert got == sorted(set(got)) and got[:30] == list(range(30)) and got[-10:] == list(range(50, 60))
    failed = [w for w in said if w.startswith("torchcodec failed on frames")]
    assert failed and all(w.endswith("; read them with PyAV") and "\n" not in w and ".cpp" not in w for w in failed)
    assert len(failed) <= 2  # later reads are torchcodec's again
