"""Typed configs: defaults, presets, files and --set overrides layer in order; bad keys and values
are one-line errors that name the valid choices."""

import dataclasses
import importlib.resources
from pathlib import Path

import pytest
import yaml

from vidkit.engine.config import load_config, to_dict
from vidkit.errors import ConfigError
from vidkit.pipelines.config import TrainConfig, load_train_config

CONFIGS = Path(str(importlib.resources.files("vidkit.configs")))


def test_defaults_fill_every_key_and_round_trip():
    config = load_train_config()
    assert config.model.name == "slowfast_r50"
    # the default run's preset (configs/synthetic/slowfast_r50.yaml) on the defaults' (32, 40)
    assert config.data.train_scale == (48, 56) and isinstance(config.optim.lr, float)
    again = load_config(TrainConfig, base=to_dict(config))
    assert again == config


def test_layers_apply_in_order(tmp_path):
    file = tmp_path / "mine.yaml"
    file.write_text("epochs: 7\noptim: {lr: 0.2, momentum: 0.8}\n")
    config = load_train_config(
        [file],
        model="mc3_18",
        values={"epochs": None, "data": {"workers": 3}},
        overrides=["optim.lr=0.05", "data.train_scale=[48, 64]", "optim.clip_grad_norm=null"],
    )
    assert config.model.name == "mc3_18"
    assert config.epochs == 7  # None in values leaves the file's value
    assert config.optim.lr == 0.05 and config.optim.momentum == 0.8
    assert config.data.workers == 3 and config.data.train_scale == (48, 64)
    assert config.optim.clip_grad_norm is None
    assert config.optim.weight_decay == load_train_config().optim.weight_decay


def test_model_preset_applies_whichever_layer_names_the_model(tmp_path):
    """configs/synthetic/slowfast_r50.yaml (the default run's tuning) sits between the defaults and
    the user's layers, whether the model comes from the defaults, --model (an alias), a file or --set."""
    preset = yaml.safe_load((CONFIGS / "synthetic" / "slowfast_r50.yaml").read_text())
    defaults = yaml.safe_load((CONFIGS / "defaults.yaml").read_text())
    assert preset["optim"]["name"] != defaults["optim"]["name"]  # else this test proves nothing
    file = tmp_path / "model.yaml"
    file.write_text("model: {name: slowfast}\n")
    for config in (
        load_train_config(),
        load_train_config(model="slowfast"),
        load_train_config([file]),
        load_train_config(model="mc3_18", overrides=["model.name=slowfast_r50"]),
    ):
        assert config.optim.name == preset["optim"]["name"] and config.epochs == preset["epochs"]
    assert load_train_config(model="mc3_18").optim.name == defaults["optim"]["name"]
    assert load_train_config(overrides=["optim.name=sgd"]).optim.name == "sgd"  # the user's layers win
    file.write_text("model: {name: mc3_18}\n")
    assert load_train_config([file]).optim.name == defaults["optim"]["name"]


@pytest.mark.parametrize(
    "override, message",
    [
        (["optim.lrr=0.1"], "unknown config key 'optim.lrr' — did you mean 'optim.lr'?"),
        (["epochz=3"], "did you mean 'epochs'"),
        (["optim.name=adam"], "optim.name='adam' is not a valid choice; choose one of sgd, adamw"),
        (
            ["data.name=synthetic-actors"],  # a --data shorthand, not a data.name
            "data.name='synthetic-actors' is not a valid choice; "
            "choose one of synthetic, kinetics400, kinetics600, kinetics700, kinetics, ssv2, folder, list, ava",
        ),
        (["amp=yes"], "choose one of auto, off, bf16, fp16"),
        (["epochs=three"], "epochs='three': expected a whole number"),
        (["data.train_scale=[32]"], "expected 2 values"),
        (["data.flip=1"], "expected true or false"),
        (["optim=0.1"], "optim: expected a section"),
        (["lr"], "write it as KEY=VALUE"),
    ],
)
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as error:
        load_train_config(overrides=override)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_model_and_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'slowfast_r50'"):
        load_train_config(model="slowfast_r5O")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_train_config([tmp_path / "missing.yaml"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_train_config([bad])


def test_every_shipped_preset_loads():
    presets = sorted(CONFIGS.rglob("*.yaml"))
    assert CONFIGS / "defaults.yaml" in presets
    for preset in presets:
        data = yaml.safe_load(preset.read_text())
        assert isinstance(data, dict), preset
        load_train_config([preset])


def test_defaults_yaml_documents_every_key():
    keys = set(yaml.safe_load((CONFIGS / "defaults.yaml").read_text()))
    assert keys == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.batch_size=0", "data.batch_size=0: must be at least 1"),
        ("data.batch_size=-1", "data.batch_size=-1: must be at least 1"),
        ("data.workers=-1", "data.workers=-1: must be at least 0"),
        ("data.num_frames=0", "data.num_frames=0: must be at least 1"),
        ("data.interval_s=0", "data.interval_s=0.0: must be more than 0"),
        ("data.crop_size=0", "data.crop_size=0: must be at least 1"),
        ("data.test_scale=-32", "data.test_scale=-32: must be at least 1"),
        (
            "data.train_scale=[40,32]",
            "data.train_scale=[40, 32]: expected [LOW, HIGH] short sides with 1 <= LOW <= HIGH",
        ),
        ("optim.lr=-1", "optim.lr=-1.0: must be more than 0"),
        ("optim.lr=0", "optim.lr=0.0: must be more than 0"),
        ("optim.lr=.nan", "optim.lr=nan: must be more than 0"),
        ("optim.weight_decay=-0.1", "optim.weight_decay=-0.1: must be at least 0"),
        ("optim.label_smoothing=1.5", "optim.label_smoothing=1.5: must be at most 1"),
        ("epochs=0", "epochs=0: must be at least 1"),
        ("epochs=-2", "epochs=-2: must be at least 1"),
        ("log_every_steps=0", "log_every_steps=0: must be at least 1"),
        ("optim.accumulate_steps=0", "optim.accumulate_steps=0: must be at least 1"),
        ("optim.head_lr_mult=0", "optim.head_lr_mult=0.0: must be more than 0"),
        ("optim.layer_decay=1.5", "optim.layer_decay=1.5: must be at most 1"),
        ("data.val_fraction=1", "data.val_fraction=1.0: must be less than 1"),
        ("data.val_fraction=0", "data.val_fraction=0.0: must be more than 0"),
        ("patience=-1", "patience=-1: must be at least 0"),
        ("model.freeze=['']", "model.freeze=['']: an empty prefix would freeze everything"),
    ],
)
def test_values_no_run_can_use_are_one_line_errors(override, message):
    """Issue 27 item 7: refused as the config is built, before any work (tracebacks, or for epochs <= 0
    a run that "finished" without training, before)."""
    with pytest.raises(ConfigError) as e:
        load_train_config(overrides=[override])
    assert str(e.value) == message
    with pytest.raises(ConfigError, match="epochs=0: must be at least 1"):
        load_train_config(values={"epochs": 0})  # --epochs 0


def test_every_shipped_preset_loads_as_the_preset_of_its_model_and_data():
    presets = sorted(p for p in CONFIGS.glob("*/*.yaml"))
    assert presets
    for preset in presets:
        config = load_train_config(model=preset.stem, overrides=[f"data.name={preset.parent.name}"])
        assert config.model.name == preset.stem and config.epochs >= 1, preset


def test_fine_tuning_options_read_as_a_user_writes_them():
    config = load_train_config(overrides=["model.freeze=backbone", "optim.lr=1e-9", "data.sampler=balanced"])
    assert config.model.freeze == ("backbone",)  # one prefix, or a list of them
    assert config.optim.lr == 1e-9  # YAML 1.1 reads 1e-9 as a string; it is the number a user means
    assert load_train_config(overrides=["model.freeze=[slow.stem, fast.stem]"]).model.freeze == (
        "slow.stem",
        "fast.stem",
    )
    with pytest.raises(ConfigError, match="optim.lr='fast': expected a number"):
        load_train_config(overrides=["optim.lr=fast"])
    with pytest.raises(ConfigError, match="choose one"):
        load_train_config(overrides=["data.class_weights=balanced", "data.sampler=balanced"])
