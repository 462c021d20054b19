"""Finding videos on disk: the one folder walk that datasets, ``vidkit tag`` and ``vidkit prepare`` share.

>>> walk_videos("/data/kinetics400/val")               # every video below, absolute paths, sorted
>>> find_videos(["clips/", "more.mp4", "todo.txt"])    # what a job's path arguments name

A file is a video by its extension (case-insensitive, :data:`VIDEO_EXTENSIONS`). Hidden files and
folders (names starting with ``.``) are skipped; symlinked folders are followed, but no real folder
is walked twice, so a link loop ends and a folder linked from two places is listed once.
"""

from __future__ import annotations

import fnmatch
import heapq
import os
from collections.abc import Sequence

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".3gp"})

_LIST_FILES = (".txt", ".lst")


def is_video_name(name: str) -> bool:
    """True when ``name`` ends in a video extension (:data:`VIDEO_EXTENSIONS`, any case)."""
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def walk_videos(root: str | os.PathLike, *, glob: str | None = None, non_files: bool = False) -> list[str]:
    """Every video below ``root``, as absolute paths (under ``root`` as given, links not resolved), sorted.

    With ``glob`` a file is taken when that pattern (``"*.mp4"``, ``"cam*/**/*.MOV"``) matches its path
    relative to ``root`` or its name, instead of by extension. ``non_files=True`` also keeps what has
    a video's name but is not a regular file (dangling links, links that loop, pipes, sockets,
    devices), for callers that report each as a failed input; otherwise only regular files are kept.
    Folders that cannot be read are skipped.

    Real folders are walked first and symlinked ones after, each by the first link to it (in sorted
    order) when no real folder under ``root`` is that folder already. One ``os.scandir`` per folder,
    so it stays quick over the ~650k files of Kinetics-700.
    """
    root = os.path.abspath(os.fspath(root))
    found: list[str] = []
    seen = {os.path.realpath(root)}
    links: list[tuple[str, str]] = []  # a heap of (path, path relative to root) of the symlinked folders met
    _walk_tree(root, "", os.path.realpath(root), glob, non_files, seen, links, found)
    while links:
        path, relative = heapq.heappop(links)  # the smallest path first, so which link names a folder is fixed
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        _walk_tree(path, relative, real, glob, non_files, seen, links, found)
    found.sort()
    return found


def _walk_tree(top, top_relative, top_real, glob, non_files, seen, links, found) -> None:
    """Walk ``top`` and the real folders below it; record symlinked folders in ``links`` for later.
    A real sub-folder's real path is its parent's plus its name, so marking it seen costs no system call."""
    stack = [(top, top_relative, top_real)]
    while stack:
        folder, relative, real = stack.pop()
        try:
            with os.scandir(folder) as it:
                for item in it:
                    name = item.name
                    if name.startswith("."):
                        continue
                    item_relative = os.path.join(relative, name) if relative else name
                    try:
                        is_dir = item.is_dir()
                        is_file = not is_dir and item.is_file()
                    except OSError:  # a link that loops back on itself: neither, like a dangling one
                        is_dir = is_file = False
                    if is_dir:
                        if item.is_symlink():
                            heapq.heappush(links, (item.path, item_relative))
                            continue
                        item_real = os.path.join(real, name)
                        if item_real not in seen:  # not already walked through a link to it or to a folder above
                            seen.add(item_real)
                            stack.append((item.path, item_relative, item_real))
                        continue
                    if not (is_file or non_files):
                        continue  # a dangling link, a pipe, a socket or a device
                    if glob is not None:
                        if fnmatch.fnmatch(item_relative, glob) or fnmatch.fnmatch(name, glob):
                            found.append(item.path)
                    elif is_video_name(name):
                        found.append(item.path)
        except OSError:  # unreadable, or gone since it was listed
            continue


def find_videos(paths: Sequence[str | os.PathLike], *, glob: str | None = None) -> list[str]:
    """Every video named by ``paths`` — files as given, folders searched (:func:`walk_videos`), ``.txt``/
    ``.lst`` files read as lists of paths (one per line, ``#`` comments skipped, relative to the list's
    folder) — as absolute paths, sorted, without repeats.

    ``glob`` chooses the files in folders as :func:`walk_videos` does. Dangling links, pipes and
    devices with a video's name are kept: they are inputs too, and a job gives each a result saying
    why it was not read; so is a path given that does not exist.
    """
    found: set[str] = set()
    for given in paths:
        given = os.path.abspath(os.path.expanduser(os.fspath(given)))
        if os.path.isdir(given):
            found.update(walk_videos(given, glob=glob, non_files=True))
        elif os.path.splitext(given)[1].lower() in _LIST_FILES and os.path.isfile(given):
            base = os.path.dirname(given)
            # a name that is not UTF-8 is read as os.fsdecode reads it (surrogate escapes), not refused
            with open(given, encoding="utf-8", errors="surrogateescape") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        found.add(os.path.abspath(os.path.join(base, os.path.expanduser(line))))
        else:
            found.add(given)  # a file, a link (dangling or not), or nothing: each gets a result
    return sorted(found)


__all__ = ["VIDEO_EXTENSIONS", "find_videos", "is_video_name", "walk_videos"]
