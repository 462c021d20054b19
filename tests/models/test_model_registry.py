"""The registry as a whole: every registered model runs forward and backward on a tiny clip, has the
common interface (timm's: features, head, classifier reset), has a card with its default input, and an
unknown name gets a suggestion."""

import inspect

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
    if has_own_objective(model):  # CoViAR's per-stream losses, AdaFrame's policy and utility
        logits, loss = model.loss(clip, targets)
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
def test_every_model_has_the_common_interface(name):
    """``forward`` is ``forward_head(forward_features(x))``; ``pre_logits`` gives ``num_features`` per example
    (per person, for the models that take boxes); ``reset_classifier`` changes the number of outputs."""
    torch.manual_seed(0)
    model = build(name, num_classes=3).eval()
    for member in ("num_features", "forward_features", "forward_head", "reset_classifier"):
        assert hasattr(model, member), f"{name} has no {member}"
    assert isinstance(model.num_features, int)
    clip = torch.randn(2, model_card(name).input_channels, 8, 32, 32)
    takes_boxes = "boxes" in inspect.signature(model.forward).parameters  # the person models: model(clip, boxes)
    boxes = {"boxes": torch.tensor([[0, 0.1, 0.2, 0.6, 0.9], [1, 0.0, 0.0, 1.0, 1.0], [1, 0.5, 0.5, 0.9, 0.8]])}
    head_kwargs = boxes if takes_boxes else {}
    with torch.no_grad():
        logits = model(clip, **head_kwargs)
        features = model.forward_features(clip)
        torch.testing.assert_close(model.forward_head(features, **head_kwargs), logits)
        pooled = model.forward_head(features, pre_logits=True, **head_kwargs)
        assert pooled.shape == (len(logits), model.num_features)
        model.reset_classifier(5)
        assert model(clip, **head_kwargs).shape == (len(logits), 5)
    if takes_boxes:
        assert logits.shape == (3, 3)  # one row per box


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
