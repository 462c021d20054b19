"""GST's head as the authors' code has it (chenxuluo/GST-video): each frame pooled over space, dropout 0.3,
the classifier (N(0, 0.001²), zero bias) per frame, the scores averaged over time. The grouped convolution
itself is tested in test_temporal_layers.py, its checkpoints in test_gst_cost_fast3d_checkpoints.py."""

import pytest
import torch
import torch.nn.functional as F
from einops import reduce

from vidkit.models import build


@pytest.fixture(scope="module")
def gst():
    torch.manual_seed(0)
    return build("gst_r50", num_classes=10)


def test_dropout_is_the_authors_and_the_scores_are_averaged_over_time(gst):
    assert gst.head.dropout.p == 0.3 and gst.consensus == "scores"
    features = torch.randn(2, 2048, 4, 3, 3)  # a res5 map: 4 frames
    gst.train()
    torch.manual_seed(1)
    got = gst.forward_head(features)
    torch.manual_seed(1)  # the same dropout mask, drawn on [B, T, C]: one per frame
    frames = reduce(features, "b c t h w -> b t c", "mean")
    want = gst.head.proj(F.dropout(frames, p=0.3, training=True)).mean(dim=1)
    torch.testing.assert_close(got, want)
    # a mask per frame: not the features pooled over time before one dropout (vidkit's head before)
    torch.manual_seed(1)
    pooled_first = gst.head.proj(F.dropout(frames.mean(dim=1), p=0.3, training=True))
    assert not torch.allclose(got, pooled_first)
    gst.eval()  # without dropout, averaging the frames' scores is the classifier of the averaged features
    torch.testing.assert_close(gst.forward_head(features), gst.head.proj(frames.mean(dim=1)))


def test_the_whole_model_classifies_each_frame_then_averages(gst):
    gst.eval()
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        per_frame = gst.frame_logits(gst.forward_features(clip))
        assert per_frame.shape == (1, 4, 10)  # no temporal stride in GST: a score per input frame
        torch.testing.assert_close(gst(clip), per_frame.mean(dim=1))


def test_the_classifier_starts_as_the_authors_new_fc(gst):
    torch.manual_seed(0)
    renewed = build("gst_r50", num_classes=16)
    renewed.reset_classifier(7)  # fine-tuning on a new label set (and the ImageNet start) make a new one
    assert renewed.head.proj.out_features == 7
    for linear in (gst.head.proj, renewed.head.proj):
        w = linear.weight.detach()
        assert w.std().item() == pytest.approx(0.001, rel=0.05) and abs(w.mean().item()) < 1e-4
        assert torch.count_nonzero(linear.bias) == 0
