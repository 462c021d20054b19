"""The temporal layers, each against its paper's defining property: TSM's shift (and online = offline),
GST's channel split, CoST's reduction to 2D, FAST 3D's factorisation, attention clusters' order blindness."""

import pytest
import torch
import torch.nn.functional as F

from vidkit.models import build, count_params, gflops
from vidkit.models.attention_clusters import AttentionClusters
from vidkit.models.cost import CoST
from vidkit.models.fast3d import FAST3d
from vidkit.models.gst import GSTConv
from vidkit.models.tsm import TemporalShift


# -- TSM -------------------------------------------------------------------------------------------
def _ramp(channels=16, frames=4):
    """x[b, c, t] = 100·c + t: every value says which channel and frame it came from."""
    c = torch.arange(channels).view(1, channels, 1, 1, 1) * 100.0
    t = torch.arange(frames).view(1, 1, frames, 1, 1)
    return (c + t).expand(1, channels, frames, 2, 2).clone()


def test_bidirectional_shift_moves_an_eighth_each_way_with_zeros_at_the_ends():
    x = _ramp()
    out = TemporalShift(8, "bidirectional")(x)[0, :, :, 0, 0]
    assert out[0].tolist() == [1, 2, 3, 0]  # channels 0-1: from the next frame
    assert out[2].tolist() == [0, 200, 201, 202]  # channels 2-3: from the previous frame
    assert out[5].tolist() == [500, 501, 502, 503]  # the rest stay
    assert torch.equal(x, _ramp()), "the shift modified its input"


def test_causal_shift_only_takes_from_the_past():
    out = TemporalShift(8, "causal")(_ramp())[0, :, :, 0, 0]
    assert out[1].tolist() == [0, 100, 101, 102]
    assert out[2].tolist() == [200, 201, 202, 203]


def test_tsm_adds_no_parameters_or_flops_and_shifts_inside_the_residual_branch():
    tsm, tsn = build("tsm_r50", num_classes=400), build("tsn_r50", num_classes=400)
    assert count_params(tsm) == count_params(tsn) == 24_327_632
    assert gflops(tsm, (1, 3, 4, 32, 32)) == gflops(tsn, (1, 3, 4, 32, 32))
    assert all(isinstance(b.shift, TemporalShift) for b in tsm.backbone.blocks())
    assert len(tsm.backbone.blocks()) == 16


def test_online_tsm_fed_frame_by_frame_equals_the_offline_causal_shift():
    torch.manual_seed(0)
    model = build("tsm_r50", num_classes=7, shift="causal", zero_init_final_bn=False).eval()
    clip = torch.randn(2, 3, 6, 32, 32)
    with torch.no_grad():
        offline = model.frame_logits(model.forward_features(clip))  # [B, T, K]
        with model.streaming():
            online = torch.cat([model.step(clip[:, :, t : t + 1]) for t in range(6)], dim=1)
        with model.streaming():  # chunks of several frames stream the same
            chunked = torch.cat([model.step(clip[:, :, t : t + 3]) for t in (0, 3)], dim=1)
        assert (online - offline).abs().max() < 1e-5
        assert (chunked - offline).abs().max() < 1e-5
        torch.testing.assert_close(online.mean(1), model(clip), atol=1e-5, rtol=1e-5)
        # The cache matters: without it (each frame as its own clip) the scores differ.
        alone = torch.cat([model(clip[:, :, t : t + 1]).unsqueeze(1) for t in range(6)], dim=1)
        assert (alone - offline).abs().max() > 1e-3
    assert all(not s.streaming and s._cache is None for s in model.shifts())


def test_only_a_causal_tsm_streams():
    with pytest.raises(RuntimeError, match="only a causal TSM streams"):
        with build("tsm_r50", num_classes=3).streaming():
            pass


# -- GST -------------------------------------------------------------------------------------------
def test_gst_splits_channels_between_a_spatial_and_a_temporal_group():
    torch.manual_seed(0)
    conv = GSTConv(16, 16, alpha=4, beta=2)
    assert conv.spatial.weight.shape == (12, 8, 1, 3, 3)  # half the inputs -> 3/4 of the outputs, 1x3x3
    assert conv.temporal.weight.shape == (4, 8, 3, 3, 3)  # the other half -> 1/4, 3x3x3
    x = torch.randn(1, 16, 5, 6, 6)
    out = conv(x)
    assert out.shape == (1, 16, 5, 6, 6)
    # The spatial group sees only the first half of the channels and only its own frame ...
    y = x.clone()
    y[:, 8:] += 1.0  # change the temporal group's input
    y[:, :8, 0] += 1.0  # and frame 0 of the spatial group's input
    changed = conv(y)
    assert torch.equal(changed[:, :12, 1:], out[:, :12, 1:])
    # ... and the temporal group sees the neighbouring frames of the second half.
    z = x.clone()
    z[:, 8:, 0] += 1.0
    assert not torch.allclose(conv(z)[:, 12:, 1], out[:, 12:, 1])
    assert torch.equal(conv(z)[:, :12], out[:, :12])


def test_gst_r50_shares_one_bn_over_both_groups():
    block = build("gst_r50", num_classes=174).backbone.res3.block1
    assert isinstance(block.conv_b, GSTConv) and block.bn_b.num_features == 128
    assert block.conv_b.spatial.stride == (1, 2, 2) and block.conv_b.temporal.stride == (1, 2, 2)


# -- CoST ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("adaptive", [False, True])
def test_cost_pinned_to_the_hw_view_is_the_2d_conv_on_every_frame(adaptive):
    torch.manual_seed(0)
    cost = CoST(8, 12, stride=2, adaptive=adaptive)
    x = torch.randn(2, 8, 5, 9, 9)
    cost.pin("hw")
    out = cost(x)
    frames = torch.stack([F.conv2d(x[:, :, t], cost.weight, stride=2, padding=1) for t in range(5)], dim=2)
    assert out.shape == frames.shape == (2, 12, 5, 5, 5)
    assert (out - frames).abs().max() < 1e-5


@pytest.mark.parametrize("adaptive", [False, True])
def test_cost_mixes_the_three_views_with_coefficients_that_sum_to_one(adaptive):
    torch.manual_seed(0)
    cost = CoST(8, 12, adaptive=adaptive)
    x = torch.randn(3, 8, 4, 6, 6)
    views = cost.views(x)
    alpha = cost.coefficients(views)
    assert alpha.shape == (3, 3, 12)
    torch.testing.assert_close(alpha.sum(1), torch.ones(3, 12))
    expected = sum(alpha[:, v, :, None, None, None] * views[v] for v in range(3))
    torch.testing.assert_close(cost(x), expected)
    if adaptive:  # CoST(b)'s coefficients depend on the clip
        assert not torch.allclose(alpha[0], alpha[1])
    cost.pin("tw")
    torch.testing.assert_close(cost(x), views[1])


@pytest.mark.parametrize("hw_lead, start", [(0.7, (0.670, 0.165, 0.165)), (0.0, (1 / 3, 1 / 3, 1 / 3))])
def test_cost_a_coefficients_start_where_hw_lead_puts_them(hw_lead, start):
    model = build("cost_a_r50", num_classes=5, hw_lead=hw_lead)
    layers = [m for m in model.modules() if isinstance(m, CoST)]
    assert len(layers) == 8  # every second bottleneck of 16
    for layer in layers:
        alpha = layer.coefficients([torch.zeros(1, layer.out_channels, 1, 1, 1)])[0]
        torch.testing.assert_close(alpha, torch.tensor(start)[:, None].expand(3, layer.out_channels), atol=1e-3, rtol=0)


def test_cost_r50_with_every_view_pinned_to_hw_is_c2d_r50():
    torch.manual_seed(0)
    cost = build("cost_r50", num_classes=5, zero_init_final_bn=False).eval()
    c2d = build("c2d_r50", num_classes=5).eval()
    state = {
        k: (v.unsqueeze(2) if k.endswith("conv_b.weight") and v.ndim == 4 else v)
        for k, v in cost.state_dict().items()
        if not (".conv_b.fc." in k or ".conv_b.view_mix." in k)
    }
    c2d.load_state_dict(state)
    costs = [m for m in cost.modules() if isinstance(m, CoST)]
    assert len(costs) == 8
    for m in costs:
        m.pin("hw")
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(cost(clip), c2d(clip), atol=1e-5, rtol=1e-4)


# -- FAST 3D ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["sequential", "parallel"])
def test_fast3d_factorises_into_spatial_horizontal_and_vertical_convs(form):
    torch.manual_seed(0)
    fast = FAST3d(8, 8, stride=2, form=form).eval()
    assert fast.spatial.kernel_size == (1, 3, 3) and fast.spatial.stride == (1, 2, 2)
    assert fast.horizontal.kernel_size == (3, 1, 3) and fast.vertical.kernel_size == (3, 3, 1)
    x = torch.randn(2, 8, 5, 8, 8)
    assert fast(x).shape == (2, 8, 5, 4, 4)
    # It sees time: a change in frame 0 reaches frame 1 (through the motion convs) ...
    y = x.clone()
    y[:, :, 0] += 1.0
    assert not torch.allclose(fast(y)[:, :, 1], fast(x)[:, :, 1])
    # ... but with the motion convs' off-centre time taps at zero it is per-frame again.
    with torch.no_grad():
        for conv in (fast.horizontal, fast.vertical):
            conv.weight[:, :, [0, 2]] = 0
    torch.testing.assert_close(fast(y)[:, :, 1:], fast(x)[:, :, 1:])


def test_fast3d_r50_puts_a_fast_block_in_every_bottleneck():
    model = build("fast3d_r50", num_classes=10, form="parallel")
    blocks = model.backbone.blocks()
    assert len(blocks) == 16 and all(isinstance(b.conv_b, FAST3d) and b.conv_b.form == "parallel" for b in blocks)


# -- attention clusters ----------------------------------------------------------------------------
def test_attention_clusters_are_blind_to_order_and_unit_normalised():
    torch.manual_seed(0)
    head = AttentionClusters(32, 5, num_units=4, dropout=0.0).eval()
    feats = torch.randn(3, 7, 32)
    att = head.attention(feats)
    assert att.shape == (3, 7, 4)
    torch.testing.assert_close(att.sum(1), torch.ones(3, 4))
    v = head(feats, pre_logits=True)
    assert v.shape == (3, 4 * 32)
    torch.testing.assert_close(v.norm(dim=1), torch.ones(3))  # N units of norm 1/sqrt(N)
    perm = torch.randperm(7)
    torch.testing.assert_close(head(feats[:, perm]), head(feats), atol=1e-5, rtol=1e-5)


def test_attention_clusters_shifting_uses_the_learnt_scale_and_shift():
    torch.manual_seed(0)
    head = AttentionClusters(6, 2, num_units=2, dropout=0.0)
    feats = torch.randn(1, 3, 6)
    with torch.no_grad():
        head.alpha.copy_(torch.tensor([2.0, -1.0]))
        head.beta.copy_(torch.tensor([0.5, 3.0]))
    s = torch.einsum("btn,btd->bnd", head.attention(feats), feats)
    expected = head.alpha[:, None] * s + head.beta[:, None]
    expected = expected / expected.norm(dim=-1, keepdim=True) / 2**0.5
    torch.testing.assert_close(head(feats, pre_logits=True), expected.flatten(1))


def test_attention_clusters_model_ignores_frame_order():
    torch.manual_seed(0)
    model = build("attention_clusters", num_classes=4, num_units=4, zero_init_final_bn=False).eval()
    clip = torch.randn(1, 3, 6, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(clip), model(clip[:, :, torch.randperm(6)]), atol=1e-5, rtol=1e-4)
