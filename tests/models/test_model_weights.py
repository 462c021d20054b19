"""Checkpoint loading: pytorchvideo's and PySlowFast's SlowFast files give vidkit's SlowFast the very
same outputs as pytorchvideo's own model; vidkit's checkpoints round-trip; bad files fail in one line
without unpickling anything."""

import re
import warnings

import pytest
import torch

from vidkit.engine.checkpoint import save_checkpoint
from vidkit.errors import CheckpointError
from vidkit.models import build, load_weights
from vidkit.models.slowfast import slow_frame_indices

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pytorchvideo's import warns about torch.jit.script
    from pytorchvideo.models.slowfast import create_slowfast

FRAMES, SIZE = 32, 64  # final maps: slow 8 (or 4) × 2 × 2, fast 32 × 2 × 2
PRESETS = {"slowfast_r50": (4, 7), "slowfast_r50_4x16": (8, 5)}  # alpha, fusion kernel
NUM_CLASSES = 10


def pytorchvideo_slowfast(name: str) -> torch.nn.Module:
    """pytorchvideo's SlowFast R50 for ``name``, random weights with random BN statistics, in eval mode.
    Its fixed AvgPool3d head is sized to cover the whole final map, so it equals a global average."""
    alpha, kernel = PRESETS[name]
    final = SIZE // 32
    torch.manual_seed(0)
    model = create_slowfast(
        model_num_class=NUM_CLASSES,
        slowfast_fusion_conv_kernel_size=(kernel, 1, 1),
        slowfast_fusion_conv_stride=(alpha, 1, 1),
        head_pool_kernel_sizes=((FRAMES // alpha, final, final), (FRAMES, final, final)),
    )
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.3, 0.8)
            m.bias.data.uniform_(-0.2, 0.2)
    torch.nn.init.normal_(model.blocks[6].proj.weight, std=0.2)  # logits of order 1, not 0.01
    return model.eval()


_PYSLOWFAST_PARTS = {
    "branch1_conv": "branch1",
    "branch1_norm": "branch1_bn",
    **{f"branch2.conv_{x}": f"branch2.{x}" for x in "abc"},
    **{f"branch2.norm_{x}": f"branch2.{x}_bn" for x in "abc"},
}


def to_pyslowfast_key(key: str) -> str:
    """pytorchvideo's SlowFast key → PySlowFast's (slowfast/models/video_model_builder.py), which is not on PyPI."""
    if m := re.fullmatch(r"blocks\.0\.multipathway_blocks\.(\d)\.(conv|norm)\.(\w+)", key):
        return f"s1.pathway{m[1]}_stem.{'bn' if m[2] == 'norm' else 'conv'}.{m[3]}"
    if m := re.fullmatch(r"blocks\.(\d)\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(\w+)", key):
        return f"s{int(m[1]) + 1}_fuse.{'bn' if m[2] == 'norm' else 'conv_f2s'}.{m[3]}"
    if m := re.fullmatch(r"blocks\.(\d)\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.(.+)\.(\w+)", key):
        return f"s{int(m[1]) + 1}.pathway{m[2]}_res{m[3]}.{_PYSLOWFAST_PARTS[m[4]]}.{m[5]}"
    if m := re.fullmatch(r"blocks\.6\.proj\.(\w+)", key):
        return f"head.projection.{m[1]}"
    raise AssertionError(f"unmapped pytorchvideo key {key}")


@pytest.fixture(scope="module", params=sorted(PRESETS))
def reference(request, tmp_path_factory):
    """(name, pytorchvideo model, clip, its logits, folder with the checkpoint files)."""
    name = request.param
    model = pytorchvideo_slowfast(name)
    clip = torch.randn(2, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    alpha = PRESETS[name][0]
    with torch.no_grad():  # pytorchvideo's multipathway model rewrites the list it is given: a fresh one
        logits = model([clip.index_select(2, slow_frame_indices(FRAMES, alpha)), clip.clone()])
    folder = tmp_path_factory.mktemp(name)
    state = model.state_dict()
    torch.save({"model_state": state}, folder / "ptv.pyth")
    # PySlowFast's checkpoint as its trainer writes it, from a DistributedDataParallel run.
    torch.save(
        {
            "epoch": 196,
            "model_state": {f"module.{to_pyslowfast_key(k)}": v for k, v in state.items()},
            "optimizer_state": {},
            "cfg": "MODEL:\n  ARCH: slowfast\n",
        },
        folder / "pyslowfast.pyth",
    )
    return name, model, clip, logits, folder


@pytest.mark.parametrize("layout", ["ptv", "pyslowfast"])
def test_model_zoo_checkpoints_give_pytorchvideos_outputs(reference, layout):
    name, _, clip, expected, folder = reference
    model = build(name, num_classes=NUM_CLASSES, weights=folder / f"{layout}.pyth").eval()
    before = clip.clone()
    with torch.no_grad():
        logits = model(clip)
    assert torch.equal(clip, before)
    assert expected.abs().max() > 0.5  # a comparison of real numbers, not of near-zeros
    assert (logits - expected).abs().max() < 1e-4


def test_vidkit_checkpoint_round_trips(reference, tmp_path):
    name, _, clip, expected, folder = reference
    source = build(name, num_classes=NUM_CLASSES, weights=folder / "ptv.pyth").eval()
    path = save_checkpoint(tmp_path / "best.pt", source, model_name=name, epoch=3, classes=[str(i) for i in range(10)])
    model = build(name, num_classes=NUM_CLASSES, weights=path).eval()
    for a, b in zip(source.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    with torch.no_grad():
        assert (model(clip) - expected).abs().max() < 1e-4
    # A bare state dict (and an in-memory one) loads too.
    load_weights(build(name, num_classes=NUM_CLASSES), source.state_dict(), model_name=name)


class _Payload:
    """Pickles as a call to open(marker, "w"): loading it with plain pickle would create the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_objects_are_refused_not_executed(tmp_path):
    marker = tmp_path / "executed"
    torch.save({"model": {"w": torch.zeros(1)}, "hook": _Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as e:
        build("slowfast_r50", num_classes=3, weights=tmp_path / "evil.pt")
    assert not marker.exists()
    message = str(e.value)
    assert message.startswith(f"{tmp_path / 'evil.pt'}: refused") and "\n" not in message
    assert "weights_only" in message


class _Command:
    """Pickles as a call to os.system: a pickle that holds code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch.save", "pickle protocol 4", "pickle protocol 0"])
def test_a_checkpoint_holding_code_is_said_to_and_not_run(tmp_path, how):
    import pickle

    marker, path = tmp_path / "executed", tmp_path / "evil.pt"
    payload = {"model": {"w": torch.zeros(1)}, "hook": _Command(marker)}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=int(how[-1])))
    with warnings.catch_warnings(), pytest.raises(CheckpointError) as e:
        warnings.simplefilter("ignore")  # torch warns about the pickle protocol of a raw pickle
        build("r3d_18", num_classes=3, weights=path)
    assert not marker.exists()
    message = str(e.value)
    assert message.startswith(f"{path}: refused: it holds code (it asks to run ") and "\n" not in message
    assert re.search(r"run (posix|os|nt)\.system when loaded\), which was not run", message)
    assert "unpickling failed" not in message and "Unsupported operand" not in message


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pt: no such file"):
        build("r3d_18", num_classes=3, weights=tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable PyTorch checkpoint") as e:
        build("r3d_18", num_classes=3, weights=tmp_path / "junk.pt")
    assert "\n" not in str(e.value)


def test_class_count_mismatch_says_how_to_fine_tune(tmp_path):
    save_checkpoint(tmp_path / "k400.pt", build("slowfast_r50", num_classes=400), model_name="slowfast_r50")
    with pytest.raises(CheckpointError) as e:
        build("slowfast", num_classes=5, weights=tmp_path / "k400.pt")
    message = str(e.value)
    assert "classifier has 400 classes, the model 5" in message
    assert "num_classes=400" in message and "model.reset_classifier(5)" in message and "\n" not in message


def test_missing_or_foreign_keys_are_listed(tmp_path):
    state = build("r3d_18", num_classes=3).state_dict()
    del state["layer2.0.conv1.0.weight"]
    state["layer9.weight"] = torch.zeros(1)
    with pytest.raises(
        CheckpointError,
        match=r"1 of the model's tensors missing \(e\.g\. layer2\.0\.conv1\.0\.weight\); "
        r"1 tensors the model does not have \(e\.g\. layer9\.weight\)",
    ):
        build("r3d_18", num_classes=3, weights=state)


def test_checkpoint_of_another_model_is_named(tmp_path):
    save_checkpoint(tmp_path / "r3d.pt", build("r3d_18", num_classes=3), model_name="r3d_18")
    with pytest.raises(CheckpointError, match=r"r3d.pt: holds 'r3d_18' weights, not 'mc3_18'"):
        build("mc3_18", num_classes=3, weights=tmp_path / "r3d.pt")


def test_foreign_layout_for_a_model_without_a_converter(reference):
    *_, folder = reference
    with pytest.raises(
        CheckpointError, match="a pytorchvideo checkpoint; vidkit converts those for .*SlowFast models only, not r3d_18"
    ):
        build("r3d_18", num_classes=NUM_CLASSES, weights=folder / "ptv.pyth")
