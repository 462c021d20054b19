"""The ``video_zoo`` folder (tests/conftest.py) holds what it says: every video in it opens with vidkit and
decodes a frame, raw streams are read as such, the MPEG-TS files start with the sync byte and the
TypeScript ``app.ts`` does not, and the pictures and text files are no videos to FFmpeg."""

from __future__ import annotations

import av
import pytest

from vidkit.io import is_still_image, open_video

VIDEO_KINDS = ("video", "raw", "noext")
# The extensions issue 29 names, beside the ten found before it.
ISSUE_EXTENSIONS = (
    ".ogv .ogg .ts .mts .m2ts .wmv .asf .vob .3g2 .f4v .mxf .dv .y4m .h264 .264 .hevc .265 .m2v "
    ".mp4 .mkv .webm .avi .mov .m4v .mpg .mpeg .flv .3gp"
).split()


def test_the_zoo_has_every_extension(video_zoo):
    root, kinds = video_zoo
    assert sorted(p.name for p in root.iterdir()) == sorted(kinds)
    videos = {name for name, kind in kinds.items() if kind in ("video", "raw")}
    assert {"." + name.rsplit(".", 1)[1] for name in videos} >= set(ISSUE_EXTENSIONS)
    assert {"CLIP.MP4", "x.MKV"} <= videos
    assert set(kinds.values()) == {"video", "raw", "image", "other", "typescript", "noext"}


def test_every_video_opens_and_decodes(video_zoo):
    root, kinds = video_zoo
    for name, kind in kinds.items():
        if kind not in VIDEO_KINDS:
            continue
        with open_video(root / name) as video:
            frames = video.read_at([0.0])
            info = video.info
        assert len(frames) == 1 and frames.data.float().mean() >= 0, name
        assert info.times_assumed == (kind == "raw"), name
        assert not is_still_image(info), name


def test_only_real_transport_streams_start_with_the_sync_byte(video_zoo):
    root, kinds = video_zoo
    for name in ("clip.ts", "h264.ts", "clip.mts"):
        data = (root / name).read_bytes()
        assert data[0] == 0x47 and data[188] == 0x47, name
    m2ts = (root / "clip.m2ts").read_bytes()  # 192-byte packets: a 4-byte arrival stamp before each sync byte
    assert m2ts[4] == 0x47 and m2ts[4 + 192] == 0x47 and len(m2ts) % 192 == 0
    assert kinds["app.ts"] == "typescript" and (root / "app.ts").read_bytes()[0] != 0x47


@pytest.mark.parametrize("kind", ["image", "other", "typescript"])
def test_the_rest_are_no_videos(video_zoo, kind):
    """Pictures open as still images (FFmpeg's image demuxers); text, subtitles and TypeScript either do not
    open or have no video stream."""
    root, kinds = video_zoo
    names = [name for name, k in kinds.items() if k == kind]
    assert names
    for name in names:
        if kind == "image":
            with open_video(root / name) as picture:
                assert is_still_image(picture.info), name
            continue
        try:
            with av.open(str(root / name)) as container:
                assert not container.streams.video, name
        except av.error.FFmpegError:
            pass
