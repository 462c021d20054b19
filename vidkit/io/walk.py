"""Finding videos on disk: the one folder walk that datasets, ``vidkit tag`` and ``vidkit prepare`` share.

>>> walk_videos("/data/kinetics400/val")               # every video below, absolute paths, sorted
>>> find_videos(["clips/", "more.mp4", "todo.txt"])    # what a job's path arguments name

A file is a video by its extension (case-insensitive, :data:`VIDEO_EXTENSIONS`: what FFmpeg's demuxers
read), except that a ``.ts`` file must start with MPEG-TS sync bytes (``.ts`` is TypeScript too).
Hidden files and folders (names starting with ``.``) are not looked at; symlinked folders are followed,
but no real folder is walked twice, so a link loop ends and a folder linked from two places is listed
once. Every other file left out is accounted for: pass a list as ``skipped`` and it gets ``(path,
reason)`` for each, which :func:`skipped_summary` counts by extension for a job's summary.
"""

from __future__ import annotations

import collections
import fnmatch
import heapq
import os
from collections.abc import Sequence

VIDEO_EXTENSIONS = frozenset(
    {
        # MP4 / QuickTime and their kin (3GPP, Flash's F4V)
        ".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2", ".f4v",
        # Matroska, WebM
        ".mkv", ".webm",
        # AVI, Windows Media, Flash, RealMedia, NUT
        ".avi", ".divx", ".wmv", ".asf", ".flv", ".rm", ".rmvb", ".nut",
        # MPEG program streams (DVD) and transport streams (broadcast, camcorders: AVCHD, Blu-ray)
        ".mpg", ".mpeg", ".mpe", ".vob", ".ts", ".mts", ".m2ts", ".m2t",
        # Ogg (Theora, VP8)
        ".ogv", ".ogg", ".ogm",
        # broadcast and camera masters, raw frames, IVF (VP8/VP9/AV1)
        ".mxf", ".dv", ".y4m", ".ivf",
        # elementary streams with no container (security cameras): no timestamps, times assumed
        ".h264", ".264", ".avc", ".h265", ".265", ".hevc", ".m2v", ".m1v",
    }
)  # fmt: skip

_LIST_FILES = (".txt", ".lst")


def is_video_name(name: str) -> bool:
    """True when ``name`` ends in a video extension (:data:`VIDEO_EXTENSIONS`, any case)."""
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def is_mpegts(path: str | os.PathLike) -> bool:
    """True when the file starts as an MPEG transport stream does: the sync byte 0x47 at the start of
    two consecutive 188-byte packets (or 192-byte ones, as Blu-ray and AVCHD cameras write), or of the
    only one. A file that cannot be read counts as one: its job says why it cannot be read."""
    try:
        with open(path, "rb") as f:
            head = f.read(4 + 2 * 192)
    except OSError:
        return True
    for start, size in ((0, 188), (4, 192), (0, 192)):
        if head[start : start + 1] == b"\x47" and (len(head) <= start + size or head[start + size] == 0x47):
            return True
    return False


def video_by_name(path: str | os.PathLike, *, look: bool = True) -> str | None:
    """None when ``path`` is taken as a video by its name (and, for ``.ts``, its first bytes, unless ``look``
    is False); otherwise the reason it is not, in a few words."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in VIDEO_EXTENSIONS:
        return f"not a video extension ({extension})" if extension else "no extension"
    if extension == ".ts" and look and not is_mpegts(path):
        return "a .ts file that is not MPEG-TS (TypeScript?)"
    return None


def extension_of(path: str | os.PathLike) -> str:
    """A file's extension as counted in summaries: lower case, ``(none)`` when it has none."""
    return os.path.splitext(os.fspath(path))[1].lower() or "(none)"


def skipped_summary(skipped: Sequence[tuple[str, str]], *, kinds: int = 8) -> str:
    """``skipped 312 files: .jpg 290, .srt 20, .txt 2`` (the ``kinds`` commonest extensions, then how many
    other kinds), or ``""`` when nothing was skipped."""
    if not skipped:
        return ""
    counts = collections.Counter(extension_of(path) for path, _ in skipped)
    common = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    text = ", ".join(f"{extension} {count}" for extension, count in common[:kinds])
    if len(common) > kinds:
        text += f", and {sum(count for _, count in common[kinds:])} of {len(common) - kinds} other kinds"
    return f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''}: {text}"


def walk_videos(
    root: str | os.PathLike,
    *,
    glob: str | None = None,
    non_files: bool = False,
    skipped: list[tuple[str, str]] | None = None,
) -> list[str]:
    """Every video below ``root``, as absolute paths (under ``root`` as given, links not resolved), sorted.

    With ``glob`` a file is taken when that pattern (``"*.mp4"``, ``"cam*/**/*.MOV"``) matches its path
    relative to ``root`` or its name, instead of by extension. ``non_files=True`` also keeps what has
    a video's name but is not a regular file (dangling links, links that loop, pipes, sockets,
    devices), for callers that report each as a failed input; otherwise only regular files are kept.
    Folders that cannot be read are skipped. ``skipped``, when given, gets ``(path, reason)`` for each file
    left out (hidden ones excepted), in walk order.

    Real folders are walked first and symlinked ones after, each by the first link to it (in sorted
    order) when no real folder under ``root`` is that folder already. One ``os.scandir`` per folder,
    so it stays quick over the ~650k files of Kinetics-700.
    """
    root = os.path.abspath(os.fspath(root))
    found: list[str] = []
    seen = {os.path.realpath(root)}
    links: list[tuple[str, str]] = []  # a heap of (path, path relative to root) of the symlinked folders met
    left_out: list[tuple[str, str]] = [] if skipped is None else skipped
    _walk_tree(root, "", os.path.realpath(root), glob, non_files, seen, links, found, left_out)
    while links:
        path, relative = heapq.heappop(links)  # the smallest path first, so which link names a folder is fixed
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        _walk_tree(path, relative, real, glob, non_files, seen, links, found, left_out)
    found.sort()
    return found


def _walk_tree(top, top_relative, top_real, glob, non_files, seen, links, found, skipped) -> None:
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
                    if glob is not None:
                        taken = fnmatch.fnmatch(item_relative, glob) or fnmatch.fnmatch(name, glob)
                        reason = None if taken else f"not matched by --glob {glob}"
                    else:  # only a regular file's first bytes are read: opening a pipe would block
                        reason = video_by_name(item.path, look=is_file)
                    if reason is None and not (is_file or non_files):
                        reason = "not a regular file (a dangling link, a pipe, a socket or a device)"
                    if reason is None:
                        found.append(item.path)
                    else:
                        skipped.append((item.path, reason))
        except OSError:  # unreadable, or gone since it was listed
            continue


def find_videos(
    paths: Sequence[str | os.PathLike], *, glob: str | None = None, skipped: list[tuple[str, str]] | None = None
) -> list[str]:
    """Every video named by ``paths`` — files as given, folders searched (:func:`walk_videos`), ``.txt``/
    ``.lst`` files read as lists of paths (one per line, ``#`` comments skipped, relative to the list's
    folder) — as absolute paths, sorted, without repeats.

    ``glob`` chooses the files in folders as :func:`walk_videos` does. Dangling links, pipes and
    devices with a video's name are kept: they are inputs too, and a job gives each a result saying
    why it was not read; so is a path given that does not exist. ``skipped``, when given, gets ``(path,
    reason)`` for each file the folders hold that is left out (:func:`walk_videos`), sorted by path.
    """
    found: set[str] = set()
    left_out: dict[str, str] = {}
    for given in paths:
        given = os.path.abspath(os.path.expanduser(os.fspath(given)))
        if os.path.isdir(given):
            walked: list[tuple[str, str]] = []
            found.update(walk_videos(given, glob=glob, non_files=True, skipped=walked))
            left_out.update(walked)
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
    if skipped is not None:
        skipped += sorted((path, reason) for path, reason in left_out.items() if path not in found)
    return sorted(found)


__all__ = [
    "VIDEO_EXTENSIONS",
    "extension_of",
    "find_videos",
    "is_mpegts",
    "is_video_name",
    "skipped_summary",
    "video_by_name",
    "walk_videos",
]
