"""Raw elementary streams (``.h264``, ``.hevc``, ``.m2v``): no container, so no timestamps, no duration and
no frame count. FFmpeg times their frames by a frame rate (25 fps unless a parser reads one in the
stream's header); the reader counts their packets, and ``info``, ``vidkit info`` and tag records say the
times are assumed, once. A well-stamped file's description is unchanged."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from vidkit.cli import main
from vidkit.data.views import ViewSpec
from vidkit.engine.tagger import decode_for_tagging
from vidkit.io import is_still_image, open_video
from vidkit.io.encode import write_video

N = 12
RAW = {  # file name -> (PyAV muxer, encoder, the codec info names)
    "clip.h264": ("h264", "libx264", "h264"),
    "clip.hevc": ("hevc", "libx265", "hevc"),
    "clip.m2v": ("mpeg2video", "mpeg2video", "mpeg2video"),
}
_X265 = {"x265-params": "log-level=none"}


def _frames(n: int = N) -> list[np.ndarray]:
    return [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(n)]


def _raw(tmp_path, name: str, fps: float = 25.0):
    muxer, encoder, _ = RAW[name]
    if encoder not in av.codecs_available:
        pytest.skip(f"this FFmpeg has no {encoder}")
    options = _X265 if encoder == "libx265" else {}
    return write_video(tmp_path / name, _frames(), fps=fps, codec=encoder, container_format=muxer, options=options)


def _said(info) -> list[str]:
    return [w for w in info.warnings if "carries no timestamps" in w]


@pytest.mark.parametrize("name", list(RAW))
def test_raw_stream_times_are_assumed(tmp_path, name):
    path = _raw(tmp_path, name)
    with open_video(path) as video:
        info = video.info
        times = np.concatenate([chunk.pts.numpy() for chunk in video.stream()])
    assert info.times_assumed
    assert _said(info) == [f"a raw {RAW[name][2]} stream carries no timestamps: times assume 25 fps"]
    assert info.fps == 25.0
    assert len(times) == N and np.allclose(np.diff(times), 0.04)
    # No duration and no count in a raw stream: its packets are counted, not estimated as one frame.
    assert (info.num_frames, info.num_frames_source) == (N, "packets")
    assert info.duration_s == pytest.approx(N * 0.04, abs=0.05)


def test_raw_stream_rate_is_the_one_its_times_use(tmp_path):
    """An MPEG-2 stream at 30 fps: FFmpeg's parser times it by its sequence header, and ``fps`` says so (not
    the demuxer's nominal 25). An H.264 stream whose header says 30 fps is still timed at 25: said too."""
    with open_video(_raw(tmp_path, "clip.m2v", fps=30)) as video:
        info, times = video.info, video.read_at([0.0, 0.2, 0.3]).pts.numpy()
    assert info.fps == pytest.approx(30.0)
    assert _said(info) == ["a raw mpeg2video stream carries no timestamps: times assume 30 fps"]
    assert np.allclose(np.diff(times) * 30, np.round(np.diff(times) * 30))
    with open_video(_raw(tmp_path, "clip.h264", fps=30)) as video:
        said = _said(video.info)
    assert said == ["a raw h264 stream carries no timestamps: times assume 25 fps (its header says 30 fps)"]


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv", "clip.y4m"])
def test_stamped_files_are_not_assumed(tmp_path, name):
    """Containers stamp their frames; Y4M's header states its rate: neither is a raw stream."""
    formats = {"clip.y4m": ("yuv4mpegpipe", "rawvideo")}
    muxer, encoder = formats.get(name, (None, "libx264"))
    path = write_video(tmp_path / name, _frames(), codec=encoder, container_format=muxer)
    with open_video(path) as video:
        assert not video.info.times_assumed and not _said(video.info)
        assert "times_assumed" in video.info.to_dict() and not video.info.to_dict()["times_assumed"]


def test_decord_keeps_it(tmp_path):
    """decord cannot index a file without a container: PyAV reads it, and the description stays."""
    pytest.importorskip("decord")
    with open_video(_raw(tmp_path, "clip.h264"), backend="decord") as video:
        info, times = video.info, video.read_at([0.0, 0.2]).pts.tolist()
    assert info.backend == "decord" and info.times_assumed and len(_said(info)) == 1
    assert "decord cannot index a raw stream (no container); read with PyAV" in info.warnings
    assert times == pytest.approx([0.0, 0.2])


def test_vidkit_info_says_it(tmp_path, capsys):
    raw, mp4 = _raw(tmp_path, "clip.h264"), write_video(tmp_path / "clip.mp4", _frames())
    assert main(["info", str(raw), str(mp4)]) == 0
    out = capsys.readouterr().out
    raw_block, mp4_block = out.split(str(mp4))
    assert "25.000 (assumed)" in raw_block
    assert "warning    a raw h264 stream carries no timestamps: times assume 25 fps" in raw_block
    assert "25.000 (constant)" in mp4_block and "assumed" not in mp4_block
    assert main(["info", "--json", str(raw), str(mp4)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["times_assumed"] for r in records] == [True, False]


def _tag_record(path) -> dict:
    spec = ViewSpec(num_clips=2, num_crops=1, num_frames=4, interval_s=0.1, crop_size=32, test_scale=32)
    worker = decode_for_tagging(str(path), spec=spec)
    while True:
        try:
            next(worker)
        except StopIteration as done:
            return done.value["info"]


def test_tag_record_marks_it_only_when_true(tmp_path):
    raw = _tag_record(_raw(tmp_path, "clip.h264"))
    assert raw["times_assumed"] is True and raw["num_frames"] == N
    assert "a raw h264 stream carries no timestamps: times assume 25 fps" in raw["warnings"]
    plain = _tag_record(write_video(tmp_path / "clip.mp4", _frames()))
    assert "times_assumed" not in plain and plain["warnings"] == []


def test_is_still_image_is_public(tmp_path):
    from PIL import Image

    Image.fromarray(_frames(1)[0]).save(tmp_path / "still.png")
    with open_video(tmp_path / "still.png") as picture, open_video(write_video(tmp_path / "a.mp4", _frames())) as mp4:
        assert is_still_image(picture.info) and not is_still_image(mp4.info)
