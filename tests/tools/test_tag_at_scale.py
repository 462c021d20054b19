"""tools/tag_at_scale.py on a tiny folder: the copies and bad files it builds, the three `vidkit tag` runs
(uninterrupted, killed, resumed) and its verdict, which a lost or doubled record turns to a failure."""

import json

import pytest
import torch

from vidkit.io.encode import write_video
from vidkit.models import build

CLASSES = ["walk", "run"]


@pytest.fixture(scope="module")
def tool(load_tool):
    return load_tool("tag_at_scale")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    g = torch.Generator().manual_seed(0)
    for i, name in enumerate(CLASSES * 2):
        frames = torch.randint(0, 256, (12, 32, 48, 3), dtype=torch.uint8, generator=g)
        write_video(root / "src" / name / f"clip {i}.mp4", frames, fps=10)
    torch.manual_seed(0)
    checkpoint = root / "c2d.pt"
    torch.save(
        {
            "model": build("c2d_r50", num_classes=2).state_dict(),
            "model_name": "c2d_r50",
            "num_classes": 2,
            "classes": CLASSES,
            "config": {
                "model": {"name": "c2d_r50", "options": {}},
                "data": {"num_frames": 4, "crop_size": 32, "interval_s": 0.1},
            },
        },
        checkpoint,
    )
    return root, checkpoint


def test_every_file_once_and_the_resumed_run_equals_the_whole(tool, setup, capsys):
    root, checkpoint = setup
    work = root / "work"
    rc = tool.main(
        [
            "--checkpoint",
            str(checkpoint),
            "--source",
            str(root / "src"),
            "--copies",
            "3",
            "--bad",
            "1",
            "--kill-at",
            "5",
            "--work",
            str(work),
            "--json",
            "--",
            "--workers",
            "1",
            "--batch-size",
            "3",
        ]
    )
    r = json.loads(capsys.readouterr().out)
    assert rc == 0 and r["ok"], r
    assert (r["files"], r["records"], r["distinct_paths"], r["tagged"]) == (15, 15, 15, 12)  # 4 videos x 3 + 3 bad
    assert sorted(r["failed_by_reason"].values()) == [1, 1, 1] and r["bad_files_tagged"] == 0
    assert 5 <= r["killed_at_records"] < 15 and (r["resumed_records"], r["resumed_differ"]) == (15, 0)
    assert r["tagger_mb_peak"] > 0
    names = sorted(p.relative_to(work / "videos").as_posix() for p in (work / "videos").rglob("*.mp4"))
    assert "copy_002/walk/clip 2.mp4" in names and "bad/cut_0.mp4" in names
    assert "OK" in tool.format_results(r)


def test_a_lost_or_doubled_record_fails_the_verdict(tool, tmp_path):
    truth = {"/v/a.mp4": "walk", "/v/b.mp4": "run", "/v/bad.mp4": None}
    records = [
        {"path": "/v/a.mp4", "error": None, "labels": [{"label": "walk", "score": 0.9}]},
        {"path": "/v/b.mp4", "error": None, "labels": [{"label": "walk", "score": 0.6}]},
        {"path": "/v/bad.mp4", "error": "empty file (0 bytes)", "labels": None},
    ]
    run = {"seconds": 1.0, "records": 3, "summary": [], "samples": [(0.5, 1, 100.0, 10.0)], "killed": False}

    def verdict(whole, resumed):
        for name, lines in (("whole", whole), ("resumed", resumed)):
            (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
        killed = {**run, "records": 1, "killed": True}
        return tool.summarise(truth, tmp_path / "whole.jsonl", tmp_path / "resumed.jsonl", run, killed, run)

    good = verdict(records, records[::-1])
    assert good["ok"] and good["top1_vs_folder"] == 0.5 and good["failed_by_reason"] == {"empty file (0 bytes)": 1}
    assert not verdict(records, records + records[:1])["ok"]  # one twice
    assert not verdict(records, records[:2])["ok"]  # one lost
    changed = [records[0], {**records[1], "labels": [{"label": "walk", "score": 0.7}]}, records[2]]
    assert not verdict(records, changed)["ok"]  # a different score


def test_a_work_folder_it_did_not_make_is_never_emptied(tool, setup):
    root, checkpoint = setup
    mine = root / "my files"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(SystemExit, match="not a folder of this tool's"):
        tool.main(["--checkpoint", str(checkpoint), "--source", str(root / "src"), "--work", str(mine)])
    assert (mine / "thesis.tex").read_text() == "years of work"
