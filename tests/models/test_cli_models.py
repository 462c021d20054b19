"""`vidkit models`: the registry as a table or JSON lines, with the paper's figures."""

import json

from vidkit.cli import main


def test_models_json_lists_slowfast_with_its_figures(capsys):
    assert main(["models", "--json"]) == 0
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
