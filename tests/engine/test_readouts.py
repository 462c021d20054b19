"""The readouts tag and extract share: class probabilities are the softmax of the logits; pooled
features are what the head's classifier reads; temporal features of a two-pathway model (SlowFast)
are each pathway pooled over space, the slow one repeated to the fast one's length, concatenated to
the model's num_features, and their mean over time is the pooled features."""

import pytest
import torch

from vidkit.engine.loop import Precision
from vidkit.engine.readouts import ClassProbabilities, Features, temporal_features
from vidkit.models import build

RUN = {"precision": Precision(), "device": torch.device("cpu"), "batch_size": 2}


@pytest.fixture(scope="module")
def slowfast():
    torch.manual_seed(0)
    return build("slowfast_r50", num_classes=3).eval()


def test_slowfast_temporal_features_repeat_the_slow_pathway_and_average_to_pooled(slowfast):
    x = torch.randn(3, 3, 8, 32, 32)
    with torch.no_grad():
        slow, fast = slowfast.forward_features(x)
        temporal = Features("temporal")(slowfast, x, **RUN)
        pooled = Features("pooled")(slowfast, x, **RUN)
        logits = slowfast(x)
        probs = ClassProbabilities()(slowfast, x, **RUN)
    assert slow.shape[2] < fast.shape[2]  # the test needs two lengths
    assert temporal.shape == (3, fast.shape[2], slowfast.num_features)
    ratio = fast.shape[2] // slow.shape[2]
    slow_part = temporal[..., : slow.shape[1]]
    torch.testing.assert_close(slow_part, slow.mean((3, 4)).transpose(1, 2).repeat_interleave(ratio, 1))
    torch.testing.assert_close(temporal[..., slow.shape[1] :], fast.mean((3, 4)).transpose(1, 2))
    torch.testing.assert_close(temporal.mean(1), pooled, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(slowfast.head.proj(pooled), logits, rtol=1e-5, atol=1e-5)  # before the dropout
    torch.testing.assert_close(probs, logits.softmax(-1), rtol=1e-5, atol=1e-6)


def test_views_are_averaged_unless_kept():
    rows = torch.arange(12.0).reshape(3, 4)
    torch.testing.assert_close(Features().window(rows), rows.mean(0))
    assert Features(keep_views=True).window(rows) is rows


def test_a_model_without_a_feature_map_is_a_one_line_error():
    with pytest.raises(ValueError, match="no \\[B, C, T, H, W\\] feature map"):
        temporal_features({"rgb": torch.zeros(1, 4)})
    with pytest.raises(ValueError, match="layer 'logits'"):
        Features("logits")
