"""Test-wide settings: GPU tests skip without a GPU; the vidkit cache stays out of the user's home in CI."""

import os

import pytest
import torch


def pytest_configure(config):
    # CI machines start clean; keep what tests generate inside the test run's own folder there.
    if os.environ.get("CI") and "VIDKIT_CACHE" not in os.environ:
        os.environ["VIDKIT_CACHE"] = str(config.rootpath / ".cache" / "vidkit")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
