"""Fine-tuning starts: a 400-class checkpoint (vidkit's layout and pytorchvideo's) onto 5 classes loads every
tensor but the classifier, which is the model's own fresh one; the classifier's parameters and every
parameter's stage (stem, res2-res5, head) for layer-wise learning-rate decay."""

import json
import warnings

import pytest
import torch

from vidkit.engine.checkpoint import save_checkpoint
from vidkit.errors import CheckpointError, ConfigError
from vidkit.models import STAGE_NAMES, build, build_finetune, classifier_parameter_names, parameter_stages

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pytorchvideo's import warns about torch.jit.script
    from pytorchvideo.models.slowfast import create_slowfast

HEAD = ("head.proj.weight", "head.proj.bias")


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def marked_classifier(model: torch.nn.Module, weight: str, bias: str) -> None:
    """Fill the classifier with values no fresh initialisation gives, so a kept one is seen."""
    with torch.no_grad():
        model.get_parameter(weight).fill_(1.0)
        model.get_parameter(bias).fill_(1.0)


def assert_fresh_5_way(model: torch.nn.Module, reference: dict[str, torch.Tensor]) -> None:
    """Every tensor but the classifier equals ``reference``'s; the classifier is 5-way and fresh."""
    state = model.state_dict()
    assert set(state) == set(reference)
    for key, value in state.items():
        if key not in HEAD:
            assert torch.equal(value, reference[key]), key
    weight, bias = state["head.proj.weight"], state["head.proj.bias"]
    assert weight.shape == (5, reference["head.proj.weight"].shape[1]) and bias.shape == (5,)
    assert not (weight == 1.0).any() and not (bias == 1.0).any()  # not the checkpoint's, nor part of it


# -- a 400-class checkpoint onto 5 classes ----------------------------------------------------------------


def test_a_vidkit_checkpoint_of_400_classes_starts_a_5_class_model_with_its_recorded_options(tmp_path):
    torch.manual_seed(0)
    source = build("i3d_r50", num_classes=400, temporal_padding="replicate")
    marked_classifier(source, *HEAD)
    path = save_checkpoint(tmp_path / "k400.pt", source, model_name="i3d_r50")
    with pytest.raises(CheckpointError, match="classifier has 400 classes, the model 5"):
        build("i3d_r50", num_classes=5, weights=path, temporal_padding="replicate")  # build stays strict

    start = build_finetune("i3d_r50", num_classes=5, weights=path)  # no temporal_padding given: the file's
    assert start.weights_classes == 400 and start.num_classes == 5
    assert start.describe() == "from 400 to 5 classes"
    assert start.model.checkpoint_options() == {"temporal_padding": "replicate"}
    assert_fresh_5_way(start.model, source.state_dict())

    # A caller's option wins over the recorded one, and the file then refuses it as load_weights does.
    with pytest.raises(CheckpointError, match=r"k400.pt: was trained with temporal_padding='replicate'") as e:
        build_finetune("i3d_r50", num_classes=5, weights=path, temporal_padding="zeros")
    one_line(e)


def test_a_pytorchvideo_slowfast_of_400_classes_starts_a_5_class_slowfast(tmp_path, monkeypatch):
    torch.manual_seed(0)
    peer = create_slowfast(model_num_class=400)
    marked_classifier(peer, "blocks.6.proj.weight", "blocks.6.proj.bias")
    torch.save({"model_state": peer.state_dict()}, tmp_path / "SLOWFAST_8x8_R50.pyth")
    reference = build("slowfast_r50", num_classes=400, weights=peer.state_dict()).state_dict()

    start = build_finetune("slowfast", num_classes=5, weights=tmp_path / "SLOWFAST_8x8_R50.pyth")
    assert start.describe() == "from 400 to 5 classes"
    assert_fresh_5_way(start.model, reference)

    # The same file as a registry entry, named as `--weights` names it (VIDKIT_WEIGHTS_ENTRIES: a site's own).
    recipe = {"num_frames": 32, "interval_s": 0.07, "short_side": 64, "crop_size": 64, "views": "1x1"}
    entry = {"model": "slowfast_r50", "name": "test-k400", "layout": "pytorchvideo", "num_classes": 400}
    entry |= {"urls": [(tmp_path / "SLOWFAST_8x8_R50.pyth").as_uri()], "labels": [f"c{i}" for i in range(400)]}
    entry |= {"recipe": recipe | {"mean": [0.45] * 3, "std": [0.225] * 3}}
    (tmp_path / "entries.json").write_text(json.dumps([entry]))
    monkeypatch.setenv("VIDKIT_WEIGHTS_ENTRIES", str(tmp_path / "entries.json"))
    monkeypatch.setenv("VIDKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VIDKIT_OFFLINE", raising=False)
    by_name = build_finetune("slowfast_r50", num_classes=5, weights="test-k400")
    assert by_name.describe() == "from 400 to 5 classes"
    assert_fresh_5_way(by_name.model, reference)


def test_the_same_class_count_loads_the_classifier_too(tmp_path):
    torch.manual_seed(0)
    source = build("r3d_18", num_classes=5)
    path = save_checkpoint(tmp_path / "five.pt", source, model_name="r3d_18")
    start = build_finetune("r3d_18", num_classes=5, weights=path)
    assert start.weights_classes == 5 and start.describe() is None
    for key, value in source.state_dict().items():
        assert torch.equal(start.model.state_dict()[key], value), key


def test_no_weights_is_a_plain_build():
    start = build_finetune("r3d_18", num_classes=3, weights=None)
    assert start.weights_classes is None and start.describe() is None
    assert start.model.fc.out_features == 3


def test_a_checkpoint_that_does_not_fit_otherwise_still_fails_in_one_line(tmp_path):
    state = build("r3d_18", num_classes=400).state_dict()
    del state["layer2.0.conv1.0.weight"]
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError) as e:
        build_finetune("r3d_18", num_classes=5, weights=tmp_path / "broken.pt")
    assert one_line(e).startswith(f"{tmp_path / 'broken.pt'}: this vidkit checkpoint does not fit r3d_18")
    assert "1 of the model's tensors missing (e.g. layer2.0.conv1.0.weight)" in str(e.value)

    state = build("r3d_18", num_classes=400).state_dict()
    state["stem.0.weight"] = state["stem.0.weight"][:32]
    with pytest.raises(CheckpointError, match=r"<state dict>: .*1 tensors of another shape .*stem\.0\.weight") as e:
        build_finetune("r3d_18", num_classes=5, weights=state)
    one_line(e)


def test_a_model_without_reset_classifier_is_named(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "k400.pt", build("r3d_18", num_classes=400), model_name="r3d_18")
    monkeypatch.delattr(type(build("r3d_18", num_classes=1)), "reset_classifier")
    with pytest.raises(CheckpointError) as e:
        build_finetune("r3d_18", num_classes=5, weights=path)
    assert one_line(e) == (
        f"{path}: the checkpoint's classifier has 400 classes, not 5, and r3d_18 has no "
        "reset_classifier(num_classes) to make a new one"
    )


# -- the classifier's parameters -------------------------------------------------------------------------


def test_classifier_parameter_names_are_what_reset_classifier_replaces():
    slowfast = build("slowfast_r50", num_classes=3)
    rng = torch.get_rng_state()
    before = {k: v.clone() for k, v in slowfast.state_dict().items()}
    assert classifier_parameter_names(slowfast) == ["head.proj.weight", "head.proj.bias"]
    assert torch.equal(torch.get_rng_state(), rng)  # nothing drawn from the caller's seed
    assert all(torch.equal(v, before[k]) for k, v in slowfast.state_dict().items())  # the model untouched
    assert slowfast.head.proj.out_features == 3

    assert classifier_parameter_names(build("i3d_r50", num_classes=3)) == ["head.proj.weight", "head.proj.bias"]
    assert classifier_parameter_names(build("coviar", num_classes=3)) == [
        f"streams.{stream}.fc.{part}" for stream in ("iframe", "mv", "residual") for part in ("weight", "bias")
    ]
    with pytest.raises(ConfigError, match="Linear has no reset_classifier"):
        classifier_parameter_names(torch.nn.Linear(2, 3))


# -- stages for layer-wise learning-rate decay -----------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "slowfast_r50",
            {
                "slow.stem.conv.weight": "stem",
                "fast.stem.bn.bias": "stem",
                "lateral.stem.conv.weight": "stem",
                "slow.res2.block1.conv_a.weight": "res2",
                "lateral.res2.conv.weight": "res2",
                "fast.res3.block1.bn_b.weight": "res3",
                "lateral.res4.bn.weight": "res4",
                "slow.res5.block3.conv_c.weight": "res5",
                "fast.res5.block1.shortcut.conv.weight": "res5",
                "head.proj.weight": "head",
                "head.proj.bias": "head",
            },
        ),
        (
            "i3d_r50",
            {
                "backbone.stem.conv.weight": "stem",
                "backbone.res2.block1.conv_a.weight": "res2",
                "backbone.res4.block6.bn_c.bias": "res4",
                "backbone.res5.block1.shortcut.conv.weight": "res5",
                "head.proj.bias": "head",
            },
        ),
        (
            "r3d_18",
            {
                "stem.0.weight": "stem",
                "layer1.0.conv1.0.weight": "res2",
                "layer3.1.conv2.1.bias": "res4",
                "layer4.0.downsample.0.weight": "res5",
                "fc.weight": "head",
            },
        ),
    ],
)
def test_every_parameter_of_a_staged_model_has_its_stage(name, expected):
    model = build(name, num_classes=3)
    stages = parameter_stages(model)
    assert stages is not None
    assert list(stages) == [n for n, _ in model.named_parameters()]  # every parameter, in the model's order
    assert set(stages.values()) == set(range(len(STAGE_NAMES)))
    for parameter, stage in expected.items():
        assert STAGE_NAMES[stages[parameter]] == stage, parameter


def test_a_model_with_parameters_outside_the_stages_has_none():
    assert STAGE_NAMES == ("stem", "res2", "res3", "res4", "res5", "head")
    assert parameter_stages(build("attention_clusters", num_classes=3)) is None  # attention units: no stage
    assert parameter_stages(torch.nn.Linear(2, 3)) is None  # no reset_classifier: no head to tell
