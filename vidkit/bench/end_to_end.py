"""End to end: one training epoch and one tagging run on the built-in synthetic-motion set, as a user
runs them (``vidkit train``, then ``vidkit tag`` with the checkpoint it wrote), each in its own process.

The training figures come from the run's ``log.jsonl``: clips/s and the share of the time spent
computing rather than waiting for data (``busy``); the tagging figures from the wall time of the
whole ``vidkit tag`` process over the set's validation videos (start-up included).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class EndToEndRow:
    job: str
    model: str
    videos: int
    seconds: float
    clips_per_s: float | None = None
    busy: float | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _vidkit(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vidkit.cli", *args], capture_output=True, text=True)
    return result, time.perf_counter() - started


def _failure(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def end_to_end_rows(
    *, model: str = "slowfast_r50", device: str = "cpu", videos_per_class: int = 8
) -> list[EndToEndRow]:
    """Train ``model`` for one epoch on a synthetic-motion set of ``videos_per_class`` training and
    validation videos per class (the default run's settings otherwise), then tag the validation videos."""
    sizes = [f"data.synthetic.train_per_class={videos_per_class}", f"data.synthetic.val_per_class={videos_per_class}"]
    with tempfile.TemporaryDirectory(prefix="vidkit-bench-") as tmp:
        run = Path(tmp) / "run"
        args = ["train", "--model", model, "--epochs", "1", "--out", str(run), "--device", device]
        result, seconds = _vidkit(*args, *(a for s in sizes for a in ("--set", s)))
        if result.returncode != 0:
            return [EndToEndRow("train 1 epoch", model, 0, round(seconds, 1), error=_failure(result))]
        records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        epoch = next(r for r in records if r.get("event") == "epoch")
        config = next(r for r in records if r.get("event") == "start")["config"]
        rows = [
            EndToEndRow(
                "train 1 epoch",
                model,
                8 * videos_per_class,
                round(seconds, 1),
                epoch["train_clips_per_s"],
                epoch.get("busy"),
            )
        ]
        from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset

        data = config.get("data") or {}
        spec = SyntheticSpec.from_config(data.get("synthetic"))
        dataset = synthetic_dataset(spec, root=data.get("root"), progress=False)
        folder = dataset.root / "val"
        tags = Path(tmp) / "tags.jsonl"
        result, seconds = _vidkit(
            "tag", str(folder), "--checkpoint", str(run / "best.pt"), "--out", str(tags), "--device", device
        )
        if result.returncode != 0:
            rows.append(EndToEndRow("tag", model, 0, round(seconds, 1), error=_failure(result)))
        else:
            count = len(tags.read_text().splitlines())
            rows.append(
                EndToEndRow("tag", model, count, round(seconds, 1), round(3 * count / seconds, 2))
            )  # 3 clips a video
        return rows
