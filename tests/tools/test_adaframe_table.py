"""tools/adaframe_table.py: the runs it trains, and the goal check its page ends with."""

from pathlib import Path


def _row(top1, frames):
    return {"top1": top1, "frames": frames, "decoded": frames, "ms_per_video": 1.0, "videos": 200}


def test_every_run_shares_the_preset_and_differs_only_in_its_policy(load_tool):
    table = load_tool("adaframe_table")
    runs = table.runs()
    assert list(runs) == ["adaframe", "uniform25", "uniform16", "uniform8", "uniform4"]
    assert runs["adaframe"] == ["model.options.freeze_backbone=true"]  # every run on the pretrained backbone
    assert runs["uniform8"] == ["model.options.freeze_backbone=true", "model.options.policy=uniform",
                                "model.options.steps=8"]
    assert "data.synthetic.variant=motion" in table.PRETRAIN_SET
    assert not any("freeze" in o for o in table.PRETRAIN_SET)  # the pretraining trains the backbone


def test_a_finished_run_is_kept_only_for_the_same_recipe(load_tool, tmp_path, monkeypatch):
    table = load_tool("adaframe_table")
    ran = []

    def fake_run(command, **kwargs):
        ran.append(command)
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        (out / "last.pt").write_text("weights")

    monkeypatch.setattr(table.subprocess, "run", fake_run)
    _, recipe = table.train("pretrain", ["a=1"], epochs=2, out=tmp_path)
    table.train("pretrain", ["a=1"], epochs=2, out=tmp_path)
    assert len(ran) == 1  # finished with the same recipe: kept
    table.train("pretrain", ["a=1"], epochs=3, out=tmp_path)
    assert len(ran) == 2  # more epochs: trained again
    table.train("run", [], epochs=1, out=tmp_path, upstream=recipe)
    table.train("run", [], epochs=1, out=tmp_path, upstream=recipe)
    assert len(ran) == 3
    table.train("run", [], epochs=1, out=tmp_path, upstream="another pretraining")
    assert len(ran) == 4  # its starting weights came from another run: trained again


def test_goal_is_checked_against_uniform_25_with_a_third_of_its_frames(load_tool):
    verdict = load_tool("adaframe_table").verdict
    met = verdict({"uniform K=25": _row(0.90, 25), "adaframe (p=2)": _row(0.895, 8.2)})
    assert met.startswith("Goal met: adaframe (p=2) reaches 89.5% with 8.20 frames") and "Chance" not in met
    too_many_frames = verdict({"uniform K=25": _row(0.90, 25), "adaframe (p=3)": _row(0.92, 9.0)})
    assert too_many_frames.startswith("Goal missed on frames") and "9.00 frames" in too_many_frames
    short = verdict({"uniform K=25": _row(0.24, 25), "adaframe (p=1)": _row(0.165, 2.46)})
    assert "7.5 points short" in short and "Chance is 12.5%" in short
