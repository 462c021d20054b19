"""Motion vectors from the bitstream: the dense field painted from blocks by hand, the vectors of a
square moving 2 px per frame in H.264 and MPEG-4, B-frames' future references, codecs that export
none, and `vidkit mv`."""

import numpy as np
import pytest
import torch

from vidkit.cli import main
from vidkit.errors import VideoDecodeError
from vidkit.io.encode import write_video
from vidkit.io.motion import _EMPTY_DTYPE, dense_field, motion_fields


def test_dense_field_paints_each_block_by_hand():
    v = np.zeros(3, dtype=_EMPTY_DTYPE)
    # a 16x16 block centred at (8, 8), quarter-pel motion (-8, 4) -> (-2, +1) px, past reference
    v[0] = (-1, 16, 16, 0, 0, 8, 8, 0, -8, 4, 4)
    # an 8x8 block centred at (20, 4), full-pel (3, 0), future reference
    v[1] = (1, 8, 8, 0, 0, 20, 4, 0, 3, 0, 1)
    # an 8x8 block at the bottom-right corner of a 24x32 frame, past, (-1.5, -0.5) px
    v[2] = (-1, 8, 8, 0, 0, 28, 20, 0, -6, -2, 4)
    past, future, past_mask, future_mask = dense_field(v, 24, 32, grid=4)
    assert past.shape == (2, 6, 8) and past.dtype == np.float32
    assert (past[:, :4, :4] == np.array([-2.0, 1.0])[:, None, None]).all() and past_mask[:4, :4].all()
    assert (future[0, 0:2, 4:6] == 3.0).all() and future_mask[0:2, 4:6].all() and future_mask.sum() == 4
    assert (past[:, 4:6, 6:8] == np.array([-1.5, -0.5])[:, None, None]).all()
    assert past_mask.sum() == 16 + 4  # nothing else painted
    # 16-pixel cells: one value per macroblock
    p16, _, m16, _ = dense_field(v, 24, 32, grid=16)
    assert p16.shape == (2, 2, 2) and tuple(p16[:, 0, 0]) == (-2.0, 1.0)
    assert m16.sum() == 1  # the corner block does not cover the top-left pixel (16, 16) of its macroblock cell


def _moving_square(n=24, height=64, width=96):
    frames = torch.full((n, height, width, 3), 40, dtype=torch.uint8)
    for t in range(n):
        frames[t, 24:40, 8 + 2 * t: 24 + 2 * t] = 230  # 2 px to the right per frame
    return frames


# CoViAR's format (MPEG-4 Part 2, GOP 12, no B-frames) and H.264 with one reference frame
SINGLE_REFERENCE = [("libx264", "gt.mp4", {"bf": "0", "refs": "1", "g": "12"}), ("mpeg4", "gt.avi", {"g": "12", "qscale": "2"})]


@pytest.mark.parametrize("codec, name, options", SINGLE_REFERENCE)
@pytest.mark.parametrize("dx, dy", [(2, 0), (-3, 0), (0, 1), (0, 0), (1, -2), (3, 2)])
def test_fields_match_the_known_motion_of_a_textured_square(tmp_path, moving_square, codec, name, options, dx, dy):
    path = write_video(tmp_path / name, moving_square(dx, dy), fps=10, codec=codec, options=options)
    frames = list(motion_fields(path))
    assert [f.gop for f in frames] == [0] * 12 + [1] * 4
    for t, f in enumerate(frames):
        if f.pict_type != "P":
            assert f.pict_type == "I" and t % 12 == 0 and not f.past_mask.any()
            continue
        x, y = 48 + dx * t, 32 + dy * t  # the square's top-left; its content came from (x - dx, y - dy)
        inside = f.past[:, (y + 4) // 4:(y + 28) // 4, (x + 4) // 4:(x + 28) // 4].reshape(2, -1)
        assert np.abs(np.median(inside, axis=1) - [-dx, -dy]).max() <= 1.0, (t, np.median(inside, axis=1))
        away = np.ones(f.past.shape[1:], bool)
        away[max(y - 8, 0) // 4:(y + 40) // 4, max(x - 8, 0) // 4:(x + 40) // 4] = False
        assert np.median(np.abs(f.past[:, away])) == 0.0 and np.percentile(np.abs(f.past[:, away]), 90) <= 1.0


@pytest.mark.parametrize("codec, name, options", [("libx264", "sq.mp4", {"bf": "0", "refs": "1", "g": "12"}),
                                                   ("mpeg4", "sq.avi", {"g": "12"})])
def test_a_square_moving_right_has_vectors_pointing_left(tmp_path, codec, name, options):
    path = write_video(tmp_path / name, _moving_square(), fps=10, codec=codec, options=options)
    frames = list(motion_fields(path))
    assert len(frames) == 24 and frames[0].pict_type == "I"
    assert frames[0].past_mask.sum() == 0  # an I-frame has no vectors
    p_frames = [f for f in frames if f.pict_type == "P"]
    assert len(p_frames) >= 18
    # cells inside the square's interior (rows 28-36, well inside its columns) came from 2 px to the left
    for f in p_frames[3:]:
        t = frames.index(f)
        cols = slice((8 + 2 * t + 4) // 4, (24 + 2 * t - 4) // 4)
        dx, dy = f.past[0, 7:9, cols], f.past[1, 7:9, cols]
        assert np.median(dx) == pytest.approx(-2.0, abs=0.26), (t, dx)
        assert np.median(dy) == pytest.approx(0.0, abs=0.26)
    assert all(np.isfinite(f.pts_s) for f in frames) and frames[5].pts_s == pytest.approx(0.5)


def test_b_frames_carry_future_references(tmp_path, moving_square):
    dx = 2
    path = write_video(tmp_path / "b.mp4", moving_square(dx, 0), fps=10,
                       options={"bf": "2", "refs": "1", "g": "12", "x264-params": "b-pyramid=none:b-adapt=0"})
    frames = list(motion_fields(path))
    assert {"I", "P", "B"} <= {f.pict_type for f in frames}
    assert any(f.future_mask.any() for f in frames if f.pict_type == "B")
    assert not any(f.future_mask.any() for f in frames if f.pict_type == "P")
    # a P-frame after B-frames predicts from the previous I/P-frame, several frames back: the vectors
    # span the whole distance (2 px per frame times the frames between them)
    anchors = [t for t, f in enumerate(frames) if f.pict_type in ("I", "P")]
    for previous, t in zip(anchors, anchors[1:]):
        if frames[t].pict_type != "P":
            continue
        x = 48 + dx * t
        inside = frames[t].past[0, 10:14, (x + 4) // 4:(x + 28) // 4]
        assert np.median(inside) == pytest.approx(-dx * (t - previous), abs=1.0), (t, previous)


@pytest.mark.parametrize("codec, name", [("libvpx-vp9", "v.webm"), ("libx265", "h.mp4")])
def test_codecs_without_exported_vectors_say_so(tmp_path, codec, name):
    options = {"x265-params": "log-level=error"} if codec == "libx265" else {}
    path = write_video(tmp_path / name, _moving_square(8), fps=10, codec=codec, options=options)
    with pytest.raises(VideoDecodeError, match="exports no motion vectors"):
        next(motion_fields(path))


def test_vidkit_mv_writes_the_fields_and_a_picture(tmp_path, capsys):
    path = write_video(tmp_path / "sq.mp4", _moving_square(), fps=10, options={"bf": "2", "g": "12"})
    out, png = tmp_path / "mv.npz", tmp_path / "mv.png"
    assert main(["mv", str(path), "--out", str(out), "--png", str(png)]) == 0, capsys.readouterr().err
    data = np.load(out)
    assert data["mv"].shape == (24, 2, 16, 24) and data["mv"].dtype == np.float32
    assert data["mv_future"].shape == data["mv"].shape and data["pts_s"].shape == (24,)
    assert set(data["pict_type"]) >= {"I", "P", "B"} and int(data["grid"]) == 4
    assert png.stat().st_size > 5000
    assert main(["mv", str(tmp_path / "none.mp4"), "--out", str(out)]) == 1
    assert "none.mp4" in capsys.readouterr().err
