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

Files run in parallel worker processes (vidkit.utils.isolated_map), so a decoder that crashes or
hangs on one damaged file costs that file only. Each failure is printed as ``path: reason``, and a
summary ends the run. Exit status: 1 when any file failed, else 0.
"""

from __future__ import annotations

import argparse
import sys

from vidkit.pipelines.prepare import EXTENSIONS, convert_tree, plan, temporaries  # noqa: F401 (plan, temporaries: the tool's own, for callers)
from vidkit.utils import default_workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", metavar="SRC", help="video folders, video files, .txt/.lst lists")
    parser.add_argument("--out", required=True, help="folder the re-encoded tree is written to")
    parser.add_argument("--gop", type=int, default=12, help="frames from one I-frame to the next (CoViAR: 12)")
    parser.add_argument("--quality", type=int, default=2, help="MPEG-4 quantiser, 1 (best) to 31 (CoViAR: 2)")
    parser.add_argument("--short-side", type=int, help="scale so the shorter side has this many pixels (never up)")
    parser.add_argument(
        "--ext", default=".avi", type=lambda e: e if e.startswith(".") else "." + e, choices=EXTENSIONS["mpeg4"]
    )  # .avi is CoViAR's
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds without progress before a file fails")
    args = parser.parse_args(argv)
    try:
        return convert_tree(
            args.sources,
            args.out,
            ext=args.ext,
            workers=args.workers,
            timeout_s=args.timeout,
            job="reencode_coviar",
            codec="mpeg4",
            gop=args.gop,
            b_frames=0,
            quality=args.quality,
            short_side=args.short_side,
        )
    except ValueError as e:  # a bad argument, found before any work
        print(f"reencode_coviar: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
