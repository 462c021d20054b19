"""The single-pathway ResNet-50 zoo: parameter counts from the papers and peers, C2D/TSN/I3D against
pytorchvideo and torchvision, and I3D inflation's fixed point (a boring video gives the 2D logits)."""

import warnings

import pytest
import torch
import torchvision

from vidkit.errors import CheckpointError
from vidkit.models import build, count_params, inflate, inflate_weight

# The issue's figures (from the papers' architectures; C2D/TSN/TSM are torchvision's ResNet-50 with a
# 400-way classifier, I3D is pytorchvideo's i3d_r50).
PARAMS = {
    ("c2d_r50", 400): 24_327_632,
    ("tsn_r50", 400): 24_327_632,
    ("tsm_r50", 400): 24_327_632,
    ("i3d_r50", 400): 28_043_472,
    ("slow_r50", 400): 32_454_096,  # pytorchvideo's slow_r50
    ("gst_r50", 174): 21_035_246,
    ("cost_a_r50", 400): 24_333_968,
    ("cost_r50", 400): 25_085_464,
    # No figure in the papers for these two; vidkit's own, kept from changing unnoticed.
    ("fast3d_r50", 400): 46_977_232,  # a FAST block has the 27·C² weights of the 3×3×3 conv it replaces
    ("attention_clusters", 400): 36_648_448,  # 16 units × 2048-d features → 400 classes
}


@pytest.mark.parametrize(("name", "classes"), sorted(PARAMS))
def test_parameter_counts_match_the_papers(name, classes):
    assert count_params(build(name, num_classes=classes)) == PARAMS[name, classes]


def _randomise_bn(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics, so that a wrong mapping of BN layers shows."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)


@pytest.fixture(scope="module")
def resnet50_2d():
    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None).eval()
    _randomise_bn(net)
    return net


def _i3d_kernels_torchvision() -> dict[str, int]:
    """I3D's temporal kernels (stem 5; conv_a 3 / alternating 3,1 / 3,1 / 1,3) by torchvision module name."""
    pattern = ((3,), (3, 1), (3, 1), (1, 3))
    kernels = {"conv1": 5}
    for stage, depth in enumerate((3, 4, 6, 3)):
        for block in range(depth):
            kernels[f"layer{stage + 1}.{block}.conv1"] = pattern[stage][block % len(pattern[stage])]
    return kernels


def _boring(image: torch.Tensor, frames: int = 8) -> torch.Tensor:
    return image.unsqueeze(2).expand(-1, -1, frames, -1, -1).contiguous()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / a.abs().max()).item()


def test_inflate_keeps_the_2d_logits_on_a_boring_video(resnet50_2d):
    net3d = inflate(resnet50_2d, temporal_kernels=_i3d_kernels_torchvision()).eval()
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits_2d, logits_3d = resnet50_2d(image), net3d(_boring(image))
    assert logits_3d.shape == (2, 1000)
    assert _rel(logits_2d, logits_3d) < 1e-3
    assert net3d.conv1.weight.shape == (64, 3, 5, 7, 7)
    assert isinstance(resnet50_2d.conv1, torch.nn.Conv2d), "inflate modified the 2D model"


def test_zero_temporal_padding_breaks_the_fixed_point(resnet50_2d):
    """Why inflation replicates the padding: with zeros the end frames see a darker neighbourhood."""
    net3d = inflate(resnet50_2d, temporal_kernels=_i3d_kernels_torchvision(), temporal_padding="zeros").eval()
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert _rel(resnet50_2d(image), net3d(_boring(image))) > 1e-2


def test_i3d_r50_inflated_from_a_2d_checkpoint_keeps_its_logits(resnet50_2d, tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(resnet50_2d.state_dict(), path)
    # The fixed point needs replicate padding (i3d_r50 pads with zeros by default, as its peers do).
    i3d = build("i3d_r50", num_classes=1000, temporal_padding="replicate", weights=path).eval()
    assert i3d.backbone.stem.conv.weight.shape == (64, 3, 5, 7, 7)
    torch.testing.assert_close(i3d.backbone.stem.conv.weight.sum(2), resnet50_2d.conv1.weight)
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert _rel(resnet50_2d(image), i3d(_boring(image))) < 1e-3


def test_tsn_from_a_2d_checkpoint_is_the_2d_network_averaged_over_frames(resnet50_2d):
    tsn = build("tsn_r50", num_classes=1000, weights=resnet50_2d.state_dict()).eval()
    clip = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        per_frame = torch.stack([resnet50_2d(clip[:, :, t]) for t in range(4)], dim=1)
        torch.testing.assert_close(tsn(clip), per_frame.mean(1), atol=1e-4, rtol=1e-4)


def test_inflate_weight_repeats_and_divides():
    w = torch.randn(4, 3, 3, 3)
    inflated = inflate_weight(w, 5)
    assert inflated.shape == (4, 3, 5, 3, 3)
    torch.testing.assert_close(inflated.sum(2), w)
    centred = inflate_weight(w, 3, center=True)
    assert torch.equal(centred[:, :, 1], w) and not centred[:, :, 0].any()


def test_inflate_names_a_wrong_module_and_a_2d_only_layer():
    with pytest.raises(ValueError, match="not Conv2d layers of the model: layer9.conv1"):
        inflate(torchvision.models.resnet18(), temporal_kernels={"layer9.conv1": 3})
    with pytest.raises(ValueError, match="cannot inflate 1: UpsamplingBilinear2d has no 3D counterpart"):
        inflate(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.UpsamplingBilinear2d(scale_factor=2)))


@pytest.mark.parametrize("name", ["i3d_r50", "c2d_r50", "slow_r50"])
def test_pytorchvideo_checkpoints_give_pytorchvideos_outputs(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pytorchvideo.models.hub import resnet as ptv_resnet
    torch.manual_seed(0)
    if name == "slow_r50":  # its hub function fixes the head's pool; the architecture it builds, with ours
        from pytorchvideo.models.resnet import create_resnet

        theirs = create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(4, 2, 2), model_num_class=10)
    else:
        theirs = getattr(ptv_resnet, name)(head_pool_kernel_size=(2, 2, 2), model_num_class=10)
    theirs.eval()
    _randomise_bn(theirs)
    ours = build(name, num_classes=10, weights={"model_state": theirs.state_dict()}).eval()  # as built by default
    clip = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(clip), theirs(clip), atol=1e-5, rtol=1e-5)


def _vidkit_i3d_file(path, *, temporal_padding: str, record: bool) -> torch.nn.Module:
    """A vidkit training checkpoint of an i3d_r50 built with ``temporal_padding``; without ``record``, as
    vidkit wrote them before it recorded the padding (all were trained with replicate then)."""
    torch.manual_seed(0)
    model = build("i3d_r50", num_classes=5, temporal_padding=temporal_padding, zero_init_final_bn=False).eval()
    _randomise_bn(model)
    saved = {"model": model.state_dict(), "model_name": "i3d_r50", "num_classes": 5}
    if record:
        saved["model_options"] = model.checkpoint_options()
    torch.save(saved, path)
    return model


def test_i3d_r50_pads_time_with_zeros_by_default_and_says_so():
    assert build("i3d_r50", num_classes=5).checkpoint_options() == {"temporal_padding": "zeros"}
    replicate = build("i3d_r50", num_classes=5, temporal_padding="replicate")
    assert replicate.checkpoint_options() == {"temporal_padding": "replicate"}
    assert build("slow_r50", num_classes=5).checkpoint_options() == {"temporal_padding": "zeros"}


@pytest.mark.parametrize("padding", ["zeros", "replicate"])
def test_a_vidkit_i3d_checkpoint_loads_into_the_padding_it_records_and_no_other(tmp_path, padding):
    path = tmp_path / "best.pt"
    theirs = _vidkit_i3d_file(path, temporal_padding=padding, record=True)
    ours = build("i3d_r50", num_classes=5, temporal_padding=padding, weights=path).eval()
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(clip), theirs(clip))
    other = "replicate" if padding == "zeros" else "zeros"
    message = (
        f"{path}: was trained with temporal_padding='{padding}', this i3d_r50 has temporal_padding='{other}': "
        f"build it with temporal_padding='{padding}'"
    )
    with pytest.raises(CheckpointError) as refused:
        build("i3d_r50", num_classes=5, temporal_padding=other, weights=path)
    assert str(refused.value) == message


def test_an_i3d_checkpoint_from_before_the_padding_was_recorded_is_read_as_replicate(tmp_path):
    path = tmp_path / "old.pt"
    theirs = _vidkit_i3d_file(path, temporal_padding="replicate", record=False)
    with pytest.raises(CheckpointError, match="was trained with temporal_padding='replicate', this i3d_r50 has"):
        build("i3d_r50", num_classes=5, weights=path)  # zeros by default now
    ours = build("i3d_r50", num_classes=5, temporal_padding="replicate", weights=path).eval()
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(clip), theirs(clip))
    # A bare state dict records nothing, so it loads into either padding, as before.
    build("i3d_r50", num_classes=5, weights=theirs.state_dict())


def test_a_2d_checkpoint_that_does_not_fit_says_what_is_missing(resnet50_2d):
    # (GST, CoST and FAST 3D take 2D ResNet-50s now: tests/models/test_gst_cost_fast3d_checkpoints.py)
    short = {k: v for k, v in resnet50_2d.state_dict().items() if k != "layer4.2.conv3.weight"}
    with pytest.raises(CheckpointError, match="does not fit c2d_r50: .*res5.block3.conv_c.weight"):
        build("c2d_r50", num_classes=1000, weights=short)
    with pytest.raises(CheckpointError, match="converts those for .*single-pathway ResNets .* only, not slowfast_r50"):
        build("slowfast_r50", num_classes=1000, weights=resnet50_2d.state_dict())


def test_c2d_and_tsn_ignore_frame_order_and_i3d_does_not():
    torch.manual_seed(0)
    clip = torch.randn(1, 3, 8, 32, 32)
    reversed_clip = clip.flip(2)
    with torch.no_grad():
        for name in ("c2d_r50", "tsn_r50"):
            model = build(name, num_classes=6, zero_init_final_bn=False).eval()
            torch.testing.assert_close(model(clip), model(reversed_clip), atol=1e-5, rtol=1e-4)
        i3d = build("i3d_r50", num_classes=6, zero_init_final_bn=False).eval()
        assert not torch.allclose(i3d(clip), i3d(reversed_clip), atol=1e-4)


def _mmaction2_names(key: str, shifted: bool) -> str:
    """torchvision's ResNet-50 key as mmaction2 stores it (ConvModule conv/bn; TSM wraps conv1's conv as .net)."""
    import re

    if key.startswith("fc."):
        return "cls_head.fc_cls." + key[3:]
    key = re.sub(r"^conv1\.", "conv1.conv.", key)
    key = re.sub(r"^bn1\.", "conv1.bn.", key)
    key = re.sub(r"\.conv(\d)\.", lambda m: f".conv{m[1]}.conv{'.net' if shifted and m[1] == '1' else ''}.", key)
    key = re.sub(r"\.bn(\d)\.", r".conv\1.bn.", key)
    key = key.replace(".downsample.0.", ".downsample.conv.").replace(".downsample.1.", ".downsample.bn.")
    return "backbone." + key


def _tsm_repo_names(key: str) -> str:
    """torchvision's ResNet-50 key as the TSM authors' repo stores it (DataParallel, .net wrapper on conv1, new_fc)."""
    if key.startswith("fc."):
        return "module.new_fc." + key[3:]
    if key.startswith("layer") and key.endswith(".conv1.weight"):
        key = key.removesuffix("weight") + "net.weight"
    return "module.base_model." + key


@pytest.mark.parametrize("layout", ["mmaction2-tsn", "mmaction2-tsm", "tsm-repo"])
def test_mmaction2_and_tsm_repo_checkpoints_load_like_the_torchvision_one(resnet50_2d, layout):
    state = resnet50_2d.state_dict()
    if layout == "tsm-repo":
        theirs = {"state_dict": {_tsm_repo_names(k): v for k, v in state.items()}}
    else:
        theirs = {
            "state_dict": {_mmaction2_names(k, layout.endswith("tsm")): v for k, v in state.items()},
            "meta": {"mmaction_version": "0.24.1"},
        }
    assert any(".net.weight" in k for k in theirs["state_dict"]) == (layout != "mmaction2-tsn")
    model = "tsn_r50" if layout == "mmaction2-tsn" else "tsm_r50"
    expected = build(model, num_classes=1000, weights=state).state_dict()
    loaded = build(model, num_classes=1000, weights=theirs).state_dict()
    assert expected.keys() == loaded.keys()
    assert all(torch.equal(expected[k], loaded[k]) for k in expected)
