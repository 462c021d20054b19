"""The layout the style guide sets for tests and tools, read from their syntax trees: they use vidkit
only through its public names (a ``_``-prefixed module or name is plumbing, free to change), tests
never import each other (shared fixtures reach them as fixtures, from tests/conftest.py), and
tests/ mirrors the source, one folder per package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# tests/<folder>/ may exist for these only: vidkit's packages and modules, the jobs, the tools
MIRRORED = ("io", "data", "models", "engine", "pipelines", "cli", "tools", "bench", "utils", "viz")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_vidkit(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "vidkit" and any(_private(p) for p in parts)


def _local(dotted: str) -> bool:
    """A test module or a conftest: nothing to import (``pipelines`` is imported as ``vidkit.pipelines``)."""
    return dotted.split(".")[0] in ("tests", "conftest", "pipelines")


def _bad_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line: import`` for each import in ``path`` of a private vidkit module or name, or of a test module."""
    found = []
    where = path.relative_to(root).as_posix()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=where)):
        if isinstance(node, ast.Import):
            bad = [a.name for a in node.names if _private_vidkit(a.name) or _local(a.name)]
            if bad:
                found.append(f"{where}:{node.lineno}: import {', '.join(bad)}")
        elif isinstance(node, ast.ImportFrom):
            module, names = node.module or "", [a.name for a in node.names]
            if (
                node.level  # from . import / from .conftest import: a test module
                or _local(module)
                or _private_vidkit(module)
                or (module.split(".")[0] == "vidkit" and any(_private(n) for n in names))
            ):
                found.append(f"{where}:{node.lineno}: from {'.' * node.level}{module} import {', '.join(names)}")
        elif isinstance(node, ast.Call) and node.args:
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            arg = node.args[0]
            if (
                func in ("import_module", "__import__")
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and (_private_vidkit(arg.value) or _local(arg.value))
            ):
                found.append(f"{where}:{node.lineno}: {func}({arg.value!r})")
    return found


def test_tests_and_tools_import_only_public_vidkit_names():
    files = sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "tools").rglob("*.py"))
    assert len(files) > 10  # the walk found the files
    bad = [line for path in files for line in _bad_imports(path)]
    assert not bad, "private vidkit modules or names, or test modules, imported:\n" + "\n".join(bad)


def test_the_checker_catches_each_kind_of_import(tmp_path):
    source = tmp_path / "t.py"
    source.write_text(
        "import vidkit.io._types\n"
        "from vidkit.io._h264 import max_num_ref_frames\n"
        "from vidkit.io import _types\n"
        "from vidkit.io.motion import __all__, _EMPTY_DTYPE\n"
        "from tests.conftest import make_video\n"
        "from .conftest import tiny\n"
        "import pipelines.train\n"
        "importlib.import_module('vidkit._pool')\n"
        "# all public: none of these is reported\n"
        "import os, vidkit.io\n"
        "from os import _exit\n"
        "from vidkit.io import VideoInfo, __all__\n"
        "from vidkit.pipelines.train import build_dataset\n"
        "importlib.import_module('vidkit.io.motion')\n"
    )
    assert [line.split(":")[1] for line in _bad_imports(source, tmp_path)] == [str(n) for n in range(1, 9)]


def test_test_folders_mirror_the_source():
    for name in MIRRORED:  # each one names something that exists
        assert any(p.exists() for p in (ROOT / "vidkit" / name, ROOT / "vidkit" / f"{name}.py", ROOT / name)), name
    stray = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "tests").rglob("*.py")
        if len(p.relative_to(ROOT / "tests").parts) > 1 and p.relative_to(ROOT / "tests").parts[0] not in MIRRORED
    )
    assert not stray, f"test files outside tests/{{{','.join(MIRRORED)}}}/: {stray}"
