"""The package as pip installs it: every subpackage listed, configs shipped inside it, the CLI wired."""

import importlib.resources
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {p for p in setuptools.find_packages(str(ROOT), include=["vidkit*", "pipelines*"])}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_configs_ship_inside_the_package():
    defaults = importlib.resources.files("vidkit.configs").joinpath("defaults.yaml")
    assert "model:" in defaults.read_text()


def test_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "vidkit.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("train", "eval", "tag", "scan", "info", "mv", "models", "bench", "prepare"):
        assert f"    {command} " in out, command


def test_planned_command_says_not_yet_and_fails(monkeypatch, capsys):
    import vidkit.cli

    monkeypatch.setattr(vidkit.cli, "_PLANNED", {"someday": "a later job"})
    assert vidkit.cli.main(["someday", "x", "--flag"]) == 2
    assert "vidkit someday: not yet available" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        vidkit.cli.main(["--help"])
    assert any(
        line.split() == ["someday", "a", "later", "job", "(not", "yet", "available)"]
        for line in capsys.readouterr().out.splitlines()
    )  # listed by vidkit --help
