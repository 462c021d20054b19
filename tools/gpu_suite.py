#!/usr/bin/env python
"""vidkit's figures on a GPU in one short run: the GPU tests, the model bench against pytorchvideo, a
Kinetics-sized training epoch (is the GPU waiting for data?), tagging against its parts, the default
`vidkit train`, and torch.compile; one summary printed, every figure in ``OUT/gpu-suite.json``.

    python tools/gpu_suite.py --out DIR                  # on a machine with a CUDA device, held to 5 min
    python tools/gpu_suite.py --out DIR --dry-run        # every step at toy size on the CPU (CI runs this)
    python tools/gpu_suite.py --out DIR --skip compile   # --only/--skip: steps by name; --redo: again

Steps, in order (each its own process, so a crash or an out-of-memory in one leaves the rest):

- ``tests``: ``pytest -m gpu`` (AMP vs fp32, channels-last, a one-process NCCL DDP step, activation
  checkpointing, the device transforms);
- ``models``: SlowFast R50 and I3D R50 at batch 8 of 32x224² next to pytorchvideo's fp32 eager with the
  same weights, vidkit in fp32, AMP, AMP + channels-last, and that with activation checkpointing; TSM R50
  against vidkit's own fp32: clips/s forward and train, peak memory (goal: AMP + channels-last trains at
  least 2x pytorchvideo's fp32);
- ``epoch``: one training epoch of SlowFast, 512 clips of 32 frames at 224² from 64 generated 10 s 320x240
  H.264 videos (x264 defaults, like Kinetics' cuts), with 8 and 14 decoding workers: clips/s and the
  share of the time the GPU computed rather than waited for data (goal: at least 90%);
- ``tag``: tagging those videos (tools/bench_tag.py) against decode only and model only;
- ``train``: ``vidkit train --model slowfast``, the README's command, on the GPU: wall time and top-1;
- ``compile``: ``torch.compile`` of SlowFast (AMP + channels-last) against eager; last, compiling is slow.

A rerun skips the steps that already succeeded in ``DIR/gpu-suite.json``, so a run cut short (the
``--budget``, a lost machine) is finished by running the same command again; on a fresh machine, whose
``DIR`` is empty, ``--resume`` names the returned file (carried in the tree). ``--started EPOCH`` counts
the budget from an earlier moment (the wheels' install: tools/gpu_wheels.sh prints the whole line).
Scratch (videos, runs) goes to ``--work`` (default ``DIR/work``), which nothing reads afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field, replace
from pathlib import Path

from vidkit.utils import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("tests", "models", "epoch", "tag", "train", "compile")
LIMIT_S = {"tests": 120, "models": 150, "epoch": 180, "tag": 120, "train": 180, "compile": 240}
RESULTS = "gpu-suite.json"


@dataclass(frozen=True)
class Sizes:
    """What each step measures at; :data:`FULL` on the GPU, :data:`DRY` the same steps in small on the CPU."""

    device: str
    batch: int  # clips per model call: the model bench and the epoch
    frames: int  # frames per clip
    crop: int  # crop side
    repeats: int
    videos: int  # the epoch's generated videos ...
    classes: int
    seconds: float  # ... each this long
    video_size: tuple[int, int]  # width, height
    clips: int  # the epoch's clips (each video this / videos times)
    train_scale: tuple[int, int]  # the epoch's random short side
    workers: tuple[int, ...]  # the epoch's decoding workers, one run each
    tag_workers: int
    compile_backend: str
    train_args: tuple[str, ...] = field(default_factory=tuple)  # `vidkit train --model slowfast` plus these


FULL = Sizes("cuda", 8, 32, 224, 3, 64, 8, 10.0, (320, 240), 512, (256, 320), (8, 14), 14, "inductor")
DRY = replace(
    FULL,
    device="cpu",
    batch=2,
    frames=8,
    crop=32,
    repeats=1,
    videos=4,
    classes=2,
    seconds=2.0,
    video_size=(64, 48),
    clips=8,
    train_scale=(32, 40),
    workers=(1, 2),
    tag_workers=2,
    compile_backend="eager",  # traces the model as inductor would, without generating code (minutes on 2 cores)
    train_args=tuple("--epochs 1 --set data.synthetic.train_per_class=2 --set data.synthetic.val_per_class=1".split()),
)
INTERVAL_S = 2 / 30  # every other frame at 30 fps: SlowFast 8x8's sampling on Kinetics
MODEL_PATHS = ("fp32", "amp", "amp+channels_last", "amp+channels_last+checkpointing")


# -- the steps: each runs in a child process and returns a JSON-ready dict -----------------------------
def _machine() -> dict:
    from vidkit.bench import machine

    return machine()


def _vidkit(args: list[str], log: Path) -> None:
    """``vidkit ARGS`` in a process of its own, as a user runs it, its output appended to ``log``; raises
    with the output's last line when it fails."""
    command = [sys.executable, "-m", "vidkit.cli", *args]
    with open(log, "a") as out:
        out.write(f"$ vidkit {' '.join(args)}\n")
        out.flush()
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        raise RuntimeError(f"vidkit {args[0]} failed: {lines[-1] if lines else f'exit status {code}'}")


def step_tests(sizes: Sizes, work: Path) -> dict:
    report = work / "gpu-tests.xml"
    args = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
    env = {"VIDKIT_GPU_TESTS_ON_CPU": "1"} if sizes.device == "cpu" else {}
    with open(work / "tests.log", "w") as out:
        code = subprocess.run(
            [*args, str(ROOT / "tests")], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}
        ).returncode
    suite = ElementTree.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = [
        f"{case.get('classname')}.{case.get('name')}: {((bad.get('message') or '').splitlines() or [''])[0][:200]}"
        for case in suite.iter("testcase")
        for bad in [*case.findall("failure"), *case.findall("error")]
    ]
    skipped = [
        f"{case.get('name')}: {s.get('message')}" for case in suite.iter("testcase") for s in case.findall("skipped")
    ]
    # a gpu test skipped here means the device was not seen; modules skipped for a missing extra (ray) are fine
    unseen = [line for line in skipped if "CUDA" in line]
    return {
        "ok": code == 0 and counts["tests"] > len(skipped) and not failed and not unseen,
        **counts,
        "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
        "failed": failed,
        "skipped_why": skipped[:10],
    }


def step_models(sizes: Sizes, work: Path, *, compile_: bool = False) -> dict:
    from vidkit.bench.models import model_rows

    if compile_:
        names, paths, peers = ("slowfast_r50",), ("amp+channels_last", "amp+channels_last+compile"), False
    else:
        names, paths, peers = ("slowfast_r50", "i3d_r50", "tsm_r50"), MODEL_PATHS, True
    rows = model_rows(
        names,
        batch=sizes.batch,
        frames=sizes.frames,
        size=sizes.crop,
        repeats=sizes.repeats,
        device=sizes.device,
        paths=paths,
        peers=peers,
        compile_backend=sizes.compile_backend,
    )
    rows = [r.as_dict() for r in rows]
    return {"ok": all(r["error"] is None for r in rows), "rows": rows, "machine": _machine()}


def _frames(seed: int, count: int, width: int, height: int):
    """A Kinetics-like picture: smooth blobs (8x8-pixel cells of noise, blurred by the encoder's own
    scaling) drifting 2 px a frame, so the files are sized like real footage, not like pure noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, (height // 8 + 1, (width + 2 * count) // 8 + 1, 3), dtype=np.uint8)
    texture = np.kron(cells, np.ones((8, 8, 1), dtype=np.uint8))[:height]
    for i in range(count):
        yield np.ascontiguousarray(texture[:, 2 * i : 2 * i + width])


def _write_one(task: tuple) -> None:
    from vidkit.io.encode import write_video

    path, seed, count, width, height = task
    part = Path(str(path) + ".part.mp4")
    write_video(part, _frames(seed, count, width, height), fps=30.0, options={"preset": "veryfast"})
    os.replace(part, path)


def kinetics_like(sizes: Sizes, work: Path) -> Path:
    """``sizes.videos`` H.264 videos in ``sizes.classes`` class folders, and split lists in which each
    training video is listed ``clips / videos`` times (one clip a listing: ``clips`` clips an epoch) and
    one video a class is validated; generated once (in parallel), then reused."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    root = work / "kinetics-like"
    videos, lists = root / "videos", root / "lists"
    width, height = sizes.video_size
    count = round(sizes.seconds * 30)
    names = [f"class{i % sizes.classes}/video{i:03d}.mp4" for i in range(sizes.videos)]
    todo = [(videos / n, i, count, width, height) for i, n in enumerate(names) if not (videos / n).exists()]
    for name in {n.split("/")[0] for n in names}:
        (videos / name).mkdir(parents=True, exist_ok=True)
    if todo:  # a fresh interpreter per worker: never fork a process that has run torch
        with ProcessPoolExecutor(min(len(todo), os.cpu_count() or 1), mp_context=get_context("spawn")) as pool:
            list(pool.map(_write_one, todo))
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classes.txt").write_text("".join(f"class{i}\n" for i in range(sizes.classes)))
    repeats = sizes.clips // sizes.videos
    (lists / "train.txt").write_text("".join(f"{n} {i % sizes.classes}\n" for i, n in enumerate(names)) * repeats)
    (lists / "val.txt").write_text("".join(f"{n} {i}\n" for i, n in enumerate(names[: sizes.classes])))
    return root


def _epochs(run: Path) -> list[dict]:
    """The epoch records of a `vidkit train` run's log.jsonl."""
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r.get("event") == "epoch"]


def step_epoch(sizes: Sizes, work: Path) -> dict:
    started = time.perf_counter()
    root = kinetics_like(sizes, work)
    generated_s = time.perf_counter() - started
    runs = []
    for workers in sizes.workers:
        run = work / f"epoch-{workers}-workers"
        args = [
            *("train", "--model", "slowfast_r50", "--data", "folder", "--data-root", str(root / "videos")),
            *("--set", f"data.annotations={root / 'lists'}", "--epochs", "1", "--workers", str(workers)),
            *("--batch-size", str(sizes.batch), "--device", sizes.device, "--out", str(run)),
            *("--set", f"data.num_frames={sizes.frames}", "--set", f"data.interval_s={INTERVAL_S:.6f}"),
            *("--set", f"data.crop_size={sizes.crop}", "--set", f"data.test_scale={sizes.crop}"),
            *("--set", f"data.train_scale=[{sizes.train_scale[0]},{sizes.train_scale[1]}]"),
        ]
        began = time.perf_counter()
        _vidkit(args, work / "epoch.log")
        epoch = _epochs(run)[-1]
        runs.append(
            {
                "workers": workers,
                "clips": sizes.clips,
                "clips_per_s": epoch["train_clips_per_s"],
                "busy": epoch["busy"],
                "epoch_s": epoch["epoch_s"],
                "data_wait_s": epoch["data_wait_s"],
                "first_batch_wait_s": epoch["first_batch_wait_s"],
                # past the workers' start-up, which a 512-clip epoch does not amortise and Kinetics' 240k do
                "busy_after_first_batch": round(
                    1
                    - (epoch["data_wait_s"] - epoch["first_batch_wait_s"])
                    / (epoch["epoch_s"] - epoch["first_batch_wait_s"]),
                    4,
                ),
                "skipped": epoch["skipped"],
                "process_s": round(time.perf_counter() - began, 1),
            }
        )
    return {
        "ok": all(r["skipped"] == 0 for r in runs),
        "runs": runs,
        "generated_s": round(generated_s, 1),
        "bytes_per_video": sum(p.stat().st_size for p in (root / "videos").rglob("*.mp4")) // sizes.videos,
        # the workers hand batches over in shared memory: a container's small /dev/shm stops them
        "dev_shm_gb": _shm_gb(),
    }


def _shm_gb() -> float | None:
    try:
        stat = os.statvfs("/dev/shm")
    except OSError:
        return None
    return round(stat.f_bavail * stat.f_frsize / 2**30, 1)


def step_tag(sizes: Sizes, work: Path) -> dict:
    root = kinetics_like(sizes, work)
    args = [
        *(sys.executable, str(ROOT / "tools" / "bench_tag.py"), str(root / "videos"), "--json"),
        *("--model", "slowfast_r50", "--frames", str(sizes.frames), "--interval", f"{INTERVAL_S:.6f}"),
        *("--crop", str(sizes.crop), "--workers", str(sizes.tag_workers), "--device", sizes.device),
    ]
    log = work / "tag.log"
    with open(log, "w") as err:
        result = subprocess.run(args, stdout=subprocess.PIPE, stderr=err, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"bench_tag.py failed: {(log.read_text().strip().splitlines() or [''])[-1]}")
    figures = json.loads(result.stdout)
    return {"ok": True, **figures}


def step_train(sizes: Sizes, work: Path) -> dict:
    run = work / "train-slowfast"
    args = ["train", "--model", "slowfast", "--device", sizes.device, "--out", str(run), *sizes.train_args]
    began = time.perf_counter()
    _vidkit(args, work / "train.log")
    wall = time.perf_counter() - began
    epochs = _epochs(run)
    return {
        "ok": bool(epochs),
        "wall_s": round(wall, 1),
        "epochs": len(epochs),
        "val_top1": epochs[-1]["val_top1"],
        "best_val_top1": max(e["val_top1"] for e in epochs),
        "train_clips_per_s": [e["train_clips_per_s"] for e in epochs],
        "busy": [e["busy"] for e in epochs],
    }


STEP_FUNCTIONS = {
    "tests": step_tests,
    "models": step_models,
    "epoch": step_epoch,
    "tag": step_tag,
    "train": step_train,
    "compile": lambda sizes, work: step_models(sizes, work, compile_=True),
}


# -- the summary ----------------------------------------------------------------------------------------
def _rows(result: dict) -> dict:
    return {(r["model"], r["impl"], r["path"]): r for r in result.get("rows", [])}


def _rate(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def summarise(name: str, result: dict, *, dry_run: bool = False) -> list[str]:
    """The lines ``name``'s result adds to the printed summary (goals judged on a real run only)."""

    def verdict(met: bool) -> str:
        return "toy sizes, not judged" if dry_run else ("met" if met else "NOT met")

    if name == "tests":
        lines = [f"{result['passed']} passed, {len(result['failed'])} failed, {result['skipped']} skipped"]
        return lines + [f"  FAILED {f}" for f in result["failed"]] + [f"  skipped {s}" for s in result["skipped_why"]]
    if name in ("models", "compile"):
        rows = _rows(result)
        lines = [f"{'model':<13} {'path':<32} {'fwd/s':>7} {'train/s':>7} {'peak MB':>8} {'x peer':>6} {'x fp32':>6}"]
        for (model, impl, path), r in rows.items():
            label = path if impl == "vidkit" else f"pytorchvideo {path}"
            if r["error"]:
                lines.append(f"{model:<13} {label:<32} failed: {r['error']}")
                continue
            peer = (r["ratio_vs_pytorchvideo"] or {}).get("train")
            own = (r["ratio_vs_fp32"] or {}).get("train")
            lines.append(
                f"{model:<13} {label:<32} {_rate(r['forward_clips_per_s']):>7} {_rate(r['train_clips_per_s']):>7} "
                f"{_rate(r['peak_memory_mb']):>8} {'-' if peer is None else f'{peer:.2f}':>6} "
                f"{'-' if own is None else f'{own:.2f}':>6}"
            )
        for model in ("slowfast_r50", "i3d_r50"):
            fast = rows.get((model, "vidkit", "amp+channels_last"))
            if fast and fast["ratio_vs_pytorchvideo"]:
                ratio = fast["ratio_vs_pytorchvideo"]["train"]
                lines.append(
                    f"goal: {model} AMP + channels-last trains {ratio:.2f}x pytorchvideo's fp32 eager "
                    f"(>= 2: {verdict(ratio >= 2)})"
                )
        return lines
    if name == "epoch":
        lines = [
            f"{result['runs'][0]['clips']} clips an epoch, videos of {result['bytes_per_video'] / 1e6:.2f} MB "
            f"(generated in {result['generated_s']:.0f} s); /dev/shm {result.get('dev_shm_gb')} GiB free"
        ]
        for r in result["runs"]:
            lines.append(
                f"{r['workers']:>2} workers: {r['clips_per_s']:.1f} clips/s, busy {r['busy']:.0%} "
                f"(goal >= 90%: {verdict(r['busy'] >= 0.9)}), waited {r['data_wait_s']:.1f} s of {r['epoch_s']:.1f} s; "
                f"past the first batch ({r['first_batch_wait_s']:.1f} s) busy {r['busy_after_first_batch']:.0%}"
            )
        return lines
    if name == "tag":
        return [
            f"{result['videos']} videos, {result['clips']} clips, {result['workers']} workers: decode only "
            f"{result['decode_clips_per_s']:.1f}, model only {result['model_clips_per_s']:.1f}, tagging "
            f"{result['tagging_clips_per_s']:.1f} clips/s = {result['tagging_vs_slower']:.2f} of the slower part "
            f"(goal >= 0.80: {verdict(result['tagging_vs_slower'] >= 0.8)})"
        ]
    if name == "train":
        return [
            f"{result['epochs']} epoch{'s' if result['epochs'] != 1 else ''} in {result['wall_s']:.0f} s "
            "(the process, data generation included), "
            f"val top-1 {result['val_top1']:.1%} (best {result['best_val_top1']:.1%}), "
            f"busy {', '.join(f'{b:.0%}' for b in result['busy'])}"
        ]
    return []


def step_lines(name: str, step: dict | None, *, dry_run: bool) -> list[str]:
    """A step's status line and its figures."""
    if step is None:
        return [f"[{name}] not run"]
    status = "ok" if step["ok"] else ("FAILED" if step["seconds"] is not None else "not run")
    lines = [f"[{name}] {status}" + (f" in {step['seconds']:.0f} s" if step["seconds"] is not None else "")]
    if step.get("error"):
        lines.append(f"  {step['error']}")
    if step.get("result"):
        try:
            lines += [f"  {line}" for line in summarise(name, step["result"], dry_run=dry_run)]
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:  # a partial result: say so, go on
            lines.append(f"  (result incomplete: {type(e).__name__} {e})")
    return lines


def format_summary(results: dict) -> str:
    machine = results.get("machine") or {}
    lines = [
        f"vidkit GPU suite{' (dry run, toy sizes on the CPU)' if results['dry_run'] else ''}: "
        f"{machine.get('gpu') or machine.get('cpu', '?')}, torch {machine.get('torch', '?')}, "
        f"{machine.get('cores', '?')} cores, {machine.get('date', '')}"
    ]
    for name in STEPS:
        lines += step_lines(name, results["steps"].get(name), dry_run=results["dry_run"])
    models, epoch = (results["steps"].get(s, {}).get("result") or {} for s in ("models", "epoch"))
    alone = _rows(models).get(("slowfast_r50", "vidkit", "amp+channels_last"))
    if alone and alone["train_clips_per_s"] and epoch.get("runs"):  # what `vidkit train` runs on CUDA by default
        lines.append(
            f"the epoch's clips/s against SlowFast's training step alone at the same batch "
            f"({alone['train_clips_per_s']:.1f} clips/s): "
            + ", ".join(
                f"{r['workers']} workers {r['clips_per_s'] / alone['train_clips_per_s']:.2f}" for r in epoch["runs"]
            )
        )
    return "\n".join(lines)


# -- running the steps ----------------------------------------------------------------------------------
def _save(path: Path, results: dict) -> None:
    atomic_write_text(path, json.dumps(results, indent=1) + "\n")


def _child(name: str, sizes: Sizes, work: Path) -> int:
    """``--step NAME``: run one step here and leave its result in ``work/NAME.json``."""
    try:
        outcome = {"result": STEP_FUNCTIONS[name](sizes, work), "error": None}
    except Exception as e:  # noqa: BLE001 — the parent reports it and goes on with the next step
        traceback.print_exc()
        outcome = {"result": None, "error": f"{type(e).__name__}: {str(e).strip()[:500]}"}
    _save(work / f"{name}.json", outcome)
    return 0 if outcome["error"] is None else 1


def _run_step(name: str, out: Path, work: Path, timeout: float, *, dry_run: bool) -> dict:
    """One step in a child process (``--step NAME``) within ``timeout`` seconds: its entry in gpu-suite.json."""
    outcome_path = work / f"{name}.json"
    outcome_path.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--step", name, "--out", str(out), "--work", str(work)]
    command += ["--dry-run"] if dry_run else []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    began = time.perf_counter()
    with open(work / f"{name}.out", "w") as log:
        try:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
    seconds = round(time.perf_counter() - began, 1)
    outcome = json.loads(outcome_path.read_text()) if outcome_path.exists() else {"result": None, "error": None}
    if timed_out:
        outcome["error"] = f"stopped after {timeout:.0f} s (its limit or the budget's end)"
    elif outcome["result"] is None and outcome["error"] is None:
        outcome["error"] = "the step's process ended without a result (killed? out of memory?)"
    result = outcome["result"]
    step = {"ok": bool(result and result.get("ok")), "seconds": seconds, "error": outcome["error"], "result": result}
    if not step["ok"]:
        step["log_tail"] = (work / f"{name}.out").read_text(errors="replace").splitlines()[-25:]
    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="where gpu-suite.json and summary.txt go")
    parser.add_argument("--work", type=Path, help="scratch: videos, runs, logs (default OUT/work)")
    parser.add_argument("--dry-run", action="store_true", help="every step at toy size on the CPU")
    parser.add_argument("--only", help="comma-separated steps to run: " + ", ".join(STEPS))
    parser.add_argument("--skip", help="comma-separated steps to leave out")
    parser.add_argument("--redo", action="store_true", help="run steps that succeeded in an earlier run again")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="JSON",
        help="an earlier run's gpu-suite.json to go on from, where OUT has none (a fresh machine's empty $OUT)",
    )
    parser.add_argument("--budget", type=float, help="seconds for the whole run (default 300; none in a dry run)")
    parser.add_argument("--started", type=float, help="when the budget started (seconds since the epoch)")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # the child process of one step
    args = parser.parse_args(argv)
    sizes = DRY if args.dry_run else FULL
    work = (args.work or args.out / "work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.step:
        return _child(args.step, sizes, work)

    picked = [s.strip() for s in (args.only or ",".join(STEPS)).split(",") if s.strip()]
    left_out = {s.strip() for s in (args.skip or "").split(",") if s.strip()}
    unknown = sorted((set(picked) | left_out) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; the steps: {', '.join(STEPS)}")
    if not args.dry_run:
        import torch  # only to refuse early: the steps run in their own processes

        if not torch.cuda.is_available():
            parser.error("no CUDA device here; --dry-run runs the steps at toy size on the CPU")
    budget = args.budget if args.budget is not None else (None if args.dry_run else 300.0)
    started = args.started or time.time()
    path = args.out / RESULTS
    args.out.mkdir(parents=True, exist_ok=True)
    earlier = path if path.exists() else args.resume
    results = json.loads(earlier.read_text()) if earlier else None
    if results is None or results.get("dry_run") != args.dry_run:  # a dry run's results never stand for a real one
        results = {"dry_run": args.dry_run, "machine": None, "steps": {}}
    for name in STEPS:
        done = results["steps"].get(name, {}).get("ok")
        if name not in picked or name in left_out or (done and not args.redo):
            print(f"[{name}] {'done in an earlier run' if done else 'left out'}", flush=True)
            continue
        remaining = None if budget is None else budget - (time.time() - started)
        if remaining is not None and remaining < 20:
            results["steps"][name] = {"ok": False, "seconds": None, "error": "out of the budget: run again to do it"}
            print(f"[{name}] not run: out of the budget", flush=True)
            continue
        limit = LIMIT_S[name] * (3 if args.dry_run else 1)
        timeout = limit if remaining is None else min(limit, remaining)
        print(f"[{name}] running (at most {timeout:.0f} s)", flush=True)
        step = _run_step(name, args.out, work, timeout, dry_run=args.dry_run)
        result = step["result"]
        if result and result.get("machine"):
            results["machine"] = result["machine"]
        results["steps"][name] = step
        _save(path, results)
        print("\n".join(step_lines(name, step, dry_run=args.dry_run)), flush=True)
    if results["machine"] is None:
        results["machine"] = _machine()
    results["wall_s"] = round(time.time() - started, 1)
    _save(path, results)
    summary = format_summary(results) + f"\nwall {results['wall_s']:.0f} s (since --started)\n"
    (args.out / "summary.txt").write_text(summary)
    print("\n" + summary, end="")
    return 0 if all(results["steps"].get(s, {}).get("ok") for s in picked if s not in left_out) else 1


if __name__ == "__main__":
    sys.exit(main())
