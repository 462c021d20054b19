"""The Action Transformer and its I3D-head baseline: RoI pooling takes the right cells, every person
attends only to its own clip, the Tx unit is the paper's formula, the trunk is the zoo's I3D cut
after res4 (pytorchvideo's i3d_r50 weights load into it and give its features), the I3D head runs res5
on each person's tube (the paper's) or averages the RoI features (vidkit's former light head), and a
checkpoint of the light head loads as the light head."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from vidkit.engine.checkpoint import save_checkpoint, trained_config
from vidkit.engine.inference import load_model
from vidkit.errors import CheckpointError
from vidkit.models import build, count_params
from vidkit.models.action_transformer import TxUnit, pool_keyframe, pool_tubes, whole_frame_boxes


def _small(name: str, **options):
    torch.manual_seed(0)
    return build(name, num_classes=5, width=8, **options).eval()


def test_roi_pooling_takes_the_cells_under_the_box():
    # A 1-channel 8x8 map whose cell (row r, column c) holds 10 r + c.
    rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    features = (10 * rows + cols)[None, None].repeat(2, 1, 1, 1)
    features[1] += 100  # the second clip's map
    # Cells 1-2 across and 3-4 down of clip 0 (normalised: x 1/8..3/8, y 3/8..5/8), and the same box on clip 1.
    boxes = torch.tensor([[0, 1 / 8, 3 / 8, 3 / 8, 5 / 8], [1, 1 / 8, 3 / 8, 3 / 8, 5 / 8]])
    pooled = pool_keyframe(features, boxes, size=2)
    assert pooled.shape == (2, 1, 2, 2)
    torch.testing.assert_close(pooled[0, 0], torch.tensor([[31.0, 32.0], [41.0, 42.0]]))
    torch.testing.assert_close(pooled[1, 0], torch.tensor([[131.0, 132.0], [141.0, 142.0]]))
    # The whole frame pooled to 1x1 is the map's mean.
    whole = pool_keyframe(features, whole_frame_boxes(2), size=1)
    torch.testing.assert_close(whole.flatten(), features.mean(dim=(1, 2, 3)))
    with pytest.raises(ValueError, match=r"boxes must be \[K, 5\]"):
        pool_keyframe(features, boxes[:, 1:], size=2)


def test_trunk_is_i3d_to_res4_with_stride_16_and_time_halved():
    model = _small("action_transformer")
    features = model.trunk(torch.randn(2, 3, 8, 64, 96))
    assert features.shape == (2, 16 * 8, 4, 4, 6)
    assert model.trunk.stem.conv.kernel_size == (5, 7, 7)
    assert [b.conv_a.kernel_size[0] for b in model.trunk.res3] == [3, 1, 3, 1]
    assert not hasattr(model.trunk, "res5")


def test_every_person_attends_over_its_own_clip_only():
    model = _small("action_transformer")
    clips = torch.randn(2, 3, 8, 64, 64)
    boxes = torch.tensor([[0, 0.1, 0.1, 0.5, 0.6], [0, 0.4, 0.3, 0.9, 0.9], [1, 0.2, 0.2, 0.7, 0.8]])
    with torch.no_grad():
        logits, attention = model(clips, boxes, return_attention=True)
        assert logits.shape == (3, 5)
        # 3 units x 2 heads over the memory: T'=4, 4x4 cells.
        assert len(attention) == 3 and all(a.shape == (3, 2, 4 * 4 * 4) for a in attention)
        for a in attention:
            torch.testing.assert_close(a.sum(-1), torch.ones(3, 2))
        changed = clips.clone()
        changed[1] = torch.randn_like(changed[1])
        after = model(changed, boxes)
    torch.testing.assert_close(after[:2], logits[:2])  # clip 0's people do not see clip 1
    assert not torch.allclose(after[2], logits[2])
    # The order of the people does not matter, nor what the others are.
    with torch.no_grad():
        torch.testing.assert_close(model(clips, boxes[[2, 0]]), logits[[2, 0]])


def test_a_person_reads_the_context_outside_its_box():
    """The transformer's memory is the whole clip: a change far from the box changes the person's
    scores. The I3D head pools its box only. Both are shown on a trunk whose cells each see their own
    16x16 patch, so "far from the box" is exact (a trained ResNet's receptive field covers the frame)."""
    clips = torch.randn(1, 3, 8, 128, 128)
    changed = clips.clone()
    changed[..., 96:, 96:] = 3.0  # the bottom-right corner
    box = torch.tensor([[0, 0.0, 0.0, 0.25, 0.25]])
    with torch.no_grad():
        for name, head, sees_context in (
            ("action_transformer", {}, True),
            ("i3d_roi_head", {}, False),
            ("i3d_roi_head", {"head": "light"}, False),
        ):
            model = _small(name, **head)
            torch.manual_seed(0)
            model.trunk = torch.nn.Conv3d(3, 128, kernel_size=(2, 16, 16), stride=(2, 16, 16))
            before, after = model(clips, box), model(changed, box)
            assert torch.allclose(before, after) != sees_context, name


def test_tx_unit_is_the_papers_formula():
    torch.manual_seed(0)
    unit = TxUnit(8, 2, dropout=0.0).eval()
    query, memory = torch.randn(3, 8), torch.randn(3, 10, 8)
    mask = torch.zeros(3, 10, dtype=torch.bool)
    mask[:, 7:] = True  # padding cells
    out, weights = unit(query, memory, memory_mask=mask, need_weights=True)
    # By hand: per head, softmax(q k^T / sqrt(d_head)) v, heads concatenated and projected.
    wq, wk, wv = unit.attention.in_proj_weight.chunk(3)
    bq, bk, bv = unit.attention.in_proj_bias.chunk(3)
    q = (query @ wq.T + bq).view(3, 2, 4)
    k = (memory @ wk.T + bk).view(3, 10, 2, 4)
    v = (memory @ wv.T + bv).view(3, 10, 2, 4)
    scores = torch.einsum("khd,knhd->khn", q, k) / 2.0  # sqrt(4)
    scores = scores.masked_fill(mask[:, None], float("-inf"))
    attention = scores.softmax(-1)
    read = torch.einsum("khn,knhd->khd", attention, v).reshape(3, 8)
    read = unit.attention.out_proj(read)
    expect = F.layer_norm(query + read, (8,), unit.norm1.weight, unit.norm1.bias)
    expect = F.layer_norm(expect + unit.ffn(expect), (8,), unit.norm2.weight, unit.norm2.bias)
    torch.testing.assert_close(out, expect, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, attention, atol=1e-6, rtol=1e-5)
    assert torch.all(weights[..., 7:] == 0)


def test_query_preprocessors():
    high = _small("action_transformer", query="high").query
    low = _small("action_transformer", query="low").query
    roi = torch.randn(4, 128, 7, 7)
    assert high(roi).shape == low(roi).shape == (4, 128)
    shuffled = roi.flatten(2)[..., torch.randperm(49)].view_as(roi)
    # "low" averages the cells (their layout is lost); "high" keeps them.
    torch.testing.assert_close(low(shuffled), low(roi), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(high(shuffled), high(roi), atol=1e-4)
    with pytest.raises(ValueError, match="query must be 'high' or 'low'"):
        build("action_transformer", num_classes=5, query="medium")


def test_without_boxes_each_clip_is_one_person_filling_the_frame():
    for name, head in (("action_transformer", {}), ("i3d_roi_head", {}), ("i3d_roi_head", {"head": "light"})):
        model = _small(name, **head)
        clips = torch.randn(2, 3, 8, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(model(clips), model(clips, whole_frame_boxes(2)))


def test_the_light_i3d_head_is_roi_features_averaged_then_linear():
    model = _small("i3d_roi_head", head="light")
    assert model.res5 is None and model.num_features == 16 * 8
    clips = torch.randn(2, 3, 8, 64, 64)
    boxes = torch.tensor([[0, 0.1, 0.1, 0.6, 0.6], [1, 0.3, 0.2, 0.9, 0.7]])
    with torch.no_grad():
        features = model.trunk(clips)  # [B, C, T', H', W']
        # RoIAlign each time slice, then average over time and cells: RoIAlign is linear, so this is the model.
        per_slice = torch.stack([pool_keyframe(features[:, :, t], boxes, 7) for t in range(features.shape[2])])
        expect = model.classifier(per_slice.mean(dim=(0, 3, 4)))
        torch.testing.assert_close(model(clips, boxes), expect, atol=1e-5, rtol=1e-4)


def test_tubes_are_the_box_on_every_time_slice_of_its_clip():
    features = torch.randn(2, 3, 4, 8, 8)
    boxes = torch.tensor([[1, 0.1, 0.2, 0.6, 0.9], [0, 0.0, 0.0, 1.0, 1.0], [1, 0.5, 0.5, 0.9, 0.8]])
    tubes = pool_tubes(features, boxes, 5)
    assert tubes.shape == (3, 3, 4, 5, 5)
    for t in range(4):
        torch.testing.assert_close(tubes[:, :, t], pool_keyframe(features[:, :, t], boxes, 5))
    with pytest.raises(ValueError, match=r"boxes must be \[K, 5\]"):
        pool_tubes(features, boxes[:, 1:], 5)


def test_the_res5_i3d_head_runs_res5_on_each_persons_tube():
    model = _small("i3d_roi_head")  # the default: the paper's head
    assert model.checkpoint_options()["head"] == "res5" and model.num_features == 32 * 8
    # res5 as i3d_r50 has it (test_defaults_are_the_papers compares it at full width): 3 blocks, conv_a
    # temporal kernels 1, 3, 1, the first halving space
    assert [b.conv_a.kernel_size[0] for b in model.res5] == [1, 3, 1] and model.res5.block1.conv_b.stride == (1, 2, 2)
    clips = torch.randn(2, 3, 8, 64, 64)
    boxes = torch.tensor([[0, 0.1, 0.1, 0.6, 0.6], [1, 0.3, 0.2, 0.9, 0.7], [1, 0.0, 0.5, 0.4, 1.0]])
    with torch.no_grad():
        features = model.trunk(clips)  # [2, 128, 4, 4, 4]
        tubes = torch.stack([pool_keyframe(features[:, :, t], boxes, 7) for t in range(4)], dim=2)
        res5 = model.res5(tubes)
        assert res5.shape == (3, 256, 4, 4, 4)  # 7x7 cells halved (rounding up)
        logits = model(clips, boxes)
        torch.testing.assert_close(logits, model.classifier(res5.mean(dim=(2, 3, 4))), atol=1e-5, rtol=1e-4)
        # res5's weights decide the scores: its blocks start as their shortcuts (final BN at 0), so wake one up
        model.res5.block3.bn_c.weight.fill_(1.0)
        changed = model(clips, boxes)
    assert changed.shape == (3, 5) and not torch.allclose(changed, logits, atol=1e-4)
    with pytest.raises(ValueError, match="head must be one of 'res5', 'light'"):
        build("i3d_roi_head", num_classes=5, head="res4")


def test_gradients_reach_every_part():
    torch.manual_seed(0)
    model = build("action_transformer", num_classes=5, width=8, dropout=0.0)
    boxes = torch.tensor([[0, 0.1, 0.1, 0.6, 0.6], [1, 0.3, 0.2, 0.9, 0.7]])
    loss = F.binary_cross_entropy_with_logits(model(torch.randn(2, 3, 8, 64, 64), boxes), torch.ones(2, 5))
    loss.backward()
    for part in (
        "trunk.stem.conv",
        "query.reduce",
        "memory",
        "location.mlp.0",
        "units.0.attention.out_proj",
        "classifier",
    ):
        grad = model.get_submodule(part).weight.grad
        assert grad is not None and grad.abs().sum() > 0, part


def test_gradients_reach_the_res5_head_and_the_trunk():
    torch.manual_seed(0)
    model = build("i3d_roi_head", num_classes=5, width=8, dropout=0.0)
    model.res5.block3.bn_c.weight.data.fill_(1.0)  # past the zero start, so conv_a..c of the last block get some
    boxes = torch.tensor([[0, 0.1, 0.1, 0.6, 0.6], [1, 0.3, 0.2, 0.9, 0.7]])
    loss = F.binary_cross_entropy_with_logits(model(torch.randn(2, 3, 8, 64, 64), boxes), torch.ones(2, 5))
    loss.backward()
    for part in ("trunk.stem.conv", "trunk.res4.block6.bn_c", "res5.block1.shortcut.conv", "res5.block3.conv_a"):
        grad = model.get_submodule(part).weight.grad
        assert grad is not None and grad.abs().sum() > 0, part


def test_defaults_are_the_papers():
    model = build("action_transformer", num_classes=80)
    assert model.trunk.out_channels == 1024
    assert len(model.units) == 3 and model.units[0].attention.num_heads == 2
    assert model.classifier.in_features == 128 and model.roi_size == 7
    assert type(model.query).__name__ == "HighResQuery"
    # i3d_r50 is 28,043,472 with 400 classes: its trunk 27,223,872, of which res5 is 17,061,888.
    trunk = 27_223_872 - 17_061_888
    assert count_params(model.trunk) == trunk
    # With AVA's 80 classes: the paper's Tx head model is 19.3M, ours 10.7M (the trunk to res4 is 10.2M of it).
    assert count_params(model) == 10_736_160
    # The paper's I3D head (16.2M on its Inception I3D) runs Mixed_5b/5c on the tubes; ours runs the I3D
    # ResNet-50's res5, whose three 2048-channel bottlenecks alone are 17.1M: 27.4M in all.
    i3d_head = build("i3d_roi_head", num_classes=80)
    assert count_params(i3d_head.trunk) == trunk and count_params(i3d_head.res5) == 17_061_888
    i3d_res5 = build("i3d_r50", num_classes=400).backbone.res5.state_dict()
    assert {k: v.shape for k, v in i3d_head.res5.state_dict().items()} == {k: v.shape for k, v in i3d_res5.items()}
    assert count_params(i3d_head) == trunk + 17_061_888 + 2048 * 80 + 80 == 27_387_792
    assert i3d_head.roi_size == 7 and i3d_head.checkpoint_options()["head"] == "res5"
    # vidkit's former baseline, the light head: RoI features averaged into the classifier, 10.2M.
    assert count_params(build("i3d_roi_head", num_classes=80, head="light")) == trunk + 1024 * 80 + 80 == 10_243_984


def test_the_trunk_loads_pytorchvideos_i3d_r50_and_gives_its_res4_features(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pytorchvideo.models.hub import resnet as ptv_resnet
    torch.manual_seed(0)
    theirs = ptv_resnet.i3d_r50(model_num_class=10).eval()
    for m in theirs.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "i3d.pyth"
    torch.save({"model_state": theirs.state_dict()}, path)
    ours = build("action_transformer", num_classes=3, trunk_weights=str(path)).eval()
    clip = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        x = clip
        for block in theirs.blocks[:5]:  # stem, res2, the temporal pool, res3, res4
            x = block(x)
        torch.testing.assert_close(ours.trunk(clip), x, atol=1e-5, rtol=1e-5)
        # The I3D head's res5 is filled from the same file's res5: it computes their res5 on a tube.
        head = build("i3d_roi_head", num_classes=3, trunk_weights=str(path)).eval()
        tube = torch.randn(2, 1024, 2, 7, 7)
        torch.testing.assert_close(head.res5(tube), theirs.blocks[5](tube), atol=1e-5, rtol=1e-5)
    # A vidkit i3d_r50 round-trips too, its res5 into the res5 head (the light head takes the trunk only).
    i3d = build("i3d_r50", num_classes=7)
    head = build("i3d_roi_head", num_classes=3, trunk_weights=i3d.state_dict())
    for key, value in head.trunk.state_dict().items():
        assert torch.equal(value, i3d.backbone.state_dict()[key])
    for key, value in head.res5.state_dict().items():
        assert torch.equal(value, i3d.backbone.res5.state_dict()[key])
    light = build("i3d_roi_head", num_classes=3, head="light", trunk_weights=i3d.state_dict())
    assert light.res5 is None and torch.equal(light.trunk.stem.conv.weight, i3d.backbone.stem.conv.weight)


def test_the_trunk_takes_a_vidkit_i3d_checkpoint_with_its_padding_and_refuses_an_old_replicate_one(tmp_path):
    torch.manual_seed(0)
    i3d = build("i3d_r50", num_classes=7)  # pads with zeros, as the trunk does
    new, old = tmp_path / "new.pt", tmp_path / "old.pt"
    saved = {"model": i3d.state_dict(), "model_name": "i3d_r50", "num_classes": 7}
    torch.save({**saved, "model_options": i3d.checkpoint_options()}, new)
    head = build("i3d_roi_head", num_classes=3, trunk_weights=str(new))
    for key, value in head.trunk.state_dict().items():
        assert torch.equal(value, i3d.backbone.state_dict()[key])
    # Written before vidkit recorded the padding: trained with replicate, which the trunk does not do.
    torch.save(saved, old)
    with pytest.raises(CheckpointError) as refused:
        build("action_transformer", num_classes=3, trunk_weights=str(old))
    assert str(refused.value) == (
        f"{old}: was trained with temporal_padding='replicate', this i3d_r50 has temporal_padding='zeros': "
        "build it with temporal_padding='replicate'"
    )
    replicate = build("action_transformer", num_classes=3, temporal_padding="replicate", trunk_weights=str(old))
    assert replicate.checkpoint_options() == {"temporal_padding": "replicate"}


def _light_checkpoint(path, *, model_options=None):
    """A checkpoint as vidkit wrote the light head before the res5 head existed: no ``head`` anywhere."""
    torch.manual_seed(1)
    light = build("i3d_roi_head", num_classes=5, width=8, head="light").eval()
    saved = {
        "model": light.state_dict(),
        "model_name": "i3d_roi_head",
        "num_classes": 5,
        "classes": list("abcde"),
        "config": {"model": {"name": "i3d_roi_head", "options": {"width": 8}}},
    }
    if model_options is not None:  # files from 2026-12-06 on record the trunk's padding
        saved["model_options"] = model_options
    torch.save(saved, path)
    return light


@pytest.mark.parametrize("model_options", [None, {"temporal_padding": "zeros"}], ids=["no-options", "padding-only"])
def test_a_light_head_checkpoint_loads_as_the_light_head(tmp_path, model_options):
    path = tmp_path / "old.pt"
    light = _light_checkpoint(path, model_options=model_options)
    clips = torch.randn(2, 3, 8, 32, 32)
    boxes = torch.tensor([[0, 0.1, 0.1, 0.6, 0.6], [1, 0.3, 0.2, 0.9, 0.7]])
    loaded = load_model(path)  # what eval, extract and the person task load
    assert loaded.model.checkpoint_options()["head"] == "light" and loaded.model.res5 is None
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.eval()(clips, boxes), light(clips, boxes))
    # a resumed run builds it as it was trained
    assert trained_config(torch.load(path, weights_only=True))["model"]["options"]["head"] == "light"
    # named weights: the default (res5) head is refused in one line that says what to build
    with pytest.raises(CheckpointError, match="was trained with head='light'.*build it with head='light'"):
        build("i3d_roi_head", num_classes=5, width=8, weights=str(path))
    rebuilt = build("i3d_roi_head", num_classes=5, width=8, head="light", weights=str(path)).eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(clips, boxes), light(clips, boxes))
    # the bare state dict into the res5 head: what to do, in one line
    with pytest.raises(RuntimeError, match="light I3D head's weights .* build i3d_roi_head with head='light'"):
        build("i3d_roi_head", num_classes=5, width=8).load_state_dict(light.state_dict())


def test_a_res5_head_checkpoint_records_its_head_and_loads_as_it(tmp_path):
    torch.manual_seed(0)
    model = build("i3d_roi_head", num_classes=5, width=8).eval()
    path = save_checkpoint(
        tmp_path / "new.pt",
        model,
        model_name="i3d_roi_head",
        num_classes=5,
        classes=list("abcde"),
        config={"model": {"name": "i3d_roi_head", "options": {"width": 8}}},
    )
    assert torch.load(path, weights_only=True)["model_options"] == {"temporal_padding": "zeros", "head": "res5"}
    loaded = load_model(path).model.eval()
    assert loaded.res5 is not None
    clips = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(clips), model(clips))
    with pytest.raises(CheckpointError, match="was trained with head='res5'"):
        build("i3d_roi_head", num_classes=5, width=8, head="light", weights=str(path))
