"""Test-wide fixtures and settings.

- GPU tests (``gpu`` mark, ``gpu`` fixture) skip without a GPU; the vidkit cache stays out of the user's home in CI.
- Test videos, written once per session by ``write_video``: every frame carries its index in binary
  as a row of black/white 8-pixel-wide blocks (least bit left) on grey, which survives lossy
  compression, so a test can tell *which* frame came back, not just that one did. Each
  :class:`TestVideo` also records what we know because we wrote it: the size, the presentation time
  of every frame, the rotation, whether it has B-frames.
- A tiny synthetic set, and ``vidkit`` run on it in a fresh process as a user would (``tiny``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch

from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset
from vidkit.io.encode import write_video


def pytest_configure(config):
    # CI machines start clean; keep what tests generate inside the test run's own folder there.
    if os.environ.get("CI") and "VIDKIT_CACHE" not in os.environ:
        os.environ["VIDKIT_CACHE"] = str(config.rootpath / ".cache" / "vidkit")


# tools/gpu_suite.py --dry-run sets this: the gpu-marked tests then run on the CPU at their small sizes, so
# the suite's test step (and the tests themselves) are exercised where no GPU is (CI).
GPU_TESTS_ON_CPU = os.environ.get("VIDKIT_GPU_TESTS_ON_CPU") == "1"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available() or GPU_TESTS_ON_CPU:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def gpu() -> torch.device:
    """The device of a gpu-marked test: the first CUDA device, or the CPU under VIDKIT_GPU_TESTS_ON_CPU=1."""
    return torch.device("cuda:0" if torch.cuda.is_available() and not GPU_TESTS_ON_CPU else "cpu")


# -- test videos ------------------------------------------------------------------------------------
BLOCK = 8  # marker block width in pixels
MARK_ROWS = 16  # marker block height
CORNER = 10  # side of the white square that marks the stored top-left corner of rotated videos

# Quiet encoders: their banners go to the C-level stderr, not through pytest's capture of Python's.
_X265 = {"x265-params": "log-level=error"}


@dataclass(frozen=True)
class TestVideo:
    """A video this session wrote and what we know about it."""

    __test__ = False  # not a test class, whatever its name

    name: str
    path: Path
    codec: str  # what VideoInfo.codec should say
    width: int  # stored size
    height: int
    times: tuple[float, ...]  # presentation time of each written frame, seconds
    fps: float  # nominal rate (the average one for VFR)
    count_exact: bool  # does the container header count the frames?
    vfr: bool = False
    rotation: int = 0
    b_frames: bool | None = None  # None: the encoder decides, nothing to check
    marker_row: int = 0  # first row of the index blocks
    corner: bool = False  # white square in the stored top-left corner
    decord_reason: str | None = None  # why decord cannot read it, when it cannot

    @property
    def num_frames(self) -> int:
        return len(self.times)

    @property
    def bits(self) -> int:
        return min(12, self.width // BLOCK)

    def indices(self, data: torch.Tensor, *, upright: bool = False) -> list[int]:
        """Frame indices read back from ``[T, H, W, 3]``; ``upright`` frames are turned back to the
        stored orientation first (rotation is counter-clockwise, as ``np.rot90``)."""
        if upright and self.rotation:
            data = torch.from_numpy(np.ascontiguousarray(np.rot90(data.numpy(), k=-(self.rotation // 90), axes=(1, 2))))
        return read_indices(data, self.bits, self.marker_row)

    def nearest(self, t: float) -> int:
        """Index of the written frame nearest to ``t`` (the earlier one on a tie)."""
        gaps = np.abs(np.asarray(self.times) - t)
        return int(np.flatnonzero(gaps <= gaps.min() + 1e-9)[0])

    def away_from_ties(self, t: float, margin: float = 0.15) -> bool:
        """True when ``t`` is not within ``margin`` of a frame gap from the midpoint of two frames."""
        times = np.asarray(self.times)
        mids = (times[1:] + times[:-1]) / 2
        gaps = np.diff(times)
        return bool(len(mids) == 0 or np.all(np.abs(t - mids) > margin * gaps))


def marked_frames(
    n: int,
    height: int = 48,
    width: int = 64,
    *,
    marker_row: int = 0,
    corner: bool = False,
    noise: bool = False,
    seed: int = 0,
) -> list[np.ndarray]:
    """Grey RGB frames whose rows ``marker_row : marker_row + 16`` spell the frame index in blocks.

    ``corner`` puts a white square in the top-left corner (to see where rotation moves it);
    ``noise`` fills the rows under the marker with noise, so every frame costs a kilobyte or so
    (files big enough to cut in half or damage in the middle and keep some frames)."""
    rng = np.random.default_rng(seed)
    bits = min(12, width // BLOCK)
    frames = []
    for i in range(n):
        image = np.full((height, width, 3), 128, dtype=np.uint8)
        for b in range(bits):
            image[marker_row : marker_row + MARK_ROWS, BLOCK * b : BLOCK * (b + 1)] = 255 if (i >> b) & 1 else 0
        if noise:
            below = image[marker_row + MARK_ROWS :]
            below[...] = rng.integers(0, 256, below.shape, dtype=np.uint8)
        if corner:
            image[:CORNER, :CORNER] = 255
        frames.append(image)
    return frames


def read_indices(data: torch.Tensor, bits: int, row: int = 0) -> list[int]:
    """Read the indices back from ``[T, H, W, 3]`` using the inner pixels of each block."""
    if len(data) == 0:
        return []
    inner = slice(row + 4, row + MARK_ROWS - 4)
    blocks = torch.stack(
        [data[:, inner, BLOCK * b + 2 : BLOCK * b + 6].float().mean(dim=(1, 2, 3)) for b in range(bits)], dim=1
    )
    return [sum(1 << b for b in range(bits) if bright[b]) for bright in (blocks > 128).tolist()]


# -- the codec / container matrix -------------------------------------------------------------

_NO_DECORD_AV1 = "decord 0.6 bundles an FFmpeg without an AV1 decoder"


def _vfr_times(n: int) -> list[float]:
    """40 ms, 40 ms, 100 ms, ...: an irregular cadence like a phone dropping frames in low light."""
    gaps = [0.1 if k % 3 == 2 else 0.04 for k in range(n - 1)]
    return [round(t, 3) for t in np.concatenate([[0.0], np.cumsum(gaps)])]


def _cfr(n: int, fps: float) -> tuple[float, ...]:
    return tuple(k / fps for k in range(n))


# name -> (file name, write_video kwargs, frame kwargs, TestVideo fields)
_MATRIX: dict[str, tuple[str, dict, dict, dict]] = {
    "h264_bframes": (
        "h264_b.mp4",
        dict(codec="libx264", options={"bf": "2", "g": "12"}),
        dict(n=40),
        dict(codec="h264", count_exact=True, b_frames=True),
    ),
    # 16 fps puts frames at k/16 s, exact in binary: ties between two frames are exact ties.
    "h264_ip": (
        "h264_ip.mp4",
        dict(codec="libx264", fps=16, options={"bf": "0", "g": "12"}),
        dict(n=32),
        dict(codec="h264", count_exact=True, b_frames=False, fps=16.0),
    ),
    "hevc": ("hevc.mp4", dict(codec="libx265", options=_X265), dict(n=30), dict(codec="hevc", count_exact=True)),
    "vp9": ("vp9.webm", dict(codec="libvpx-vp9"), dict(n=30), dict(codec="vp9", count_exact=False)),
    "mpeg4": ("mpeg4.avi", dict(codec="mpeg4"), dict(n=30), dict(codec="mpeg4", count_exact=True)),
    "av1": (
        "av1.mkv",
        dict(codec="libsvtav1"),
        dict(n=30),
        dict(codec="av1", count_exact=False, decord_reason=_NO_DECORD_AV1),
    ),
    "vfr": ("vfr.mp4", dict(codec="libx264"), dict(n=30), dict(codec="h264", count_exact=True, vfr=True)),
    "odd_vp9": (
        "odd.webm",
        dict(codec="libvpx-vp9"),
        dict(n=20, height=61, width=97),
        dict(codec="vp9", count_exact=False),
    ),
    "odd_yuv444": (
        "odd444.mp4",
        dict(codec="libx264", pix_fmt="yuv444p"),
        dict(n=20, height=61, width=97),
        dict(codec="h264", count_exact=True),
    ),
    "one_frame": ("one.mp4", dict(codec="libx264"), dict(n=1), dict(codec="h264", count_exact=True)),
    "rot90": (
        "rot90.mp4",
        dict(codec="libx264", rotation=90),
        dict(n=30, marker_row=20, corner=True),
        dict(codec="h264", count_exact=True, rotation=90),
    ),
    "rot270": (
        "rot270.mp4",
        dict(codec="libx264", rotation=270),
        dict(n=30, marker_row=20, corner=True),
        dict(codec="h264", count_exact=True, rotation=270),
    ),
}
MATRIX = tuple(_MATRIX)
ROTATED = ("rot90", "rot270")


def _make(root: Path, name: str) -> TestVideo:
    filename, write_kw, frame_kw, fields = _MATRIX[name]
    frame_kw = dict(frame_kw)
    n = frame_kw.pop("n")
    height, width = frame_kw.get("height", 48), frame_kw.get("width", 64)
    fps = write_kw.get("fps", 25.0)
    times = _vfr_times(n) if name == "vfr" else _cfr(n, fps)
    path = root / filename
    kwargs = dict(write_kw, fps=fps)
    if name == "vfr":
        kwargs["timestamps"] = times
    try:
        write_video(path, marked_frames(n, **frame_kw), **kwargs)
    except av.error.FFmpegError as e:
        pytest.skip(f"this FFmpeg cannot encode {name} with {write_kw['codec']}: {e}")
    fields = dict(fields)
    if name == "vfr":
        fields["fps"] = (n - 1) / (times[-1] - times[0])
    fields.setdefault("fps", fps)
    return TestVideo(
        name=name,
        path=path,
        width=width,
        height=height,
        times=tuple(times),
        marker_row=frame_kw.get("marker_row", 0),
        corner=frame_kw.get("corner", False),
        **fields,
    )


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("io-media")


@pytest.fixture(scope="session")
def make_video(media_root) -> Callable[[str], TestVideo]:
    """``make_video(name)``: the matrix video ``name``, encoded on first use."""
    made: dict[str, TestVideo] = {}

    def make(name: str) -> TestVideo:
        if name not in made:
            made[name] = _make(media_root, name)
        return made[name]

    return make


@pytest.fixture(scope="session", params=MATRIX)
def video(request, make_video) -> TestVideo:
    """Each video of the codec / container matrix in turn."""
    return make_video(request.param)


@pytest.fixture(params=["pyav", "decord", "torchcodec"])
def backend(request) -> str:
    """Each decoding backend in turn; decord's and torchcodec's runs skip where they cannot decode (torchcodec
    with the reason: not installed, no FFmpeg shared libraries, a release built for another torch)."""
    if request.param == "decord":
        pytest.importorskip("decord")
    if request.param == "torchcodec":
        from vidkit.io.torchcodec_reader import torchcodec_unavailable

        if torchcodec_unavailable():
            pytest.skip(torchcodec_unavailable())
    return request.param


@pytest.fixture
def readable(backend) -> Callable[[TestVideo], None]:
    """``readable(video)`` skips when the backend under test is known not to read ``video``."""

    def check(video: TestVideo) -> None:
        if backend == "decord" and video.decord_reason:
            pytest.skip(f"{video.name}: {video.decord_reason}")

    return check


@pytest.fixture(scope="session")
def long_gop(media_root) -> TestVideo:
    """300 frames at 30 fps with a keyframe every 30 frames and B-frames: reading times far apart
    has to seek across GOPs (96 px wide: 12 marker bits)."""
    n, fps = 300, 30.0
    path = write_video(
        media_root / "long_gop.mp4",
        marked_frames(n, height=64, width=96),
        fps=fps,
        options={"g": "30", "bf": "2", "sc_threshold": "0"},
    )
    return TestVideo(
        name="long_gop",
        path=path,
        codec="h264",
        width=96,
        height=64,
        times=_cfr(n, fps),
        fps=fps,
        count_exact=True,
        b_frames=True,
    )


# Constant quantiser: libx264's default rate control (CRF with macroblock tree) gives different bytes
# from run to run on small pictures (see vidkit.data.synthetic._encoder_options),
# and the damage tests flip bytes at fixed places, so the files under them must not change.
_NOISY = {"g": "10", "qp": "24"}


@pytest.fixture(scope="session")
def noisy_mkv(media_root) -> TestVideo:
    """60 frames of 64x48 H.264 in Matroska whose frames are a kilobyte or two each (noise under the
    marker) with a keyframe every 10 frames: big enough to damage in the middle and keep frames."""
    n, fps = 60, 25.0
    path = write_video(media_root / "noisy.mkv", marked_frames(n, noise=True), fps=fps, options=_NOISY)
    return TestVideo(
        name="noisy_mkv", path=path, codec="h264", width=64, height=48, times=_cfr(n, fps), fps=fps, count_exact=False
    )


@pytest.fixture(scope="session")
def noisy_mp4(media_root) -> Callable[[bool], Path]:
    """``noisy_mp4(faststart)``: 60 noisy frames of H.264 in MP4, the index (moov) first or last."""
    made: dict[bool, Path] = {}

    def make(faststart: bool) -> Path:
        if faststart not in made:
            options = {"movflags": "+faststart"} if faststart else None
            made[faststart] = write_video(
                media_root / f"noisy{'_faststart' if faststart else ''}.mp4",
                marked_frames(60, noise=True),
                fps=25.0,
                options=_NOISY,
                container_options=options,
            )
        return made[faststart]

    return make


def file_with(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def bad_files(media_root, noisy_mp4, noisy_mkv) -> dict[str, Path]:
    """Files that are not good videos, by what is wrong with them."""
    root = media_root / "bad"
    root.mkdir()
    files = {
        "missing": root / "missing.mp4",
        "empty": file_with(root / "empty.mp4", b""),
        "text": file_with(root / "notes.mp4", b"these are my holiday notes, not a video\n" * 20),
    }
    (root / "folder.mp4").mkdir()
    files["directory"] = root / "folder.mp4"
    files["dangling"] = root / "dangling.mp4"
    os.symlink(root / "gone.mp4", files["dangling"])
    files["fifo"] = root / "pipe.mp4"
    os.mkfifo(files["fifo"])
    files["audio_only"] = _write_audio(root / "speech.m4a")
    whole = noisy_mp4(faststart=False).read_bytes()
    assert whole.find(b"moov") > whole.find(b"mdat") > 0, "expected the index after the media data"
    files["truncated_index"] = file_with(root / "cut_before_moov.mp4", whole[: len(whole) // 2])
    fast = noisy_mp4(faststart=True).read_bytes()
    assert 0 < fast.find(b"moov") < fast.find(b"mdat"), "expected the index before the media data"
    files["truncated_faststart"] = file_with(root / "cut_faststart.mp4", fast[: len(fast) // 2])
    damaged = bytearray(noisy_mkv.path.read_bytes())
    middle = len(damaged) // 2
    for k in range(middle, middle + 2000, 3):  # every third byte over 2 kB: packets and cluster headers
        damaged[k] ^= 0xFF
    files["damaged_mkv"] = file_with(root / "damaged.mkv", bytes(damaged))
    files["damaged_packet_mkv"] = file_with(root / "damaged_packet.mkv", _break_packet(noisy_mkv, frame=33))
    return files


def _break_packet(video: TestVideo, frame: int) -> bytes:
    """The bytes of ``video`` with the NAL length prefix of one frame's packet inverted: the
    container is intact, the decoder refuses that packet."""
    data = bytearray(video.path.read_bytes())
    with av.open(str(video.path)) as container:
        stream = container.streams.video[0]
        [payload] = [
            bytes(p)
            for p in container.demux(stream)
            if p.size and abs(float(p.pts * stream.time_base) - video.times[frame]) < 1e-3
        ]
    start = data.find(payload[:32])
    assert start > 0 and data.count(payload[:32]) == 1
    for k in range(start, start + 4):
        data[k] ^= 0xFF
    return bytes(data)


@pytest.fixture(scope="session")
def write_audio() -> Callable[[Path], Path]:
    """``write_audio(path)``: write a file with no video stream (see :func:`_write_audio`)."""
    return _write_audio


def _write_audio(path: Path) -> Path:
    """Half a second of AAC silence in an MP4 container: a file with no video stream."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def textured_motion(dx: int, dy: int, *, n: int = 16, height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """uint8 ``[n, H, W, 3]``: a 32x32 textured square moving by exactly ``(dx, dy)`` pixels per frame
    (top-left at ``(48 + dx t, 32 + dy t)``) over a static textured background — motion whose true
    field we know at every pixel, with texture for the encoder's motion search to lock onto."""
    rng = np.random.default_rng(seed)
    background = np.kron(rng.integers(30, 90, (height // 8, width // 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    texture = np.kron(rng.integers(100, 255, (8, 8, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    frames = np.repeat(background[None], n, axis=0)
    for t in range(n):
        x, y = 48 + dx * t, 32 + dy * t
        frames[t, y : y + 32, x : x + 32] = texture
    return frames


@pytest.fixture
def moving_square() -> Callable[..., np.ndarray]:
    """:func:`textured_motion`, for tests."""
    return textured_motion


# -- files that lie: tiny videos whose headers claim huge frames or durations ------------------------
def _unescape(nal: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _escape(rbsp: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _ue(bits: str, pos: int) -> int:
    """The end of the exp-Golomb code starting at ``pos``."""
    zeros = bits.index("1", pos) - pos
    return pos + 2 * zeros + 1


def _sps_with_size(nal: bytes, width: int, height: int) -> bytes:
    """An H.264 SPS NAL (as x264 writes it: baseline or high profile, no scaling lists, POC type 0 or 2)
    rewritten to claim ``width`` x ``height`` (multiples of 16)."""
    bits = "".join(f"{b:08b}" for b in _unescape(nal[1:])).rstrip("0")[:-1]  # less the RBSP stop bit
    profile, pos = int(bits[:8], 2), _ue(bits, 24)  # profile, flags, level; seq_parameter_set_id
    if profile in (100, 110, 122, 244):
        pos = _ue(bits, pos)  # chroma_format_idc (1: 4:2:0)
        pos = _ue(bits, _ue(bits, pos)) + 2  # bit depths, qpprime flag, no scaling matrix
    pos = _ue(bits, pos)  # log2_max_frame_num_minus4
    poc_end = _ue(bits, pos)
    poc_type = int(bits[pos:poc_end], 2) - 1
    pos = _ue(bits, poc_end) if poc_type == 0 else poc_end
    pos = _ue(bits, pos) + 1  # max_num_ref_frames, gaps_in_frame_num_allowed_flag
    size_end = _ue(bits, _ue(bits, pos))

    def ue(v: int) -> str:
        return "0" * ((v + 1).bit_length() - 1) + f"{v + 1:b}"

    new = bits[:pos] + ue(width // 16 - 1) + ue(height // 16 - 1) + bits[size_end:] + "1"
    new += "0" * (-len(new) % 8)
    return nal[:1] + _escape(bytes(int(new[i : i + 8], 2) for i in range(0, len(new), 8)))


def _h264_claiming(width: int, height: int, frames: int) -> bytes:
    """A 64x64 H.264 elementary stream of ``frames`` flat frames whose SPS claims ``width`` x ``height``."""
    import io

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "tune": "zerolatency"})
        stream.width = stream.height = 64
        for i in range(frames):
            picture = np.full((64, 64, 3), i * 5 % 255, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode())
    nals = buffer.getvalue().split(b"\x00\x00\x01")
    for i, nal in enumerate(nals):
        if nal and nal[0] & 0x1F == 7:  # an SPS (its trailing zero belongs to the next start code)
            body = nal.rstrip(b"\x00")
            nals[i] = _sps_with_size(body, width, height) + nal[len(body) :]
    return b"\x00\x00\x01".join(nals)


def _remux(raw: bytes, path: Path) -> Path:
    """An H.264 elementary stream put in the container ``path``'s name says, stamped at 25 fps."""
    import io
    from fractions import Fraction

    with av.open(io.BytesIO(raw), format="h264") as source, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        stream.time_base = Fraction(1, 25)
        packets = (p for p in source.demux(source.streams.video[0]) if p.size)
        for i, packet in enumerate(packets):
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, stream.time_base
            out.mux(packet)
    return path


def _mkv_claiming(path: Path, seconds: float, frames: int = 50, *, noise: bool = False) -> Path:
    """A 64x64 Matroska file of ``frames`` frames at 25 fps (black, or noise: 6 KB a frame) whose Segment Info
    says it lasts ``seconds``."""
    import struct

    shape = (frames, 64, 64, 3)
    pictures = np.random.default_rng(0).integers(0, 256, shape, np.uint8) if noise else np.zeros(shape, np.uint8)
    write_video(path, pictures, fps=25)
    data = bytearray(path.read_bytes())
    at = data.index(b"\x44\x89")  # Duration, a float in milliseconds
    size = data[at + 2] & 0x7F
    data[at + 3 : at + 3 + size] = struct.pack(">d" if size == 8 else ">f", seconds * 1000)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def lying_files(media_root) -> dict[str, Path]:
    """Small files whose headers claim what no file this size can hold: ``8k.mp4`` (a 64x64 encode whose
    SPS says 8192x8192, 50 frames), ``16k.h264`` and ``16k.mp4`` (16000x16000, 5 frames), ``uhd.mp4``
    (7680x4320: just inside the default limit, 50 frames), ``long.mkv`` (50 frames claiming 10^12 s) and
    ``1000s.mkv`` (75 frames of noise, 3 s, claiming 1000 s: not more frames than it has bytes)."""
    root = media_root / "lying"
    root.mkdir()
    files = {
        "8k.mp4": _remux(_h264_claiming(8192, 8192, 50), root / "8k.mp4"),
        "16k.h264": file_with(root / "16k.h264", _h264_claiming(16000, 16000, 5)),
        "uhd.mp4": _remux(_h264_claiming(7680, 4320, 50), root / "uhd.mp4"),
        "long.mkv": _mkv_claiming(root / "long.mkv", 1e12),
        "1000s.mkv": _mkv_claiming(root / "1000s.mkv", 1000, 75, noise=True),
    }
    files["16k.mp4"] = _remux(files["16k.h264"].read_bytes(), root / "16k.mp4")
    return files


# -- a folder as people have them: every video extension FFmpeg reads, and what is not a video -----------
_X265_QUIET = {"x265-params": "log-level=none"}
# file name -> (kind, PyAV muxer, encoder, muxer options). Every one is encoded here: this FFmpeg writes all
# of them (Theora is absent from it, so .ogv/.ogg hold VP8 in Ogg). ``clip.m2ts`` has real 192-byte packets
# (a 4-byte arrival stamp before each 0x47 sync byte); ``clip.vob`` is MPEG-2 in MPEG-PS (the "vob" muxer);
# ``clip.f4v``/``clip.3g2`` are the MP4 family's muxers of those names.
_ZOO: dict[str, tuple[str, str, str, dict]] = {
    # the ten extensions vidkit found before issue 29
    "clip.mp4": ("video", "mp4", "libx264", {}),
    "clip.mkv": ("video", "matroska", "libx264", {}),
    "clip.webm": ("video", "webm", "libvpx", {}),
    "clip.avi": ("video", "avi", "mpeg4", {}),
    "clip.mov": ("video", "mov", "libx264", {}),
    "clip.m4v": ("video", "mp4", "libx264", {}),
    "clip.mpg": ("video", "mpeg", "mpeg1video", {}),
    "clip.mpeg": ("video", "mpeg", "mpeg2video", {}),
    "clip.flv": ("video", "flv", "flv", {}),
    "clip.3gp": ("video", "3gp", "libx264", {}),
    # the ones issue 29 adds
    "clip.ogv": ("video", "ogg", "libvpx", {}),
    "clip.ogg": ("video", "ogg", "libvpx", {}),
    "clip.ts": ("video", "mpegts", "mpeg2video", {}),
    "h264.ts": ("video", "mpegts", "libx264", {}),
    "clip.mts": ("video", "mpegts", "libx264", {}),
    "clip.m2ts": ("video", "mpegts", "libx264", {"mpegts_m2ts_mode": "1"}),
    "clip.wmv": ("video", "asf", "wmv2", {}),
    "clip.asf": ("video", "asf", "wmv2", {}),
    "clip.vob": ("video", "vob", "mpeg2video", {}),
    "clip.3g2": ("video", "3g2", "libx264", {}),
    "clip.f4v": ("video", "f4v", "libx264", {}),
    "clip.mxf": ("video", "mxf", "mpeg2video", {}),
    "clip.y4m": ("video", "yuv4mpegpipe", "rawvideo", {}),
    "clip.dv": ("video", "dv", "dvvideo", {}),  # DV has fixed sizes: 720x576 (PAL), 10 frames, 1.4 MB
    # raw elementary streams: no container, no timestamps
    "clip.h264": ("raw", "h264", "libx264", {}),
    "clip.264": ("raw", "h264", "libx264", {}),
    "clip.hevc": ("raw", "hevc", "libx265", {}),
    "clip.265": ("raw", "hevc", "libx265", {}),
    "clip.m2v": ("raw", "mpeg2video", "mpeg2video", {}),
    # names in capitals, as cameras and Windows write them
    "CLIP.MP4": ("video", "mp4", "libx264", {}),
    "x.MKV": ("video", "matroska", "libx264", {}),
    # an MP4 with no extension at all
    "clip_noext": ("noext", "mp4", "libx264", {}),
}
# Where this FFmpeg lacks an encoder, a renamed copy of a file of the same kind stands in (FFmpeg probes by
# content, so it still opens). With the FFmpeg PyAV's wheels bundle, no file is one.
_ZOO_STAND_IN = {"video": "clip.mkv", "raw": "clip.h264", "noext": "clip.mp4"}


@pytest.fixture(scope="session")
def video_zoo(media_root) -> tuple[Path, dict[str, str]]:
    """``(folder, kinds)``: a folder with one small file (12 frames of 64x48 at 25 fps; DV at 720x576, 10
    frames) of every video extension issue 29 lists, beside files that are not videos. ``kinds`` maps
    every file name in the folder (no sub-folders) to its kind:

    - ``"video"``: a container FFmpeg reads: ``.mp4 .mkv .webm .avi .mov .m4v .mpg .mpeg .flv .3gp`` (the
      ten found before), ``.ogv .ogg`` (VP8 in Ogg), ``.ts`` (``clip.ts``: MPEG-2, ``h264.ts``: H.264; both
      start with the MPEG-TS sync byte 0x47), ``.mts`` (MPEG-TS), ``.m2ts`` (192-byte packets: its first
      byte is not 0x47, its fifth is), ``.wmv .asf`` (WMV2 in ASF), ``.vob`` (MPEG-2 in MPEG-PS), ``.3g2
      .f4v`` (MP4 family), ``.mxf`` (MPEG-2), ``.dv``, ``.y4m`` (raw pixels, rate in its header), and
      ``CLIP.MP4``, ``x.MKV`` (upper-case extensions);
    - ``"raw"``: an elementary stream, no timestamps: ``.h264 .264`` (H.264), ``.hevc .265`` (HEVC),
      ``.m2v`` (MPEG-2);
    - ``"image"``: ``still.jpg``, ``still.png`` (Pillow);
    - ``"other"``: ``subs.srt``, ``notes.txt``, ``meta.json``;
    - ``"typescript"``: ``app.ts``, TypeScript source (it does not start with 0x47);
    - ``"noext"``: ``clip_noext``, an MP4 with no extension.

    Every video file is checked here: av finds a video stream in it and decodes a frame. Where this
    FFmpeg lacks an encoder (none does with the FFmpeg PyAV bundles), the file is a renamed copy of one of
    its kind (:data:`_ZOO_STAND_IN`)."""
    from PIL import Image

    root = media_root / "zoo"
    root.mkdir()
    frames = [np.full((48, 64, 3), 12 * i, np.uint8) for i in range(12)]
    pal = [np.full((576, 720, 3), 12 * i, np.uint8) for i in range(10)]
    kinds: dict[str, str] = {}
    for name, (kind, muxer, encoder, muxer_options) in _ZOO.items():
        options = _X265_QUIET if encoder == "libx265" else {}
        try:
            write_video(
                root / name,
                pal if encoder == "dvvideo" else frames,
                codec=encoder,
                container_format=muxer,
                options=options,
                container_options=muxer_options,
            )
        except (av.error.FFmpegError, ValueError):  # no such encoder in this FFmpeg: a renamed copy
            (root / name).write_bytes((root / _ZOO_STAND_IN[kind]).read_bytes())
        with av.open(str(root / name)) as container:
            assert next(container.decode(video=0)) is not None, f"{name}: no frame decodes"
        kinds[name] = kind
    Image.fromarray(frames[5]).save(root / "still.jpg")
    Image.fromarray(frames[5]).save(root / "still.png")
    kinds.update({"still.jpg": "image", "still.png": "image"})
    (root / "subs.srt").write_text("1\n00:00:00,000 --> 00:00:00,400\nhello\n")
    (root / "notes.txt").write_text("clips from the garden camera\n")
    (root / "meta.json").write_text('{"camera": "garden"}\n')
    kinds.update({"subs.srt": "other", "notes.txt": "other", "meta.json": "other"})
    (root / "app.ts").write_text('import { tag } from "./vidkit";\nexport const clips: string[] = [];\n')
    kinds["app.ts"] = "typescript"
    return root, kinds


# -- the tiny synthetic set and `vidkit` runs on it ------------------------------------------------
# SlowFast R50 is the model the default run trains; at 32x32 and 8 frames a step takes well under a second.
MODEL = "slowfast_r50"
TINY = {
    "data.synthetic.train_per_class": "2",
    "data.synthetic.val_per_class": "1",
    "data.synthetic.size": "[32,32]",
    "data.synthetic.num_frames": "16",
    "data.num_frames": "8",
    "data.interval_s": "0.04",
    "data.crop_size": "32",
    "data.train_scale": "[32,36]",
    "data.test_scale": "32",
    "data.batch_size": "4",
    "optim.warmup_epochs": "0.5",
    "log_every_steps": "1",
}


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """The tiny set, generated once; runs that name it with data.root reuse it."""
    root = tmp_path_factory.mktemp("synthetic")
    spec = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, size=(32, 32), num_frames=16)
    synthetic_dataset(spec, root=root, progress=False)
    return root


def _train_args(root, out, *extra, epochs=2, workers=0):
    args = [
        "train",
        "--model",
        MODEL,
        "--epochs",
        str(epochs),
        "--out",
        str(out),
        "--data-root",
        str(root),
        "--workers",
        str(workers),
    ]
    for key, value in TINY.items():
        args += ["--set", f"{key}={value}"]
    return args + list(extra)


def _run_vidkit(args, *, env=None, prefix=(sys.executable, "-m", "vidkit.cli"), timeout=300):
    """Run ``vidkit ARGS`` in a fresh process, as a user would; ``env`` values of None unset a variable."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}  # None in env: unset it
    return subprocess.run([*prefix, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


@pytest.fixture(scope="session")
def run_vidkit() -> Callable[..., subprocess.CompletedProcess]:
    """``run_vidkit(args, env=None, timeout=300)``: ``vidkit ARGS`` in a fresh process, output captured."""
    return _run_vidkit


# Runs ``vidkit`` as its child and says the largest peak resident memory of that process and of every
# process it waited for (its workers). Through a small process of its own: the peak a process inherits
# from the one that started it survives exec, and pytest's would be counted.
_PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call([sys.executable, '-m', 'vidkit.cli', *sys.argv[1:]])\n"
    "print(f'peak_mb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@pytest.fixture(scope="session")
def run_vidkit_peak() -> Callable[..., tuple[subprocess.CompletedProcess, int]]:
    """``run_vidkit_peak(args, env=None, timeout=300)``: ``(run, peak_mb)``: :func:`run_vidkit`, and the
    largest peak resident memory, in MB, of the ``vidkit`` process and each of its worker processes."""

    def run(args, **kwargs):
        done = _run_vidkit(args, prefix=(sys.executable, "-c", _PEAK), **kwargs)
        stderr, _, peak = done.stderr.rpartition("peak_mb=")
        done.stderr = stderr
        return done, int(peak)

    return run


@pytest.fixture(scope="session")
def tiny(tiny_root):
    """``tiny.args(out, *extra)``: CLI arguments training MODEL on the tiny set; ``tiny.run(args)``:
    run ``vidkit`` in a fresh process (the ``run_vidkit`` fixture); ``tiny.settings``: the tiny run's ``--set``
    keys and values; ``tiny.overrides``: the same as ``--set`` strings."""
    return SimpleNamespace(
        model=MODEL,
        root=tiny_root,
        run=_run_vidkit,
        args=lambda out, *extra, **kw: _train_args(tiny_root, out, *extra, **kw),
        settings=dict(TINY),
        overrides=[f"{k}={v}" for k, v in TINY.items()],
    )


@pytest.fixture
def misbehaving_decoder(monkeypatch):
    """In the decoding workers of ``vidkit tag`` and ``vidkit extract`` (run in-process with ``main``), a file
    named ``stuck.mp4`` blocks forever, as a stuck network mount would, and one named ``crash.mp4`` kills its
    process, as a decoder segfault does; every other file decodes as usual. FFmpeg has no file that reliably
    hangs or crashes it (vidkit already refuses pipes and devices), hence the patch."""
    import signal
    import time

    import vidkit.engine.tagger as tagger

    real = tagger.decode_for_tagging

    def misbehaves(path, **kwargs):
        if path.endswith("stuck.mp4"):
            time.sleep(3600)
        if path.endswith("crash.mp4"):
            os.kill(os.getpid(), signal.SIGSEGV)
        return (yield from real(path, **kwargs))

    monkeypatch.setattr(tagger, "decode_for_tagging", misbehaves)


# -- a small classifier and MPEG-TS copies, for the jobs that load a model or read a live stream ---------------
TAG_CLASSES = ["walk", "run", "jump", "sit"]


@pytest.fixture(scope="session")
def c2d_weights(tmp_path_factory) -> list[str]:
    """The arguments of a c2d_r50 saved as peer weights (seed 0) with four class names: ``--model c2d_r50
    --weights FILE --classes FILE``, for ``vidkit tag``, ``watch``, ``render`` and ``--engine ray``."""
    from vidkit.models import build

    folder = tmp_path_factory.mktemp("c2d_weights")
    torch.manual_seed(0)
    torch.save(build("c2d_r50", num_classes=len(TAG_CLASSES)).state_dict(), folder / "c2d.pt")
    (folder / "classes.txt").write_text("\n".join(TAG_CLASSES) + "\n")
    return ["--model", "c2d_r50", "--weights", str(folder / "c2d.pt"), "--classes", str(folder / "classes.txt")]


@pytest.fixture(scope="session")
def mpegts() -> Callable[[Path, Path], Path]:
    """``mpegts(clip, out)``: ``clip``'s video packets remuxed, unchanged, into MPEG-TS at ``out`` (what live
    servers send)."""

    def remux(clip: Path, out: Path) -> Path:
        with av.open(str(clip)) as source, av.open(str(out), "w", format="mpegts") as ts:
            stream = ts.add_stream_from_template(source.streams.video[0])
            for packet in source.demux(source.streams.video[0]):
                if packet.dts is not None:
                    packet.stream = stream
                    ts.mux(packet)
        return out

    return remux
