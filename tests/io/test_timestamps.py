"""Files whose timestamps lie (issue 28): AVI with packed B-frames, whose stamps come out permuted; two
MPEG-TS recordings concatenated, whose stamps jump back at the join; MP4s whose timing tables are
broken. The readers repair what can be repaired and say what they did once, and never lose frames
without saying so. Every file is made here: a tiny encode, then rearranged or patched byte by byte.

Each frame spells its index in black and white blocks, so a test can tell which frame came back."""

from __future__ import annotations

import io
import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vidkit.cli import main
from vidkit.io import open_video

FPS = 25
REPAIRED = "the container's timestamps were out of order (B-frames stamped in decode order); repaired"


def _frames(n: int) -> list[np.ndarray]:
    """Grey frames whose top rows spell the frame's index in 8 black/white blocks (least bit left)."""
    frames = []
    for i in range(n):
        image = np.full((48, 64, 3), 128, dtype=np.uint8)
        for bit in range(8):
            image[:16, 8 * bit : 8 * bit + 8] = 255 if (i >> bit) & 1 else 0
        frames.append(image)
    return frames


def _indices(data: torch.Tensor) -> list[int]:
    blocks = torch.stack([data[:, 4:12, 8 * b + 2 : 8 * b + 6].float().mean(dim=(1, 2, 3)) for b in range(8)], dim=1)
    return [sum(1 << b for b in range(8) if bright[b]) for bright in (blocks > 128).tolist()]


def _encode(frames, *, fmt: str, codec: str, options: dict) -> list[av.Packet]:
    """Encode into memory; the packets as the encoder gives them (decode order)."""
    out = av.open(io.BytesIO(), "w", format=fmt)
    stream = out.add_stream(codec, rate=FPS)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.options = options
    packets = []
    for i, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        packets += stream.encode(frame)
    packets += stream.encode()
    out.close()
    return packets


def _mux(path: Path, payloads: list[tuple[bytes, bool]], *, fmt: str, codec: str) -> Path:
    """Write ready-made packets, stamped 0, 1, 2, ... in the order given."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, (data, key) in enumerate(payloads):
            packet = av.Packet(data)
            packet.pts = packet.dts = i
            packet.time_base = Fraction(1, FPS)
            packet.is_keyframe = key
            packet.stream = stream
            out.mux(packet)
    return path


# -- AVI with packed B-frames -----------------------------------------------------------------------
VOP = b"\x00\x00\x01\xb6"  # MPEG-4 Part 2 picture start code


def _vop_type(data: bytes) -> str | None:
    i = data.find(VOP)
    return "IPBS"[data[i + 4] >> 6] if i >= 0 else None


def _n_vop(p_vop: bytes) -> bytes:
    """A not-coded picture (the placeholder DivX writes after packed B-frames), with the P-picture's time."""
    i = p_vop.find(VOP) + 4
    bits = "".join(f"{b:08b}" for b in p_vop[i : i + 8])
    k = 2  # after the picture type: modulo_time_base (1s, then a 0), marker, time increment, marker
    while bits[k] == "1":
        k += 1
    head = bits[: k + 1 + 1 + (FPS - 1).bit_length() + 1] + "0"  # vop_coded = 0
    head += "0" + "1" * ((8 - (len(head) + 1) % 8) % 8)  # stuffing to the byte
    return VOP + int(head, 2).to_bytes(len(head) // 8, "big")


def _packed_avi(path: Path, n: int = 40) -> Path:
    """An AVI as DivX 5 wrote them: each P-picture packed with the B-picture after it, the next B alone,
    then a not-coded placeholder; FFmpeg decodes the frames in order but hands them the stamps of the
    packets that released them (1, 2, 4, 3, 5, 7, 6, ...)."""
    packets = [(bytes(p), p.is_keyframe) for p in _encode(_frames(n), fmt="avi", codec="mpeg4", options={"bf": "2"})]
    first = packets[0][0]
    user_data, picture = first.find(b"\x00\x00\x01\xb2"), first.find(VOP)  # the decoder packs only for DivX
    packets[0] = (first[:user_data] + b"\x00\x00\x01\xb2DivX503b1393p" + first[picture:], True)
    payloads, k = [], 0
    while k < len(packets):
        data, key = packets[k]
        if k + 2 < len(packets) and [_vop_type(d) for d, _ in packets[k : k + 3]] == ["P", "B", "B"]:
            payloads += [(data + packets[k + 1][0], key), (packets[k + 2][0], False), (_n_vop(data), False)]
            k += 3
        else:
            payloads.append((data, key))
            k += 1
    return _mux(path, payloads, fmt="avi", codec="mpeg4")


@pytest.fixture(scope="module")
def packed_avi(tmp_path_factory) -> Path:
    return _packed_avi(tmp_path_factory.mktemp("timestamps") / "packed.avi")


def _plain(path: Path) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Every frame, its time and the warnings, from one plain PyAV decode."""
    with open_video(path) as reader:
        chunks = list(reader.stream(chunk_size=7))
    return (
        torch.cat([c.data for c in chunks]),
        torch.cat([c.pts for c in chunks]).numpy(),
        [w for c in chunks for w in c.warnings],
    )


def test_ffmpeg_gives_the_packed_avi_permuted_stamps(packed_avi):
    # the defect itself, below vidkit: frames in order, stamps not
    with av.open(str(packed_avi)) as container:
        decoded = [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    times, images = zip(*decoded)
    assert _indices(torch.from_numpy(np.stack(images))) == list(range(40))
    assert not np.all(np.diff(times) > 0)


def test_permuted_stamps_are_repaired_and_said_once(packed_avi):
    data, times, warnings = _plain(packed_avi)
    assert _indices(data) == list(range(40))  # the frames themselves, in order
    assert np.all(np.diff(times) > 0)
    assert np.allclose(times, (np.arange(40) + 1) / FPS)  # the stamps, re-sorted
    assert warnings == [REPAIRED]  # once, and no frames said missing
    with open_video(packed_avi) as reader:
        list(reader.stream())
        again = [w for c in reader.stream() for w in c.warnings]
        assert again == [] and reader.warnings.count(REPAIRED) == 1


def test_a_well_stamped_avi_with_b_frames_is_left_alone(tmp_path):
    path = tmp_path / "plain.avi"
    packets = _encode(_frames(30), fmt="avi", codec="mpeg4", options={"bf": "2"})
    _mux(path, [(bytes(p), p.is_keyframe) for p in packets], fmt="avi", codec="mpeg4")
    with av.open(str(path)) as container:
        raw = [f.time for f in container.decode(video=0)]
    data, times, warnings = _plain(path)
    assert _indices(data) == list(range(30)) and times.tolist() == raw and warnings == []


def _check_read_at(path: Path, backend: str, *, same_as=None, seed: int = 0, reads: int = 30) -> list[str]:
    """Every read_at (shuffled single reads, on a fresh reader and on one reused; then all at once) gives
    the frame a plain decode has nearest to the time asked. Returns the warnings the reads gave."""
    data, times, _ = _plain(path)
    assert np.all(np.diff(times) > 0)  # "nearest" means something only on one time line
    index = same_as or _indices
    expected = list(range(len(data))) if same_as else index(data)
    rng = np.random.default_rng(seed)
    mids = (times[:-1] + times[1:]) / 2 - 0.004  # just before each tie
    targets = np.concatenate([rng.uniform(times[0] - 0.01, times[-1], 12), rng.choice(mids, 12), rng.choice(times, 6)])
    targets = rng.permutation(targets)[:reads]
    nearest = [expected[int(np.argmin(np.abs(times - t)))] for t in targets]
    said = []
    with open_video(path, backend=backend) as reused:
        for t, want in zip(targets, nearest):
            with open_video(path, backend=backend) as fresh:
                got = fresh.read_at([t])
            assert index(got.data) == [want], f"fresh reader at {t:.3f} s"
            got = reused.read_at([t])
            assert index(got.data) == [want], f"reused reader at {t:.3f} s"
            said += got.warnings
        grouped = reused.read_at(targets)
        assert index(grouped.data) == nearest
        assert np.all(np.diff(np.sort(np.unique(grouped.pts.numpy()))) > 0)
    return said


def test_read_at_on_the_repaired_avi_lands_on_the_nearest_frame(packed_avi, backend):
    said = _check_read_at(packed_avi, backend)
    assert not [w for w in said if "missing" in w]


def _megamind() -> Path:
    folder = os.environ.get("VIDKIT_TEST_MEDIA")
    path = Path(folder) / "Megamind_bugy.avi" if folder else None
    if path is None or not path.is_file():
        pytest.skip("Megamind_bugy.avi (opencv-doc) is not in $VIDKIT_TEST_MEDIA; .ci/run fetches it")
    return path


def _content_index(reference: torch.Tensor):
    """Which reference frame each frame is (the most alike): for real footage without marks."""
    ref = reference[:, ::4, ::4].float()

    def index(data: torch.Tensor) -> list[int]:
        return [int(torch.argmin((ref - frame[::4, ::4].float()).abs().mean(dim=(1, 2, 3)))) for frame in data]

    return index


def test_megamind_bugy_avi(backend):
    path = _megamind()
    data, times, warnings = _plain(path)
    assert len(times) == 270 and np.all(np.diff(times) > 0)
    assert warnings == [REPAIRED]
    said = _check_read_at(path, backend, same_as=_content_index(data), reads=8)
    assert not [w for w in said if "missing" in w]


# -- two MPEG-TS recordings concatenated --------------------------------------------------------------
@pytest.fixture(scope="module", params=["libx264", "mpeg2video"])
def joined_ts(request, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("joined")
    halves = []
    for name, frames in (("a.ts", _frames(40)[:20]), ("b.ts", _frames(40)[20:])):
        with av.open(str(root / name), "w", format="mpegts") as out:
            stream = out.add_stream(request.param, rate=FPS)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            stream.options = {"bf": "2", "g": "12"}
            for i, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        halves.append((root / name).read_bytes())
    path = root / "joined.ts"
    path.write_bytes(b"".join(halves))  # cat a.ts b.ts
    return path


def test_concatenated_ts_plays_on_across_the_join(joined_ts):
    data, times, warnings = _plain(joined_ts)
    assert _indices(data) == list(range(40))  # both recordings, every frame
    assert np.all(np.diff(times) > 0) and np.allclose(np.diff(times), 1 / FPS)  # shifted to follow on
    jumps = [w for w in warnings if w.startswith("timestamps jump back from")]
    assert len(jumps) == 1 and "concatenated recordings?" in jumps[0], warnings
    assert not [w for w in warnings if "truncated" in w or "missing" in w]


def test_read_at_after_the_join(joined_ts, backend):
    _check_read_at(joined_ts, backend, seed=1)


# -- broken timing tables ---------------------------------------------------------------------------------
def _mp4(tmp_path: Path) -> bytes:
    path = tmp_path / "good.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"bf": "0", "g": "25"}
        for i, image in enumerate(_frames(40) * 2):  # 80 frames, levels repeating
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path.read_bytes()


def _patched(data: bytes, box: bytes, write) -> bytes:
    data = bytearray(data)
    write(data, data.find(box))
    return bytes(data)


def _stts_deltas(delta: int):
    def write(data, at):
        for k in range(struct.unpack_from(">I", data, at + 8)[0]):
            count = struct.unpack_from(">I", data, at + 12 + 8 * k)[0]
            struct.pack_into(">II", data, at + 12 + 8 * k, count, delta & 0xFFFFFFFF)

    return write


def _mdhd_timescale_zero(data, at):
    struct.pack_into(">I", data, at + 8 + (16 if data[at + 4] == 1 else 8), 0)


def test_zero_sample_durations_get_times_at_the_frame_interval(tmp_path):
    path = tmp_path / "zero.mp4"
    path.write_bytes(_patched(_mp4(tmp_path), b"stts", _stts_deltas(0)))
    data, times, warnings = _plain(path)
    assert np.all(np.diff(times) > 0) and np.allclose(np.diff(times), 1 / FPS)
    stalls = [w for w in warnings if w.startswith("timestamps do not increase")]
    assert len(stalls) == 1 and "given times 0.040 s apart" in stalls[0]
    # every frame, in order: the probe's rewind, which stamps that are all 0 cannot check, is not trusted
    assert _indices(data) == [k % 40 for k in range(80)]
    assert not [w for w in warnings if "truncated" in w or "decoded" in w]


@pytest.mark.parametrize(
    "kind, box, write",
    [("huge durations", b"stts", _stts_deltas(0x7FFFFFFF)), ("time base 0", b"mdhd", _mdhd_timescale_zero)],
)
def test_frames_the_demuxer_drops_are_reported(tmp_path, capsys, kind, box, write):
    path = tmp_path / "broken.mp4"
    path.write_bytes(_patched(_mp4(tmp_path), box, write))
    data, times, warnings = _plain(path)
    if len(times) >= 72:
        pytest.skip(f"this FFmpeg reads MP4s with {kind}")
    said = f"decoded {len(times)} of the 80 frames the index lists (broken timing table?)"
    assert said in warnings
    assert main(["info", "--json", "--verify", str(path)]) == 0
    assert said in capsys.readouterr().out
