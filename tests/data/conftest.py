"""Tiny real videos for the dataset tests: encoded once per session, copied wherever a test lays out a dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from vidkit.io.encode import write_video


def _frames(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=generator)


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory) -> dict[str, Path]:
    """``mp4``: 10 frames of H.264 at 25 fps (0.4 s); ``mp4_long``: 20 frames; ``webm``: 10 frames of VP9
    (as Something-Something-v2 ships); ``mkv_truncated``: 60 frames cut in half, which a probe accepts
    and only a full decode catches."""
    folder = tmp_path_factory.mktemp("tiny_videos")
    videos = {
        "mp4": write_video(folder / "a.mp4", _frames(10, 0)),
        "mp4_long": write_video(folder / "b.mp4", _frames(20, 1)),
        "webm": write_video(folder / "c.webm", _frames(10, 2), codec="libvpx-vp9"),
    }
    whole = write_video(folder / "d.mkv", _frames(60, 3)).read_bytes()
    truncated = folder / "truncated.mkv"
    truncated.write_bytes(whole[: len(whole) // 2])
    videos["mkv_truncated"] = truncated
    return videos


@pytest.fixture
def put(tiny_videos):
    """``put(dst, kind="mp4")`` copies a tiny video to ``dst`` (parents made); ``kind="garbage"`` writes
    bytes no decoder reads."""

    def put(dst: Path, kind: str = "mp4") -> Path:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if kind == "garbage":
            dst.write_bytes(bytes(range(256)) * 8)
        else:
            shutil.copyfile(tiny_videos[kind], dst)
        return dst

    return put
