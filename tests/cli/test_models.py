"""`vidkit models`: the registry as a table or JSON lines, with the paper's figures."""

import json

from vidkit.cli import main


def test_models_json_lists_slowfast_with_its_figures(capsys):
    assert main(["models", "slowfast", "slowfast_r50_4x16", "--json"]) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    sf = rows["slowfast_r50"]
    assert sf["aliases"] == ["slowfast"]
    assert sf["params"] == 34_566_488
    assert sf["gflops"] == 65.71
    assert sf["input"] == {"frames": 32, "size": 256}
    assert "Feichtenhofer" in sf["paper"]
    assert rows["slowfast_r50_4x16"]["params"] == 34_480_216 and rows["slowfast_r50_4x16"]["gflops"] == 36.10


def test_models_table_without_flops(capsys):
    assert main(["models", "--no-flops"]) == 0
    out = capsys.readouterr().out
    header, *lines = out.splitlines()
    assert header.split()[:4] == ["model", "aliases", "params", "GFLOPs"]
    sf = next(line for line in lines if line.startswith("slowfast_r50 "))
    assert "34,566,488" in sf and "32x256x256" in sf


def test_models_json_gives_the_zoo_its_paper_figures(capsys):
    """GFLOPs at 8 frames of 224²: the TSM paper quotes 33G for TSM-R50, the GST paper 29.5G for GST-R50."""
    assert main(["models", "tsm_r50", "gst_r50", "i3d_r50", "--json"]) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert list(rows) == ["tsm_r50", "gst_r50", "i3d_r50"]
    assert rows["tsm_r50"]["params"] == 24_327_632 and rows["tsm_r50"]["gflops"] == 32.7
    assert rows["gst_r50"]["gflops"] == 29.0
    assert rows["i3d_r50"]["params"] == 28_043_472 and rows["i3d_r50"]["input"] == {"frames": 8, "size": 224}


def test_models_table_lists_every_registered_model(capsys):
    from vidkit.models import list_models

    assert main(["models", "--no-flops"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert names == list_models()
    assert {
        "c2d_r50",
        "tsn_r50",
        "i3d_r50",
        "tsm_r50",
        "gst_r50",
        "cost_r50",
        "cost_a_r50",
        "fast3d_r50",
        "attention_clusters",
    } <= set(names)


def test_models_unknown_name_is_one_line(capsys):
    assert main(["models", "tsm_r5"]) != 0
    assert "unknown model 'tsm_r5' — did you mean 'tsm_r50'?" in capsys.readouterr().err
