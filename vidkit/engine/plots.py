"""The training curves as a PNG, drawn from the run's JSONL log (so a resumed run plots whole)."""

from __future__ import annotations

from pathlib import Path

from vidkit.engine.logging import read_log


def plot_curves(log_path: str | Path, png_path: str | Path) -> Path:
    """Loss (per logged step and per epoch), top-1 accuracy (frame mAP for person models) and learning rate
    against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    steps = [r for r in records if r["event"] == "step"]
    epochs = [r for r in records if r["event"] == "epoch"]
    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    if steps:
        ax_loss.plot(
            [r["epoch_progress"] for r in steps], [r["loss"] for r in steps], lw=0.8, alpha=0.6, label="train (steps)"
        )
        ax_lr.plot([r["epoch_progress"] for r in steps], [r["lr"] for r in steps])
    if epochs:
        x = [r["epoch"] for r in epochs]
        ax_loss.plot(x, [r["train_loss"] for r in epochs], "o-", label="train (epoch)")
        ax_loss.plot(x, [r["val_loss"] for r in epochs], "s-", label="val")
        if "val_map" in epochs[0]:  # person-action runs: frame mAP, validation only
            score = "frame mAP (%)"
            ax_acc.plot(x, [100 * r["val_map"] for r in epochs], "s-", label="val")
        else:
            score = "top-1 (%)"
            ax_acc.plot(x, [100 * r["train_top1"] for r in epochs], "o-", label="train")
            ax_acc.plot(x, [100 * r["val_top1"] for r in epochs], "s-", label="val")
        ax_acc.set_ylim(0, 100)
    else:
        score = "top-1 (%)"
    for ax, title in ((ax_loss, "loss"), (ax_acc, score), (ax_lr, "learning rate")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    ax_loss.legend()
    ax_acc.legend()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path


def plot_confusion(confusion, classes: list[str], png_path: str | Path, *, title: str = "") -> Path:
    """The confusion matrix as a heat map of row-normalised shares (row = true class), on a log colour
    scale so that a few confusions among hundreds of classes stand out. Up to 60 classes are named on
    the axes; beyond that the axes give class indices (``per_class.csv`` names them) and the image
    keeps one cell per few pixels, so 400 classes stay readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm

    counts = np.asarray(confusion, dtype=np.float64)
    c = counts.shape[0]
    rows = counts.sum(1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    floor = 1e-3
    side = min(max(6.0, c * 0.03 + 4), 16.0)
    fig, ax = plt.subplots(figsize=(side + 1.5, side), constrained_layout=True)
    image = ax.imshow(
        np.maximum(share, floor), cmap="viridis", norm=LogNorm(vmin=floor, vmax=1.0), interpolation="nearest"
    )
    if c <= 60:
        ax.set_xticks(range(c), classes, rotation=90, fontsize=max(4, min(9, 400 // c)))
        ax.set_yticks(range(c), classes, fontsize=max(4, min(9, 400 // c)))
    else:
        step = 50 if c > 200 else 10
        ax.set_xticks(range(0, c, step))
        ax.set_yticks(range(0, c, step))
    ax.set_xlabel("predicted class" + (" (index)" if c > 60 else ""))
    ax.set_ylabel("true class" + (" (index)" if c > 60 else ""))
    ax.set_title(title or f"confusion, {c} classes (share of each true class; log scale)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class's videos")
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path


def plot_motion(frame, past, mask, png_path: str | Path, *, grid: int = 4, title: str = "") -> Path:
    """A decoded frame (uint8 ``[H, W, 3]``) with its motion vectors as arrows, one per ``grid`` cell
    that has one (thinned so arrows stay apart). Arrows show where the content moved: minus the
    codec's vector, which points back to where the block came from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    height, width = frame.shape[:2]
    step = max(1, int(np.ceil(max(past.shape[1:]) / 48)))  # at most ~48 arrows across
    ys, xs = np.nonzero(mask[::step, ::step])
    dx, dy = past[0, ::step, ::step][ys, xs], past[1, ::step, ::step][ys, xs]
    moving = np.hypot(dx, dy) > 0.25
    cx = (xs * step + 0.5) * grid
    cy = (ys * step + 0.5) * grid
    fig, ax = plt.subplots(figsize=(8, 8 * height / width + 0.6), constrained_layout=True)
    ax.imshow(frame)
    ax.quiver(
        cx[moving],
        cy[moving],
        -dx[moving],
        -dy[moving],
        color="yellow",
        angles="xy",
        scale_units="xy",
        scale=1,
        width=0.003,
    )
    ax.scatter(cx[~moving], cy[~moving], s=1, c="cyan", alpha=0.4)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_title(title or "motion vectors (arrows: where the content moved; dots: blocks that stayed)")
    ax.axis("off")
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
