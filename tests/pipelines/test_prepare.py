"""`vidkit prepare` on a folder the test builds (x264-default videos: one keyframe, B-frames; under
an unusual name; and a file that is no video): the tree mirrored in short-GOP H.264, scaled, the bad
file reported, originals untouched, a second run redoing nothing, a killed run's temporary removed."""

import hashlib
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from vidkit.cli import main
from vidkit.io.encode import write_video
from vidkit.pipelines.prepare import plan

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 40


def _frames(seed: int, height: int, width: int) -> list[np.ndarray]:
    """A texture sliding left: x264 codes most of it as P- and B-frames."""
    texture = np.random.default_rng(seed).integers(0, 256, (height, width * 2, 3), dtype=np.uint8)
    return [np.roll(texture, -2 * t, axis=1)[:, :width] for t in range(FRAMES)]


@pytest.fixture
def tree(tmp_path):
    """src/top.mp4 (64x48), src/Été 2024 (copy)/a b/clip one.mkv (48x64, portrait), and a text file
    posing as src/Été 2024 (copy)/broken.mp4. x264's defaults: a keyframe every 250 frames."""
    src = tmp_path / "src"
    odd = src / "Été 2024 (copy)"
    write_video(src / "top.mp4", _frames(1, 48, 64))
    write_video(odd / "a b" / "clip one.mkv", _frames(2, 64, 48))
    (odd / "broken.mp4").write_text("not a video, whatever its name says\n" * 10)
    return src


EXPECTED = ["top.mp4", "Été 2024 (copy)/a b/clip one.mp4"]


def _digests(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _coded(path: Path) -> tuple[str, list[int], list[PictureType], tuple[int, int]]:
    """``(codec, keyframe positions in presentation order, picture types, (width, height))``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        codec = stream.codec_context.name
    times = sorted(p.pts for p in packets)
    keyframes = sorted(times.index(p.pts) for p in packets if p.is_keyframe)
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return codec, keyframes, [f.pict_type for f in frames], (frames[0].width, frames[0].height)


def test_a_tree_is_mirrored_in_short_gops_and_a_second_run_redoes_nothing(tree, tmp_path):
    before = _digests(tree)
    _, keyframes, pictures, _ = _coded(tree / "top.mp4")
    assert keyframes == [0] and PictureType.B in pictures  # x264's defaults: what prepare is for
    out = tmp_path / "prepared"
    leftover = out / "Été 2024 (copy)" / "a b" / ".clip one.k3x9_q2z.mp4"  # how atomic_path names an unfinished write
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half of a video")
    command = [
        sys.executable,
        "-m",
        "vidkit.cli",
        "prepare",
        str(tree),
        "--out",
        str(out),
        "--short-side",
        "32",
        "--no-b-frames",
        "--workers",
        "2",
    ]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1, first.stderr  # the broken file
    assert f"{tree / 'Été 2024 (copy)' / 'broken.mp4'}: not a video file" in first.stderr
    assert (
        "converted 2, skipped 0 already done, failed 1" in first.stdout and "failed 1: not a video file" in first.stdout
    )
    assert _files(out) == sorted(EXPECTED)  # no temporary left, the killed run's included
    sizes = {}
    for name in EXPECTED:
        codec, keyframes, pictures, sizes[name] = _coded(out / name)
        assert codec == "h264" and len(pictures) == FRAMES
        assert keyframes == list(range(0, FRAMES, 16))  # --gop 16, the default
        assert PictureType.B not in pictures  # --no-b-frames
    assert sizes == {"top.mp4": (42, 32), "Été 2024 (copy)/a b/clip one.mp4": (32, 42)}  # 64x48 -> 42.7x32, even
    assert _digests(tree) == before  # originals untouched

    done = {name: (out / name).stat().st_mtime_ns for name in EXPECTED}
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and "converted 0, skipped 2 already done, failed 1" in second.stdout
    assert {name: (out / name).stat().st_mtime_ns for name in EXPECTED} == done


def test_short_side_0_keeps_the_size_and_b_frames_are_allowed_by_default(tree, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(["prepare", str(tree / "top.mp4"), "--out", str(out), "--short-side", "0", "--ext", "mkv"]) == 0
    assert "converted 1, skipped 0 already done, failed 0" in capsys.readouterr().out
    codec, keyframes, pictures, size = _coded(out / "top.mkv")
    assert size == (64, 48) and keyframes == [0, 16, 32]
    assert PictureType.B in pictures  # up to 3 in a row, as x264 does by default


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--ext", ".avi"], "--ext .avi: libx264 is written to .mp4"),  # AVI keeps no presentation times
        (["--gop", "0"], "gop must be at least 1"),
        (["--crf", "52"], "libx264 quality is its crf, from 0 (best) to 51; got 52"),
        (["--short-side", "-1"], "--short-side must be at least 2"),
    ],
)
def test_bad_values_are_one_line_errors_before_any_work(tree, tmp_path, capsys, flags, message):
    assert main(["prepare", str(tree), "--out", str(tmp_path / "prepared"), *flags]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vidkit prepare: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "prepared").exists()


def test_outputs_reached_through_a_link_in_a_source_are_not_sources(tree, tmp_path):
    out = tmp_path / "out"
    (out / "earlier").mkdir(parents=True)
    (out / "earlier" / "old.mp4").write_bytes(b"an earlier run's output")
    (tree / "shortcut").symlink_to(out)  # the walk follows symlinked folders
    tasks, refused = plan([str(tree)], str(out), ".mp4")
    assert refused == {}
    assert sorted(str(Path(video).relative_to(tree)) for video, _ in tasks) == [
        "top.mp4",
        "Été 2024 (copy)/a b/clip one.mkv",
        "Été 2024 (copy)/broken.mp4",
    ]


def test_files_that_are_not_videos_are_counted_and_listed_and_sniff_takes_a_nameless_video(tmp_path, capsys):
    import json

    src = tmp_path / "src"
    src.mkdir()
    write_video(src / "a.mp4", _frames(0, 32, 48))
    (src / "a_copy").write_bytes((src / "a.mp4").read_bytes())
    (src / "notes.txt").write_text("to do\n")
    out = tmp_path / "fast"
    assert main(["prepare", str(src), "--out", str(out), "--workers", "1"]) == 0
    said = capsys.readouterr().out
    listed = tmp_path / "fast.skipped.json"
    assert f"skipped 2 files: (none) 1, .txt 1 (listed in {listed})" in said
    assert [f["reason"] for f in json.loads(listed.read_text())["files"]] == [
        "no extension",
        "not a video extension (.txt)",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]
    # by content: the copy with no name is a video; the notes are not a media file
    assert main(["prepare", str(src), "--out", str(out), "--workers", "1", "--sniff"]) == 0
    assert "skipped 1 file: .txt 1" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "a_copy.mp4"]
