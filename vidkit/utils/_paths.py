"""Where vidkit keeps what it generates: the synthetic data, downloaded test media."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$VIDKIT_CACHE`` if set, else ``$XDG_CACHE_HOME/vidkit`` (``~/.cache/vidkit``), joined with ``parts``."""
    root = os.environ.get("VIDKIT_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vidkit")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
