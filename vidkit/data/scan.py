"""Probe every video of a :class:`~vidkit.data.catalog.Catalog` and write a manifest: which files are
missing, which cannot be decoded and why, and how long and how fast the rest are.

    records = scan(catalog, verify=True)        # one dict per entry, in catalog order
    print(format_report(summarize(records), catalog=catalog))
    digest = write_manifest(records, "scan-kinetics400-val.jsonl")

Each file is examined in a worker process of its own pool, so a decoder that crashes or hangs on
one damaged file costs that file (recorded as undecodable), never the scan.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import sys
import time

from vidkit.data.catalog import Catalog, VideoEntry
from vidkit.errors import ConfigError, VideoDecodeError
from vidkit.io import VideoInfo, open_video, probe
from vidkit.io.packets import count_packets
from vidkit.utils import DEFAULT_FILE_MODE, atomic_write_text, default_workers, isolated_map

DURATION_BINS = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12), (12, 30), (30, None))
FPS_RATES = (15, 24, 25, 30, 50, 60)
_LISTED = 20  # missing/undecodable files named in a summary


def record_for(entry: VideoEntry, *, info: VideoInfo | None = None, error: str | None = None) -> dict:
    """The manifest line of one video: ``status`` "ok", "missing" (no file) or "undecodable" (``error``
    says why), with the file size and what the probe saw."""
    size = None
    if entry.path is not None:
        try:
            size = os.stat(entry.path).st_size
        except OSError as e:
            error = error or f"cannot read the file ({e.strerror})"
    status = "missing" if entry.path is None else ("undecodable" if error is not None else "ok")
    reason = "no file found for this entry" if status == "missing" else error
    ok = status == "ok" and info is not None
    return {
        "key": entry.key,
        "path": entry.path,
        "label": entry.label,
        "status": status,
        "reason": reason,
        "size": size,
        "duration_s": round(info.duration_s, 3) if ok else None,
        "fps": round(info.fps, 3) if ok else None,
        "width": info.width if ok else None,
        "height": info.height if ok else None,
        "codec": info.codec if ok else None,
        "num_frames": info.num_frames if ok else None,
        "num_frames_source": info.num_frames_source if ok else None,
    }


def examine(path: str, *, timeout_s: float, verify: bool, beat=lambda: None) -> tuple[VideoInfo | None, str | None]:
    """``(info, None)`` for a readable file, ``(None, reason)`` otherwise. With ``verify`` every frame is
    decoded, and a stream that ends early or has damaged packets counts as undecodable."""
    try:
        if not verify:
            info = probe(path, timeout_s=timeout_s)
            if info.num_frames_source == "estimate":  # no count in the container: count its packets
                counted = count_packets(path, timeout_s=timeout_s)
                if counted.count:
                    info = dataclasses.replace(
                        info, num_frames=counted.count, num_frames_exact=counted.complete, num_frames_source="packets"
                    )
            return info, None
        decoded, warnings = 0, []
        with open_video(path, timeout_s=timeout_s) as video:
            for chunk in video.stream(chunk_size=64):
                decoded += len(chunk)
                warnings += chunk.warnings
                beat()
            info = video.info
        if not decoded:
            return None, "no decodable video frames"
        if warnings:
            more = f" (+{len(warnings) - 1} more)" if len(warnings) > 1 else ""
            return None, f"damaged: {warnings[0]}{more}"
        return dataclasses.replace(info, num_frames=decoded, num_frames_exact=True, num_frames_source="decoded"), None
    except VideoDecodeError as e:
        return None, e.reason
    except Exception as e:  # noqa: BLE001 - any failure on one file is that file's record, not the scan's end
        return None, f"unexpected error while decoding: {type(e).__name__}: {e}"


def scan(
    catalog: Catalog, *, workers: int = 0, timeout_s: float = 30.0, verify: bool = False, progress: bool = False
) -> list[dict]:
    """One record per catalog entry, in catalog order (see :func:`record_for`).

    ``workers`` processes probe the found files (0: the usable CPUs, at most 8). ``timeout_s`` bounds
    a stalled decode; a worker silent for ``2 * timeout_s + 2`` s is killed and its file recorded
    as undecodable, as is one whose worker dies (a decoder crash).
    """
    todo = [(i, e.path) for i, e in enumerate(catalog.entries) if e.path is not None]
    results: dict[int, tuple[VideoInfo | None, str | None]] = {}
    if todo:
        bar = _Progress(len(todo), f"scan {catalog.name} {catalog.split}", enabled=progress)
        try:
            results = _examine_all(
                todo, workers=workers or default_workers(), timeout_s=timeout_s, verify=verify, done=bar.update
            )
        finally:
            bar.close()
    return [
        record_for(e, **dict(zip(("info", "error"), results.get(i, (None, None)))))
        for i, e in enumerate(catalog.entries)
    ]


def _examine_all(todo, *, workers: int, timeout_s: float, verify: bool, done) -> dict:
    """``{index: (info, error)}`` for the ``(index, path)`` pairs, each examined in a worker process."""

    def work(task, beat):
        # ``examine`` is looked up in the (forked) worker, so a test may replace it.
        return examine(task[1], timeout_s=timeout_s, verify=verify, beat=beat)

    results = {}
    for (index, _), kind, value in isolated_map(
        work, todo, workers=workers, silence_s=2 * timeout_s + 2, what="decoder"
    ):
        if kind == "done":
            results[index] = value
        elif kind == "failed":  # "the decoder crashed (killed by SIGSEGV)", "the decoder hung (...)"
            results[index] = (None, value.reason)
        else:  # "error": examine catches everything, so only a result that would not pickle lands here
            results[index] = (None, f"unexpected error while decoding: {value}")
        done()
    return results


class _Progress:
    """A tqdm bar on stderr, or a line every 10 s where tqdm is missing."""

    def __init__(self, total: int, desc: str, *, enabled: bool):
        self.total, self.desc, self.count, self.enabled = total, desc, 0, enabled
        self.bar, self.last = None, time.monotonic()
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, desc=desc, unit="video", file=sys.stderr)

    def update(self) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.update()
        elif self.enabled and (time.monotonic() - self.last > 10 or self.count == self.total):
            self.last = time.monotonic()
            print(f"{self.desc}: {self.count}/{self.total} videos", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summarize(records: list[dict]) -> dict:
    """Counts by status, undecodable reasons, duration and fps histograms (over the readable videos),
    and the first few missing and undecodable files."""
    status = collections.Counter(r["status"] for r in records)
    ok = [r for r in records if r["status"] == "ok"]
    durations = {_bin_name(lo, hi): 0 for lo, hi in DURATION_BINS}
    for r in ok:
        if r["duration_s"] is not None:
            lo, hi = next((lo, hi) for lo, hi in DURATION_BINS if hi is None or r["duration_s"] < hi)
            durations[_bin_name(lo, hi)] += 1
    rates = {str(rate): 0 for rate in FPS_RATES} | {"other": 0}
    for r in ok:
        if r["fps"] is not None:
            rate = min(FPS_RATES, key=lambda x: abs(x - r["fps"]))
            rates[str(rate) if abs(rate - r["fps"]) <= 0.5 else "other"] += 1
    return {
        "total": len(records),
        "status": {s: status.get(s, 0) for s in ("ok", "missing", "undecodable")},
        "reasons": dict(
            collections.Counter(r["reason"] for r in records if r["status"] == "undecodable").most_common()
        ),
        "duration_s": durations,
        "fps": rates,
        "hours": round(sum(r["duration_s"] or 0 for r in ok) / 3600, 3),
        "missing": [{"key": r["key"]} for r in records if r["status"] == "missing"][:_LISTED],
        "undecodable": [
            {"key": r["key"], "path": r["path"], "reason": r["reason"]} for r in records if r["status"] == "undecodable"
        ][:_LISTED],
    }


def _bin_name(lo: float, hi: float | None) -> str:
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


def format_report(summary: dict, *, catalog: Catalog) -> str:
    """A few lines for a person: counts, histograms as text bars, and the first missing/undecodable files."""
    s = summary["status"]
    lines = [
        f"{catalog.name} {catalog.split}: {summary['total']} videos in {catalog.annotations or catalog.videos_root}, "
        f"{len(catalog.classes)} classes; videos under {catalog.videos_root}",
        f"  ok {s['ok']}, missing {s['missing']}, undecodable {s['undecodable']}; {summary['hours']:.1f} h of video",
    ]
    lines += [f"  warning: {w}" for w in catalog.warnings]
    for title, histogram, unit in (("duration", summary["duration_s"], " s"), ("fps", summary["fps"], "")):
        top = max(histogram.values(), default=0) or 1
        lines.append(f"  {title}:")
        lines += [f"    {name + unit:>8} {'#' * round(30 * n / top):<30} {n}" for name, n in histogram.items()]
    if summary["reasons"]:
        lines.append("  why undecodable:")
        lines += [f"    {n:>6}  {reason}" for reason, n in summary["reasons"].items()]
    for title, key in (("missing", "missing"), ("undecodable", "undecodable")):
        if s[key]:
            more = f" (first {len(summary[key])})" if s[key] > len(summary[key]) else ""
            lines.append(f"  {title}{more}:")
            lines += [
                f"    {r['key']}" + (f"  {r['path']}: {r['reason']}" if "reason" in r else "") for r in summary[key]
            ]
    return "\n".join(lines)


def _canonical(records: list[dict]) -> list[str]:
    return [json.dumps(r, sort_keys=True) for r in records]


def manifest_hash(records: list[dict]) -> str:
    """sha256 (hex) of the records as canonical JSONL: sorted by key, each ``json.dumps(sort_keys=True)``."""
    lines = sorted((str(r["key"]), line) for r, line in zip(records, _canonical(records)))
    return hashlib.sha256("".join(line + "\n" for _, line in lines).encode()).hexdigest()


def write_manifest(records: list[dict], path: str | os.PathLike) -> str:
    """Write the records as JSONL (one per line, sorted keys) atomically; return :func:`manifest_hash`."""
    atomic_write_text(path, "".join(line + "\n" for line in _canonical(records)), mode=DEFAULT_FILE_MODE)
    return manifest_hash(records)


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """The records of a manifest written by :func:`write_manifest`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such manifest")
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            if not isinstance(record, dict) or "key" not in record:
                raise ConfigError(f"{path}:{number}: not a manifest record (expected an object with a 'key')")
            records.append(record)
    return records


__all__ = [
    "examine",
    "format_report",
    "manifest_hash",
    "read_manifest",
    "record_for",
    "scan",
    "summarize",
    "write_manifest",
]
