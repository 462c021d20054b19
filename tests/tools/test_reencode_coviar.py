"""tools/reencode_coviar.py: a folder tree re-encoded to CoViAR's format, mirrored under --out,
with a bad file reported, resumable (a second run redoes nothing), crash-isolated."""

import faulthandler
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidkit.io import probe
from vidkit.io.encode import write_video
from vidkit.io.motion import decoded_with_vectors
from vidkit.pipelines import prepare  # the tool's machinery: what a test patches

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tool(load_tool):
    return load_tool("reencode_coviar")


def _frames(n=14, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
    return [np.roll(base, 2 * t, axis=1)[8:40, :48] for t in range(n)]


@pytest.fixture
def tree(tmp_path):
    """src/one.mp4, src/a/two.mkv, src/a/b/three.mp4, a text file posing as src/a/broken.mp4, and
    what is no video: a note and a hidden file."""
    src = tmp_path / "src"
    write_video(src / "one.mp4", _frames(seed=1), options={"bf": "2", "g": "250"})
    write_video(src / "a" / "two.mkv", _frames(seed=2))
    write_video(src / "a" / "b" / "three.mp4", _frames(seed=3), timestamps=[0.05 * t * t for t in range(14)])
    (src / "a" / "broken.mp4").write_text("not a video, whatever its name says\n" * 10)
    (src / "a" / "notes.txt").write_text("two.mkv: the good take\n")
    (src / ".hidden.mp4").write_bytes((src / "one.mp4").read_bytes())
    return src


EXPECTED = ["a/b/three.avi", "a/two.avi", "one.avi"]


def outputs(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def mtimes(out: Path) -> dict[str, int]:
    return {name: (out / name).stat().st_mtime_ns for name in outputs(out)}


def test_a_tree_is_mirrored_the_bad_file_reported_and_a_second_run_redoes_nothing(tree, tmp_path, tool, capsys):
    out = tmp_path / "coviar"
    before = {p: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()}
    assert tool.main([str(tree), "--out", str(out), "--workers", "2"]) == 1
    captured = capsys.readouterr()
    assert outputs(out) == EXPECTED  # no broken.avi, no hidden file, no temporary file left
    assert f"{tree / 'a' / 'broken.mp4'}: not a video file" in captured.err
    assert "converted 3, skipped 0 already done, failed 1" in captured.out and str(out) in captured.out
    assert "failed 1: not a video file" in captured.out
    for name in EXPECTED:
        pictures = [d.pict_type for d in decoded_with_vectors(out / name)]
        assert probe(out / name).codec == "mpeg4" and pictures == list("I" + "P" * 11 + "IP")
    # 0, 0.05, 0.2, 0.45, ... s: kept (AVI stores them as empty chunks on a 0.05 s tick)
    assert [d.pts_s for d in decoded_with_vectors(out / "a/b/three.avi")] == pytest.approx(
        [0.05 * t * t for t in range(14)]
    )
    first = mtimes(out)

    assert tool.main([str(tree), "--out", str(out), "--workers", "2"]) == 1  # the broken file fails again
    captured = capsys.readouterr()
    assert "converted 0, skipped 3 already done, failed 1" in captured.out
    assert mtimes(out) == first
    assert {p: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()} == before  # originals untouched


def test_a_temporary_file_from_a_killed_run_is_not_done(tree, tmp_path, tool, capsys):
    out = tmp_path / "coviar"
    (out / "a").mkdir(parents=True)
    leftover = out / "a" / ".two.k3x9_q2z.avi"  # how atomic_path names an unfinished two.avi
    leftover.write_bytes(b"half of a video")
    (tree / "a" / "broken.mp4").unlink()
    assert tool.main([str(tree), "--out", str(out), "--workers", "1"]) == 0
    assert "converted 3, skipped 0 already done, failed 0" in capsys.readouterr().out
    assert (
        outputs(out) == EXPECTED and len(list(decoded_with_vectors(out / "a/two.avi"))) == 14
    )  # redone; leftover gone


def test_out_may_not_be_a_source_folder_but_may_lie_inside_one(tree, tool, capsys):
    assert tool.main([str(tree), "--out", str(tree)]) == 2
    assert "is the folder of source" in capsys.readouterr().err
    assert not list(tree.rglob("*.avi"))
    inside = tree / "coviar"
    assert tool.main([str(tree), "--out", str(inside), "--ext", "mp4"]) == 1
    assert "converted 3," in capsys.readouterr().out
    assert outputs(inside) == [name.replace(".avi", ".mp4") for name in EXPECTED]
    assert tool.main([str(tree), "--out", str(inside), "--ext", "mp4"]) == 1  # its outputs are no new sources
    assert "converted 0, skipped 3 already done, failed 1" in capsys.readouterr().out


def test_a_crashing_decoder_costs_only_its_file(tree, tmp_path, tool, capsys, monkeypatch):
    (tree / "a" / "broken.mp4").unlink()
    real = prepare.reencode

    def segfault_on_two(src, dst, **kwargs):  # workers are forked: they run this one
        if src.endswith("two.mkv"):
            faulthandler.disable()  # pytest's, inherited: no stack dump for a crash we cause
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(src, dst, **kwargs)

    monkeypatch.setattr(prepare, "reencode", segfault_on_two)
    out = tmp_path / "coviar"
    assert tool.main([str(tree), "--out", str(out), "--workers", "2"]) == 1
    captured = capsys.readouterr()
    assert "two.mkv: the re-encoder crashed (killed by SIGSEGV)" in captured.err
    assert outputs(out) == ["a/b/three.avi", "one.avi"]


def test_two_videos_for_one_output_are_refused_not_overwritten(tmp_path, tool):
    for name in ["a.mp4", "a.mkv", "b.mp4"]:
        (tmp_path / "src" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "src" / name).write_bytes(b"")  # planning reads no video
    tasks, refused = tool.plan([str(tmp_path / "src")], str(tmp_path / "out"), ".avi")
    assert tasks == [(str(tmp_path / "src" / "b.mp4"), str(tmp_path / "out" / "b.avi"))]
    assert sorted(refused) == [str(tmp_path / "src" / "a.mkv"), str(tmp_path / "src" / "a.mp4")]
    assert "2 videos map to" in refused[str(tmp_path / "src" / "a.mp4")]
    with pytest.raises(ValueError, match="no such file"):
        tool.plan([str(tmp_path / "nowhere")], str(tmp_path / "out"), ".avi")


def test_the_command_line(tree, tmp_path):
    out = tmp_path / "coviar"
    run = subprocess.run(
        [
            sys.executable,
            "tools/reencode_coviar.py",
            str(tree / "one.mp4"),
            str(tree / "a" / "broken.mp4"),
            "--out",
            str(out),
            "--gop",
            "4",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert "broken.mp4: not a video file" in run.stderr and "converted 1," in run.stdout
    assert outputs(out) == ["one.avi"]
    assert [d.pict_type for d in decoded_with_vectors(out / "one.avi")] == list("IPPP" * 3 + "IP")  # --gop 4
