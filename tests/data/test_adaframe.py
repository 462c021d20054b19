"""AdaFrame on a video file: the decoder is asked for the frames the policy chose and no others, and
the decisions match the batched path over all the candidate frames."""

import pytest
import torch

from vidkit.data.adaframe import candidate_times, look
from vidkit.data.transforms import ClipTransform
from vidkit.io import open_video
from vidkit.io.encode import write_video
from vidkit.models import build

TRANSFORM = ClipTransform(crop_size=48, train_scale=(48, 48), test_scale=48, flip_prob=0.0)


class CountingReader:
    """A reader that notes every time it is asked to decode."""

    def __init__(self, video):
        self.video, self.info, self.asked = video, video.info, []

    def read_at(self, timestamps):
        self.asked.append(list(timestamps))
        return self.video.read_at(timestamps)


@pytest.fixture(scope="module")
def video_path(tmp_path_factory):
    frames = torch.randint(0, 256, (100, 48, 64, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return write_video(tmp_path_factory.mktemp("adaframe") / "four_seconds.mp4", frames, fps=25)


def model(**options):
    torch.manual_seed(0)
    options = {"backbone": "resnet18", "memory_size": 32, "hidden": 32, "embed": 16, "steps": 6, **options}
    return build("adaframe", num_classes=5, **options).eval()


def full_candidates(path, n=25, snippet=1, interval_s=0.0):
    with open_video(path, short_side=TRANSFORM.test_scale) as video:
        times = candidate_times(video.info, n, snippet=snippet, interval_s=interval_s)
        return times, TRANSFORM(video.read_at(times).data[None], train=False)


@pytest.mark.parametrize("patience, snippet, revisit", [(1, 1, True), (3, 1, True), (2, 3, True), (99, 3, False)])
def test_look_asks_the_decoder_only_for_the_memory_and_the_chosen_frames(video_path, patience, snippet, revisit):
    net = model(exit_patience=patience, snippet=snippet, revisit=revisit)
    interval = 0.08 if snippet > 1 else 0.0
    with open_video(video_path, short_side=TRANSFORM.test_scale) as video:
        reader = CountingReader(video)
        seen = look(net, reader, TRANSFORM, num_candidates=25, interval_s=interval)
    times, x = full_candidates(video_path, snippet=snippet, interval_s=interval)
    # one request for the memory's 16 frames (each the middle of its snippet), then one snippet per step, nothing else
    middle = snippet // 2
    assert (
        reader.asked[0] == list(seen.memory_timestamps) == [times[i * snippet + middle] for i in net.memory_indices(25)]
    )
    steps = [list(seen.timestamps[k * snippet : (k + 1) * snippet]) for k in range(seen.frames)]
    assert reader.asked[1:] == steps
    assert seen.decoded == 16 + seen.frames * snippet
    # the batched path over all 25 candidates takes the same steps and ends with the same logits
    full = net.infer(x)
    assert seen.frames == int(full.frames[0]) <= 6
    picked = (full.locations[0, : seen.frames] * 24).round().long().tolist()
    assert steps == [list(times[i * snippet : (i + 1) * snippet]) for i in picked]
    assert torch.allclose(seen.logits, full.logits[0], atol=1e-5)
    if not revisit:
        assert len(set(picked)) == len(picked) == 6  # never the same candidate twice
    if snippet > 1:  # a snippet is its frames interval_s apart around the segment's centre
        assert steps[0][1] - steps[0][0] == pytest.approx(0.08, abs=1e-9)


def test_look_says_how_many_frames_the_decoder_produced(video_path):
    net = model(policy="uniform", steps=4)
    with open_video(video_path, short_side=TRANSFORM.test_scale) as video:
        seen = look(net, video, TRANSFORM, num_candidates=25)
    # one keyframe (x264's default interval): reaching frame 98 decodes every frame before it
    assert seen.decoded == 4 and 98 <= seen.decoder_frames <= 100
    with open_video(video_path, short_side=TRANSFORM.test_scale) as video:
        assert look(net, CountingReader(video), TRANSFORM, num_candidates=25).decoder_frames is None  # cannot tell


def test_uniform_baseline_decodes_its_k_frames(video_path):
    net = model(policy="uniform", steps=4)
    with open_video(video_path, short_side=TRANSFORM.test_scale) as video:
        reader = CountingReader(video)
        seen = look(net, reader, TRANSFORM, num_candidates=25)
    times = candidate_times(video.info, 25)
    assert seen.memory_timestamps == () and seen.decoded == 4
    assert reader.asked == [[times[0], times[8], times[16], times[24]]]  # all known up front: one pass
    # the segment centres of a 100-frame video: frame 2, 6, 10, ... (4 frames per segment)
    assert times[0] == pytest.approx(1.5 / 25) and times[24] == pytest.approx(97.5 / 25)
