"""Starting CoViAR, attention clusters and AdaFrame from ImageNet classifiers in torchvision's layout, as
their papers do, on random 2D weights (random batch-norm statistics included): each 2D network of the
model then computes exactly what the torchvision network does on every frame; what ImageNet cannot give
(classifiers, attention, the LSTM, CoViAR's 2-channel motion-vector conv1) keeps its fresh
initialisation; a checkpoint of another architecture is one error line naming what is missing."""

import pytest
import torch
import torch.nn as nn
import torchvision
from einops import rearrange

from vidkit.errors import CheckpointError
from vidkit.models import build


def imagenet_like(arch: str, seed: int) -> nn.Module:
    """torchvision's ``arch`` with random weights and batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = torchvision.models.get_model(arch, weights=None)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return net.eval()


def penultimate(net: nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """A torchvision classifier's features before its last linear layer, ``[N, width]``."""
    if isinstance(getattr(net, "fc", None), nn.Linear):
        trunk = nn.Sequential(*list(net.children())[:-1])
        return trunk(frames).flatten(1)
    pooled = nn.functional.adaptive_avg_pool2d(net.features(frames), 1).flatten(1)
    return net.classifier[:-1](pooled)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and ((a - b).abs().max() / b.abs().max()).item() < 1e-5


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# -- CoViAR (Wu et al., CVPR 2018; chaoyuaw/pytorch-coviar model.py) ---------------------------------


def test_coviar_streams_are_the_imagenet_resnets_on_every_frame(tmp_path):
    r50, mv18, res18 = imagenet_like("resnet50", 1), imagenet_like("resnet18", 2), imagenet_like("resnet18", 3)
    torch.save(r50.state_dict(), tmp_path / "resnet50.pth")
    torch.manual_seed(0)
    model = build("coviar", num_classes=7).eval()
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_imagenet({"iframe": tmp_path / "resnet50.pth", "mv": mv18.state_dict(), "residual": res18.state_dict()})

    x = torch.randn(2, 8, 3, 64, 64)
    features = model.forward_features(x)
    # the motion and residual streams see their inputs as the authors feed them (clipped, shifted, data_bn)
    frames = {
        s: model.prepare(s, rearrange(x[:, c], "b c t h w -> (b t) c h w"))
        for s, c in [("iframe", slice(0, 3)), ("residual", slice(5, 8))]
    }
    assert close(rearrange(features["iframe"], "b t d -> (b t) d"), penultimate(r50, frames["iframe"]))
    assert close(rearrange(features["residual"], "b t d -> (b t) d"), penultimate(res18, frames["residual"]))
    # the motion-vector stream: the ImageNet ResNet-18 with a new 2-channel conv1, as the authors' code has it
    assert torch.equal(model.streams["mv"].conv1.weight, fresh["streams.mv.conv1.weight"])
    mv18.conv1 = model.streams["mv"].conv1
    mv_frames = model.prepare("mv", rearrange(x[:, 3:5], "b c t h w -> (b t) c h w"))
    assert close(rearrange(features["mv"], "b t d -> (b t) d"), penultimate(mv18, mv_frames))
    # the classifiers are the model's own (num_classes wide), not ImageNet's
    for s in ("iframe", "mv", "residual"):
        assert torch.equal(model.streams[s].fc.weight, fresh[f"streams.{s}.fc.weight"])


def test_coviar_takes_one_file_through_build_when_the_streams_share_an_architecture(tmp_path):
    r18 = imagenet_like("resnet18", 4)
    torch.save({"state_dict": r18.state_dict()}, tmp_path / "resnet18.pth")
    model = build("coviar", num_classes=5, iframe_arch="resnet18", weights=tmp_path / "resnet18.pth").eval()
    image = torch.randn(2, 3, 64, 64)
    for s in ("iframe", "residual"):
        assert close(penultimate(model.streams[s], image), penultimate(r18, image))
    assert torch.equal(model.streams["mv"].layer4[1].conv2.weight, r18.layer4[1].conv2.weight)


def test_coviar_refuses_a_resnet_of_another_depth_in_one_line(tmp_path):
    torch.save(imagenet_like("resnet18", 5).state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(CheckpointError) as error:
        build("coviar", num_classes=5, weights=tmp_path / "resnet18.pth")  # its I-frame stream is a ResNet-50
    assert one_line(error).startswith(
        f"{tmp_path / 'resnet18.pth'}: a torchvision resnet18 does not fit CoViAR's iframe stream (a resnet50): "
        "165 of its tensors missing (e.g. layer1.0.conv3.weight"
    )
    assert "give one per stream: model.load_imagenet({'iframe': ..., 'mv': ..., 'residual': ...})" in str(error.value)
    model = build("coviar", num_classes=5)
    with pytest.raises(
        CheckpointError, match=r"no checkpoint for CoViAR's residual stream \(it has iframe, mv, residual\)"
    ):
        model.load_imagenet({"iframe": tmp_path / "resnet18.pth", "mv": tmp_path / "resnet18.pth"})


# -- attention clusters (Long et al., CVPR 2018: ImageNet-pretrained local features) -----------------


def test_attention_clusters_local_features_are_the_imagenet_resnet50s(tmp_path):
    r50 = imagenet_like("resnet50", 6)
    torch.save(r50.state_dict(), tmp_path / "resnet50.pth")
    torch.manual_seed(0)
    fresh = build("attention_clusters", num_classes=5).head.state_dict()
    torch.manual_seed(0)
    model = build("attention_clusters", num_classes=5, weights=tmp_path / "resnet50.pth").eval()
    x = torch.randn(2, 3, 4, 64, 64)
    expected = penultimate(r50, rearrange(x, "b c t h w -> (b t) c h w"))
    assert close(rearrange(model.forward_features(x), "b t d -> (b t) d"), expected)
    assert all(torch.equal(v, fresh[k]) for k, v in model.head.state_dict().items())  # the clusters: fresh
    torch.save(imagenet_like("resnet18", 7).state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(CheckpointError) as error:
        build("attention_clusters", num_classes=5, weights=tmp_path / "resnet18.pth")
    assert (
        "a torchvision resnet18 does not fit attention_clusters' backbone (a resnet50): 165 of its tensors "
        in one_line(error)
    )


# -- AdaFrame (Wu et al., CVPR 2019: ImageNet-pretrained ResNet-101 and MobileNetV2) -------------------

SMALL = dict(backbone="resnet18", memory_size=32, hidden=32, embed=16, steps=3)


def test_adaframe_backbone_and_memory_are_the_imagenet_networks():
    r18, mobile = imagenet_like("resnet18", 8), imagenet_like("mobilenet_v2", 9)
    torch.manual_seed(0)
    model = build("adaframe", num_classes=4, snippet=2, **SMALL).eval()
    lstm = model.lstm.weight_ih.clone()
    model.load_imagenet({"backbone": r18.state_dict(), "memory": mobile.state_dict()})
    image = torch.randn(3, 3, 64, 64)
    # a snippet of one still frame (stacked on channels) gives the 2D network's features on that frame
    assert close(model.backbone(image.repeat(1, 2, 1, 1)), penultimate(r18, image))
    assert close(model.memory_net(image), penultimate(mobile, image))
    assert torch.equal(model.lstm.weight_ih, lstm)


def test_adaframe_takes_one_file_through_build_and_refuses_a_wrong_one(tmp_path):
    r18 = imagenet_like("resnet18", 10)
    torch.save(r18.state_dict(), tmp_path / "resnet18.pth")
    model = build("adaframe", num_classes=4, memory_arch="backbone", weights=tmp_path / "resnet18.pth", **SMALL)
    image = torch.randn(2, 3, 64, 64)
    assert close(model.eval().backbone(image), penultimate(r18, image))
    with pytest.raises(CheckpointError) as error:
        build("adaframe", num_classes=4, weights=tmp_path / "resnet18.pth", **SMALL)  # its memory is a MobileNetV2
    assert one_line(error).startswith(
        f"{tmp_path / 'resnet18.pth'}: a torchvision resnet18 does not fit AdaFrame's memory (a mobilenet_v2): "
    )
