"""Files that lie about their size: a few kilobytes claiming frames of 16000x16000 or a duration of 10^12 s
are refused or measured before anything is allocated for the claim, and the limits can be raised."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from vidkit.errors import VideoDecodeError
from vidkit.io import open_video, probe
from vidkit.io.encode import write_video
from vidkit.io.limits import DEFAULT_MAX_PIXELS, limit


@pytest.mark.parametrize("name", ["8k.mp4", "16k.h264", "16k.mp4"])
def test_frames_over_the_pixel_limit_are_refused_before_decoding(lying_files, name):
    path = lying_files[name]
    with pytest.raises(VideoDecodeError) as caught:
        open_video(path)
    size = "8192x8192" if name.startswith("8k") else "16000x16000"
    assert str(caught.value).startswith(f"{path}: frames of {size} (")
    assert "exceed the limit of 33.2 million (7680x4320, 8K UHD)" in str(caught.value)
    assert "VIDKIT_MAX_PIXELS=" in str(caught.value) and "\n" not in str(caught.value)


def test_the_pixel_limit_can_be_raised(lying_files, monkeypatch):
    assert limit("VIDKIT_MAX_PIXELS") == DEFAULT_MAX_PIXELS == 7680 * 4320
    with open_video(lying_files["8k.mp4"], max_pixels=8192 * 8192, short_side=16) as video:
        assert (video.info.width, video.info.height) == (8192, 8192)
        assert video.read_at([0.0]).data.shape == (1, 16, 16, 3)
    monkeypatch.setenv("VIDKIT_MAX_PIXELS", str(8192 * 8192))
    assert probe(lying_files["8k.mp4"]).width == 8192
    with pytest.raises(VideoDecodeError, match="exceed the limit of 1.0 million"):
        open_video(lying_files["8k.mp4"], max_pixels=1_000_000)


def test_a_bad_limit_is_a_config_error(lying_files, monkeypatch):
    monkeypatch.setenv("VIDKIT_MAX_PIXELS", "lots")
    with pytest.raises(Exception, match="VIDKIT_MAX_PIXELS='lots': expected a positive whole number"):
        open_video(lying_files["uhd.mp4"])


def test_a_claimed_duration_the_file_cannot_hold_is_measured(lying_files):
    path = lying_files["long.mkv"]
    info = probe(path)
    assert info.duration_s == pytest.approx(2.0) and info.num_frames == 50
    assert info.num_frames_source == "packets"
    assert [w for w in info.warnings if "the header claims 1e+12 s" in w] == [
        f"the header claims 1e+12 s in a file of {path.stat().st_size} bytes; its 50 packets span 2.000 s: "
        "the header is ignored"
    ]


def test_decord_never_sees_a_header_that_cannot_be_true(lying_files, run_vidkit):
    pytest.importorskip("decord")
    # decord sizes its index by the claimed duration: std::bad_alloc aborts the whole process. In a
    # process of its own here, so that the old behaviour fails this test rather than ending the run.
    run = run_vidkit(["info", "--json", "--backend", "decord", str(lying_files["long.mkv"])], timeout=120)
    assert run.returncode == 0, run.stderr
    assert '"num_frames": 50' in run.stdout
    assert "decord trusts the header, which cannot be true; read with PyAV" in run.stdout


def test_stream_converts_to_rgb_in_bounded_chunks(make_video, monkeypatch):
    video = make_video("h264_bframes")  # 64x48: 9216 bytes a frame in RGB
    with open_video(video.path) as reader:
        whole = torch.cat([c.data for c in reader.stream(chunk_size=64)])
    monkeypatch.setenv("VIDKIT_MAX_CHUNK_BYTES", str(3 * 64 * 48 * 3))
    with open_video(video.path) as reader:
        chunks = list(reader.stream(chunk_size=64))
    assert {len(c) for c in chunks[:-1]} == {3}
    assert torch.equal(torch.cat([c.data for c in chunks]), whole)


# Resident memory from /proc (getrusage's ru_maxrss survives exec, and so would count pytest's own): how
# much the peak grows while 48 frames are read.
_READ_48 = """
import re, sys
from vidkit.io import open_video
def mb(key):
    return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read())[1]) // 1024
with open_video(sys.argv[1], short_side=32) as video:
    video.read_at([0.0])  # the decoder's own buffers, allocated
    before = mb("VmRSS")
    frames = video.read_at([i * 0.04 for i in range(1, 49)])
assert frames.data.shape == (48, 32, 57, 3), frames.data.shape
print(mb("VmHWM") - before)
"""


def test_read_at_holds_no_full_size_frame_per_target(tmp_path):
    # 4K frames read at a small scale: held as decoded frames until the read ended, 48 of them took
    # 600 MB (12 MB each); converted as they are chosen, two are held at a time.
    frames = (np.full((2160, 3840, 3), i * 4, np.uint8) for i in range(49))
    path = write_video(tmp_path / "4k.mp4", frames, options={"preset": "ultrafast"})
    run = subprocess.run([sys.executable, "-c", _READ_48, str(path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.split()[-1]) < 200  # MB more at the peak than before the read
