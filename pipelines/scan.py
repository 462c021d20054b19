"""``vidkit scan``: check a downloaded dataset before training on it.

Reads the split's annotations (:func:`vidkit.data.catalog.open_catalog`), probes every video it
finds (:func:`vidkit.data.scan.scan`), prints what is missing or broken and how long and how fast the
rest are, and writes one JSON line per video to a manifest. Missing and broken videos are reported,
not fatal: the exit code is 0 unless the dataset itself cannot be read (1).
"""

from __future__ import annotations

import argparse
import json
import sys

from vidkit.data.catalog import open_catalog
from vidkit.data.registry import dataset_names
from vidkit.data.scan import format_report, scan, summarize, write_manifest
from vidkit.engine.skipped import list_skipped, skipped_line
from vidkit.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, choices=dataset_names("downloaded"), help="the dataset's format")
    parser.add_argument("--data-root", metavar="DIR", help="the dataset folder, as downloaded")
    parser.add_argument(
        "--annotations",
        metavar="PATH",
        help="the split's annotation file, or the folder of them (default: found in --data-root)",
    )
    parser.add_argument("--videos", metavar="DIR", help="the folder the videos are in (default: found in --data-root)")
    parser.add_argument("--split", default="val", help="train, val or test (default val)")
    parser.add_argument("--out", metavar="FILE", help="manifest to write (default scan-<data>-<split>.jsonl)")
    parser.add_argument("--verify", action="store_true", help="decode every frame, to catch truncated files (slower)")
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N", help="probing processes (default: CPUs, at most 8)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="give up on a file whose decoding stalls this long"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of the report")


def run(args: argparse.Namespace) -> int:
    try:
        catalog = open_catalog(
            args.data, root=args.data_root, annotations=args.annotations, videos=args.videos, split=args.split
        )
    except ConfigError as e:
        print(f"vidkit scan: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a folder of the dataset that cannot be read (a symlink loop: ELOOP)
        where = f"{e.filename}: " if e.filename else ""
        print(f"vidkit scan: error: {args.data}: {where}cannot be read ({e.strerror or e})", file=sys.stderr)
        return 1
    records = scan(
        catalog, workers=args.workers, timeout_s=args.timeout, verify=args.verify, progress=sys.stderr.isatty()
    )
    out = args.out or f"scan-{args.data}-{catalog.split}.jsonl"
    digest = write_manifest(records, out)
    summary = summarize(records)
    listed = list_skipped(out, catalog.skipped, job="scan")
    if args.json:
        print(
            json.dumps(
                {
                    "data": catalog.name,
                    "split": catalog.split,
                    "classes": len(catalog.classes),
                    "warnings": list(catalog.warnings),
                    **summary,
                    "manifest": out,
                    "manifest_hash": digest,
                    "skipped": len(catalog.skipped),
                    "skipped_list": listed,
                },
                indent=1,
            )
        )
    else:
        print(format_report(summary, catalog=catalog))
        print(f"  manifest {out} (sha256 {digest[:16]})")
        if catalog.skipped:
            print(skipped_line(catalog.skipped, listed))
    return 0


__all__ = ["add_arguments", "run"]
