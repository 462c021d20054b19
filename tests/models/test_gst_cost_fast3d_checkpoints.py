"""GST, CoST and FAST 3D: the authors' checkpoint layouts (built from the key names and shapes their code
saves, random values) and the ImageNet start (a random torchvision ResNet-50) done as each paper does it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from vidkit.errors import CheckpointError
from vidkit.models import build
from vidkit.models.cost import CoST
from vidkit.models.fast3d import FAST3d
from vidkit.models.gst import GSTConv

STAGES = [(1, 64, 3), (2, 128, 4), (3, 256, 6), (4, 512, 3)]  # torchvision's layerN, width, blocks


def _bn(prefix: str, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.weight": torch.rand(n, generator=g) + 0.5,
        f"{prefix}.bias": torch.randn(n, generator=g) * 0.1,
        f"{prefix}.running_mean": torch.randn(n, generator=g) * 0.1,
        f"{prefix}.running_var": torch.rand(n, generator=g) + 0.5,
        f"{prefix}.num_batches_tracked": torch.tensor(7),
    }


def _w(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g) * (2.0 / (shape[1] * max(1, shape[-1] * shape[-2]))) ** 0.5


def _vidkit_block(layer: int, index: int) -> str:
    return f"backbone.res{layer + 1}.block{index + 1}"


# -- GST: chenxuluo/GST-video (GST.py Bottleneck, models.py TemporalModel, main.py save_checkpoint) ----------
def gst_authors_file(num_classes: int = 174, alpha: int = 4, beta: int = 2):
    """``{"epoch", "arch", "state_dict", "best_prec1"}`` with DataParallel's ``module.`` names, and where
    each tensor must land in vidkit's gst_r50."""
    g = torch.Generator().manual_seed(0)
    state, where = {}, {}

    def put(key, value, target):
        state[f"module.{key}"] = value
        where[f"module.{key}"] = target

    put("base_model.conv1.weight", _w(g, 64, 3, 1, 7, 7), "backbone.stem.conv.weight")
    for k, v in _bn("base_model.bn1", 64, g).items():
        put(k, v, "backbone.stem.bn." + k.rpartition(".")[2])
    inplanes = 64
    for layer, planes, blocks in STAGES:
        for i in range(blocks):
            p, t = f"base_model.layer{layer}.{i}", _vidkit_block(layer, i)
            cin = inplanes if i == 0 else planes * 4
            put(f"{p}.conv1.weight", _w(g, planes, cin, 1, 1, 1), f"{t}.conv_a.weight")
            put(
                f"{p}.conv2.weight",
                _w(g, planes // alpha * (alpha - 1), planes // beta, 1, 3, 3),
                f"{t}.conv_b.spatial.weight",
            )
            put(f"{p}.Tconv.weight", _w(g, planes // alpha, planes // beta, 3, 3, 3), f"{t}.conv_b.temporal.weight")
            put(f"{p}.conv3.weight", _w(g, planes * 4, planes, 1, 1, 1), f"{t}.conv_c.weight")
            for bn, ours, n in (("bn1", "bn_a", planes), ("bn2", "bn_b", planes), ("bn3", "bn_c", planes * 4)):
                for k, v in _bn(f"{p}.{bn}", n, g).items():
                    put(k, v, f"{t}.{ours}." + k.rpartition(".")[2])
            if i == 0:
                put(f"{p}.downsample.0.weight", _w(g, planes * 4, cin, 1, 1, 1), f"{t}.shortcut.conv.weight")
                for k, v in _bn(f"{p}.downsample.1", planes * 4, g).items():
                    put(k, v, f"{t}.shortcut.bn." + k.rpartition(".")[2])
        inplanes = planes * 4
    put("new_fc.weight", torch.randn(num_classes, 2048, generator=g) * 0.001, "head.proj.weight")
    put("new_fc.bias", torch.randn(num_classes, generator=g) * 0.01, "head.proj.bias")
    return {"epoch": 25, "arch": "resnet50", "state_dict": state, "best_prec1": 48.2}, where


def test_the_gst_authors_checkpoint_loads_every_tensor_where_it_belongs(tmp_path):
    checkpoint, where = gst_authors_file()
    path = tmp_path / "GST_somethingv2_resnet50_segment8_best.pth.tar"
    torch.save(checkpoint, path)
    model = build("gst_r50", num_classes=174, weights=path)
    ours = model.state_dict()
    assert len(where) == len(checkpoint["state_dict"]) == len(ours)  # every tensor, every place
    for key, target in where.items():
        assert torch.equal(ours[target], checkpoint["state_dict"][key]), (key, target)


def test_a_gst_checkpoint_is_not_taken_for_a_tsm_one(tmp_path):
    checkpoint, _ = gst_authors_file()
    with pytest.raises(CheckpointError, match="a GST checkpoint; vidkit converts those for GST models"):
        build("tsm_r50", num_classes=174, weights=checkpoint)


# -- CoST: hikvision-research/cost (ResNet3dCoST, Bottleneck3dCoST, CoSTa/CoSTb in conv_cost.py) ---------------
COST_BLOCKS = {1: (1,), 2: (0, 2), 3: (0, 2, 4), 4: (0, 2)}  # inflate=((0,1,0),(1,0,1,0),(1,0,1,0,1,0),(1,0,1))


def cost_authors_file(style: str, num_classes: int = 400):
    """mmaction2's ``{"meta", "state_dict"}`` of a ResNet3dCoST-50 with ``inflate_style`` costa or costb."""
    g = torch.Generator().manual_seed(1)
    state, where = {}, {}

    def put(key, value, target):
        state[key] = value
        where[key] = target

    put("backbone.conv1.conv.weight", _w(g, 64, 3, 1, 7, 7), "backbone.stem.conv.weight")
    for k, v in _bn("backbone.conv1.bn", 64, g).items():
        put(k, v, "backbone.stem.bn." + k.rpartition(".")[2])
    inplanes = 64
    for layer, planes, blocks in STAGES:
        for i in range(blocks):
            p, t = f"backbone.layer{layer}.{i}", _vidkit_block(layer, i)
            cin = inplanes if i == 0 else planes * 4
            cost = i in COST_BLOCKS[layer]
            put(f"{p}.conv1.conv.weight", _w(g, planes, cin, 1, 1, 1), f"{t}.conv_a.weight")
            put(f"{p}.conv2.conv.weight", _w(g, planes, planes, 1, 3, 3), f"{t}.conv_b.weight")
            if cost and style == "costa":
                put(f"{p}.conv2.conv.alpha", torch.randn(3, planes, generator=g), f"{t}.conv_b.alpha")
            if cost and style == "costb":
                put(
                    f"{p}.conv2.conv.fc1.weight",
                    torch.randn(planes, planes, generator=g) * 0.1,
                    f"{t}.conv_b.fc.weight",
                )
                put(f"{p}.conv2.conv.fc2.weight", torch.randn(3, 3, generator=g), f"{t}.conv_b.view_mix.weight")
            put(f"{p}.conv3.conv.weight", _w(g, planes * 4, planes, 1, 1, 1), f"{t}.conv_c.weight")
            for conv, ours, n in (("conv1", "bn_a", planes), ("conv2", "bn_b", planes), ("conv3", "bn_c", planes * 4)):
                for k, v in _bn(f"{p}.{conv}.bn", n, g).items():
                    put(k, v, f"{t}.{ours}." + k.rpartition(".")[2])
            if i == 0:
                put(f"{p}.downsample.conv.weight", _w(g, planes * 4, cin, 1, 1, 1), f"{t}.shortcut.conv.weight")
                for k, v in _bn(f"{p}.downsample.bn", planes * 4, g).items():
                    put(k, v, f"{t}.shortcut.bn." + k.rpartition(".")[2])
        inplanes = planes * 4
    put("cls_head.fc_cls.weight", torch.randn(num_classes, 2048, generator=g) * 0.01, "head.proj.weight")
    put("cls_head.fc_cls.bias", torch.zeros(num_classes), "head.proj.bias")
    return {"meta": {"epoch": 160}, "state_dict": state}, where


def _authors_cost(x, weight, alpha=None, fc1=None, fc2=None):
    """conv_cost.py's conv3v and CoSTa/CoSTb forward, from the file's tensors (stride 1, padding 1)."""
    w = weight.squeeze(2)
    hw = F.conv3d(x, w.unsqueeze(2), None, 1, (0, 1, 1))
    tw = F.conv3d(x, w.unsqueeze(3), None, 1, (1, 0, 1))
    th = F.conv3d(x, w.unsqueeze(4), None, 1, (1, 1, 0))
    if alpha is not None:
        a = torch.softmax(alpha, dim=0).view(3, -1, 1, 1, 1)
        return hw * a[0] + tw * a[1] + th * a[2]
    c = w.shape[0]
    pooled = torch.cat([F.adaptive_max_pool3d(v, 1).view(-1, c) for v in (hw, tw, th)], dim=0)
    z = (pooled @ fc1.T).view(3, -1).permute(1, 0) @ fc2.T
    a = torch.softmax(z.permute(1, 0).view(3, -1, c, 1, 1, 1), dim=0)
    return hw * a[0] + tw * a[1] + th * a[2]


@pytest.mark.parametrize(("style", "model_name"), [("costa", "cost_a_r50"), ("costb", "cost_r50")])
def test_the_cost_authors_checkpoint_loads_and_its_layers_compute_as_theirs(tmp_path, style, model_name):
    checkpoint, where = cost_authors_file(style)
    path = tmp_path / f"{style}_r50_8x8x1_160e_kinetics400_rgb.pth"
    torch.save(checkpoint, path)
    model = build(model_name, num_classes=400, weights=path).eval()
    ours = model.state_dict()
    assert len(where) == len(checkpoint["state_dict"]) == len(ours)
    for key, target in where.items():
        theirs = checkpoint["state_dict"][key]
        layer, _, rest = key.removeprefix("backbone.layer").partition(".")
        if rest.endswith("conv2.conv.weight") and int(rest.split(".")[0]) in COST_BLOCKS[int(layer)]:
            theirs = theirs.squeeze(2)  # a CoST layer's kernel, [C, C, 1, 3, 3] in their file
        assert torch.equal(ours[target], theirs), (key, target)
    layer = model.backbone.res2.block2.conv_b
    assert isinstance(layer, CoST)
    x = torch.randn(2, 64, 4, 9, 9)
    file = checkpoint["state_dict"]
    extra = (
        {"alpha": file["backbone.layer1.1.conv2.conv.alpha"]}
        if style == "costa"
        else {
            "fc1": file["backbone.layer1.1.conv2.conv.fc1.weight"],
            "fc2": file["backbone.layer1.1.conv2.conv.fc2.weight"],
        }
    )
    with torch.no_grad():
        torch.testing.assert_close(layer(x), _authors_cost(x, file["backbone.layer1.1.conv2.conv.weight"], **extra))


def test_a_cost_checkpoint_is_named_as_such_for_another_model():
    checkpoint, _ = cost_authors_file("costb")
    with pytest.raises(CheckpointError, match="a CoST checkpoint; vidkit converts those for CoST models"):
        build("c2d_r50", num_classes=400, weights=checkpoint)


# -- ImageNet starts ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def resnet50_2d():
    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None).eval()
    with torch.no_grad():  # BN statistics other than (0, 1), so a misplaced BN shows
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return net


def test_gst_from_imagenet_slices_each_2d_kernel_into_its_spatial_group(tmp_path, resnet50_2d):
    path = tmp_path / "resnet50.pth"
    torch.save(resnet50_2d.state_dict(), path)
    torch.manual_seed(3)
    fresh = build("gst_r50", num_classes=1000)
    torch.manual_seed(3)
    model = build("gst_r50", num_classes=1000, weights=path)
    conv2d = resnet50_2d.layer2[1].conv2  # 128 → 128: spatial group 64 → 96
    gst = model.backbone.res3.block2.conv_b
    assert isinstance(gst, GSTConv)
    torch.testing.assert_close(gst.spatial.weight[:, :, 0], conv2d.weight[:96, :64], rtol=0, atol=0)
    # the temporal group keeps its fresh initialisation, as the authors' strict=False load leaves Tconv
    torch.testing.assert_close(gst.temporal.weight, fresh.backbone.res3.block2.conv_b.temporal.weight, rtol=0, atol=0)
    # the spatial path is the sliced 2D convolution on every frame of the first half of the channels
    x = torch.randn(1, 128, 3, 10, 10)
    with torch.no_grad():
        out = gst(x)
        frames = torch.stack([F.conv2d(x[:, :64, t], conv2d.weight[:96, :64], padding=1) for t in range(3)], dim=2)
    torch.testing.assert_close(out[:, :96], frames, rtol=1e-5, atol=1e-5)
    # and every other tensor is the 2D network's (BN in full: it is shared by both groups)
    torch.testing.assert_close(model.backbone.res3.block2.bn_b.running_var, resnet50_2d.layer2[1].bn2.running_var)
    torch.testing.assert_close(model.head.proj.weight, resnet50_2d.fc.weight)


@pytest.mark.parametrize("model_name", ["cost_r50", "cost_a_r50"])
def test_cost_from_imagenet_shares_the_2d_kernel_with_the_hw_view_leading(resnet50_2d, model_name):
    model = build(model_name, num_classes=1000, weights=resnet50_2d.state_dict()).eval()
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, CoST)]
    assert len(layers) == 8
    layer = model.backbone.res3.block1.conv_b  # stride 2, 128 → 128, from layer2.0.conv2
    conv2d = resnet50_2d.layer2[0].conv2
    torch.testing.assert_close(layer.weight, conv2d.weight, rtol=0, atol=0)  # the kernel itself, undivided
    x = torch.randn(2, 128, 4, 10, 10)
    with torch.no_grad():
        hw = layer.views(x)[0]
        frames = torch.stack([F.conv2d(x[:, :, t], conv2d.weight, stride=2, padding=1) for t in range(4)], dim=2)
        torch.testing.assert_close(hw, frames, rtol=1e-5, atol=1e-5)
        if model_name == "cost_a_r50":  # the authors' (0.7, -0.7, -0.7) logits: H-W 0.67, T-W and T-H 0.17
            coefficients = layer.coefficients(layer.views(x))[0]
            expected = torch.tensor([0.7, -0.7, -0.7]).softmax(0)
            torch.testing.assert_close(coefficients, expected[:, None].expand(3, 128))
        # pinned to the H-W view, the network is the 2D one on a still clip
        for _, m in layers:
            m.pin("hw")
        image = torch.randn(1, 3, 64, 64)
        torch.testing.assert_close(
            model(image.unsqueeze(2).expand(-1, -1, 4, -1, -1)), resnet50_2d(image), rtol=1e-4, atol=1e-4
        )


def test_cost_a_from_imagenet_keeps_a_chosen_hw_lead(resnet50_2d):
    model = build("cost_a_r50", num_classes=1000, hw_lead=1.5, weights=resnet50_2d.state_dict())
    start = model.backbone.res2.block2.conv_b.alpha[:, 0]
    torch.testing.assert_close(start, torch.tensor([1.5, -1.5, -1.5]))


@pytest.mark.parametrize("form", ["sequential", "parallel"])
def test_fast3d_from_imagenet_starts_as_the_2d_network_on_every_frame(tmp_path, resnet50_2d, form):
    path = tmp_path / "resnet50.pth"
    torch.save(resnet50_2d.state_dict(), path)
    model = build("fast3d_r50", num_classes=1000, form=form, weights=path).eval()
    block = model.backbone.res3.block1
    assert isinstance(block.conv_b, FAST3d)
    conv2d = resnet50_2d.layer2[0]
    torch.testing.assert_close(block.conv_b.spatial.weight[:, :, 0], conv2d.conv2.weight, rtol=0, atol=0)
    torch.testing.assert_close(block.conv_b.bn_spatial.running_mean, conv2d.bn2.running_mean, rtol=0, atol=0)
    # on a moving clip too: frame by frame, the 2D network (the motion convolutions start as the identity)
    clip = torch.randn(1, 3, 3, 64, 64)
    with torch.no_grad():
        features = model.forward_features(clip).mean(dim=(2, 3, 4))
        trunk = torch.nn.Sequential(*list(resnet50_2d.children())[:-1])
        per_frame = torch.stack([trunk(clip[:, :, t]).flatten(1) for t in range(3)]).mean(0)
        torch.testing.assert_close(features, per_frame, rtol=1e-3, atol=1e-3)
        image = clip[:, :, 0]
        still = image.unsqueeze(2).expand(-1, -1, 4, -1, -1)
        torch.testing.assert_close(model(still), resnet50_2d(image), rtol=1e-3, atol=1e-3)
