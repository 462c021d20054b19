"""Files a careless or hostile user hands over: one that ``stat`` accepts but that cannot be opened, a
raw-video header claiming frames too large to decode, a bit-flipped video. ``vidkit info`` and
``vidkit mv`` say what is wrong in one line per file and go on with the others; ``mv`` decodes past
damaged packets as ``info`` does, saying where."""

from __future__ import annotations

import glob
import json
import os
import stat

import numpy as np
import pytest
import torch

from vidkit.cli import main
from vidkit.errors import VideoDecodeError
from vidkit.io import open_video, probe
from vidkit.io.encode import write_video
from vidkit.io.motion import motion_fields


def _write_only_file() -> str | None:
    """A write-only sysfs attribute (``rescan``, ``hot_remove``...): a regular file of 4096 bytes whose
    ``stat`` and ``access`` pass even for root, but which no one can open for reading. Only ever opened
    for reading here."""
    for pattern in ("/sys/bus/*/rescan", "/sys/class/*/hot_remove", "/sys/devices/*/*/rescan", "/sys/kernel/*"):
        for path in sorted(glob.glob(pattern)):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or not st.st_size or not os.access(path, os.R_OK):
                continue
            try:
                with open(path, "rb"):
                    pass
            except PermissionError:
                return path
            except OSError:
                continue
    return None


def _noise_video(path, n: int = 40):
    """Moving noise (every P-frame has real data to lose), a keyframe every 12 frames, no B-frames."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (96 + 2 * n, 128 + 2 * n, 3), dtype=np.uint8)
    frames = torch.from_numpy(np.stack([texture[2 * t : 2 * t + 96, 2 * t : 2 * t + 128] for t in range(n)]))
    return write_video(path, frames, fps=25, options={"g": "12", "bf": "0"})


def _bit_flipped(tmp_path):
    """The noise video with every third byte over 2 kB in its middle inverted: the MP4 index is intact,
    some packets no longer decode."""
    whole = bytearray(_noise_video(tmp_path / "clean.mp4").read_bytes())
    middle = len(whole) // 2
    for k in range(middle, middle + 2000, 3):
        whole[k] ^= 0xFF
    path = tmp_path / "flipped.mp4"
    path.write_bytes(bytes(whole))
    return path


def test_a_file_that_stats_but_cannot_be_opened_is_one_line_and_the_rest_go_on(tmp_path, capsys):
    unreadable = _write_only_file()
    if unreadable is None:
        pytest.skip("no write-only sysfs attribute here (a file stat accepts but open refuses, even as root)")
    good = _noise_video(tmp_path / "good.mp4", n=10)
    with pytest.raises(VideoDecodeError) as e:
        open_video(unreadable)
    assert str(e.value) == f"{unreadable}: permission denied"

    assert main(["info", "--json", unreadable, str(good)]) == 1
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0] == {"path": unreadable, "error": "permission denied"}
    assert records[1]["path"] == str(good) and records[1]["num_frames"] == 10
    assert err == f"vidkit info: error: {unreadable}: permission denied\n"

    assert main(["mv", unreadable, "--out", str(tmp_path / "mv.npz")]) == 1
    assert capsys.readouterr().err == f"vidkit mv: error: {unreadable}: permission denied\n"
    assert not (tmp_path / "mv.npz").exists()


@pytest.mark.parametrize("name", ["huge.y4m", "huge.mp4"])
def test_a_raw_header_claiming_huge_frames_says_so(tmp_path, capsys, name):
    # FFmpeg's YUV4MPEG demuxer refuses 30000x30000 (over its ~268 million pixel limit) with EBUSY,
    # "Device or resource busy", which once came out as the reason
    path = tmp_path / name
    path.write_bytes(b"YUV4MPEG2 W30000 H30000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(range(256)) * 8)
    with pytest.raises(VideoDecodeError) as e:
        probe(path)
    reason = e.value.reason
    assert reason.startswith("the header claims 30000x30000 frames, a size too large to decode")
    assert "busy" not in reason and "not a video file" not in reason and "\n" not in reason
    assert main(["info", str(path)]) == 1
    assert capsys.readouterr().err == f"vidkit info: error: {path}: {reason}\n"


def test_mv_decodes_past_damaged_packets_as_info_does(tmp_path, capsys):
    path = _bit_flipped(tmp_path)
    assert main(["info", "--verify", "--json", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert any("damaged packet" in w for w in info["decode_warnings"])  # info decodes past the damage

    out = tmp_path / "mv.npz"
    assert main(["mv", str(path), "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("vidkit mv: warning: ")]
    assert warnings and all(f"{path}: damaged packet after " in line and "skipped" in line for line in warnings)
    assert err[-1].startswith("vidkit mv: ") and "frames" in err[-1]
    data = np.load(out)
    assert len(data["pts_s"]) == info["decoded_frames"] and len(data["pts_s"]) < 40


def test_skipping_damaged_packets_leaves_a_good_videos_fields_as_they_were(tmp_path):
    path = _noise_video(tmp_path / "good.mp4", n=16)
    damaged: list[str] = []
    tolerant = list(motion_fields(path, damaged=damaged))
    strict = list(motion_fields(path))
    assert damaged == [] and len(tolerant) == len(strict) == 16
    for a, b in zip(tolerant, strict):
        assert (a.pts_s, a.pict_type, a.gop) == (b.pts_s, b.pict_type, b.gop)
        np.testing.assert_array_equal(a.past, b.past)
        np.testing.assert_array_equal(a.past_mask, b.past_mask)
