"""CoViAR (Wu et al., CVPR 2018): three streams on one packed tensor, TSN consensus, weighted score
fusion, per-stream losses that train each stream as if alone, and ImageNet checkpoints in the
I-frame stream."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from vidkit.engine.loop import has_own_objective
from vidkit.models import build, count_params


def _x(b=2, t=3, size=32):
    return torch.randn(b, 8, t, size, size)


def test_streams_read_their_own_channels_and_the_output_is_the_weighted_sum():
    torch.manual_seed(0)
    model = build("coviar", num_classes=5, iframe_arch="resnet18", fusion_weights=(2.0, 1.0, 0.5)).eval()
    x = _x()
    scores = model.stream_scores(x)
    assert set(scores) == {"iframe", "mv", "residual"} and all(s.shape == (2, 5) for s in scores.values())
    assert torch.allclose(model(x), 2 * scores["iframe"] + scores["mv"] + 0.5 * scores["residual"], atol=1e-6)
    # changing the motion-vector channels changes that stream's scores only
    y = x.clone()
    y[:, 3:5] = torch.randn_like(y[:, 3:5])
    other = model.stream_scores(y)
    assert torch.equal(other["iframe"], scores["iframe"]) and torch.equal(other["residual"], scores["residual"])
    assert not torch.allclose(other["mv"], scores["mv"])
    # TSN consensus: the mean of per-frame scores, so reordering the segments changes nothing
    assert torch.allclose(model(x[:, :, [2, 0, 1]]), model(x), atol=1e-5)


def test_the_stream_networks_are_the_papers():
    model = build("coviar", num_classes=400)
    assert model.streams["mv"].conv1.in_channels == 2 and model.streams["residual"].conv1.in_channels == 3
    resnet18 = count_params(torchvision.models.resnet18(num_classes=400))
    resnet50 = count_params(torchvision.models.resnet50(num_classes=400))
    # the motion-vector ResNet-18 has one input channel less: 64 * 7 * 7 fewer weights
    assert count_params(model) == resnet50 + resnet18 + resnet18 - 64 * 49


def test_joint_training_is_separate_training():
    torch.manual_seed(0)
    model = build("coviar", num_classes=4, iframe_arch="resnet18", dropout=0.0).train()
    assert has_own_objective(model)
    x, y = _x(), torch.tensor([1, 3])
    fused, loss = model.loss(x, y)
    scores = model.stream_scores(x)
    assert torch.allclose(loss, sum(F.cross_entropy(s, y) for s in scores.values()), atol=1e-5)
    loss.backward()
    joint = {n: p.grad.clone() for n, p in model.named_parameters() if n.startswith("streams.mv.")}
    model.zero_grad()
    F.cross_entropy(model.stream_scores(x)["mv"], y).backward()
    assert all(torch.allclose(joint[n], p.grad, atol=1e-6) for n, p in model.named_parameters() if n in joint)


def test_one_stream_alone_and_bad_input():
    model = build("coviar", num_classes=4, streams=["mv"]).eval()
    assert list(model.streams) == ["mv"] and model(_x()).shape == (2, 4)
    with pytest.raises(ValueError, match="packed compressed clips"):
        model(torch.randn(1, 3, 4, 32, 32))
    with pytest.raises(ValueError, match="streams must be"):
        build("coviar", num_classes=4, streams=["flow"])


def test_torchvision_imagenet_weights_load_into_the_iframe_stream():
    reference = torchvision.models.resnet50(num_classes=400).eval()
    model = build("coviar", num_classes=400, streams=["iframe"]).eval()
    model.streams["iframe"].load_state_dict(reference.state_dict())
    image = torch.randn(1, 3, 64, 64)
    x = torch.zeros(1, 8, 1, 64, 64)
    x[:, :3, 0] = image
    assert torch.allclose(model(x), reference(image), atol=1e-5)
