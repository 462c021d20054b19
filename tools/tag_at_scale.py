#!/usr/bin/env python
"""`vidkit tag` on a folder of ten thousand videos, as a user runs it: every file gets one record, a
SIGKILL mid-run and the same command again give the records of an uninterrupted run, and memory
stays flat from the first thousand videos to the last.

    python tools/tag_at_scale.py --checkpoint runs/zoo/slowfast_r50/last.pt      # 50 x its 200 val videos + 75 bad
    python tools/tag_at_scale.py --checkpoint CKPT --source VAL_DIR --copies 10 --json

The folder (under ``--work``, which a later run empties only if this tool made it) holds
``--copies`` copies of ``--source``, a folder of videos in sub-folders named by class (default: the
checkpoint's own synthetic validation set), as hard links in nested folders
(``copy_NNN/<class>/<file>``), plus ``--bad`` each of empty, text and truncated files (a video's
first 2000 bytes). Three runs of ``vidkit tag --checkpoint CKPT`` on it: one uninterrupted, one
killed (SIGKILL to its process group) once ``--kill-at`` records are written, with half a line
appended as a kill mid-write leaves it, and the same command again. Printed: files, records,
distinct paths, failures by reason, top-1 against the class folder, videos/s, the tagger's resident
memory and its forked decoding workers' private memory (sampled every second), and whether the
resumed output has the same paths, labels and scores (within 1e-4) as the uninterrupted one.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

MARK = ".tag_at_scale"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a vidkit checkpoint, as `vidkit tag --checkpoint` takes")
    parser.add_argument(
        "--source", help="videos in sub-folders named by class (default: the checkpoint's synthetic val set)"
    )
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--bad", type=int, default=25, help="empty, text and truncated files, this many of each")
    parser.add_argument("--kill-at", type=int, help="records written before the kill (default: a third of the files)")
    parser.add_argument(
        "--work",
        default="/tmp/vidkit_tag_at_scale",
        help="folder for the videos and outputs (emptied first when this tool made it)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("tag_args", nargs=argparse.REMAINDER, help="after --: more `vidkit tag` options")
    args = parser.parse_args(argv)

    source = Path(args.source) if args.source else synthetic_val(args.checkpoint)
    work = Path(args.work)
    if work.exists() and any(work.iterdir()):
        if not (work / MARK).exists():  # never empty a folder this tool did not make
            raise SystemExit(f"--work {work}: not empty, and not a folder of this tool's; choose another")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / MARK).write_text("made by tools/tag_at_scale.py, emptied by its next run\n")
    truth = build_folder(source, work / "videos", copies=args.copies, bad=args.bad)
    extra = [a for a in args.tag_args if a != "--"]
    command = [sys.executable, "-m", "vidkit.cli", "tag", str(work / "videos"), "--checkpoint", args.checkpoint, *extra]

    whole = run(command + ["--out", str(work / "whole.jsonl")])
    kill_at = args.kill_at if args.kill_at is not None else len(truth) // 3
    killed = run(command + ["--out", str(work / "resumed.jsonl")], kill_at=kill_at)
    with open(work / "resumed.jsonl", "a", encoding="utf-8") as f:
        f.write('{"path": "' + str(work / "videos" / "copy_"))  # what a kill in the middle of a write leaves
    resumed = run(command + ["--out", str(work / "resumed.jsonl")])
    results = summarise(truth, work / "whole.jsonl", work / "resumed.jsonl", whole, killed, resumed)
    print(json.dumps(results, indent=1) if args.json else format_results(results))
    return 0 if results["ok"] else 1


def synthetic_val(checkpoint: str) -> Path:
    """The validation folder of the synthetic set ``checkpoint`` was trained on (generated if missing)."""
    from vidkit.data.synthetic import synthetic_catalog
    from vidkit.engine.checkpoint import load_checkpoint

    catalog = synthetic_catalog(
        load_checkpoint(checkpoint)["config"], split="val", root=None, progress=sys.stderr.isatty()
    )
    return Path(catalog.videos_root) / "val"


def build_folder(source: Path, root: Path, *, copies: int, bad: int) -> dict[str, str | None]:
    """Fill ``root``; returns each file's expected label (its class folder), None for a bad file."""
    from vidkit.io import find_videos

    videos = [Path(p) for p in find_videos([source]) if Path(p).parent != source]  # what tag itself would take
    if not videos:
        raise SystemExit(f"{source}: no videos in class sub-folders")
    truth = {}
    for k in range(copies):
        for video in videos:
            dst = root / f"copy_{k:03d}" / video.relative_to(source)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(video, dst)
            except OSError:  # another file system, or no hard links
                shutil.copyfile(video, dst)
            truth[str(dst)] = video.parent.name
    (root / "bad").mkdir(parents=True, exist_ok=True)
    head = videos[0].read_bytes()[:2000]
    for i in range(bad):
        for name, data in ((f"empty_{i}.mp4", b""), (f"text_{i}.avi", b"not a video\n"), (f"cut_{i}.mp4", head)):
            (root / "bad" / name).write_bytes(data)
            truth[str(root / "bad" / name)] = None
    return truth


def run(command: list[str], kill_at: int | None = None) -> dict:
    """Run ``command`` (its ``--out`` last), sampling its memory every second; with ``kill_at``, SIGKILL its
    process group once the output has that many lines."""
    out = Path(command[-1])
    log = out.with_name(out.stem + ".stderr")  # a file, not a pipe: nobody reads a pipe while it runs
    start = time.monotonic()
    with open(log, "w") as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    samples = []  # (seconds, records, tagger's RSS MB, workers' private MB together)
    killed = False
    while proc.poll() is None:
        time.sleep(0.2 if kill_at is not None else 1.0)
        records = _lines(out)
        tagger = _rss_mb(proc.pid)
        if tagger:  # 0 once the process has gone
            samples.append((time.monotonic() - start, records, tagger, sum(map(_private_mb, _children(proc.pid)))))
        if kill_at is not None and records >= kill_at:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
    proc.wait()
    stderr = log.read_text(errors="replace")
    if not killed and proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {proc.returncode}\n{stderr}")
    return {
        "seconds": time.monotonic() - start,
        "records": _lines(out),
        "summary": stderr.strip().splitlines()[-8:],
        "samples": samples,
        "killed": killed,
    }


def _lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _rss_mb(pid: int) -> float:
    return _proc_kb(f"/proc/{pid}/status", "VmRSS:") / 1024


def _private_mb(pid: int) -> float:
    """What a forked worker holds of its own: not the pages it still shares with the tagger."""
    rollup = f"/proc/{pid}/smaps_rollup"
    return (_proc_kb(rollup, "Private_Clean:") + _proc_kb(rollup, "Private_Dirty:")) / 1024


def _proc_kb(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # a child belongs to the thread that forked it
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return children


def summarise(truth: dict, whole_path: Path, resumed_path: Path, whole: dict, killed: dict, resumed: dict) -> dict:
    whole_records = [json.loads(line) for line in whole_path.read_text(encoding="utf-8").splitlines()]
    resumed_records = [json.loads(line) for line in resumed_path.read_text(encoding="utf-8").splitlines()]
    a = {r["path"]: r for r in whole_records}
    b = {r["path"]: r for r in resumed_records}
    tagged = [r for r in whole_records if r["error"] is None]
    right = sum(r["labels"][0]["label"] == truth.get(r["path"]) for r in tagged)
    differ = [p for p in a if p not in b or _outcome(a[p]) != _outcome(b[p]) or not _close(a[p], b[p])]
    samples = whole["samples"]
    early = [s for s in samples if s[1] >= len(truth) * 0.1] or samples
    results = {
        "files": len(truth),
        "records": len(whole_records),
        "distinct_paths": len(a),
        "unexpected_paths": sorted(set(a) - set(truth))[:5],
        "missing_paths": sorted(set(truth) - set(a))[:5],
        "tagged": len(tagged),
        "failed_by_reason": dict(Counter(r["error"] for r in whole_records if r["error"])),
        "bad_files_tagged": sum(truth.get(r["path"], "") is None for r in tagged),
        "top1_vs_folder": right / max(1, len(tagged)),
        "seconds": whole["seconds"],
        "videos_per_s": len(truth) / whole["seconds"],
        "tagger_mb_at_10pct": early[0][2] if early else 0.0,
        "tagger_mb_at_end": samples[-1][2] if samples else 0.0,
        "tagger_mb_peak": max((s[2] for s in samples), default=0.0),
        "workers_private_mb_peak": max((s[3] for s in samples), default=0.0),
        "killed_at_records": killed["records"],
        "resumed_seconds": resumed["seconds"],
        "resumed_records": len(resumed_records),
        "resumed_distinct_paths": len(b),
        "resumed_differ": len(differ),
        "resumed_summary": resumed["summary"][:2],
    }
    results["ok"] = (
        results["records"] == results["distinct_paths"] == len(truth)
        and not results["bad_files_tagged"]
        and results["resumed_records"] == results["resumed_distinct_paths"] == len(truth)
        and set(a) == set(b)
        and not differ
        and 0 < killed["records"] < len(truth)
    )
    return results


def _outcome(record: dict) -> tuple:
    return (record["error"], [x["label"] for x in record["labels"] or []])


def _close(x: dict, y: dict) -> bool:
    return all(abs(p["score"] - q["score"]) <= 1e-4 for p, q in zip(x["labels"] or [], y["labels"] or []))


def format_results(r: dict) -> str:
    failed = ", ".join(f"{n} x {reason}" for reason, n in sorted(r["failed_by_reason"].items())) or "none"
    return "\n".join(
        [
            f"files {r['files']}: {r['records']} records, {r['distinct_paths']} distinct paths "
            f"({len(r['missing_paths'])} missing, {len(r['unexpected_paths'])} unexpected)",
            f"  tagged {r['tagged']} (top-1 against the class folder {100 * r['top1_vs_folder']:.2f}%), "
            f"failed: {failed}",
            f"  {r['seconds']:.1f} s, {r['videos_per_s']:.2f} videos/s; "
            f"tagger RSS {r['tagger_mb_at_10pct']:.0f} MB at 10% of the files, "
            f"{r['tagger_mb_at_end']:.0f} MB at the end (peak {r['tagger_mb_peak']:.0f}); "
            f"decoding workers' private memory at most {r['workers_private_mb_peak']:.0f} MB",
            f"  killed (SIGKILL) at {r['killed_at_records']} records, half a line appended, same command again "
            f"({r['resumed_seconds']:.1f} s): {r['resumed_records']} records, {r['resumed_distinct_paths']} distinct, "
            f"{r['resumed_differ']} differing from the uninterrupted run",
            f"  {'OK' if r['ok'] else 'FAILED'}: every file once, in both runs, with the same result",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
