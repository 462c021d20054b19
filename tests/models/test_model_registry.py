"""The registry as a whole: every registered model runs forward and backward on a tiny clip, has a
card with its default input, and an unknown name gets a suggestion."""

import pytest
import torch
import torch.nn.functional as F

from vidkit.engine.loop import has_own_objective
from vidkit.errors import ConfigError
from vidkit.models import build, list_models, model_card


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_on_a_tiny_clip(name):
    torch.manual_seed(0)
    model = build(name, num_classes=5).train()
    clip = torch.randn(2, model_card(name).input_channels, 8, 32, 32)  # 8 frames: a multiple of every SlowFast alpha
    before = clip.clone()
    targets = torch.tensor([0, 3])
    if has_own_objective(model):  # CoViAR's per-stream losses, AdaFrame's policy and utility: training takes targets
        logits, loss = model(clip, targets=targets)
    else:
        logits = model(clip)
        loss = F.cross_entropy(logits, targets)
    assert logits.shape == (2, 5)
    assert torch.equal(clip, before), "the model modified its input"
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", list_models())
def test_every_model_has_a_card_with_a_default_input_and_a_paper(name):
    card = model_card(name)
    assert card.name == name
    assert card.input_shape is not None and card.input_shape[:2] == (1, card.input_channels)
    assert card.paper


def test_aliases_resolve_to_the_same_card():
    assert model_card("slowfast") is model_card("slowfast_r50")
    assert type(build("slowfast", num_classes=3)).__name__ == "SlowFast"


def test_unknown_model_suggests_the_close_name():
    with pytest.raises(ConfigError, match=r"unknown model 'slowfats' — did you mean 'slowfast'\?"):
        build("slowfats", num_classes=3)
    with pytest.raises(ConfigError, match="did you mean 'slowfast_r50'"):
        model_card("slowfast_r5O")


def test_unknown_builder_argument_names_the_accepted_ones():
    with pytest.raises(ConfigError, match="takes no argument.*alfa.*alpha"):
        build("slowfast_r50", num_classes=3, alfa=8)
