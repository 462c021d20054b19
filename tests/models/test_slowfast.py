"""SlowFast R50: the paper's figures exactly, PySlowFast's Slow-frame choice, and equality with
pytorchvideo's implementation through its checkpoints (pytorchvideo's and PySlowFast's layouts)."""

import pytest
import torch

from vidkit.models import SlowFast, build, count_params
from vidkit.models.complexity import model_figures
from vidkit.models.slowfast import slow_frame_indices

# (parameters with 400 classes, GFLOPs on one 32-frame 256² clip): PySlowFast / pytorchvideo model zoo,
# the paper's Table 2 (65.7 and 36.1 GFLOPs).
FIGURES = {"slowfast_r50": (34_566_488, 65.71), "slowfast_r50_4x16": (34_480_216, 36.10)}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_parameter_count_is_exact(name):
    model = build(name, num_classes=400)
    assert count_params(model) == FIGURES[name][0]
    assert model.num_features == 2048 + 256


@pytest.mark.parametrize(
    "name, gflops",
    [(n, f[1]) for n, f in FIGURES.items()] + [("r3d_18", 40.70), ("mc3_18", 43.34), ("r2plus1d_18", 40.52)],
)  # torchvision's figures
def test_gflops_at_the_default_input(name, gflops):
    assert model_figures(name)["gflops"] == pytest.approx(gflops, abs=0.005)


def test_structure_follows_table_1():
    model = build("slowfast_r50", num_classes=400)
    # Slow: temporal kernels only in res4/res5; Fast: 5 in conv1 and 3 in every conv_a.
    assert model.slow.stem.conv.kernel_size == (1, 7, 7) and model.fast.stem.conv.kernel_size == (5, 7, 7)
    for stage, t in (("res2", 1), ("res3", 1), ("res4", 3), ("res5", 3)):
        assert {b.conv_a.kernel_size[0] for b in getattr(model.slow, stage)} == {t}
        assert {b.conv_a.kernel_size[0] for b in getattr(model.fast, stage)} == {3}
    # Lateral connections after pool1, res2, res3, res4: k×1×1, stride alpha, 2βC channels.
    assert list(model.lateral) == ["stem", "res2", "res3", "res4"]
    assert [m.conv.out_channels for m in model.lateral.values()] == [16, 64, 128, 256]
    assert {(m.conv.kernel_size, m.conv.stride) for m in model.lateral.values()} == {((7, 1, 1), (4, 1, 1))}
    # The last BN of every residual branch starts at zero (PySlowFast's ZERO_INIT_FINAL_BN).
    blocks = [b for p in (model.slow, model.fast) for s in ("res2", "res3", "res4", "res5") for b in getattr(p, s)]
    assert all(b.bn_c.weight.abs().sum() == 0 and b.bn_a.weight.eq(1).all() for b in blocks)


@pytest.mark.parametrize(
    "name, alpha, frames", [("slowfast_r50", 4, 32), ("slowfast_r50_4x16", 8, 32), ("slowfast_r50", 4, 16)]
)
def test_slow_pathway_sees_pyslowfast_frames(name, alpha, frames):
    model = build(name, num_classes=3).eval()
    seen = {}
    model.slow.stem.register_forward_pre_hook(lambda module, args: seen.setdefault("x", args[0]))
    clip = torch.arange(frames, dtype=torch.float32).view(1, 1, frames, 1, 1).expand(1, 3, frames, 32, 32).contiguous()
    with torch.no_grad():
        model(clip)
    expected = torch.linspace(0, frames - 1, frames // alpha).long()
    assert torch.equal(slow_frame_indices(frames, alpha), expected)
    assert torch.equal(seen["x"][0, 0, :, 0, 0].long(), expected)


def test_frame_count_not_divisible_by_alpha_is_a_clear_error():
    with pytest.raises(ValueError, match="divisible by 4; got 30"):
        build("slowfast_r50", num_classes=3)(torch.zeros(1, 3, 30, 32, 32))


def test_timm_interface():
    model = build("slowfast_r50", num_classes=7).eval()
    clip = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        slow, fast = model.forward_features(clip)
        assert slow.shape == (1, 2048, 2, 2, 2) and fast.shape == (1, 256, 8, 2, 2)
        assert model.forward_head((slow, fast), pre_logits=True).shape == (1, model.num_features)
        assert torch.allclose(model.forward_head((slow, fast)), model(clip))
    model.reset_classifier(11)
    assert isinstance(model, SlowFast) and model(clip).shape == (1, 11)


def test_zero_init_final_bn_is_an_option():
    """PySlowFast's ZERO_INIT_FINAL_BN: on by default (each residual block starts as the identity);
    model.options={zero_init_final_bn: false} turns it off."""

    def zero_gammas(model):
        return sum(int((m.weight == 0).all()) for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d))

    assert zero_gammas(build("slowfast_r50", num_classes=8)) == 2 * 16  # every bottleneck of both pathways
    assert zero_gammas(build("slowfast_r50", num_classes=8, zero_init_final_bn=False)) == 0
