"""TSM's recipe as the authors' code has it (mit-han-lab/temporal-shift-module, ops/models.py
``TSN._prepare_tsn``): a new classifier N(0, 0.001²) with zero bias, fresh or made for a new label set. The
shift itself is tested in test_temporal_layers.py."""

import pytest
import torch

from vidkit.models import build, build_finetune


def _assert_authors_init(linear: torch.nn.Linear) -> None:
    w = linear.weight.detach()
    # 2048 x K draws: the sample std is within a few percent of 0.001, the mean near 0
    assert w.std().item() == pytest.approx(0.001, rel=0.05)
    assert abs(w.mean().item()) < 1e-4
    assert torch.count_nonzero(linear.bias) == 0


def test_a_fresh_tsm_classifier_starts_as_the_authors_new_fc():
    torch.manual_seed(0)
    _assert_authors_init(build("tsm_r50", num_classes=400).head.proj)


def test_a_classifier_for_a_new_label_set_starts_so_too():
    torch.manual_seed(0)
    model = build("tsm_r50", num_classes=16)
    model.reset_classifier(9)
    assert model.head.proj.out_features == 9
    _assert_authors_init(model.head.proj)


def test_the_imagenet_start_replaces_the_1000_way_fc_with_the_authors_new_fc():
    """Fine-tuning from a 2D ImageNet ResNet-50 (vidkit's ``weights="imagenet"``) drops its fc for a fresh
    classifier, as the authors' TSN drops the ResNet's fc for ``new_fc``."""
    import torchvision

    torch.manual_seed(0)
    resnet50 = torchvision.models.resnet50(weights=None).state_dict()
    start = build_finetune("tsm_r50", num_classes=8, weights=resnet50)
    assert start.reset and start.weights_classes == 1000
    _assert_authors_init(start.model.head.proj)


def test_only_tsms_classifier_changed():
    torch.manual_seed(0)
    other = build("tsn_r50", num_classes=400).head.proj.weight
    assert other.std().item() == pytest.approx(0.01, rel=0.05)  # PySlowFast's N(0, 0.01²), as before
