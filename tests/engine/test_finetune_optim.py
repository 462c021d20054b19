"""The optimiser's parameter groups for fine-tuning (a larger rate for the new classifier, layer-wise decay,
frozen parameters left out), freezing with BatchNorm statistics held, and the balanced sampler."""

from collections import Counter

import pytest
import torch

from vidkit.engine.distributed import DistContext, ResumableSampler
from vidkit.engine.freeze import freeze
from vidkit.engine.optim import build_optimizer
from vidkit.errors import ConfigError
from vidkit.models import build


@pytest.fixture(scope="module")
def r3d():
    torch.manual_seed(0)
    return build("r3d_18", num_classes=5)


def _rates(optimizer, model):
    by_param = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    return {name: by_param.get(id(p)) for name, p in model.named_parameters()}


def test_plain_settings_keep_the_two_groups_a_saved_optimiser_state_expects(r3d):
    optimizer = build_optimizer(r3d, name="sgd", lr=0.1, weight_decay=1e-4)
    groups = optimizer.param_groups
    assert len(groups) == 2 and [g["weight_decay"] for g in groups] == [1e-4, 0.0]
    assert all(p.ndim > 1 for p in groups[0]["params"]) and all(p.ndim <= 1 for p in groups[1]["params"])


def test_head_multiplier_and_layer_decay_set_each_stage_rate(r3d):
    optimizer = build_optimizer(r3d, name="adamw", lr=0.1, weight_decay=1e-4, head_lr_mult=10, layer_decay=0.5)
    rates = _rates(optimizer, r3d)
    assert rates["fc.weight"] == pytest.approx(1.0)  # the head: lr x 10, no decay
    assert rates["layer4.0.conv1.0.weight"] == pytest.approx(0.05)  # res5: one stage below the head
    assert rates["layer1.0.conv1.0.weight"] == pytest.approx(0.1 * 0.5**4)  # res2
    assert rates["stem.0.weight"] == pytest.approx(0.1 * 0.5**5)
    assert None not in rates.values(), "every trainable parameter is in a group"


def test_layer_decay_on_a_model_without_stages_is_refused():
    model = build("attention_clusters", num_classes=5)
    with pytest.raises(ValueError, match="no stages"):
        build_optimizer(model, name="sgd", lr=0.1, weight_decay=0.0, layer_decay=0.7)


def test_frozen_parameters_leave_the_optimiser_and_hold_their_statistics():
    torch.manual_seed(0)
    model = build("r3d_18", num_classes=5)
    frozen = freeze(model, ["backbone"], model_name="r3d_18")
    assert set(n for n, p in model.named_parameters() if p.requires_grad) == {"fc.weight", "fc.bias"}
    assert "BatchNorm" in frozen.describe() and frozen.norms
    optimizer = build_optimizer(model, name="sgd", lr=0.1, weight_decay=1e-4)
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {id(model.fc.weight), id(model.fc.bias)}

    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    frozen.hold_statistics()
    logits = model(torch.randn(2, 3, 4, 32, 32))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    optimizer.step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fc.weight", "fc.bias"}, sorted(changed)[:5]  # running means and counts included


def test_a_freeze_prefix_that_names_nothing_is_one_line():
    model = build("r3d_18", num_classes=5)
    with pytest.raises(ConfigError) as e:
        freeze(model, ["layer9"], model_name="r3d_18")
    assert "'layer9' names no parameter of r3d_18" in str(e.value) and "\n" not in str(e.value)
    freeze(model, ["layer1"], model_name="r3d_18")
    assert not model.layer1[0].conv1[0].weight.requires_grad and model.layer2[0].conv1[0].weight.requires_grad


def test_the_balanced_sampler_draws_each_class_equally_and_resumes_exactly():
    labels = [0] * 90 + [1] * 10  # one class nine times the other
    counts = Counter(labels)
    weights = [1 / counts[label] for label in labels]
    ctx = DistContext(device=torch.device("cpu"), rank=0, world_size=1, local_rank=0)

    def sampler():
        return ResumableSampler(range(100), ctx=ctx, shuffle=True, seed=3, drop_last=True, weights=weights)

    a = sampler()
    a.set_epoch(1)
    drawn = list(a)
    assert len(drawn) == 100
    share = sum(labels[i] == 1 for i in drawn) / len(drawn)
    assert 0.35 < share < 0.65, share  # about half, not a tenth
    b = sampler()
    b.set_epoch(1)
    b.set_start(40)
    assert list(b) == drawn[40:]  # resumed mid-epoch: the same clips next
    b.set_start(0)
    b.set_epoch(2)
    assert list(b) != drawn
