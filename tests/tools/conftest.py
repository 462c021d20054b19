"""The scripts in tools/ are not a package: tests load one by file name through ``load_tool``."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def load_tool():
    """``load_tool(name)``: ``tools/<name>.py`` as a module, registered in ``sys.modules`` while the
    session runs (a tool's dataclasses look their module up there)."""
    loaded = []

    def load(name: str):
        if name in sys.modules and name in loaded:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loaded.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)
