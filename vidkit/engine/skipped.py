"""The files a folder run left out, accounted for: ``<out>.skipped.json`` beside a job's output.

A user tagging ten thousand files must be able to see what was not counted: :func:`write_skipped` lists
every file a job's folder walk (:func:`vidkit.io.find_videos`) or its ``--sniff`` probe left out, with
the reason, beside the job's output; the job's summary counts them by extension
(:func:`vidkit.io.walk.skipped_summary`). The list is vidkit's own file: one that is someone else's is
never overwritten, and a list from an earlier run that skipped nothing is removed, so that what is
there always describes the last run.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from collections.abc import Sequence

from vidkit.io.walk import extension_of, skipped_summary
from vidkit.utils import atomic_write_text

__all__ = ["list_skipped", "skipped_line", "skipped_path", "write_skipped"]

_MARK = "vidkit skipped files"


def skipped_path(out: str | os.PathLike) -> str:
    """Where the list of skipped files goes for the output ``out``: ``<out>.skipped.json`` (a folder
    output's list sits beside the folder)."""
    return os.fspath(out).rstrip(os.sep) + ".skipped.json"


def write_skipped(out: str | os.PathLike, skipped: Sequence[tuple[str, str]], *, job: str) -> str | None:
    """Write ``skipped`` (``(path, reason)`` pairs) to :func:`skipped_path` of ``out`` atomically, or remove
    the list an earlier run left when nothing was skipped. Returns the path written, or None when nothing
    was written; raises ``OSError`` when it cannot be written, and ``FileExistsError`` when a file of that
    name is not a list vidkit wrote (it is left as it is)."""
    path = skipped_path(out)
    ours = _is_ours(path)
    if ours is False:
        raise FileExistsError(f"{path}: exists and is not a list of skipped files vidkit wrote; left as it is")
    if not skipped:
        if ours:
            os.remove(path)
        return None
    counts = collections.Counter(extension_of(p) for p, _ in skipped)
    document = {
        "about": _MARK,
        "job": job,
        "output": os.fspath(out),
        "count": len(skipped),
        "by_extension": dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
        "files": [{"path": p, "reason": reason} for p, reason in skipped],
    }
    atomic_write_text(path, json.dumps(document, indent=1) + "\n")
    return path


def list_skipped(out: str | os.PathLike, skipped: Sequence[tuple[str, str]], *, job: str) -> str | None:
    """:func:`write_skipped` for a job (``job``: ``"tag"``, ``"scan"``, ...): a list that cannot be written
    is said in one line on stderr (``vidkit JOB: warning: ...``) and the run goes on. The path written, or
    None."""
    try:
        return write_skipped(out, skipped, job=job)
    except OSError as e:
        print(f"vidkit {job}: warning: the skipped files are not listed: {e}", file=sys.stderr)
        return None


def skipped_line(skipped: Sequence[tuple[str, str]], listed: str | None) -> str:
    """A summary's line about the skipped files (``"  skipped 3 files: .jpg 2, .txt 1 (listed in X)"``),
    or ``""`` when none was skipped."""
    if not skipped:
        return ""
    return f"  {skipped_summary(skipped)}" + (f" (listed in {listed})" if listed else "")


def _is_ours(path: str) -> bool | None:
    """None when nothing is at ``path``; True for a regular file holding a list vidkit wrote; else False."""
    try:
        if os.path.islink(path) or not os.path.isfile(path):
            return False if os.path.lexists(path) else None
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read(1 << 26)).get("about") == _MARK
    except (OSError, ValueError, AttributeError):
        return False
