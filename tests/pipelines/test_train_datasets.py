"""Training on a dataset as downloaded (a Kinetics-layout folder whose videos differ in size), then
evaluating the checkpoint on it with nothing but the checkpoint; flipped clips swap mirror labels."""

import json
import shutil

import pytest
import torch
import torch.nn as nn

from vidkit.data.datasets import collate_clips
from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset
from vidkit.data.transforms import ClipTransform
from vidkit.engine.loop import Meter, Precision, train_step
from vidkit.io.encode import write_video


@pytest.fixture
def kinetics_copy(tmp_path, tiny_root):
    """The tiny set as a Kinetics download, with some videos re-encoded at another size (40x56)."""
    spec = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, size=(32, 32), num_frames=16)
    source = synthetic_dataset(spec, root=tiny_root, progress=False).root
    root = tmp_path / "k"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("manifest.json"))
    g = torch.Generator().manual_seed(0)
    for path in sorted((root / "train").rglob("*.mp4"))[:3] + sorted((root / "val").rglob("*.mp4"))[:1]:
        write_video(path, torch.randint(0, 256, (16, 40, 56, 3), dtype=torch.uint8, generator=g), fps=25)
    return root


@pytest.mark.timeout(600)
def test_train_on_a_downloaded_dataset_then_eval_from_the_checkpoint_alone(kinetics_copy, tmp_path, run_vidkit, tiny):
    out = tmp_path / "run"
    args = [
        "train",
        "--model",
        "slowfast_r50",
        "--data",
        "kinetics",
        "--data-root",
        str(kinetics_copy),
        "--epochs",
        "1",
        "--out",
        str(out),
        "--workers",
        "0",
    ]
    for key, value in tiny.settings.items():
        if not key.startswith("data.synthetic"):
            args += ["--set", f"{key}={value}"]
    result = run_vidkit(args)
    assert result.returncode == 0, result.stderr[-3000:]
    start = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert start["config"]["data"]["name"] == "kinetics" and len(start["classes"]) == 8
    evaluated = run_vidkit(
        [
            "eval",
            "--checkpoint",
            str(out / "best.pt"),
            "--views",
            "1x1",
            "--workers",
            "0",
            "--out",
            str(tmp_path / "eval"),
        ]
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["data"]["name"] == "kinetics" and results["videos"]["evaluated"] == 8


def test_flip_swap_needs_mirror_classes(kinetics_copy, tmp_path, run_vidkit):
    # the synthetic classes are move_left / move_right: no "left"/"right" words to swap, so it says so
    result = run_vidkit(
        [
            "train",
            "--data",
            "kinetics",
            "--data-root",
            str(kinetics_copy),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--set",
            "data.flip_swap_labels=true",
        ]
    )
    assert result.returncode == 1
    assert "no left/right class pairs" in result.stderr


def test_clips_of_different_sizes_batch_as_a_list():
    items = [
        {
            "frames": torch.zeros(2, 32, 32, 3, dtype=torch.uint8),
            "label": 0,
            "index": 0,
            "view": 0,
            "crop_index": -1,
            "padded": False,
        },
        {
            "frames": torch.zeros(2, 40, 56, 3, dtype=torch.uint8),
            "label": 1,
            "index": 1,
            "view": 0,
            "crop_index": -1,
            "padded": False,
        },
    ]
    batch = collate_clips(items)
    assert isinstance(batch["frames"], list)
    x = ClipTransform(crop_size=24, train_scale=(24, 30), test_scale=24)(batch["frames"], train=True)
    assert x.shape == (2, 3, 2, 24, 24)
    assert ClipTransform(crop_size=24, test_scale=24)(batch["frames"], train=False).shape == (2, 3, 2, 24, 24)


class _Prefers(nn.Module):
    """Logits that always rank class ``k`` first, whatever the clip."""

    def __init__(self, k: int, classes: int):
        super().__init__()
        self.bias = nn.Parameter(torch.nn.functional.one_hot(torch.tensor(k), classes).float() * 5)

    def forward(self, x):
        return self.bias.expand(x.shape[0], -1) + 0 * x.mean()


@pytest.mark.parametrize("swap", [False, True])
def test_flipped_clips_take_the_mirror_label(swap):
    model = _Prefers(1, 3)
    batch = {"frames": torch.zeros(2, 2, 8, 8, 3, dtype=torch.uint8), "label": torch.tensor([0, 0]), "errors": []}
    meter = Meter()
    train_step(
        model,
        batch,
        torch.optim.SGD(model.parameters(), lr=0.0),
        transform=ClipTransform(crop_size=8, train_scale=(8, 8), test_scale=8, flip_prob=1.0),
        device=torch.device("cpu"),
        precision=Precision(),
        scaler=None,
        label_smoothing=0.0,
        clip_grad_norm=None,
        generator=torch.Generator().manual_seed(0),
        meter=meter,
        flip_labels=torch.tensor([1, 0, 2]) if swap else None,
    )
    # every clip is flipped; with the swap its label 0 becomes 1, the class the model predicts
    assert meter.top1 == (2 if swap else 0)


def test_channels_last_fits_the_rank_of_the_models_convolutions():
    """The 3D format for 3D convolutions, the 2D one for 2D models (CoViAR, AdaFrame): torch refuses
    channels_last_3d for rank-4 weights, which broke placing a 2D model on a CUDA device."""
    from vidkit.models import build

    on = Precision(channels_last=True)
    conv3d = on.place(torch.nn.Conv3d(3, 4, 3), "cpu")
    assert conv3d.weight.is_contiguous(memory_format=torch.channels_last_3d)
    two_d = on.place(build("adaframe", num_classes=3, backbone="resnet18", memory_size=32, hidden=16, embed=8), "cpu")
    assert two_d.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    mixed = on.place(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv3d(4, 4, 3)), "cpu")
    assert mixed[0].weight.is_contiguous() and mixed[1].weight.is_contiguous()
    assert Precision().place(torch.nn.Conv3d(3, 4, 3), "cpu").weight.is_contiguous()
