"""The package as pip installs it: every subpackage listed, configs and jobs shipped inside it
(``vidkit.configs``, ``vidkit.pipelines``, never a top-level ``pipelines``), the CLI wired."""

import ast
import importlib.resources
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import setuptools
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {p for p in setuptools.find_packages(str(ROOT), include=["vidkit*"])}
    found |= {"vidkit." + p for p in setuptools.find_packages(str(ROOT), include=["configs*", "pipelines*"])}
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


def _bare_pipelines_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            names = [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] == "pipelines"]
    return found


def test_nothing_imports_pipelines_by_its_bare_name():
    # From the checkout's root `import pipelines` would work, and hide that an installed vidkit has no such package.
    files = [p for top in ("vidkit", "pipelines", "configs", "tests", "tools") for p in (ROOT / top).rglob("*.py")]
    assert len(files) > 100
    assert [hit for p in files for hit in _bare_pipelines_imports(p)] == []


def test_installed_the_jobs_are_vidkit_pipelines_only(tmp_path):
    # Outside the checkout (so its root is not on sys.path), as the installed package is imported.
    code = (
        "import importlib.util, vidkit.pipelines.train\n"
        "assert importlib.util.find_spec('pipelines') is None, 'a top-level pipelines package is installed'\n"
        "print(vidkit.pipelines.train.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["vidkit.pipelines.train"]


def test_the_wheel_holds_vidkit_pipelines_and_no_top_level_pipelines(tmp_path):
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(tmp_path),
        str(ROOT),
    ]
    subprocess.run(build, check=True, capture_output=True, cwd=tmp_path, timeout=240)
    (wheel,) = tmp_path.glob("vidkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"vidkit"}
    assert "vidkit/pipelines/train.py" in names and "vidkit/configs/defaults.yaml" in names
    data = "vidkit/models/weights_data"
    assert {f"{data}/entries.json", f"{data}/labels/kinetics400.txt"} <= set(names)
