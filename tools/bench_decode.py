#!/usr/bin/env python
"""Decode throughput of vidkit's readers next to raw PyAV, raw decord and raw torchcodec, in one run,
same file (the torchcodec rows where it can decode; the table says why not otherwise).

    python tools/bench_decode.py [FILE ...] [--repeats 5]

With no file it generates a 600-frame 640x360 H.264 clip (x264 defaults: long GOP, B-frames) into
the vidkit cache. Rows are the best of the repeats, taken in turn; the streaming reader's budget is
at most 10% over raw PyAV (ratio >= 0.91). Same table as `vidkit bench`.
"""

import argparse

from vidkit.bench import decode_table

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(decode_table(args.paths, repeats=args.repeats))
