"""Run logging: always a local JSONL file, and Weights & Biases when asked.

Every record is one JSON object per line, flushed as written, so a killed run keeps every line it
logged and never a half line. With ``wandb=True`` the same numbers go to W&B; without an account
configured (no ``WANDB_API_KEY``, no ``wandb login``) W&B runs offline into the run directory and
``wandb sync`` uploads it later.
"""

from __future__ import annotations

import json
import netrc
import os
import sys
import time
from pathlib import Path


class RunLogger:
    """Append ``{"event": ..., "time": ..., **record}`` lines to ``path``; mirror numbers to W&B."""

    def __init__(
        self,
        path: str | Path,
        *,
        wandb: bool = False,
        project: str = "vidkit",
        run_name: str | None = None,
        run_id: str | None = None,
        config: dict | None = None,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self._wandb = _start_wandb(self.path.parent, project, run_name, run_id, config) if wandb else None

    @property
    def wandb_run_id(self) -> str | None:
        return self._wandb.id if self._wandb is not None else None

    def log(self, event: str, *, step: int | None = None, **record) -> None:
        line = {"event": event, "time": round(time.time(), 3), **({"step": step} if step is not None else {}), **record}
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()
        if self._wandb is not None and event in ("step", "epoch"):
            numbers = {
                f"{event}/{k}": v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            self._wandb.log(numbers, step=step)

    def close(self) -> None:
        self._file.close()
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wandb_mode() -> str:
    """``$WANDB_MODE`` when set; else online with an API key or a ``wandb login``, offline without."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("//")[-1].split("/")[0]
        if netrc.netrc().authenticators(host):
            return "online"
    except (OSError, netrc.NetrcParseError):
        pass
    return "offline"


def _start_wandb(run_dir: Path, project: str, name: str | None, run_id: str | None, config: dict | None):
    import wandb

    mode = wandb_mode()
    run = wandb.init(
        project=project,
        name=name,
        id=run_id,
        resume="allow" if run_id else None,
        config=config,
        dir=str(run_dir),
        mode=mode,
        settings=wandb.Settings(silent=True),
    )
    if mode == "offline":
        print(
            f"wandb: no account configured, logging offline to {run_dir / 'wandb'} "
            f"(upload later with: wandb sync {run_dir / 'wandb'}/offline-run-*)",
            file=sys.stderr,
        )
    return run


def read_log(path: str | Path) -> list[dict]:
    """The records of a JSONL log, skipping a last line cut short by a kill."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
