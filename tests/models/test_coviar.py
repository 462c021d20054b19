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
    image = torch.rand(1, 3, 64, 64) * 255  # the I-frame as decoded; the model normalises it as ImageNet's were
    x = torch.zeros(1, 8, 1, 64, 64)
    x[:, :3, 0] = image
    mean, std = (
        torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
    )
    torch.testing.assert_close(model(x), reference((image / 255 - mean) / std), atol=1e-4, rtol=1e-4)


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
    # the loader's sign (minus the codec's), ±20 px onto a byte (clip_and_scale(mv, 20) + 128), / 255 - 0.5
    byte = torch.tensor([0.0, 191.75, 102.5, 255.0]).view(1, 2, 1, 2)
    torch.testing.assert_close(model.prepare("mv", mv), byte / 255 - 0.5, atol=1e-4, rtol=0)
    residual = torch.tensor([255.0, -255.0, 0.0]).view(1, 3, 1, 1)
    # BGR, + 128 clipped to a byte, / 255 - 0.5, over ImageNet's std
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = (torch.tensor([128.0, 0.0, 255.0]).view(1, 3, 1, 1) / 255 - 0.5) / std
    torch.testing.assert_close(model.prepare("residual", residual), expected, atol=1e-4, rtol=0)
    # the input BatchNorm learns: in training it normalises the batch
    model.train()
    batch = model.prepare("mv", torch.randn(8, 2, 4, 4) * 5 + 3)
    assert batch.mean().abs() < 1e-4 and (batch.std() - 1).abs() < 0.05
    former = build("coviar", num_classes=4, iframe_arch="resnet18", inputs="scaled").eval()
    torch.testing.assert_close(former.prepare("mv", mv), mv / 8)
    torch.testing.assert_close(former.prepare("residual", residual), residual / 64)
    image = torch.full((1, 3, 1, 1), 255.0)
    imagenet = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(model.prepare("iframe", image).flatten(), imagenet)
    torch.testing.assert_close(former.prepare("iframe", image).flatten(), torch.full((3,), 0.55 / 0.225))


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


def _authors_stream(channels: int, num_classes: int, seed: int) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    """One stream of pytorch-coviar's ``Model`` (its model.py): a torchvision ResNet-18 with a new classifier,
    a 2-channel conv1 for the vectors, and ``data_bn`` before it on the motion and residual streams; BN
    statistics drawn at random so that every one shows in the scores."""
    torch.manual_seed(seed)
    base = torchvision.models.resnet18(num_classes=num_classes)
    if channels == 2:
        base.conv1 = torch.nn.Conv2d(2, 64, kernel_size=7, stride=2, padding=3, bias=False)
    data_bn = torch.nn.BatchNorm2d(channels) if channels != 3 or seed == 3 else None
    for bn in [m for m in [*base.modules(), data_bn] if isinstance(m, torch.nn.BatchNorm2d)]:
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
    return base.eval(), None if data_bn is None else data_bn.eval()


def test_the_authors_trained_streams_give_their_scores_from_the_same_video(tmp_path):
    """pytorch-coviar's checkpoints (one per stream, DataParallel's ``module.``) load as they are, and the
    model prepares the raw I-frames, vectors and residuals as their loader and dataset.py do: the scores
    are theirs — fused 2 : 1 : 1 after averaging the segments' (their test.py and combine.py)."""
    import numpy as np

    streams = {"iframe": _authors_stream(3, 6, 1), "mv": _authors_stream(2, 6, 2), "residual": _authors_stream(3, 6, 3)}
    paths = {}
    for name, (base, data_bn) in streams.items():
        state = {f"module.base_model.{k}": v for k, v in base.state_dict().items()}
        if data_bn is not None:
            state |= {f"module.data_bn.{k}": v for k, v in data_bn.state_dict().items()}
        paths[name] = tmp_path / f"{name}_model_best.pth.tar"
        torch.save({"epoch": 80, "arch": "resnet18", "state_dict": state, "best_prec1": 50.0}, paths[name])
    model = build("coviar", num_classes=6, iframe_arch="resnet18").load_pytorch_coviar(paths).eval()

    rng = np.random.default_rng(0)
    t, size = 2, 32
    iframe = rng.integers(0, 256, (t, size, size, 3)).astype(np.float32)  # RGB
    theirs_mv = rng.choice([-24.0, -16.0, -8.0, 0.0, 8.0, 16.0, 24.0], (t, size, size, 2))  # dst - src
    residual = rng.integers(-255, 256, (t, size, size, 3)).astype(np.float32)  # RGB
    x = torch.zeros(1, 8, t, size, size)
    x[0, 0:3] = torch.from_numpy(iframe).permute(3, 0, 1, 2)
    x[0, 3:5] = torch.from_numpy(-theirs_mv).float().permute(3, 0, 1, 2)  # the codec's sign: src - dst
    x[0, 5:8] = torch.from_numpy(residual).permute(3, 0, 1, 2)

    # their dataset.py: bytes, / 255, then - mean / std (I-frame), - 0.5 (vectors), - 0.5 / std (residual)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    byte = lambda v: np.clip(v + 128, 0, 255).astype(np.uint8)  # noqa: E731
    inputs = {
        "iframe": (iframe / 255.0 - mean) / std,
        "mv": byte((theirs_mv * (127.5 / 20)).astype(np.int32)) / 255.0 - 0.5,
        "residual": (byte(residual[..., ::-1].astype(np.int32)) / 255.0 - 0.5) / std,
    }
    scores = {}
    with torch.no_grad():
        for name, (base, data_bn) in streams.items():
            frames = torch.from_numpy(np.ascontiguousarray(inputs[name])).float().permute(0, 3, 1, 2)
            scores[name] = base(frames if data_bn is None else data_bn(frames)).mean(0, keepdim=True)
        expected = 2 * scores["iframe"] + scores["mv"] + scores["residual"]
        torch.testing.assert_close(model(x), expected, atol=1e-4, rtol=1e-4)


def test_the_authors_checkpoints_that_do_not_fit_say_why(tmp_path):
    from vidkit.errors import CheckpointError

    base, data_bn = _authors_stream(2, 6, 2)
    state = {f"module.base_model.{k}": v for k, v in base.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "mv.pth.tar")
    model = build("coviar", num_classes=6, streams=["mv"])
    with pytest.raises(CheckpointError, match=r"mv.pth.tar: not a pytorch-coviar mv stream .* lacks data_bn.mv"):
        model.load_pytorch_coviar({"mv": tmp_path / "mv.pth.tar"})
    state |= {f"module.data_bn.{k}": v for k, v in data_bn.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "mv.pth.tar")
    with pytest.raises(CheckpointError, match="its classifier has 6 classes, this model's 4: build with theirs"):
        build("coviar", num_classes=4, streams=["mv"]).load_pytorch_coviar({"mv": tmp_path / "mv.pth.tar"})
    with pytest.raises(CheckpointError, match="build with inputs='coviar'"):
        build("coviar", num_classes=6, streams=["mv"], inputs="scaled").load_pytorch_coviar({"mv": state})
    with pytest.raises(CheckpointError, match="no checkpoint for CoViAR's mv stream"):
        model.load_pytorch_coviar({"iframe": state})
    model.load_pytorch_coviar({"mv": tmp_path / "mv.pth.tar"})
