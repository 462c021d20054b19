"""``vidkit prepare``: re-encode a dataset to short GOPs, so that sparse clip sampling is fast.

Reading a frame costs decoding from the keyframe before it. x264's default puts a keyframe every
250 frames, so each of 8 frames spread over a video can cost a couple of hundred decoded; with a
keyframe every 16 frames each costs at most 16 (mmaction2 calls such copies "dense-encoded").

    vidkit prepare k400/ --out k400-prep/             # k400/a/b.mkv -> k400-prep/a/b.mp4: H.264, GOP 16, short side 256
    vidkit prepare clips.txt --out prep/ --short-side 0 --no-b-frames --workers 8

The tree is mirrored: every video under each SRC folder (recursively, hidden entries skipped),
each SRC file and each file a SRC .txt/.lst list names goes to the same path under --out, relative
to its folder, with extension --ext. Audio is dropped; frames keep their presentation times.

Stop it at any moment and run the same command again to finish: an output is written under a hidden
temporary name beside it (``.<stem>.XXXXXXXX.mp4``) and renamed when whole, so an output that exists
is done and skipped, files that failed are tried again, and a killed run's temporaries are removed
as their videos are redone (one run per output folder at a time). Originals are only read; --out
may not be a source folder, and one inside a source folder is left out of its search.

Files are re-encoded in parallel worker processes (:func:`vidkit.utils.isolated_map`): a decoder
that crashes or hangs on a damaged file costs that file only. Each failure is printed as
``path: reason``, a summary ends the run, and the exit status is 1 when any file failed, else 0.
"""

from __future__ import annotations

import argparse
import collections
import gc
import inspect
import os
import re
import sys
import time
from functools import partial
from pathlib import Path

from vidkit.engine.skipped import list_skipped, skipped_line
from vidkit.errors import ConfigError, VidkitError
from vidkit.io import find_videos
from vidkit.io.reencode import ReencodeResult, encoder_options, reencode
from vidkit.utils import default_workers, isolated_map

__all__ = ["DEFAULTS", "EXTENSIONS", "add_arguments", "convert", "convert_tree", "plan", "run", "temporaries"]

# The containers each codec is written to (of vidkit.io.encode.FORMATS). AVI stores no presentation
# times, only the decoding order, so H.264 with B-frames comes back from it shuffled.
EXTENSIONS = {"libx264": (".mp4", ".m4v", ".mkv", ".mov"), "mpeg4": (".avi", ".mp4", ".mkv", ".mov")}
# `vidkit prepare` with no flags; up to 3 B-frames in a row is x264's own default
DEFAULTS = {"codec": "libx264", "gop": 16, "b_frames": 3, "short_side": 256}
_REENCODE = inspect.signature(reencode)  # its options and their defaults


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SRC", help="video folders, video files, .txt/.lst lists")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder the re-encoded tree is written to")
    parser.add_argument(
        "--short-side",
        type=int,
        default=DEFAULTS["short_side"],
        metavar="PX",
        help=f"scale so the shorter side has this many pixels, never up (default {DEFAULTS['short_side']}; "
        "0 keeps the size)",
    )
    parser.add_argument(
        "--gop",
        type=int,
        default=DEFAULTS["gop"],
        help=f"frames from one keyframe to the next (default {DEFAULTS['gop']})",
    )
    parser.add_argument(
        "--no-b-frames",
        action="store_true",
        help=f"code no B-frames (default: up to {DEFAULTS['b_frames']} in a row, as x264 does by default)",
    )
    parser.add_argument(
        "--crf",
        type=int,
        metavar="Q",
        help="libx264's constant rate factor, 0 (lossless) to 51 (default "
        "18); with --codec mpeg4 its quantiser, 1 to 31 (default 2)",
    )
    parser.add_argument(
        "--codec", default=DEFAULTS["codec"], choices=sorted(EXTENSIONS), help="default libx264 (H.264)"
    )
    parser.add_argument(
        "--ext",
        default=".mp4",
        type=_dotted,
        choices=sorted(set(sum(EXTENSIONS.values(), ()))),
        help="output container (default .mp4; .avi with --codec mpeg4 only)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        metavar="N",
        help="files re-encoded at once (default: CPUs, at most 8)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds without progress before a file fails (default 60)",
    )
    parser.add_argument(
        "--sniff",
        action="store_true",
        help="in folders, take every file FFmpeg finds a video stream in, whatever its name (probed in workers)",
    )


def _dotted(ext: str) -> str:
    return ext if ext.startswith(".") else "." + ext


def run(args: argparse.Namespace) -> int:
    try:
        return convert_tree(
            args.sources,
            args.out,
            ext=args.ext,
            workers=args.workers,
            timeout_s=args.timeout,
            codec=args.codec,
            gop=args.gop,
            b_frames=0 if args.no_b_frames else DEFAULTS["b_frames"],
            short_side=args.short_side or None,
            quality=args.crf,
            sniff=args.sniff,
        )
    except ValueError as e:
        raise ConfigError(str(e)) from None


def convert_tree(
    sources: list[str],
    out: str,
    *,
    ext: str,
    workers: int,
    timeout_s: float,
    job: str = "vidkit prepare",
    sniff: bool = False,
    **reencode_options,
) -> int:
    """Re-encode every video of ``sources`` (folders, files, .txt/.lst lists) into the same tree under
    ``out`` with :func:`vidkit.io.reencode.reencode` and ``reencode_options`` (codec, gop, b_frames,
    short_side, quality), ``workers`` files at once, skipping outputs that exist. Returns the exit
    status: 0, 1 when any file failed, 130 when interrupted (Ctrl-C). Raises ValueError, before any
    work, for a bad argument; ``job`` names the command in its messages. Files in the source folders that
    are not videos (by name, or with ``sniff`` by what FFmpeg finds in them) are counted in the summary
    and listed in ``<out>.skipped.json``."""
    _check(ext=ext, workers=workers, timeout_s=timeout_s, options=reencode_options)
    skipped: list[tuple[str, str]] = []
    if sniff:
        from vidkit.io.sniff import sniff_videos

        def keep(candidates):
            return sniff_videos(candidates, workers=workers, timeout_s=timeout_s)
    else:
        keep = None
    tasks, refused = plan(sources, out, ext, skipped=skipped, keep=keep)
    listed = list_skipped(out, skipped, job=job.split()[-1])
    todo = [(src, dst) for src, dst in tasks if not os.path.exists(dst)]
    done_before = len(tasks) - len(todo)
    failed: dict[str, str] = dict(refused)
    for video, reason in refused.items():
        print(f"{video}: {reason}", file=sys.stderr)
    converted, warned, started = 0, 0, time.monotonic()
    workers = max(1, min(workers, len(todo)))
    work = partial(
        convert, **reencode_options, timeout_s=timeout_s, threads=1 if workers > 1 else 0
    )  # parallel files, one thread each: no oversubscription
    bar = _bar(len(todo))
    in_flight: set[tuple[str, str]] = set()

    def feed():
        for task in todo:
            in_flight.add(task)
            yield task

    # Workers are forked: garbage they inherit and collect could hold a decoder of this process whose
    # threads they lack (freeing it joins them: a hang), so collect it here, where those threads live.
    gc.collect()
    events = isolated_map(work, feed(), workers=workers, silence_s=2 * timeout_s + 2, what="re-encoder")
    try:
        for task, kind, value in events:
            in_flight.discard(task)
            if kind == "done" and isinstance(value, ReencodeResult):
                converted += 1
                warned += bool(value.warnings)
                for warning in value.warnings:
                    _say(bar, f"{task[0]}: converted, but {warning}")
            else:
                if kind == "done":  # the reason the file cannot be read
                    reason = value
                elif kind == "failed":  # its worker crashed or hung, and was killed
                    reason = value.reason
                else:  # "error": anything else reencode raised
                    reason = f"unexpected error: {value}"
                failed[task[0]] = reason
                _say(bar, f"{task[0]}: {reason}")
                if kind == "failed":  # its worker was killed mid-write
                    for leftover in temporaries(task[1]):
                        leftover.unlink(missing_ok=True)
            bar.set_postfix(failed=len(failed), refresh=False)
            bar.update()
    except KeyboardInterrupt:
        events.close()  # kills the workers; what they were writing is not an output
        for _, dst in in_flight:
            for leftover in temporaries(dst):
                leftover.unlink(missing_ok=True)
        bar.close()
        print(f"{job}: interrupted after converting {converted}; run the same command again to go on", file=sys.stderr)
        return 130
    bar.close()
    _summary(converted, done_before, failed, warned, out=os.path.realpath(out), seconds=time.monotonic() - started)
    if skipped:
        print(skipped_line(skipped, listed))
    return 1 if failed else 0


def _check(*, ext: str, workers: int, timeout_s: float, options: dict) -> None:
    """Bad values fail here, once, not for every file."""
    if {"src", "dst", "threads", "timeout_s", "progress"} & options.keys():
        raise TypeError("convert_tree chooses src, dst, threads, timeout_s and progress itself")
    settings = _REENCODE.bind_partial(**options)  # TypeError for an unknown option
    settings.apply_defaults()  # reencode's defaults for what is not given
    given = settings.arguments
    encoder_options(given["codec"], gop=given["gop"], b_frames=given["b_frames"], quality=given["quality"])
    if given["short_side"] is not None and given["short_side"] < 2:
        raise ValueError(f"--short-side must be at least 2, got {given['short_side']}")
    if ext not in EXTENSIONS[given["codec"]]:
        raise ValueError(f"--ext {ext}: {given['codec']} is written to {', '.join(EXTENSIONS[given['codec']])}")
    if workers < 1 or not timeout_s > 0:
        raise ValueError(f"--workers must be at least 1 and --timeout positive, got {workers} and {timeout_s:g}")


def plan(
    sources: list[str], out: str, ext: str, *, skipped: list[tuple[str, str]] | None = None, keep=None
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``(tasks, refused)``: ``(video, output)`` pairs, and why each video left out gets no output
    (another video maps to the same one, or it is that output). Raises ValueError when --out is a
    source folder or a file, or a source does not exist. ``skipped`` gets ``(path, reason)`` of the
    source folders' files that are not videos; ``keep``, when given, takes every file of the folders
    and says which are videos (``keep(paths) -> (videos, [(path, reason)])``: ``--sniff``)."""
    out = os.path.realpath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} is a file, not a folder")
    targets: dict[str, list[str]] = collections.defaultdict(list)
    for given in sources:
        given = os.path.abspath(os.path.expanduser(given))
        if not os.path.exists(given):
            raise ValueError(f"{given}: no such file or folder")
        base = given if os.path.isdir(given) else os.path.dirname(given)
        if os.path.realpath(base) == out:
            raise ValueError(
                f"--out {out} is the folder of source {given}: outputs would sit among the originals; "
                "choose another folder"
            )
        # Videos found in a folder that really live in --out (below it, or through a link to it) are
        # earlier outputs, not sources.
        skip_out = os.path.isdir(given)
        left_out: list[tuple[str, str]] = []
        found = find_videos([given], glob="*" if keep else None, skipped=left_out)
        found = [v for v in found if not (skip_out and _inside(os.path.realpath(v), out))]
        if keep is not None:
            found, not_videos = keep(found)
            left_out += not_videos
        if skipped is not None:
            skipped += sorted(p for p in left_out if not (skip_out and _inside(os.path.realpath(p[0]), out)))
        for video in found:
            relative = os.path.relpath(video, base)
            if relative.startswith(os.pardir + os.sep):  # a list naming a file outside its folder
                relative = os.path.basename(video)
            targets[os.path.join(out, os.path.splitext(relative)[0] + ext)].append(video)
    tasks, refused = [], {}
    for dst, videos in sorted(targets.items()):
        videos = sorted(set(videos))
        if len(videos) > 1:  # a.mp4 and a.mkv side by side: which one would a.avi be?
            for video in videos:
                refused[video] = f"{len(videos)} videos map to {dst} ({', '.join(map(os.path.basename, videos))})"
        elif os.path.realpath(videos[0]) == dst:  # a list naming a video in --out itself
            refused[videos[0]] = "its output would replace it; choose another --out"
        else:
            tasks.append((videos[0], dst))
    return tasks, refused


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def temporaries(dst: str) -> list[Path]:
    """Temporary files of unfinished writes of ``dst`` (:func:`vidkit.utils.atomic_path` names them)."""
    dst = Path(dst)
    pattern = re.compile(rf"\.{re.escape(dst.stem)}\.[a-z0-9_]{{8}}{re.escape(dst.suffix)}")
    if not dst.parent.is_dir():
        return []
    return [p for p in dst.parent.iterdir() if pattern.fullmatch(p.name)]


def convert(task: tuple[str, str], beat, **options) -> ReencodeResult | str:
    """One video, in a worker: its output, or the reason it cannot be read."""
    src, dst = task
    for leftover in temporaries(dst):  # from a run killed mid-write; this run alone writes dst
        leftover.unlink(missing_ok=True)
    try:
        return reencode(src, dst, progress=beat, **options)
    except VidkitError as e:
        return getattr(e, "reason", str(e))


def _bar(total: int):
    from tqdm import tqdm

    # disable=None: a bar on a terminal, nothing in a log file
    return tqdm(total=total, desc="re-encoding", unit="file", disable=None, file=sys.stderr, dynamic_ncols=True)


def _say(bar, line: str) -> None:
    bar.write(line, file=sys.stderr)


def _summary(
    converted: int, done_before: int, failed: dict[str, str], warned: int, *, out: str, seconds: float
) -> None:
    print(
        f"converted {converted}, skipped {done_before} already done, failed {len(failed)} "
        f"({seconds:.1f} s); outputs in {out}"
    )
    if warned:
        print(f"  {warned} converted with warnings (damaged or truncated sources; see above)")
    for reason, count in collections.Counter(failed.values()).most_common():
        print(f"  failed {count}: {reason}")
