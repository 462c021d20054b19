"""``--sniff``: videos found by content whatever their names, still images, audio, text and non-files
reported each with its reason, and a probe that crashes or hangs costing only its own file."""

from __future__ import annotations

import faulthandler
import os
import time

import av
import numpy as np
import pytest

from vidkit.io import sniff as sniff_module
from vidkit.io.encode import write_video
from vidkit.io.sniff import sniff_file, sniff_videos

Image = pytest.importorskip("PIL.Image")

NOT_MEDIA = "not a media file (FFmpeg: Invalid data found when processing input)"


def _picture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)


def _write_cover_art_audio(path):
    """AAC with a JPEG cover (an attached picture, a video stream by type) in MP4, as music files have."""
    with av.open(str(path), "w", format="mp4") as out:
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        cover = out.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 64, 48, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(_picture(), format="rgb24").reformat(format="yuvj420p")
        for packet in [*cover.encode(picture), *cover.encode()]:
            out.mux(packet)
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)


@pytest.fixture
def folder(tmp_path, write_audio):
    """Files named to mislead: videos without a video's extension, pictures with one, and no-files."""
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(6)]
    write_video(tmp_path / "clip.mp4", frames)
    os.rename(tmp_path / "clip.mp4", tmp_path / "camera_0001")
    write_video(tmp_path / "clip.mp4", frames)
    os.rename(tmp_path / "clip.mp4", tmp_path / "recording.dat")
    Image.fromarray(_picture()).save(tmp_path / "photo.png")
    os.rename(tmp_path / "photo.png", tmp_path / "holiday.mp4")
    Image.fromarray(_picture()).save(tmp_path / "photo.jpg")
    os.rename(tmp_path / "photo.jpg", tmp_path / "scan_0001")
    Image.fromarray(_picture()).save(tmp_path / "one_frame.gif")
    pictures = [Image.fromarray(_picture(seed)) for seed in range(3)]
    pictures[0].save(tmp_path / "animated.gif", save_all=True, append_images=pictures[1:], duration=100)
    write_audio(tmp_path / "song.m4a")
    _write_cover_art_audio(tmp_path / "album.m4a")
    (tmp_path / "captions.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n")
    (tmp_path / "notes.txt").write_text("nothing to see here\n" * 20)
    (tmp_path / "empty").touch()
    os.symlink(tmp_path / "gone.mp4", tmp_path / "dangling.mp4")
    return tmp_path


EXPECTED_VIDEOS = ["camera_0001", "recording.dat", "animated.gif"]
EXPECTED_SKIPPED = {
    "holiday.mp4": "a still image (png_pipe)",
    "scan_0001": "a still image (jpeg_pipe)",
    "one_frame.gif": "a still image (gif)",
    "song.m4a": "no video stream (audio only)",
    "album.m4a": "no video stream (audio with a cover picture)",
    "captions.srt": "no video stream (has subtitle)",
    "notes.txt": NOT_MEDIA,
    "empty": "empty file (0 bytes)",
}
ORDER = [
    "holiday.mp4",
    "camera_0001",
    "notes.txt",
    "scan_0001",
    "song.m4a",
    "recording.dat",
    "album.m4a",
    "one_frame.gif",
    "empty",
    "animated.gif",
    "captions.srt",
    "dangling.mp4",
]


def test_videos_are_found_by_content_and_every_other_file_has_its_reason(folder):
    paths = [str(folder / name) for name in ORDER]
    calls = []
    videos, skipped = sniff_videos(paths, workers=2, timeout_s=10, progress=lambda: calls.append(1))
    assert videos == [str(folder / n) for n in ORDER if n in EXPECTED_VIDEOS]  # in the given order
    assert [p for p, _ in skipped] == [str(folder / n) for n in ORDER if n not in EXPECTED_VIDEOS]
    reasons = {os.path.basename(p): r for p, r in skipped}
    dangling = reasons.pop("dangling.mp4")
    assert reasons == EXPECTED_SKIPPED
    assert dangling == f"dangling symbolic link (points to {str(folder / 'gone.mp4')!r}, which does not exist)"
    assert len(calls) == len(ORDER) - 2  # the empty file and the dangling link are never probed


def test_sniff_file_in_process(folder):
    assert sniff_file(str(folder / "recording.dat")) is None
    assert sniff_file(str(folder / "holiday.mp4")) == "a still image (png_pipe)"
    assert sniff_file(str(folder / "notes.txt")) == NOT_MEDIA


def test_a_crashing_or_hanging_probe_costs_only_its_file(folder, monkeypatch):
    original = sniff_module.sniff_file

    def flaky(path, **kwargs):  # runs in the (forked) worker
        name = os.path.basename(path)
        if name == "camera_0001":
            faulthandler.disable()  # pytest's crash dump would only clutter the output
            os.abort()
        if name == "holiday.mp4":
            time.sleep(60)
        return original(path, **kwargs)

    monkeypatch.setattr(sniff_module, "sniff_file", flaky)
    paths = [str(folder / name) for name in ORDER]
    started = time.monotonic()
    videos, skipped = sniff_videos(paths, workers=2, timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert videos == [str(folder / "recording.dat"), str(folder / "animated.gif")]
    reasons = {os.path.basename(p): r for p, r in skipped}
    assert reasons["camera_0001"] == "the probe crashed (killed by SIGABRT)"
    assert reasons["holiday.mp4"] == "timed out after 0.5 s"
    del reasons["camera_0001"], reasons["holiday.mp4"], reasons["dangling.mp4"]
    assert reasons == {k: v for k, v in EXPECTED_SKIPPED.items() if k != "holiday.mp4"}


def test_nothing_to_probe():
    assert sniff_videos([]) == ([], [])


def test_the_video_zoo_by_content(video_zoo):
    folder, kinds = video_zoo
    paths = sorted(str(folder / name) for name in kinds)
    videos, skipped = sniff_videos(paths, workers=2, timeout_s=20)
    assert sorted(os.path.basename(p) for p in videos) == sorted(
        name for name, kind in kinds.items() if kind in ("video", "raw", "noext")
    )
    reasons = {os.path.basename(p): reason for p, reason in skipped}
    assert reasons["still.jpg"] == "a still image (jpeg_pipe)" and reasons["still.png"] == "a still image (png_pipe)"
    assert reasons["subs.srt"] == "no video stream (has subtitle)"
    assert all(reasons[name].startswith("not a media file") for name in ("app.ts", "notes.txt", "meta.json"))
