"""What the tag workers say about a file (the ``video`` object of a tag record, or its error): a symlink
loop is called one, not a dangling link; pictures named ``.mp4`` (PNG, JPEG, a one-frame GIF, from
Pillow or PyAV's image encoders) are marked ``"still_image": true``; a real video's description keeps
exactly its keys, one-frame videos and animated GIFs included."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest
import torch
from PIL import Image

from vidkit.data.views import ViewSpec
from vidkit.engine.tagger import decode_for_tagging
from vidkit.io.encode import write_video

SPEC = ViewSpec(num_clips=2, num_crops=1, num_frames=4, interval_s=0.1, crop_size=32, test_scale=32)
VIDEO_KEYS = [
    "container",
    "codec",
    "width",
    "height",
    "fps",
    "duration_s",
    "num_frames",
    "num_frames_exact",
    "is_vfr",
    "rotation",
    "has_b_frames",
    "keyframe_interval_s",
    "warnings",
]


def _outcome(path) -> dict:
    """What the worker returns for ``path``, its clips consumed."""
    worker = decode_for_tagging(str(path), spec=SPEC)
    while True:
        try:
            next(worker)
        except StopIteration as done:
            return done.value


def _picture(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8))


def _pyav_image(path, codec: str, pix_fmt: str):
    """One picture written by PyAV's image encoder (the image2 muxer), under a video's name."""
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream(codec)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        frame = av.VideoFrame.from_ndarray(np.asarray(_picture()), format="rgb24").reformat(format=pix_fmt)
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


def test_a_symlink_loop_is_called_a_loop_and_a_dangling_link_still_a_dangling_link(tmp_path):
    loop = tmp_path / "loop.mp4"
    os.symlink("loop.mp4", loop)
    dangling = tmp_path / "dangling.mp4"
    os.symlink(tmp_path / "gone.mp4", dangling)
    assert _outcome(loop) == {"info": None, "error": "a symlink loop (to loop.mp4)"}
    assert _outcome(dangling) == {"info": None, "error": f"a dangling link (to {tmp_path / 'gone.mp4'})"}


STILLS = {
    "png_pillow": lambda p: _picture().save(p, format="PNG"),
    "jpeg_pillow": lambda p: _picture().save(p, format="JPEG"),
    "gif_pillow": lambda p: _picture().save(p, format="GIF"),
    "gif_pillow_50ms": lambda p: _picture().save(p, format="GIF", duration=50),
    "png_pyav": lambda p: _pyav_image(p, "png", "rgb24"),
    "jpeg_pyav": lambda p: _pyav_image(p, "mjpeg", "yuvj420p"),
}


@pytest.mark.parametrize("kind", list(STILLS))
def test_still_images_named_mp4_are_marked(tmp_path, kind):
    path = tmp_path / f"{kind}.mp4"
    STILLS[kind](path)
    outcome = _outcome(path)
    assert outcome["error"] is None
    assert outcome["info"]["still_image"] is True
    assert list(outcome["info"]) == VIDEO_KEYS[:-1] + ["still_image", "warnings"]


def test_real_videos_keep_their_description_without_the_mark(tmp_path):
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (10, 48, 64, 3), dtype=np.uint8))
    videos = [write_video(tmp_path / "ten.mp4", frames), write_video(tmp_path / "one.mp4", frames[:1])]
    animated = tmp_path / "animated.mp4"  # an animated GIF moves: a (tiny) video
    pictures = [_picture(seed) for seed in range(5)]
    pictures[0].save(animated, format="GIF", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    for path in [*videos, animated]:
        outcome = _outcome(path)
        assert outcome["error"] is None
        assert list(outcome["info"]) == VIDEO_KEYS, path
    assert _outcome(animated)["info"]["num_frames"] == 5
