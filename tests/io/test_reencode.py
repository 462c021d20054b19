"""Re-encoding to CoViAR's format (MPEG-4 Part 2, an I-frame every 12, no B-frames): the GOP
structure read back from the bitstream, frames and timestamps kept (variable rate too), pixels close
to the source, scaling, rotation, and bad inputs that leave nothing behind."""

import numpy as np
import pytest
import torch

from vidkit.errors import VideoDecodeError
from vidkit.io import open_video, probe
from vidkit.io.encode import write_video
from vidkit.io.motion import decoded_with_vectors
from vidkit.io.reencode import encoder_options, reencode

N, HEIGHT, WIDTH = 48, 64, 96
H264_WITH_B = {"bf": "2", "g": "250", "threads": "1"}  # B-frames and one long GOP: nothing like CoViAR's (one
# thread: x264's frame threads make the bytes, and so the re-encode's error, vary from run to run)


def scene(n=N, height=HEIGHT, width=WIDTH, *, cut_at=None):
    """A textured background with a bright square moving 2 px right per frame, back to the left edge
    before it would leave the picture (so no two frames are alike); with ``cut_at``, a noise
    background that changes to another at that frame (a scene cut)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:height, :width]
    backgrounds = [np.stack([(x * 2 + y) % 200, (y * 3) % 180 + 40, np.full_like(x, 90)], -1).astype(np.uint8)]
    if cut_at is not None:
        backgrounds = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(2)]
    frames = []
    for t in range(n):
        image = backgrounds[int(cut_at is not None and t >= cut_at)].copy()
        left = 4 + 2 * t % (width - 24)
        image[20:36, left : left + 16] = 240
        frames.append(image)
    return frames


def decoded(path, **kwargs):
    with open_video(path, **kwargs) as video:
        chunks = list(video.stream(chunk_size=64))
    return torch.cat([c.data for c in chunks]).float(), torch.cat([c.pts for c in chunks])


def pictures(path):
    return [(d.pict_type, d.gop) for d in decoded_with_vectors(path)]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("reencode") / "h264_b.mp4", scene(), options=H264_WITH_B)


@pytest.mark.parametrize("ext", [".avi", ".mp4"])
def test_coviar_format_keeps_frames_times_and_pixels(tmp_path, source, ext):
    assert probe(source).has_b_frames
    result = reencode(source, tmp_path / f"out{ext}")
    info = probe(result.dst)
    assert info.codec == "mpeg4" and not info.has_b_frames and (info.width, info.height) == (WIDTH, HEIGHT)
    assert result.frames == N and result.warnings == () and result.dst_bytes == (tmp_path / f"out{ext}").stat().st_size
    # I, then 11 P-frames, again and again: CoViAR's GOP of 12, each P referencing the frame before
    assert pictures(result.dst) == [("I" if t % 12 == 0 else "P", t // 12) for t in range(N)]
    before, t_before = decoded(source)
    after, t_after = decoded(result.dst)
    assert after.shape == before.shape and torch.equal(t_after, t_before)
    error = (after - before).abs().mean(dim=(1, 2, 3))
    assert error.max() < 2.5, error  # quantiser 2: close to the source, frame by frame
    assert 10 * torch.log10(255**2 / ((after - before) ** 2).mean()) > 35
    # and in order: each frame is nearer its own source frame than the one before
    assert ((after[1:] - before[:-1]).abs().mean(dim=(1, 2, 3)) > error[1:]).all()


def test_the_gop_is_fixed_whatever_the_source_keyframes_and_scene_cuts(tmp_path):
    src = write_video(tmp_path / "short_gops.mp4", scene(30, cut_at=17), options={"g": "5", "bf": "0"})
    assert [t for t, (kind, _) in enumerate(pictures(src)) if kind == "I"] != [0, 12, 24]
    result = reencode(src, tmp_path / "out.avi")
    # the decoder marks the source's I-frames, and FFmpeg's encoders obey a frame's marked type;
    # the cut at 17 would start a GOP under the encoder's default scene-cut detection
    assert [t for t, (kind, _) in enumerate(pictures(result.dst)) if kind == "I"] == [0, 12, 24]


def test_h264_with_another_gop_for_the_same_function(tmp_path, source):
    result = reencode(source, tmp_path / "out.mp4", codec="libx264", gop=16, b_frames=2, quality=23)
    assert probe(result.dst).codec == "h264"
    kinds = [kind for kind, _ in pictures(result.dst)]
    assert [t for t, kind in enumerate(kinds) if kind == "I"] == [0, 16, 32]
    assert torch.equal(decoded(result.dst)[1], decoded(source)[1])


def test_quality_is_the_quantiser(tmp_path, source):
    fine = reencode(source, tmp_path / "q2.avi", quality=2)
    coarse = reencode(source, tmp_path / "q12.avi", quality=12)
    before = decoded(source)[0]
    assert fine.dst_bytes > 1.3 * coarse.dst_bytes
    assert (decoded(fine.dst)[0] - before).abs().mean() < (decoded(coarse.dst)[0] - before).abs().mean()


def test_short_side_scales_down_only_and_keeps_sides_even(tmp_path, source):
    small = reencode(source, tmp_path / "small.avi", short_side=32)
    assert (small.width, small.height) == (48, 32) == (probe(small.dst).width, probe(small.dst).height)
    reference = decoded(source, short_side=32)[0]
    assert (decoded(small.dst)[0] - reference).abs().mean() < 6
    same = reencode(source, tmp_path / "same.avi", short_side=256)  # never upscaled
    assert (same.width, same.height) == (WIDTH, HEIGHT)
    odd = write_video(tmp_path / "odd.mp4", scene(6, 61, 97), pix_fmt="yuv444p")
    result = reencode(odd, tmp_path / "odd.avi")
    assert (result.width, result.height) == (96, 60)  # 4:2:0 needs even sides


@pytest.mark.parametrize("ext", [".avi", ".mkv", ".mp4"])
def test_variable_frame_rate_survives(tmp_path, ext):
    gaps = [0.1 if k % 3 == 2 else 0.04 for k in range(23)]  # a phone dropping frames in low light
    times = [0.0] + np.round(np.cumsum(gaps), 3).tolist()
    src = write_video(tmp_path / "vfr.mp4", scene(24), timestamps=times, options=H264_WITH_B)
    result = reencode(src, tmp_path / f"out{ext}")
    info = probe(result.dst)
    assert info.is_vfr and result.frames == 24
    assert torch.allclose(decoded(result.dst)[1], torch.tensor(times, dtype=torch.float64), atol=1e-6)


def test_timestamps_of_a_90khz_source(tmp_path):
    # MPEG-4 Part 2 cannot tick 90000 times a second (16-bit time increments): 3000-tick steps are 1/30 s
    src = write_video(tmp_path / "cam.mp4", scene(12), fps=30, container_options={"video_track_timescale": "90000"})
    result = reencode(src, tmp_path / "out.mp4")
    assert torch.allclose(decoded(result.dst)[1], decoded(src)[1], atol=1e-9)


@pytest.mark.parametrize("ext, stored_rotation", [(".mp4", 90), (".avi", 0)])
def test_rotation_is_kept_or_applied(tmp_path, ext, stored_rotation):
    src = write_video(tmp_path / "phone.mp4", scene(12), rotation=90)
    result = reencode(src, tmp_path / f"out{ext}")
    info = probe(result.dst)
    assert result.rotation == info.rotation == stored_rotation
    assert info.display_size == (WIDTH, HEIGHT)  # upright either way: portrait
    upright, _ = decoded(src)
    assert (decoded(result.dst)[0] - upright).abs().mean() < 3


def test_bad_files_raise_and_leave_nothing(tmp_path, source):
    whole = source.read_bytes()
    assert whole.find(b"moov") > whole.find(b"mdat") > 0  # the index comes last: cutting loses it
    bad = {
        "empty.mp4": b"",
        "notes.mp4": b"these are my holiday notes, not a video\n" * 20,
        "truncated.mp4": whole[: len(whole) // 2],
    }
    out = tmp_path / "out"
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(VideoDecodeError) as caught:
            reencode(tmp_path / name, out / "x.avi")
        assert caught.value.path == str(tmp_path / name) and str(tmp_path / name) in str(caught.value)
        assert {"empty.mp4": "empty", "notes.mp4": "not a video", "truncated.mp4": "truncated"}[
            name
        ] in caught.value.reason
        assert not out.exists() or not any(out.iterdir())


def test_an_interrupted_write_leaves_no_output_and_no_temporary_file(tmp_path, source):
    (tmp_path / "out.avi").write_bytes(b"the previous, complete output")
    seen = []

    def stop_after_ten():
        seen.append(1)
        if len(seen) == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reencode(source, tmp_path / "out.avi", progress=stop_after_ten)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avi"]
    assert (tmp_path / "out.avi").read_bytes() == b"the previous, complete output"


def test_settings_that_make_no_sense_fail_before_any_work(tmp_path, source):
    for kwargs in [dict(codec="libvpx"), dict(gop=0), dict(b_frames=-1), dict(quality=0), dict(short_side=1)]:
        with pytest.raises(ValueError):
            reencode(source, tmp_path / "out.avi", **kwargs)
    with pytest.raises(ValueError, match="extension"):
        reencode(source, tmp_path / "out.xyz")
    assert not list(tmp_path.iterdir())
    assert encoder_options("mpeg4", gop=12, b_frames=0) == {
        "g": "12",
        "bf": "0",
        "qmin": "2",
        "qmax": "2",
        "sc_threshold": "1000000000",
    }
