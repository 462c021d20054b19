"""Live sources on real protocols, all on 127.0.0.1: a clip served over TCP and UDP as MPEG-TS by a
second process, over HTTP by a local server, through a FIFO; a connection cut mid-stream (the reader
reconnects, stream time goes on); a silent server (a timeout, then giving up, said in one line); a
capture device's error path; the protocol list from libavformat."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vidkit.errors import ConfigError, VideoDecodeError
from vidkit.io import open_video
from vidkit.io.encode import write_video
from vidkit.io.live import LiveReader, input_protocols, network_formats, parse_source

SERVER = Path(__file__).with_name("stream_server.py")
FRAMES = 60  # 3 s at 20 fps


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """3 s of H.264 at 20 fps with B-frames, each frame's brightness its index (to tell frames apart)."""
    frames = torch.zeros(FRAMES, 48, 64, 3, dtype=torch.uint8)
    for i in range(FRAMES):
        frames[i] = 40 + 3 * i
        frames[i, 8:24, i % 48 : i % 48 + 16] = 255 - 3 * i
    return write_video(tmp_path_factory.mktemp("live") / "clip.mp4", frames, fps=20, options={"g": "10", "bf": "2"})


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _server(*args: str):
    process = subprocess.Popen(
        [sys.executable, str(SERVER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        yield process
    finally:
        process.kill()
        process.wait(10)


def _read(source, *, count: int | None = None, **kwargs) -> tuple[list, LiveReader]:
    """The frames of ``source`` to its end, or the first ``count`` (a network stream's end is a drop)."""
    reader = LiveReader(source, short_side=48, backoff_s=0.1, **kwargs)
    frames = []
    for frame in reader.frames():
        frames.append(frame)
        if len(frames) == count:
            reader.stop()
    return frames, reader


def _same_frames(frames, clip: Path) -> None:
    """The frames are the clip's, in order, stream time from 0 in the clip's steps, pixels as the file reader's."""
    assert [round(f.time_s * 20) for f in frames] == list(range(len(frames)))
    with open_video(clip, short_side=48) as video:
        expected = video.read_at([f.time_s for f in frames]).data.numpy()
    assert np.array_equal(np.stack([f.rgb for f in frames]), expected)


def test_a_clip_over_tcp_from_another_process(clip):
    port = _port()
    with _server("tcp", str(port), str(clip)):
        # the server listens once it said "ready": the first attempts may find nothing there yet
        frames, reader = _read(f"tcp://127.0.0.1:{port}", count=FRAMES, reconnects=20, timeout_s=10)
    assert len(frames) == FRAMES and reader.stats.fps == 20 and reader.stats.connections == 1
    _same_frames(frames, clip)
    assert all(b.arrived >= a.arrived for a, b in zip(frames, frames[1:]))


def test_a_clip_over_udp(clip):
    port = _port()
    reader = LiveReader(f"udp://127.0.0.1:{port}", short_side=48, timeout_s=3, reconnects=0)
    frames = []
    # the reader listens before the datagrams are sent: UDP keeps nothing for a reader not yet there
    import threading

    done = threading.Event()

    def read():
        try:
            for frame in reader.frames():
                frames.append(frame)
                if len(frames) >= 30:
                    break
        finally:
            done.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    time.sleep(0.3)
    with _server("udp", str(port), str(clip), "--realtime", "--times", "3"):
        assert done.wait(30)
    assert len(frames) >= 30 and reader.stats.fps == 20
    steps = np.diff([f.time_s for f in frames])
    assert np.allclose(steps, 0.05, atol=1e-6)  # in order, none lost or repeated on the loopback


def test_a_clip_over_http(clip, tmp_path, mpegts):
    mpegts(clip, tmp_path / "clip.ts")
    port = _port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        frames, reader = _read(f"http://127.0.0.1:{port}/clip.ts", count=FRAMES, reconnects=20, timeout_s=10)
    finally:
        server.kill()
        server.wait(10)
    assert len(frames) == FRAMES and reader.stats.connections == 1
    _same_frames(frames, clip)


def test_a_fifo_is_read_in_order_and_ends_at_its_end(clip, tmp_path):
    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    assert parse_source(str(fifo)).kind == "pipe"
    with _server("fifo", str(fifo), str(clip)):
        frames, reader = _read(str(fifo), timeout_s=10)
    assert len(frames) == FRAMES and reader.stats.disconnects == 0
    _same_frames(frames, clip)


def test_a_stream_cut_midway_reconnects_and_stream_time_goes_on(clip):
    port = _port()
    notices = []
    with _server("tcp", str(port), str(clip), "--cut-after", "25", "--times", "2"):
        reader = LiveReader(
            f"tcp://127.0.0.1:{port}",
            short_side=48,
            timeout_s=5,
            reconnects=20,
            backoff_s=0.1,
            notify=lambda kind, message: notices.append((kind, message)),
        )
        frames = []
        for frame in reader.frames():
            frames.append(frame)
            if frame.connection == 1 and len(frames) >= 25 + FRAMES - 5:
                reader.stop()
    first = [f for f in frames if f.connection == 0]
    second = [f for f in frames if f.connection == 1]
    assert 15 <= len(first) <= 25 and len(second) >= FRAMES - 10
    assert reader.stats.disconnects == 1 and reader.stats.connections == 2
    assert [kind for kind, _ in notices if kind != "retry"] == ["drop", "connected"]
    times = [f.time_s for f in frames]
    assert all(b > a for a, b in zip(times, times[1:]))  # stream time never goes back
    assert second[0].time_s >= first[-1].time_s + 0.05 - 1e-9


def test_a_silent_source_times_out_and_is_given_up_in_one_line():
    port = _port()
    notices = []
    with _server("stall", str(port)):
        started = time.monotonic()
        reader = LiveReader(
            f"tcp://127.0.0.1:{port}",
            timeout_s=1,
            reconnects=1,
            backoff_s=0.1,
            notify=lambda kind, message: notices.append(kind),
        )
        with pytest.raises(VideoDecodeError) as caught:
            list(reader.frames())
        elapsed = time.monotonic() - started
    assert str(caught.value) == f"tcp://127.0.0.1:{port}: no data within 1 s (gave up after 2 attempts)"
    assert notices == ["retry"] and 2 <= elapsed < 8 and reader.stats.failed_attempts == 2


def test_nothing_listening_is_retried_then_given_up():
    port = _port()
    reader = LiveReader(f"tcp://127.0.0.1:{port}", timeout_s=2, reconnects=2, backoff_s=0.05)
    with pytest.raises(VideoDecodeError, match=r"Connection refused \(gave up after 3 attempts\)"):
        list(reader.frames())


def test_a_capture_device_error_path(tmp_path):
    # no camera here: a device that is not one is an error in one line, not a hang
    with pytest.raises(ConfigError, match="/dev/video97: no such device"):
        parse_source("/dev/video97")
    source = parse_source("/dev/null")
    assert (source.kind, source.format) == ("device", "v4l2")
    with pytest.raises(VideoDecodeError, match=r"^/dev/null: "):
        list(LiveReader(source, timeout_s=2, reconnects=0).frames())


def test_sources_are_told_apart_and_wrong_ones_refused(clip, tmp_path):
    assert parse_source("-").url == "pipe:0"
    assert parse_source("rtsp://camera.local/stream").kind == "network"
    assert parse_source(str(clip)).kind == "file"
    with pytest.raises(ConfigError, match=r"FFmpeg here reads no htpp:// streams — did you mean http://\?"):
        parse_source("htpp://camera/stream")
    with pytest.raises(ConfigError, match="no such file"):
        parse_source(str(tmp_path / "gone.ts"))
    with pytest.raises(ConfigError, match="not a video source"):
        parse_source(str(tmp_path))


def test_protocols_come_from_libavformat():
    protocols = input_protocols()
    assert {"file", "pipe", "tcp", "udp", "http", "https", "rtmp"} <= set(protocols)
    assert "rtsp" in network_formats()


def test_a_file_in_realtime_is_paced_by_its_timestamps(clip):
    started = time.monotonic()
    frames, _ = _read(str(clip), realtime=True)
    assert len(frames) == FRAMES
    assert time.monotonic() - started >= (FRAMES - 1) / 20 - 0.05
    arrived = np.array([f.arrived for f in frames]) - frames[0].arrived
    assert np.abs(arrived - np.array([f.time_s for f in frames])).max() < 0.1
