"""torchvision's video ResNets (Tran et al., CVPR 2018): a state dict of torchvision's own ``r3d_18``,
``mc3_18`` and ``r2plus1d_18`` (random weights, random batch-norm statistics), saved to a file, loads
into vidkit's model of the same name, which then gives torchvision's logits on a random clip."""

import pytest
import torch
import torch.nn as nn
import torchvision.models.video as tv_video

from vidkit.models import build

NUM_CLASSES = 7


def torchvision_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    net = getattr(tv_video, name)(weights=None, num_classes=NUM_CLASSES)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    nn.init.normal_(net.fc.weight, 0, 0.1)  # torchvision's 0.01 would make every logit near zero
    nn.init.uniform_(net.fc.bias, -0.5, 0.5)
    return net.eval()


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18"])
def test_torchvision_weights_give_torchvisions_logits(tmp_path, name):
    reference = torchvision_model(name)
    torch.save(reference.state_dict(), tmp_path / f"{name}.pth")
    torch.manual_seed(1)  # vidkit's model starts elsewhere: only the file can make them agree
    model = build(name, num_classes=NUM_CLASSES, weights=tmp_path / f"{name}.pth").eval()
    clip = torch.randn(2, 3, 8, 56, 56)
    with torch.no_grad():
        expected, got = reference(clip), model(clip)
    assert expected.abs().max() > 0.1  # logits of a size a wrong weight would show in
    assert ((got - expected).abs().max() / expected.abs().max()).item() < 1e-4
