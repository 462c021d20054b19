"""The training curves as a PNG, drawn from the run's JSONL log (so a resumed run plots whole)."""

from __future__ import annotations

from pathlib import Path

from vidkit.engine.logging import read_log


def plot_curves(log_path: str | Path, png_path: str | Path) -> Path:
    """Loss (per logged step and per epoch), top-1 accuracy and learning rate against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    steps = [r for r in records if r["event"] == "step"]
    epochs = [r for r in records if r["event"] == "epoch"]
    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    if steps:
        ax_loss.plot([r["epoch_progress"] for r in steps], [r["loss"] for r in steps], lw=0.8, alpha=0.6,
                     label="train (steps)")
        ax_lr.plot([r["epoch_progress"] for r in steps], [r["lr"] for r in steps])
    if epochs:
        x = [r["epoch"] for r in epochs]
        ax_loss.plot(x, [r["train_loss"] for r in epochs], "o-", label="train (epoch)")
        ax_loss.plot(x, [r["val_loss"] for r in epochs], "s-", label="val")
        ax_acc.plot(x, [100 * r["train_top1"] for r in epochs], "o-", label="train")
        ax_acc.plot(x, [100 * r["val_top1"] for r in epochs], "s-", label="val")
        ax_acc.set_ylim(0, 100)
    for ax, title in ((ax_loss, "loss"), (ax_acc, "top-1 (%)"), (ax_lr, "learning rate")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    ax_loss.legend()
    ax_acc.legend()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
