#!/usr/bin/env python
"""Re-encode whole folders of videos to CoViAR's format (Wu et al., "Compressed Video Action
Recognition", CVPR 2018): MPEG-4 Part 2, an I-frame every 12 frames, no B-frames, quantiser 2.

    python tools/reencode_coviar.py ucf101/ --out ucf101-coviar/        # ucf101/a/b.avi -> ucf101-coviar/a/b.avi
    python tools/reencode_coviar.py ucf101/ hmdb51/ --out coviar/ --workers 8 --short-side 256
    python tools/reencode_coviar.py clips.txt --out coviar/ --ext .mp4  # a list of paths, one per line

Every video under each SRC folder (recursively, hidden entries skipped), each SRC file, and each
file named in a SRC .txt/.lst list is written under --out at the same path relative to its folder,
same stem, extension --ext. CoViAR's own script also squeezed every frame to 340x256; here
--short-side scales keeping the aspect ratio, and by default the size is kept. Audio is dropped.

Resumable: each output is written to a hidden temporary file beside it (``.<stem>.XXXXXXXX.avi``)
and renamed into place only when complete, so an output that exists is a finished one and is
skipped. After an interruption, run the same command again: only what is missing is converted (and
files that failed are tried again), and temporary files left by the killed run are removed as their
videos are redone (so run one re-encode per output folder at a time). Originals are only read, and
--out may not be a source folder itself; an --out inside a source folder is left out of the search.

Files run in parallel worker processes (vidkit._pool.isolated_map), so a decoder that crashes or
hangs on one damaged file costs that file only. Each failure is printed as ``path: reason``, and a
summary ends the run. Exit status: 1 when any file failed, else 0.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import re
import sys
import time
from functools import partial
from pathlib import Path

from vidkit._files import default_workers
from vidkit._pool import isolated_map
from vidkit.engine.tagger import find_videos
from vidkit.errors import VidkitError
from vidkit.io.reencode import ReencodeResult, encoder_options, reencode

EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov")  # containers that take MPEG-4 Part 2; .avi is CoViAR's


def plan(sources: list[str], out: str, ext: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``(tasks, refused)``: ``(video, output)`` pairs, and why each video left out gets no output
    (another video maps to the same one, or it is that output). Raises ValueError when --out is a
    source folder or a file, or a source does not exist."""
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
            raise ValueError(f"--out {out} is the folder of source {given}: outputs would sit among the originals; "
                             "choose another folder")
        skip_out = _inside(out, os.path.realpath(base))  # --out in this folder: its videos are earlier outputs
        for video in find_videos([given]):
            if skip_out and _inside(os.path.realpath(video), out):
                continue
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
    """Temporary files of unfinished writes of ``dst`` (``vidkit.io.encode.atomic_output`` names them)."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", metavar="SRC", help="video folders, video files, .txt/.lst lists")
    parser.add_argument("--out", required=True, help="folder the re-encoded tree is written to")
    parser.add_argument("--gop", type=int, default=12, help="frames from one I-frame to the next (CoViAR: 12)")
    parser.add_argument("--quality", type=int, default=2, help="MPEG-4 quantiser, 1 (best) to 31 (CoViAR: 2)")
    parser.add_argument("--short-side", type=int, help="scale so the shorter side has this many pixels (never up)")
    parser.add_argument("--ext", default=".avi", type=lambda e: e if e.startswith(".") else "." + e, choices=EXTENSIONS)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds without progress before a file fails")
    args = parser.parse_args(argv)
    try:
        encoder_options("mpeg4", gop=args.gop, b_frames=0, quality=args.quality)  # bad values fail here, not per file
        if args.short_side is not None and args.short_side < 2:
            raise ValueError(f"--short-side must be at least 2, got {args.short_side}")
        tasks, refused = plan(args.sources, args.out, args.ext)
    except ValueError as e:
        print(f"reencode_coviar: {e}", file=sys.stderr)
        return 2
    todo = [(src, dst) for src, dst in tasks if not os.path.exists(dst)]
    done_before = len(tasks) - len(todo)
    failed: dict[str, str] = dict(refused)
    for video, reason in refused.items():
        print(f"{video}: {reason}", file=sys.stderr)
    converted, warned, started = 0, 0, time.monotonic()
    workers = max(1, min(args.workers, len(todo)))
    work = partial(convert, gop=args.gop, quality=args.quality, short_side=args.short_side, timeout_s=args.timeout,
                   threads=1 if workers > 1 else 0)  # parallel files, one thread each: no oversubscription
    bar = _bar(len(todo))
    in_flight: set[tuple[str, str]] = set()

    def feed():
        for task in todo:
            in_flight.add(task)
            yield task

    # Workers are forked: garbage they inherit and collect could hold a decoder of this process whose
    # threads they lack (freeing it joins them: a hang), so collect it here, where those threads live.
    gc.collect()
    events = isolated_map(work, feed(), workers=workers, silence_s=2 * args.timeout + 2, what="re-encoder")
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
        print(f"interrupted after converting {converted}; run the same command again to go on", file=sys.stderr)
        return 130
    bar.close()
    _summary(converted, done_before, failed, warned, out=os.path.realpath(args.out), seconds=time.monotonic() - started)
    return 1 if failed else 0


def _bar(total: int):
    from tqdm import tqdm

    # disable=None: a bar on a terminal, nothing in a log file
    return tqdm(total=total, desc="re-encoding", unit="file", disable=None, file=sys.stderr, dynamic_ncols=True)


def _say(bar, line: str) -> None:
    bar.write(line, file=sys.stderr)


def _summary(converted: int, done_before: int, failed: dict[str, str], warned: int, *, out: str, seconds: float) -> None:
    print(f"converted {converted}, skipped {done_before} already done, failed {len(failed)} "
          f"({seconds:.1f} s); outputs in {out}")
    if warned:
        print(f"  {warned} converted with warnings (damaged or truncated sources; see above)")
    for reason, count in collections.Counter(failed.values()).most_common():
        print(f"  failed {count}: {reason}")


if __name__ == "__main__":
    sys.exit(main())
