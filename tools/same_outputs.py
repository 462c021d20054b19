"""Record what vidkit's commands write, and compare two recordings: the check that a restructuring
changed no behaviour.

    python tools/same_outputs.py record /tmp/before          # on the old commit
    git switch my-branch && pip install -e .
    python tools/same_outputs.py record /tmp/after           # on the new one, same machine
    python tools/same_outputs.py compare /tmp/before /tmp/after

``record`` runs, as a user would and each in its own process: ``vidkit train --model slowfast`` (the
default run, seed 0; about 3 minutes on 2 CPU cores), ``vidkit eval`` of its best.pt, ``vidkit tag``
of a folder (JSONL, and CSV with ``--segments``), ``vidkit info --json`` and ``--verify``,
``vidkit mv`` and ``vidkit models --no-flops``. The folder (``--videos``, made once if missing) holds
24 videos of the built-in set's validation split, three to a class, in nested folders, a truncated
copy of one and a text file; both recordings must use the same folder.

``compare`` prints one line per output: ``same`` (JSON equal, timings and the recording's own
folder excluded; tag scores to 1e-6) or ``identical`` (bytes or arrays equal), else what differs.
It exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

# Fields that measure time or speed, never compared.
TIMING = {
    "time",
    "clips_per_s",
    "train_clips_per_s",
    "epoch_s",
    "data_wait_s",
    "busy",
    "seconds",
    "videos_per_s",
    "views_per_s",
}
DEFAULT_VIDEOS = Path("/tmp/vidkit-same-outputs-videos")


def _vidkit(args: list[str], out: Path, name: str) -> None:
    with open(out / f"{name}.out", "w") as stdout, open(out / f"{name}.err", "w") as stderr:
        subprocess.run([sys.executable, "-m", "vidkit.cli", *args], stdout=stdout, stderr=stderr, check=False)


def make_videos(folder: Path) -> None:
    """Three validation videos of each class of the default run's synthetic set, in nested folders,
    plus a truncated copy of one and a text file posing as nothing in particular."""
    from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset
    from vidkit.pipelines.config import load_train_config

    config = load_train_config(model="slowfast")
    dataset = synthetic_dataset(SyntheticSpec.from_config(asdict(config.data.synthetic)), progress=False)
    picked: dict[int, list[Path]] = {}
    for video in dataset.videos("val"):
        picked.setdefault(video.label, [])
        if len(picked[video.label]) < 3:
            picked[video.label].append(video.path)
    for label, paths in sorted(picked.items()):
        for i, path in enumerate(paths):
            dst = folder / ("a", "a/b", "c")[i] / f"class{label}_{i}.mp4"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dst)
    first = sorted(folder.rglob("*.mp4"))[0]
    (folder / "c" / "broken.mp4").write_bytes(first.read_bytes()[:3000])
    (folder / "c" / "notes.txt").write_text("not a video\n")


def record(out: Path, videos: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if not videos.exists():
        make_videos(videos)
    files = sorted(str(p) for p in videos.rglob("*") if p.is_file())
    mp4s = [f for f in files if f.endswith(".mp4") and "broken" not in f]
    run = out / "run"
    _vidkit(["train", "--model", "slowfast", "--out", str(run)], out, "train")
    best = str(run / "best.pt")
    _vidkit(["eval", "--checkpoint", best, "--out", str(out / "eval")], out, "eval")
    _vidkit(["tag", str(videos), "--checkpoint", best, "--out", str(out / "tags.jsonl")], out, "tag")
    segments = ["--out", str(out / "tags_seg.csv"), "--format", "csv", "--segments", "0.8"]
    _vidkit(["tag", str(videos), "--checkpoint", best, *segments], out, "tag_segments")
    _vidkit(["info", "--json", *files], out, "info")
    _vidkit(["info", "--verify", *mp4s[:3]], out, "info_verify")
    _vidkit(["mv", mp4s[0], "--out", str(out / "mv.npz")], out, "mv")
    _vidkit(["models", "--no-flops"], out, "models")
    print(f"recorded in {out}", file=sys.stderr)


def _differences(a, b, where: str, tol: float, ignore: set[str], folders: tuple[str, str], found: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in ignore:
                continue
            if k not in a or k not in b:
                found.append(f"{where}.{k}: in one only")
            else:
                _differences(a[k], b[k], f"{where}.{k}", tol, ignore, folders, found)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            found.append(f"{where}: {len(a)} items against {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _differences(x, y, f"{where}[{i}]", tol, ignore, folders, found)
    elif isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or abs(a - b) > tol:
            found.append(f"{where}: {a} against {b}")
    elif isinstance(a, str) and isinstance(b, str):
        if a.replace(folders[0], "<out>") != b.replace(folders[1], "<out>"):
            found.append(f"{where}: {a!r} against {b!r}")
    elif a != b:
        found.append(f"{where}: {a!r} against {b!r}")


def _jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _csv(path: Path) -> list[dict]:
    rows = list(csv.DictReader(path.open(newline="")))
    nested = ("labels", "segments", "video")
    return [{k: json.loads(v) if k in nested and v else v for k, v in row.items()} for row in rows]


def _text(path: Path, folder: Path) -> str:
    text = path.read_text().replace(str(folder), "<out>")
    return re.sub(r"in [0-9.]+ s \([0-9.]+ videos/s, [0-9.]+ clips/s\)", "in <time>", text)  # tag's summary


def _npz_equal(a: Path, b: Path) -> bool:
    x, y = np.load(a), np.load(b)
    return x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)


def compare(a: Path, b: Path) -> list[tuple[str, str]]:
    """``(output, verdict)`` for every output of the two recordings."""
    folders = (str(a), str(b))
    json_outputs = [
        ("run/log.jsonl", _jsonl, 0.0, TIMING),
        ("eval/results.json", lambda p: json.loads(p.read_text()), 0.0, TIMING | {"sha256"}),
        ("eval/manifest.jsonl", _jsonl, 0.0, TIMING),
        ("tags.jsonl", _jsonl, 1e-6, TIMING),
        ("tags_seg.csv", _csv, 1e-6, TIMING),
    ]
    rows = []
    for name, read, tol, ignore in json_outputs:
        if not (a / name).exists() or not (b / name).exists():
            rows.append((name, "MISSING"))
            continue
        found: list[str] = []
        _differences(read(a / name), read(b / name), "", tol, ignore, folders, found)
        rows.append((name, "same" if not found else f"DIFFERENT: {'; '.join(found[:4])}"))
    if (a / "run/best.pt").exists() and (b / "run/best.pt").exists():
        import torch

        x, y = (torch.load(p / "run/best.pt", weights_only=True)["model"] for p in (a, b))
        same = x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
        rows.append(("run/best.pt weights", "identical" if same else "DIFFERENT"))
    for name in ("eval/scores.npz", "mv.npz"):
        if (a / name).exists() and (b / name).exists():
            rows.append((name, "identical" if _npz_equal(a / name, b / name) else "DIFFERENT"))
        else:
            rows.append((name, "MISSING"))
    for name in ("eval/per_class.csv", "info.out", "info.err", "info_verify.out", "mv.err", "models.out", "tag.err"):
        if (a / name).exists() and (b / name).exists():
            rows.append((name, "identical" if _text(a / name, a) == _text(b / name, b) else "DIFFERENT"))
        else:
            rows.append((name, "MISSING"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run the commands and keep what they write")
    rec.add_argument("out", type=Path)
    rec.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help="the folder tag and info read")
    cmp = sub.add_parser("compare", help="compare two recordings")
    cmp.add_argument("a", type=Path)
    cmp.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.out.resolve(), args.videos.resolve())
        return 0
    rows = compare(args.a.resolve(), args.b.resolve())
    width = max(len(name) for name, _ in rows)
    for name, verdict in rows:
        print(f"{name:<{width}}  {verdict}")
    return 0 if all(v in ("same", "identical") for _, v in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
