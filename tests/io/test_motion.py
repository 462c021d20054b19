"""Motion vectors from the bitstream: the dense field painted from blocks by hand, the vectors of a
square moving 2 px per frame in H.264 and MPEG-4, B-frames' future references, codecs that export
none, and `vidkit mv`."""

import numpy as np
import pytest
import torch

from vidkit.cli import main
from vidkit.errors import VideoDecodeError
from vidkit.io.encode import write_video
from vidkit.io.motion import VECTOR_DTYPE, decoded_with_vectors, dense_field, motion_fields
from vidkit.utils import cpu_count


def test_dense_field_paints_each_block_by_hand():
    v = np.zeros(3, dtype=VECTOR_DTYPE)
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


def _paint_block_by_block(v, height, width, grid):
    """The field as the docstring defines it, one block at a time: each cell whose top-left pixel lies
    inside a block takes its vector, later blocks over earlier ones."""
    gh, gw = -(-height // grid), -(-width // grid)
    fields, masks = np.zeros((2, 2, gh, gw), np.float32), np.zeros((2, gh, gw), bool)
    for b in v:
        left, top = int(b["dst_x"]) - int(b["w"]) // 2, int(b["dst_y"]) - int(b["h"]) // 2
        d = int(b["source"] > 0)
        scale = np.float32(max(int(b["motion_scale"]), 1))
        for i in range(gh):
            for j in range(gw):
                if left <= j * grid < left + int(b["w"]) and top <= i * grid < top + int(b["h"]):
                    fields[:, d, i, j] = np.float32(b["motion_x"]) / scale, np.float32(b["motion_y"]) / scale
                    masks[d, i, j] = True
    return fields[:, 0], fields[:, 1], masks[0], masks[1]


def _blocks(rng, sizes, height, width, lattice):
    """Random non-overlapping blocks: each ``lattice``-pixel square of the frame is covered by at
    most one block, of a size from ``sizes`` (multiples of ``lattice``), in raster order."""
    rows, rows_free = [], np.ones((-(-height // lattice), -(-width // lattice)), bool)
    for i in range(rows_free.shape[0]):
        for j in range(rows_free.shape[1]):
            w, h = (int(x) for x in rng.choice(sizes, 2))
            a, b = h // lattice, w // lattice
            if rng.random() < 0.15 or not rows_free[i : i + a, j : j + b].all():
                continue  # an intra block: no vector
            rows_free[i : i + a, j : j + b] = False
            rows.append(
                (
                    int(rng.choice([-1, 1])),
                    w,
                    h,
                    0,
                    0,
                    j * lattice + w // 2,
                    i * lattice + h // 2,
                    0,
                    int(rng.integers(-64, 65)),
                    int(rng.integers(-64, 65)),
                    int(rng.choice([1, 2, 4])),
                )
            )
    return np.array(rows, dtype=VECTOR_DTYPE)


@pytest.mark.parametrize("sizes, lattice", [((16,), 16), ((16, 8), 8), ((4, 8, 16), 4)])
@pytest.mark.parametrize("grid", [1, 4, 8, 16])
def test_dense_field_equals_painting_block_by_block(sizes, lattice, grid):
    # (16,): MPEG-4 without 4MV, the uniform fast path; the others, H.264's partitions
    rng = np.random.default_rng(lattice * 100 + grid)
    height, width = 72, 40  # 72: the last macroblock row hangs over the bottom edge
    v = _blocks(rng, sizes, height, width, lattice)
    for vectors in (v, v[::-1].copy(), v[::2]):  # any order; a strided array too
        for got, want in zip(
            dense_field(vectors, height, width, grid=grid), _paint_block_by_block(vectors, height, width, grid)
        ):
            assert got.shape == want.shape and got.dtype == want.dtype and got.flags.c_contiguous
            np.testing.assert_array_equal(got, want)


def _moving_square(n=24, height=64, width=96):
    frames = torch.full((n, height, width, 3), 40, dtype=torch.uint8)
    for t in range(n):
        frames[t, 24:40, 8 + 2 * t : 24 + 2 * t] = 230  # 2 px to the right per frame
    return frames


# CoViAR's format (MPEG-4 Part 2, GOP 12, no B-frames) and H.264 with one reference frame
SINGLE_REFERENCE = [
    ("libx264", "gt.mp4", {"bf": "0", "refs": "1", "g": "12"}),
    ("mpeg4", "gt.avi", {"g": "12", "qscale": "2"}),
]


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
        inside = f.past[:, (y + 4) // 4 : (y + 28) // 4, (x + 4) // 4 : (x + 28) // 4].reshape(2, -1)
        assert np.abs(np.median(inside, axis=1) - [-dx, -dy]).max() <= 1.0, (t, np.median(inside, axis=1))
        away = np.ones(f.past.shape[1:], bool)
        away[max(y - 8, 0) // 4 : (y + 40) // 4, max(x - 8, 0) // 4 : (x + 40) // 4] = False
        assert np.median(np.abs(f.past[:, away])) == 0.0 and np.percentile(np.abs(f.past[:, away]), 90) <= 1.0


@pytest.mark.parametrize(
    "codec, name, options",
    [("libx264", "sq.mp4", {"bf": "0", "refs": "1", "g": "12"}), ("mpeg4", "sq.avi", {"g": "12"})],
)
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
    path = write_video(
        tmp_path / "b.mp4",
        moving_square(dx, 0),
        fps=10,
        options={"bf": "2", "refs": "1", "g": "12", "x264-params": "b-pyramid=none:b-adapt=0"},
    )
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
        inside = frames[t].past[0, 10:14, (x + 4) // 4 : (x + 28) // 4]
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


def _fields(path):
    return [(f.pts_s, f.pict_type, f.gop, f.past, f.future, f.past_mask, f.future_mask) for f in motion_fields(path)]


def _painted(decoded):
    """:func:`_fields` from decoded frames: each one's vectors painted as :func:`motion_fields` does."""
    return [(d.pts_s, d.pict_type, d.gop, *dense_field(d.vectors, d.height, d.width)) for d in decoded]


def _assert_same_fields(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[:3] == y[:3]
        for p, q in zip(x[3:], y[3:]):
            np.testing.assert_array_equal(p, q)


def test_frame_threads_give_one_threads_vectors(tmp_path, moving_square):
    # CoViAR's format declares no reordering: decoded with frame threads when there are cores for them
    path = write_video(
        tmp_path / "c.avi", moving_square(2, 1), fps=10, codec="mpeg4", options={"g": "12", "qscale": "2"}
    )
    first = next(iter(decoded_with_vectors(path)))
    assert first.frame_threads == (cpu_count() > 1)
    threaded = _fields(path)
    assert not next(iter(decoded_with_vectors(path, threads=1))).frame_threads
    _assert_same_fields(threaded, _painted(decoded_with_vectors(path, threads=1, pictures=False)))
    with pytest.raises(ValueError, match="threads"):
        next(iter(decoded_with_vectors(path, threads=-1)))


def test_b_frames_in_a_stream_asked_for_frame_threads_restart_in_one_thread(tmp_path, moving_square):
    path = write_video(
        tmp_path / "b.mp4",
        moving_square(2, 0),
        fps=10,
        options={"bf": "2", "refs": "1", "g": "12", "x264-params": "b-pyramid=none:b-adapt=0"},
    )
    one_thread = _fields(path)
    frames = list(decoded_with_vectors(path, threads=2))  # as if the stream had declared no B-frames
    assert frames[0].frame_threads and not frames[-1].frame_threads  # started threaded, finished in one thread
    # every frame once, in order, with one thread's vectors
    _assert_same_fields(one_thread, _painted(decoded_with_vectors(path, threads=2, pictures=False)))


# The MPEG-family decoders that export vectors and that PyAV can encode with: (encoder, file, options)
MPEG_FAMILY = [
    ("mpeg4", "a.avi", {"g": "12"}),
    ("mpeg4", "b.avi", {"g": "12", "bf": "2"}),
    ("mpeg4", "q.avi", {"g": "12", "flags": "+qpel+mv4"}),
    ("mpeg2video", "m.mpg", {"g": "12", "bf": "2"}),
    ("mpeg1video", "m1.mpg", {"g": "12"}),
    ("h263", "h.avi", {"g": "12"}),
    ("flv", "f.flv", {}),
    ("msmpeg4", "v3.avi", {}),
    ("wmv2", "w.avi", {}),
]


@pytest.mark.parametrize("codec, name, options", MPEG_FAMILY, ids=[f"{c}-{n}" for c, n, _ in MPEG_FAMILY])
def test_mpeg_family_fields_come_from_an_eighth_size_decode_with_the_full_decodes_vectors(
    tmp_path, moving_square, codec, name, options
):
    path = write_video(
        tmp_path / name, moving_square(3, 2, n=20, height=144, width=176), fps=25, codec=codec, options=options
    )
    with_pictures = list(decoded_with_vectors(path))
    assert with_pictures[0].frame.width == 176 and sum(len(d.vectors) for d in with_pictures) > 0
    fields_only = list(decoded_with_vectors(path, pictures=False))
    assert fields_only[0].frame.width == 176 // 8  # FFmpeg's lowres 3: the pictures at an eighth of their size
    assert [(d.pts_s, d.pict_type, d.width, d.height) for d in fields_only] == [
        (d.pts_s, d.pict_type, d.width, d.height) for d in with_pictures
    ]
    for a, b in zip(fields_only, with_pictures):
        np.testing.assert_array_equal(a.vectors, b.vectors)  # to the bit
    fields = list(motion_fields(path))
    assert fields[5].past.shape == (2, 144 // 4, 176 // 4)
    for f, d in zip(fields, with_pictures):
        np.testing.assert_array_equal(f.past, dense_field(d.vectors, 144, 176)[0])
