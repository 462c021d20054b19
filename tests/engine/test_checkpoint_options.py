"""vidkit's checkpoints record the builder options that decide what the weights compute besides their values
(I3D's temporal padding), and ``load_model`` builds the model with them: a file written before they were
recorded is read with what it was trained with (replicate, i3d_r50's default then)."""

import pytest
import torch

from vidkit.engine.checkpoint import load_checkpoint, save_checkpoint
from vidkit.engine.inference import load_model
from vidkit.models import build

CLASSES = ["a", "b", "c"]


def _model(name: str, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build(name, num_classes=len(CLASSES), zero_init_final_bn=False, **options).eval()
    g = torch.Generator().manual_seed(1)
    for m in model.modules():  # BN statistics that make the padding show in the logits
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def _config(name: str) -> dict:
    return {"model": {"name": name, "options": {}}}


def _same_logits(a: torch.nn.Module, b: torch.nn.Module) -> None:
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(a(clip), b(clip))


@pytest.mark.parametrize("padding", ["zeros", "replicate"])
def test_a_checkpoint_records_the_padding_and_loads_into_it(tmp_path, padding):
    trained = _model("i3d_r50", temporal_padding=padding)
    path = save_checkpoint(
        tmp_path / "best.pt", trained, model_name="i3d_r50", num_classes=3, classes=CLASSES, config=_config("i3d_r50")
    )
    assert load_checkpoint(path)["model_options"] == {"temporal_padding": padding}
    loaded = load_model(path).model
    assert loaded.checkpoint_options() == {"temporal_padding": padding}
    _same_logits(loaded.eval(), trained)


def test_an_i3d_checkpoint_from_before_the_padding_was_recorded_loads_as_replicate(tmp_path):
    trained = _model("i3d_r50", temporal_padding="replicate")
    path = tmp_path / "old.pt"
    old = {"model": trained.state_dict(), "model_name": "i3d_r50", "num_classes": 3, "classes": CLASSES}
    torch.save({**old, "config": _config("i3d_r50")}, path)
    loaded = load_model(path).model
    assert loaded.checkpoint_options() == {"temporal_padding": "replicate"}
    _same_logits(loaded.eval(), trained)


def test_a_model_whose_builder_takes_no_padding_records_it_and_still_loads(tmp_path):
    trained = _model("c2d_r50")
    path = save_checkpoint(
        tmp_path / "best.pt", trained, model_name="c2d_r50", num_classes=3, classes=CLASSES, config=_config("c2d_r50")
    )
    assert load_checkpoint(path)["model_options"] == {"temporal_padding": "zeros"}
    _same_logits(load_model(path).model.eval(), trained)
