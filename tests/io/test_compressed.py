"""CoViAR's representation: vectors accumulated back to the I-frame, residuals against the warped
I-frame, the streams on which that is exact (and the ones where it says it is not), the H.264
reference count, and the keyframe-only path."""

import numpy as np
import pytest

from vidkit.errors import VideoDecodeError
from vidkit.io.compressed import (
    accumulate,
    coviar_frames,
    downsample,
    keyframes,
    read_compressed_at,
    reference_frames,
    warp,
)
from vidkit.io.encode import write_video
from vidkit.io.h264 import max_num_ref_frames
from vidkit.io.motion import motion_fields

SINGLE_REFERENCE = [
    ("libx264", "gt.mp4", {"bf": "0", "refs": "1", "g": "12"}),
    ("mpeg4", "gt.avi", {"g": "12", "qscale": "2"}),
]


def test_accumulating_steady_fields_sums_them_exactly():
    rng = np.random.default_rng(0)
    field = np.zeros((2, 40, 60), np.float32)
    total = np.zeros(2, np.float32)
    for _ in range(11):
        step = rng.integers(-8, 9, 2) / 4  # quarter-pel steps, as H.264 stores them
        total += step
        field = accumulate(
            field, np.broadcast_to(step[:, None, None], (2, 40, 60)).astype(np.float32), np.ones((40, 60), bool)
        )
        # away from the border (where the chain leaves the frame) it is the sum of the steps
        assert np.allclose(field[:, 15:25, 25:35], total[:, None, None])


def test_accumulation_follows_each_pixel_back_through_the_reference():
    previous = np.zeros((2, 4, 6), np.float32)
    previous[:, :, 3] = [[5.0], [-1.0]]  # column 3 of the reference came from (+5, -1) in the I-frame
    field = np.zeros((2, 4, 6), np.float32)
    field[0, :, 1] = 2.0  # column 1 of this frame came from column 3 of the reference
    mask = np.ones((4, 6), bool)
    mask[0, 1] = False  # an intra-coded pixel: no vector, keeps the reference's value at its place (zero)
    out = accumulate(previous, field, mask)
    assert (out[:, 1:, 1] == np.array([[7.0], [-1.0]])).all()  # 2 + 5, 0 - 1
    assert (out[:, 0, 1] == 0).all()
    assert (out[:, :, 3] == previous[:, :, 3]).all() and (out[:, :, 0] == 0).all()


def test_downsample_and_warp_by_hand():
    field = np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6)
    cells = downsample(field, 4)
    assert cells.shape == (2, 2, 2)
    assert cells[0, 0, 0] == field[0, :4, :4].mean() and cells[1, 1, 1] == field[1, 4:, 4:].mean()
    image = np.zeros((4, 5, 3), np.uint8)
    image[1, 3] = 200
    moved = warp(image, np.broadcast_to(np.array([2.0, 1.0], np.float32)[:, None, None], (2, 4, 5)))
    assert moved[0, 1, 0] == 200 and moved.sum() == 3 * 200  # (1, 0) reads (3, 1)
    half = warp(image, np.broadcast_to(np.array([0.5, 0.0], np.float32)[:, None, None], (2, 4, 5)))
    assert half[1, 2, 0] == pytest.approx(100) and half[1, 3, 0] == pytest.approx(100)


@pytest.mark.parametrize("codec, name, options", SINGLE_REFERENCE)
@pytest.mark.parametrize("dx, dy", [(2, 0), (-2, 2)])  # even steps: 4:2:0 chroma moves by whole samples too
def test_accumulated_fields_are_the_sum_along_the_gop_and_residuals_vanish(
    tmp_path, moving_square, codec, name, options, dx, dy
):
    path = write_video(tmp_path / name, moving_square(dx, dy), fps=10, codec=codec, options=options)
    per_frame = list(motion_fields(path))
    frames = list(coviar_frames(path))
    assert len(frames) == 16 and all(f.exact for f in frames), [f.inexact for f in frames]
    assert [f.pict_type for f in frames] == ["I"] + ["P"] * 11 + ["I"] + ["P"] * 3

    def centre_cell(t):  # the 4x4 cell at the square's centre in frame t
        return (32 + dy * t + 16) // 4, (48 + dx * t + 16) // 4

    running = np.zeros(2, np.float32)
    for t, (f, p) in enumerate(zip(frames, per_frame)):
        assert f.iframe is frames[12 * f.gop].iframe and f.gop == t // 12
        # the accumulated field at the square's centre is the sum of the per-frame fields along its
        # path since the I-frame ...
        running = (
            np.zeros(2, np.float32) if f.pict_type == "I" else running + p.past[:, centre_cell(t)[0], centre_cell(t)[1]]
        )
        assert np.allclose(f.mv[:, centre_cell(t)[0], centre_cell(t)[1]], running, atol=0.01), (t, running)
        # ... and the truth over the whole square: its content is where the I-frame had it, t mod 12 steps back
        x, y = 48 + dx * t, 32 + dy * t
        rows, cols = slice((y + 4) // 4, (y + 28) // 4), slice((x + 4) // 4, (x + 28) // 4)
        k = t % 12
        assert np.abs(np.median(f.mv[:, rows, cols].reshape(2, -1), axis=1) - [-dx * k, -dy * k]).max() <= 1.0
        # a pure translation is predicted exactly: the residual inside the square is ~0 (its edges
        # share blocks with the background, which the codec corrects with a residual of its own)
        inside = f.residual[y + 8 : y + 24, x + 8 : x + 24].astype(np.float32)
        assert f.residual.dtype == np.int16 and np.abs(inside).mean() < 3.0, (t, np.abs(inside).mean())


def test_streams_the_chain_does_not_describe_say_so(tmp_path, moving_square):
    frames = moving_square(2, 0)
    b = write_video(tmp_path / "b.mp4", frames, fps=10, options={"bf": "2", "refs": "1", "g": "12"})
    kinds = {f.pict_type: f.inexact for f in coviar_frames(b)}
    assert (
        kinds["I"] is None and "B-frame" in kinds["B"] and kinds["P"] is not None
    )  # (x264 keeps 2+ references with B-frames)
    pyramid = write_video(tmp_path / "p.avi", frames, fps=10, codec="mpeg4", options={"bf": "2", "g": "12"})
    kinds = {f.pict_type: f.inexact for f in coviar_frames(pyramid)}
    assert kinds["I"] is None and "B-frame" in kinds["B"] and "has B-frames" in kinds["P"]
    refs = write_video(tmp_path / "r.mp4", frames, fps=10, options={"bf": "0", "refs": "3", "g": "12"})
    assert reference_frames(refs)[0] == 3
    notes = {f.inexact for f in coviar_frames(refs) if f.pict_type == "P"}
    assert notes == {
        "P-frames may predict from any of 3 reference frames (H.264 max_num_ref_frames = 3), not only the last"
    }


@pytest.mark.parametrize(
    "name, codec, options, refs",
    [
        ("a.mp4", "libx264", {"refs": "1", "bf": "0"}, 1),
        ("a.mkv", "libx264", {"refs": "2", "bf": "0"}, 2),
        ("a.mp4", "libx264", {"refs": "5", "bf": "0", "profile": "high"}, 5),
        ("b.mp4", "libx264", {"refs": "1", "bf": "3"}, 4),  # B-pyramid raises it
        ("a.avi", "mpeg4", {}, 1),
    ],
)
def test_reference_frames_from_the_stream_header(tmp_path, moving_square, name, codec, options, refs):
    path = write_video(tmp_path / name, moving_square(1, 0, n=4), fps=10, codec=codec, options=options)
    assert reference_frames(path)[0] == refs


def test_h264_sps_reader_takes_annex_b_and_removes_emulation_bytes():
    # Baseline SPS: profile 66, level 30, id 0, log2_max_frame_num-4 = 0, poc type 2, 1 reference frame
    sps = bytes([0x67, 66, 0, 30, 0b1_1_011_010, 0b1000_0000])  # ue(0) ue(0) ue(2) ue(1), stop bit
    assert max_num_ref_frames(b"\x00\x00\x00\x01" + sps) == 1
    assert max_num_ref_frames(b"\x00\x00\x01\x68\xce") is None  # a PPS only
    # Constraint flags and level 0 put "00 00" before the fields, so the encoder inserts an
    # emulation-prevention 03 (§7.4.1): read as data it would end the SPS early (None) instead of 1.
    escaped = bytes([0x67, 66, 0, 0, 0x03, 0b1_1_011_010, 0b1000_0000])
    assert max_num_ref_frames(b"\x00\x00\x00\x01" + escaped) == 1
    # the same escape inside an avcC record (MP4, MKV): version 1, one SPS with a 2-byte length
    avcc = bytes([1, 66, 0, 0, 0xFF, 0xE1]) + len(escaped).to_bytes(2, "big") + escaped + bytes([1, 0, 2, 0x68, 0xCE])
    assert max_num_ref_frames(avcc) == 1


def test_read_compressed_at_picks_the_nearest_frames(tmp_path, moving_square):
    path = write_video(tmp_path / "gt.avi", moving_square(2, 0), fps=10, codec="mpeg4", options={"g": "12"})
    clip = read_compressed_at(path, [0.56, 0.0, 9.0, 0.31, 0.56])
    assert clip.pts.tolist() == pytest.approx([0.6, 0.0, 1.5, 0.3, 0.6])
    assert (
        clip.iframes.shape == (5, 96, 128, 3)
        and clip.mv.shape == (5, 2, 24, 32)
        and clip.residual.shape == (5, 96, 128, 3)
    )
    assert (clip.iframes[2] == clip.iframes[2]).all() and not (clip.iframes[2] == clip.iframes[0]).all()  # GOP 1 vs 0
    whole = {round(f.pts_s, 3): f for f in coviar_frames(path)}
    for k, t in enumerate(clip.pts):
        assert (clip.mv[k] == whole[round(t, 3)].mv).all() and (clip.residual[k] == whole[round(t, 3)].residual).all()
    assert clip.inexact == [None] * 5


def test_read_compressed_at_avoiding_iframes_takes_the_frame_before_them(tmp_path, moving_square):
    path = write_video(tmp_path / "gt.avi", moving_square(2, 0), fps=10, codec="mpeg4", options={"g": "12"})
    whole = list(coviar_frames(path))
    assert [f.pict_type for f in whole[:13:12]] == ["I", "I"]
    # 1.2 s is GOP 1's I-frame, 0 the first frame, 0.5 a P-frame
    clip = read_compressed_at(path, [1.2, 0.0, 0.5], avoid_iframes=True)
    assert clip.pts.tolist() == pytest.approx([1.2, 0.0, 0.5])
    assert (clip.iframes[0] == whole[12].iframe).all() and (clip.iframes[1] == whole[0].iframe).all()
    # the I-frame's vectors are zero: the last frame of GOP 0 gives them (and for the first frame, the next)
    for k, source in enumerate([whole[11], whole[1], whole[5]]):
        assert (clip.mv[k] == source.mv).all() and (clip.residual[k] == source.residual).all()
        assert np.abs(clip.mv[k]).sum() > 0
    plain = read_compressed_at(path, [1.2, 0.0])
    assert not plain.mv.any()  # what the segments got before: all-zero motion on an I-frame


def test_keyframes_decode_only_the_key_frames(tmp_path, moving_square):
    path = write_video(tmp_path / "k.mp4", moving_square(1, 1, n=30), fps=10, options={"g": "8", "bf": "2"})
    full = [(f.pts_s, f.iframe) for f in coviar_frames(path, residuals=False) if f.pict_type == "I"]
    fast = list(keyframes(path))
    assert [t for t, _ in fast] == pytest.approx([t for t, _ in full]) and len(fast) == 4
    assert all((a == b).all() for (_, a), (_, b) in zip(fast, full))


def test_bad_files_and_codecs_without_vectors_fail_clearly(tmp_path, moving_square):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty.avi"):
        next(coviar_frames(empty))
    with pytest.raises(VideoDecodeError, match="empty.avi"):
        next(keyframes(empty))
    vp9 = write_video(tmp_path / "v.webm", moving_square(1, 0, n=4), fps=10, codec="libvpx-vp9")
    with pytest.raises(VideoDecodeError, match="exports no motion vectors"):
        read_compressed_at(vp9, [0.0])
