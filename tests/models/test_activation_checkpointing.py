"""Activation checkpointing of the ResNet zoo: the same outputs, gradients and BN statistics as without
it, far fewer tensors kept for the backward pass, and nothing changed in eval mode."""

import copy

import pytest
import torch

from vidkit.bench.models import saved_activations_mb
from vidkit.models import build, set_activation_checkpointing


@pytest.mark.parametrize("name", ["slowfast_r50", "i3d_r50", "tsm_r50"])
def test_checkpointing_changes_memory_not_results(name):
    torch.manual_seed(0)
    plain = build(name, num_classes=5, dropout=0.0, zero_init_final_bn=False)
    checkpointed = copy.deepcopy(plain)
    assert set_activation_checkpointing(checkpointed) == (8 if name == "slowfast_r50" else 4)
    clip = torch.randn(2, 3, 8, 32, 32)
    for model in (plain, checkpointed):
        model.train()
        model(clip).square().sum().backward()
    grads = dict(plain.named_parameters())
    for key, p in checkpointed.named_parameters():
        torch.testing.assert_close(p.grad, grads[key].grad, rtol=1e-5, atol=1e-6)
    for (key, a), b in zip(plain.state_dict().items(), checkpointed.state_dict().values()):
        if "running" in key or "num_batches" in key:  # updated once per step, not again in the recomputation
            torch.testing.assert_close(a, b)
    assert saved_activations_mb(checkpointed, clip) < 0.5 * saved_activations_mb(plain, clip)
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(clip), checkpointed.eval()(clip))
