"""`vidkit render` as a user runs it: a labelled video with the source's frames, times and audio, the labels
drawn where the overlay says and nowhere else; labels from a tag output or from a model; person boxes from an
AVA predictions CSV; contact sheets of one video and of a whole tag output; outputs that would destroy
something refused before any work."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidkit.cli import main
from vidkit.io import open_video
from vidkit.viz import LabelOverlay, Segment

CLIP = ["--num-frames", "4", "--interval-s", "0.1", "--crop-size", "32"]
FPS, FRAMES, SIZE = 10, 40, (96, 128)


def _frames() -> np.ndarray:
    """Smooth moving gradients, each frame different: 4:2:0 chroma (what players take) keeps them to a level
    or two, so a difference past that is a drawn pixel."""
    y, x = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    out = np.empty((FRAMES, *SIZE, 3), dtype=np.uint8)
    for i in range(FRAMES):
        out[i, ..., 0] = 40 + x + i
        out[i, ..., 1] = 40 + y + 2 * i
        out[i, ..., 2] = 128
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A lossless H.264 video (so its decoded frames are exactly what the test compares with) with an AAC
    audio track, 4 s at 10 fps."""
    path = tmp_path_factory.mktemp("render") / "clip.mp4"
    frames = _frames()
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = SIZE[1], SIZE[0], "yuv444p"
        video.options = {"qp": "0"}
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for rgb in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        tone = (0.2 * np.sin(np.arange(16000 * FRAMES // FPS) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        for k in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 16000, k, Fraction(1, 16000)
            for packet in audio.encode(chunk):
                out.mux(packet)
        out.mux(video.encode())
        out.mux(audio.encode())
    return path


@pytest.fixture(scope="module")
def tags(source, tmp_path_factory) -> Path:
    """A tag output holding the source's record, with segments: 'walk' for the first 2 s, then 'jump'."""
    path = tmp_path_factory.mktemp("tags") / "tags.jsonl"
    record = {
        "path": str(source),
        "labels": [{"label": "walk", "score": 0.6}],
        "duration_s": 4.0,
        "error": None,
        "segments": [
            {"start_s": 0.0, "end_s": 2.0, "labels": [{"label": "walk", "score": 0.9}, {"label": "run", "score": 0.1}]},
            {"start_s": 2.0, "end_s": 4.0, "labels": [{"label": "jump", "score": 0.8}, {"label": "sit", "score": 0.2}]},
        ],
    }
    path.write_text(
        json.dumps({"path": "/elsewhere/other.mp4", "labels": [], "error": "no such file"})
        + "\n"
        + json.dumps(record)
        + "\n"
    )
    return path


def _decoded(path: Path) -> tuple[np.ndarray, list[float]]:
    with av.open(str(path)) as container:
        frames = [(f.to_ndarray(format="rgb24"), float(f.time)) for f in container.decode(video=0)]
    return np.stack([f for f, _ in frames]), [t for _, t in frames]


def _mask(regions, shape, margin: int = 2) -> np.ndarray:
    inside = np.zeros(shape[:2], dtype=bool)
    for top, left, height, width in regions:
        inside[max(0, top - margin) : top + height + margin, max(0, left - margin) : left + width + margin] = True
    return inside


def test_labels_are_drawn_where_the_overlay_says_and_nowhere_else(source, tags, tmp_path, capsys):
    out = tmp_path / "labelled.mp4"
    assert main(["render", str(source), "--tags", str(tags), "--out", str(out), "--crf", "0"]) == 0, (
        capsys.readouterr().err
    )
    assert "40 frames, 128x96, audio copied" in capsys.readouterr().err
    original, times = _decoded(source)
    drawn, drawn_times = _decoded(out)
    assert drawn.shape == original.shape and drawn_times == pytest.approx(times, abs=1e-6)
    overlay = LabelOverlay(
        [Segment(0.0, 2.0, (("walk", 0.9), ("run", 0.1))), Segment(2.0, 4.0, (("jump", 0.8), ("sit", 0.2)))],
        duration_s=4.0,
        height=SIZE[0],
        width=SIZE[1],
        top_k=3,
    )
    for i, t in enumerate(times):
        regions = overlay(original[i].copy(), t)
        inside = _mask(regions, original[i].shape)
        difference = np.abs(drawn[i].astype(int) - original[i].astype(int)).max(-1)
        assert difference[~inside].max() <= 6, f"frame {i}: pixels outside the labels changed"
        top, left, height, width = regions[0]  # the label panel
        assert difference[top : top + height, left : left + width].mean() > 20, f"frame {i}: no label drawn"


def test_the_audio_survives_and_the_panel_changes_with_the_segment(source, tags, tmp_path):
    out = tmp_path / "labelled.mp4"
    assert main(["render", str(source), "--tags", str(tags), "--out", str(out)]) == 0
    with av.open(str(out)) as container:
        [audio] = container.streams.audio
        assert audio.codec_context.name == "aac" and float(audio.duration * audio.time_base) == pytest.approx(
            4.0, abs=0.1
        )
    drawn, _ = _decoded(out)
    assert np.abs(drawn[5, :20, :40].astype(int) - drawn[25, :20, :40].astype(int)).mean() > 10  # walk, then jump


def test_labels_made_now_by_a_model_and_a_sheet(source, tmp_path, capsys, c2d_weights):
    weights = c2d_weights
    out, sheet = tmp_path / "labelled.mp4", tmp_path / "sheet.png"
    args = [
        "render",
        str(source),
        *weights,
        *CLIP,
        "--segments",
        "1",
        "--out",
        str(out),
        "--sheet",
        str(sheet),
        "--grid",
        "3x2",
    ]
    assert main(args) == 0, capsys.readouterr().err
    assert "labels from c2d_r50, 1 s windows" in capsys.readouterr().err
    assert len(_decoded(out)[0]) == FRAMES
    from PIL import Image

    image = np.asarray(Image.open(sheet))
    with open_video(source, short_side=240) as video:  # tiles: the long side 320
        first = video.read_at([0.5 * 4.0 / 6]).data[0].numpy()
    assert first.shape == (240, 320, 3)
    assert image.shape[1] == 3 * (320 + 4) + 4  # three columns
    # the first tile sits below the title, at the left margin
    row = next(r for r in range(image.shape[0]) if np.array_equal(image[r, 4 : 4 + 320], first[0]))
    assert np.array_equal(image[row : row + 240, 4 : 4 + 320], first)
    assert image.shape[0] > row + 2 * 240  # two rows


def test_a_sheet_for_every_video_of_a_tag_output(source, tags, tmp_path, capsys):
    folder = tmp_path / "sheets"
    assert main(["render", "--tags", str(tags), "--sheet", f"{folder}/"]) == 0, capsys.readouterr().err
    [sheet] = list(folder.glob("*.png"))
    assert sheet.name.startswith("clip-") and "1 sheets" in capsys.readouterr().err
    before = sheet.stat().st_mtime_ns
    assert main(["render", "--tags", str(tags), "--sheet", f"{folder}/"]) == 0
    assert "0 sheets" in capsys.readouterr().err and sheet.stat().st_mtime_ns == before  # kept


def test_person_boxes_from_a_predictions_csv(source, tmp_path, capsys):
    csv = tmp_path / "predictions.csv"
    csv.write_text(
        "clip,0001,0.25,0.25,0.75,0.75,12,0.9\nclip,0001,0.25,0.25,0.75,0.75,80,0.4\nother,0001,0,0,1,1,1,0.5\n"
    )
    out = tmp_path / "boxes.mp4"
    assert main(["render", str(source), "--boxes", str(csv), "--out", str(out), "--crf", "0"]) == 0, (
        capsys.readouterr().err
    )
    original, times = _decoded(source)
    drawn, _ = _decoded(out)
    at_keyframe, far = times.index(1.0), times.index(3.0)
    edge = (slice(24, 26), slice(40, 90))  # the box's top edge: y = 0.25 * 96
    assert np.abs(drawn[at_keyframe][edge].astype(int) - original[at_keyframe][edge].astype(int)).mean() > 30
    assert np.abs(drawn[far][edge].astype(int) - original[far][edge].astype(int)).max() <= 6  # only around its second
    capsys.readouterr()
    other = tmp_path / "other.csv"
    other.write_text("other,0001,0,0,1,1,1,0.5\n")
    assert main(["render", str(source), "--boxes", str(other), "--out", str(tmp_path / "x.mp4")]) == 1
    assert "no boxes of video id 'clip' (it has other)" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_outputs_that_would_destroy_something_are_refused(source, tags, tmp_path, capsys):
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"a user's video")
    cases = {
        ("--out", str(source)): "that is the video itself",
        ("--out", str(mine)): "exists; left unchanged (--force replaces it)",
        ("--out", str(tmp_path / "x.avi")): "name it *.mp4",
        ("--sheet", str(tmp_path / "x.jpg")): "name it *.png",
    }
    for extra, message in cases.items():
        assert main(["render", str(source), "--tags", str(tags), *extra]) == 1
        assert message in capsys.readouterr().err
    assert mine.read_bytes() == b"a user's video"
    assert main(["render", str(tmp_path / "gone.mp4"), "--tags", str(tags), "--out", str(tmp_path / "y.mp4")]) == 1
    assert "holds no record of" in capsys.readouterr().err and not (tmp_path / "y.mp4").exists()


def test_a_name_that_is_not_utf8_is_found_in_the_tags(source, tmp_path, capsys):
    import base64
    import os
    import shutil

    odd = os.path.join(os.fsencode(tmp_path), b"clip-\xff.mp4")
    shutil.copy(source, odd)
    tags = tmp_path / "tags.jsonl"
    record = {
        "path": os.fsdecode(odd).encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
        "path_b64": base64.b64encode(odd).decode("ascii"),
        "labels": [{"label": "walk", "score": 0.9}],
        "duration_s": 4.0,
        "error": None,
    }
    tags.write_text(json.dumps(record) + "\n")
    assert main(["render", os.fsdecode(odd), "--tags", str(tags), "--sheet", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").exists(), capsys.readouterr().err
