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
    # the motion-vector ResNet-18 has one input channel less: 64 * 7 * 7 fewer weights; the authors'
    # input BatchNorms (data_bn) on the motion (2 channels) and residual (3) streams: a scale and shift each
    assert count_params(model) == resnet50 + resnet18 + resnet18 - 64 * 49 + 2 * (2 + 3)
    assert count_params(build("coviar", num_classes=400, inputs="scaled")) == resnet50 + 2 * resnet18 - 64 * 49


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


def test_the_papers_recipe_is_the_default_and_the_former_one_an_option():
    paper = build("coviar", num_classes=4, iframe_arch="resnet18")
    assert paper.fusion_weights == (2.0, 1.0, 1.0) and isinstance(paper.dropout, torch.nn.Identity)
    assert paper.checkpoint_options() == {"inputs": "coviar", "fusion_weights": [2.0, 1.0, 1.0]}
    assert set(paper.data_bn) == {"mv", "residual"}
    former = build("coviar", num_classes=4, iframe_arch="resnet18", inputs="scaled", fusion_weights=(1, 1, 1))
    assert len(former.data_bn) == 0 and not any(k.startswith("data_bn") for k in former.state_dict())
    with pytest.raises(ValueError, match="inputs must be one of"):
        build("coviar", num_classes=4, inputs="raw")


def test_inputs_prepared_as_the_authors_feed_them():
    model = build("coviar", num_classes=4, iframe_arch="resnet18").eval()  # data_bn fresh: identity in eval
    mv = torch.tensor([30.0, -10.0, 4.0, -25.0]).view(1, 2, 1, 2)
    # clipped to ±20 px, scaled into [-0.5, 0.5] (pytorch-coviar's clip_and_scale(mv, 20) / 255 - 0.5)
    expected = torch.tensor([0.5, -0.25, 0.1, -0.5]).view(1, 2, 1, 2)
    torch.testing.assert_close(model.prepare("mv", mv), expected, atol=1e-4, rtol=0)
    residual = torch.tensor([255.0, -255.0, 0.0]).view(1, 3, 1, 1)
    # + 128 clipped to a byte, / 255 - 0.5, over ImageNet's std
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = (torch.tensor([255.0, 0.0, 128.0]).view(1, 3, 1, 1) / 255 - 0.5) / std
    torch.testing.assert_close(model.prepare("residual", residual), expected, atol=1e-4, rtol=0)
    # the input BatchNorm learns: in training it normalises the batch
    model.train()
    batch = model.prepare("mv", torch.randn(8, 2, 4, 4) * 5 + 3)
    assert batch.mean().abs() < 1e-4 and (batch.std() - 1).abs() < 0.05
    former = build("coviar", num_classes=4, iframe_arch="resnet18", inputs="scaled").eval()
    torch.testing.assert_close(former.prepare("mv", mv), mv / 8)
    torch.testing.assert_close(former.prepare("residual", residual), residual / 64)
    image = torch.randn(1, 3, 2, 2)
    assert torch.equal(model.prepare("iframe", image), image)


def test_a_checkpoint_from_before_the_recipe_loads_with_the_former_inputs(tmp_path):
    from vidkit.engine.checkpoint import load_checkpoint, save_checkpoint
    from vidkit.engine.inference import load_model

    torch.manual_seed(0)
    config = {"model": {"name": "coviar", "options": {"iframe_arch": "resnet18"}}}
    former = build("coviar", num_classes=3, iframe_arch="resnet18", inputs="scaled", fusion_weights=(1, 1, 1))
    old = tmp_path / "old.pt"  # written before CoViAR recorded any option: model_options empty
    state = {"model": former.state_dict(), "model_name": "coviar", "num_classes": 3, "classes": ["a", "b", "c"]}
    torch.save({**state, "config": config, "model_options": {}}, old)
    loaded = load_model(old).model.eval()
    assert loaded.checkpoint_options() == {"inputs": "scaled", "fusion_weights": [1.0, 1.0, 1.0]}
    x = torch.randn(1, 8, 2, 32, 32) * 10
    torch.testing.assert_close(loaded(x), former.eval()(x))
    paper = build("coviar", num_classes=3, iframe_arch="resnet18")
    new = save_checkpoint(
        tmp_path / "new.pt", paper, model_name="coviar", num_classes=3, classes=["a", "b", "c"], config=config
    )
    assert load_checkpoint(new)["model_options"] == {"inputs": "coviar", "fusion_weights": [2.0, 1.0, 1.0]}
    assert load_model(new).model.checkpoint_options()["inputs"] == "coviar"
