"""What the readers do with files that are not good videos: refuse with a ``VideoDecodeError`` that
names the file and says which of the usual mistakes it is, or, for a file that is only partly
damaged, decode what can be decoded and say what was lost. Nothing here may hang."""

from __future__ import annotations

import os
import time

import av
import pytest
import torch

from vidkit.errors import DecodeTimeoutError, VideoDecodeError
from vidkit.io import open_video, probe

REFUSED = [
    ("missing", ["no such file"]),
    ("directory", ["directory"]),
    ("empty", ["empty", "0 bytes"]),
    ("text", ["not a video"]),
    ("audio_only", ["no video stream", "audio only"]),
    ("truncated_index", ["truncated", "moov"]),
    ("dangling", ["dangling", "gone.mp4"]),
    ("fifo", ["not a regular file"]),
]


def _refusal(path, **kwargs) -> VideoDecodeError:
    with pytest.raises(VideoDecodeError) as caught:
        with open_video(path, **kwargs) as reader:
            for _ in reader.stream(chunk_size=8):
                pass
    return caught.value


@pytest.mark.timeout(20)  # a FIFO handed to FFmpeg would block forever
@pytest.mark.parametrize("kind, words", REFUSED, ids=[k for k, _ in REFUSED])
def test_refused_with_the_file_and_the_reason(bad_files, backend, kind, words):
    path = bad_files[kind]
    error = _refusal(path, backend=backend)
    assert type(error) is VideoDecodeError
    assert error.path == str(path)
    assert str(error) == f"{path}: {error.reason}"
    assert all(w in error.reason.lower() for w in words), error.reason


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", [k for k, _ in REFUSED])
def test_probe_refuses_the_same_way(bad_files, kind):
    with pytest.raises(VideoDecodeError) as caught:
        probe(bad_files[kind])
    assert caught.value.path == str(bad_files[kind])


def test_unreadable_file(make_video, tmp_path, backend):
    if os.geteuid() == 0:
        pytest.skip("running as root, which can read any file")
    path = tmp_path / "secret.mp4"
    path.write_bytes(make_video("h264_bframes").path.read_bytes())
    path.chmod(0)
    error = _refusal(path, backend=backend)
    assert error.path == str(path) and "permission denied" in error.reason


def test_decode_error_survives_pickling(bad_files):
    import pickle

    error = _refusal(bad_files["text"])
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.path, again.reason, str(again)) == (
        VideoDecodeError,
        error.path,
        error.reason,
        str(error),
    )


# -- partly damaged files: decode what can be decoded, and say so -----------------------------


def test_mp4_cut_in_half_gives_the_frames_before_the_cut(bad_files, noisy_mkv):
    """Index first (faststart), then half the media data: the index promises 60 frames, the file
    holds the first ~27. Streaming gives those, in order, and warns that the file is truncated."""
    path = bad_files["truncated_faststart"]
    with open_video(path) as reader:
        assert reader.info.num_frames == 60  # what the index promises
        chunks = list(reader.stream(chunk_size=8))
        lifetime = list(reader.warnings)
        late = reader.read_at([2.0, 0.2])
    got = noisy_mkv.indices(torch.cat([c.data for c in chunks]))  # the same frames as noisy_mkv's
    assert 10 <= len(got) < 60 and got == list(range(len(got)))
    warnings = [w for c in chunks for w in c.warnings]
    assert any("truncated" in w for w in warnings), warnings
    assert any("truncated" in w for w in lifetime)
    # a time beyond the cut gets the last decodable frame, and says so
    assert noisy_mkv.indices(late.data) == [got[-1], 5]
    assert any("past" in w for w in late.warnings), late.warnings


def test_mp4_cut_in_half_through_decord(bad_files, noisy_mkv):
    """decord either refuses the cut file with a ``VideoDecodeError`` or gives the same frames."""
    path = bad_files["truncated_faststart"]
    try:
        with open_video(path, backend="decord") as reader:
            got = noisy_mkv.indices(torch.cat([c.data for c in reader.stream(chunk_size=8)]))
    except VideoDecodeError as e:
        assert e.path == str(path)
        return
    assert 10 <= len(got) < 60 and got == list(range(len(got)))


def _decode_all(path, backend) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    with open_video(path, backend=backend) as reader:
        chunks = list(reader.stream(chunk_size=8))
        warnings = list(reader.warnings) + [w for c in chunks for w in c.warnings]
    return torch.cat([c.data for c in chunks]), torch.cat([c.pts for c in chunks]), warnings


def test_container_damage_mid_stream_is_skipped_and_reported(bad_files, noisy_mkv, backend):
    """2 kB of flipped bytes in the middle of a Matroska file (cluster and block headers): the
    demuxer skips ahead to the next readable cluster. The frames around the damage decode, no
    exception escapes, and the warnings say frames were lost."""
    data, pts, warnings = _decode_all(bad_files["damaged_mkv"], backend)
    got = noisy_mkv.indices(data)
    assert len(got) >= 30
    assert got == sorted(set(got)) and set(got) <= set(range(60))  # in order, no repeats, nothing invented
    assert got[:20] == list(range(20)) and got[-1] == 59  # before the damage and the last GOP are intact
    assert pts.tolist() == pytest.approx([noisy_mkv.times[i] for i in got], abs=1e-3)
    if len(got) < 60:
        assert warnings, f"frames {sorted(set(range(60)) - set(got))} were dropped without a warning"


def test_a_damaged_packet_is_skipped_and_reported(bad_files, noisy_mkv, backend):
    """One packet the decoder refuses (its NAL length prefix inverted), in an intact container:
    the rest of the video decodes, no exception escapes, and the warnings say a packet was bad."""
    data, pts, warnings = _decode_all(bad_files["damaged_packet_mkv"], backend)
    got = noisy_mkv.indices(data)
    assert len(got) >= 55  # frames that refer to the lost one may come out concealed, but they come out
    assert got[:30] == list(range(30)) and got[-10:] == list(range(50, 60))
    assert bool((pts[1:] > pts[:-1]).all())
    assert warnings


def test_a_corrupt_keyframe_is_reported(noisy_mkv, tmp_path):
    """Damage inside one keyframe's data: the decoder conceals it and the reader says which frame."""
    with av.open(str(noisy_mkv.path)) as container:
        stream = container.streams.video[0]
        keys = [
            (p.pos, p.size, float(p.pts * stream.time_base))
            for p in container.demux(stream)
            if p.is_keyframe and p.size
        ]
    pos, size, when = keys[4]  # the keyframe at 1.6 s
    data = bytearray(noisy_mkv.path.read_bytes())
    for k in range(pos + 200, pos + min(400, size)):
        data[k] ^= 0xFF
    path = tmp_path / "bad_keyframe.mkv"
    path.write_bytes(bytes(data))
    with open_video(path) as reader:
        chunks = list(reader.stream(chunk_size=16))
    assert sum(len(c) for c in chunks) == 60
    warnings = [w for c in chunks for w in c.warnings]
    assert any("corrupt" in w and f"{when:.3f} s" in w for w in warnings), warnings


# -- stalls -------------------------------------------------------------------------------------


def test_a_stalled_decode_times_out(make_video, backend):
    """With a timeout far shorter than any decode, reading must end in ``DecodeTimeoutError``
    (whether it fires while opening or while streaming), not in a misleading reason."""
    video = make_video("h264_bframes")
    error = _refusal(video.path, backend=backend, timeout_s=1e-9)
    assert isinstance(error, DecodeTimeoutError), f"{type(error).__name__}: {error}"
    assert error.path == str(video.path)
    assert "stall" in error.reason or "time" in error.reason, error.reason


def test_a_stall_while_streaming_times_out(make_video):
    """The decoder's own stall check (no frame out for ``timeout_s``) fires mid-stream, and the
    reader is still usable afterwards."""
    video = make_video("h264_bframes")
    with open_video(video.path) as reader:
        reader.timeout_s = 1e-9
        with pytest.raises(DecodeTimeoutError, match="stalled"):
            for _ in reader.stream(chunk_size=4):
                pass
        reader.timeout_s = 60.0
        assert sum(len(c) for c in reader.stream(chunk_size=16)) == video.num_frames


def test_a_slow_consumer_is_not_a_stalled_decoder(make_video):
    """Time the caller spends between chunks (a training step, say) is not decoder time."""
    video = make_video("h264_bframes")
    with open_video(video.path, timeout_s=0.5) as reader:
        count = 0
        for chunk in reader.stream(chunk_size=20):
            time.sleep(0.6)
            count += len(chunk)
    assert count == video.num_frames
