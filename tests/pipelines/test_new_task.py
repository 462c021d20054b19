"""A new kind of input, added from outside vidkit without touching any job: a plugin module registers
a model that takes one-channel (luma) clips and the task that feeds it, and `vidkit train`, `vidkit
eval` and `vidkit tag` run it as they are. The model refuses three-channel input, so every path that
feeds it must have gone through the task."""

import json
import subprocess
import sys
import textwrap

import pytest

from vidkit.io import find_videos

PLUGIN = textwrap.dedent(
    '''
    """A plugin: luma-only clips, a model for them and the task that feeds it."""
    import dataclasses

    import torch
    import torch.nn as nn

    from vidkit.data.transforms import ClipTransform
    from vidkit.engine.tasks import VideoClips, register_task
    from vidkit.models import register_model


    def luma(x):
        return x.mean(1, keepdim=True)  # [B, 3, T, H, W] -> [B, 1, T, H, W]


    class LumaTransform(ClipTransform):
        def __call__(self, frames, **kwargs):
            out = super().__call__(frames, **kwargs)
            return (luma(out[0]), *out[1:]) if isinstance(out, tuple) else luma(out)

        def normalize(self, views):
            return luma(super().normalize(views))


    @register_task("luma")
    class Luma(VideoClips):
        def train_data(self, dataset, settings, *, model_name):
            data = super().train_data(dataset, settings, model_name=model_name)
            t = data.transform
            luma_transform = LumaTransform(
                crop_size=t.crop_size, train_scale=t.train_scale, test_scale=t.test_scale, flip_prob=t.flip_prob
            )
            return dataclasses.replace(data, transform=luma_transform)

        def test_transform(self, loaded):
            return LumaTransform()


    class LumaNet(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv3d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1))
            self.num_features = 8
            self.head = nn.Linear(8, num_classes)

        def forward_features(self, x):
            if x.shape[1] != 1:
                raise ValueError(f"LumaNet takes one-channel clips, got {tuple(x.shape)}")
            return self.stem(x).flatten(1)

        def forward_head(self, features, pre_logits=False):
            return features if pre_logits else self.head(features)

        def forward(self, x):
            return self.forward_head(self.forward_features(x))

        def reset_classifier(self, num_classes):
            self.head = nn.Linear(8, num_classes)


    @register_model(input_frames=8, input_size=32, input_channels=1, task="luma")
    def luma_net(*, num_classes: int = 400) -> LumaNet:
        """A toy model of luma clips."""
        return LumaNet(num_classes)
    '''
)


@pytest.fixture
def vidkit_with_plugin(tmp_path, run_vidkit):
    (tmp_path / "luma_plugin.py").write_text(PLUGIN)
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import luma_plugin; "
        "from vidkit.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return lambda args: run_vidkit(args, prefix=(sys.executable, "-c", code))


def test_a_model_with_its_own_task_trains_evaluates_and_tags(vidkit_with_plugin, tiny, tmp_path):
    run = tmp_path / "run"
    args = tiny.args(run, epochs=1)
    args[args.index("--model") + 1] = "luma_net"
    trained = vidkit_with_plugin(args)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "luma_net on synthetic" in trained.stderr

    report = tmp_path / "eval"
    evaluated = vidkit_with_plugin(
        ["eval", "--checkpoint", str(run / "best.pt"), "--views", "2x1", "--workers", "0", "--out", str(report)]
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    results = json.loads((report / "results.json").read_text())
    assert results["videos"]["evaluated"] == results["videos"]["listed"] == 8
    assert results["checkpoint"]["model"] == "luma_net"

    tags = tmp_path / "tags.jsonl"
    tagged = vidkit_with_plugin(["tag", str(tiny.root), "--checkpoint", str(run / "best.pt"), "--out", str(tags)])
    assert tagged.returncode == 0, tagged.stderr[-3000:]
    records = [json.loads(line) for line in tags.read_text().splitlines()]
    assert len(records) == len(find_videos([tiny.root])) >= 24
    assert all(r["error"] is None and len(r["labels"]) == 5 for r in records)

    # without the plugin the checkpoint names a model nobody registered: one line saying so
    unknown = subprocess.run(
        [sys.executable, "-m", "vidkit.cli", "eval", "--checkpoint", str(run / "best.pt")],
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 1 and "unknown model 'luma_net'" in unknown.stderr
