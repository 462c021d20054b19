"""Video-level classification metrics from per-view scores: the numbers papers report.

Scores arrive per view (``[N, V, C]`` logits, N videos × V views); :func:`aggregate` turns them into
one score per video (the mean of the views' softmax, PySlowFast's and mmaction2's default), and
:func:`classification_report` computes top-1, top-5, mean class accuracy, per-class accuracy, the
confusion matrix and its largest off-diagonal entries. Videos without a label (``-1``: a test
split) are scored but not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["AGGREGATIONS", "aggregate", "classification_report"]

AGGREGATIONS = ("softmax", "logits", "max")


def aggregate(
    logits: torch.Tensor | np.ndarray, how: str = "softmax", *, views: Sequence[int] | None = None
) -> torch.Tensor:
    """Per-video scores ``[N, C]`` from per-view logits ``[N, V, C]``: ``"softmax"`` averages the
    views' class probabilities, ``"logits"`` their logits, ``"max"`` takes each class's largest
    probability over the views. ``views`` selects a subset of the views (indices along V), to
    re-score fewer views from a saved run."""
    x = torch.as_tensor(logits).float()
    if x.dim() != 3:
        raise ValueError(f"expected per-view logits [N, V, C], got shape {tuple(x.shape)}")
    if views is not None:
        x = x[:, list(views)]
    if how == "softmax":
        return x.softmax(-1).mean(1)
    if how == "logits":
        return x.mean(1)
    if how == "max":
        return x.softmax(-1).amax(1)
    raise ValueError(f"unknown aggregation {how!r}; choose from {', '.join(AGGREGATIONS)}")


def classification_report(
    scores: torch.Tensor | np.ndarray,
    labels: Sequence[int] | torch.Tensor,
    classes: Sequence[str],
    *,
    top_confusions: int = 20,
) -> dict:
    """Metrics of per-video ``scores`` ``[N, C]`` against ``labels`` (``-1`` = unlabelled, skipped).

    Returns ``{"videos", "top1", "top5", "mean_class_accuracy", "per_class": [{"index", "class",
    "videos", "top1", "top5"}], "confusion": int64 [C, C] (row = true class, column = top-1
    prediction), "top_confusions": [{"true", "predicted", "count", "share"}]}``. Mean class accuracy
    averages top-1 over the classes that have at least one video.
    """
    scores = torch.as_tensor(scores).float()
    labels = torch.as_tensor(labels, dtype=torch.long)
    c = len(classes)
    if scores.dim() != 2 or scores.shape[1] != c:
        raise ValueError(f"scores of shape {tuple(scores.shape)} for {c} classes")
    keep = labels >= 0
    scores, labels = scores[keep], labels[keep]
    n = int(labels.numel())
    k = min(5, c)
    top = scores.topk(k, dim=1).indices if n else torch.empty(0, k, dtype=torch.long)
    hit1 = top[:, 0] == labels
    hit5 = (top == labels[:, None]).any(dim=1)
    confusion = (
        torch.bincount(labels * c + top[:, 0], minlength=c * c).view(c, c) if n else torch.zeros(c, c, dtype=torch.long)
    )
    per_class = []
    counts = torch.bincount(labels, minlength=c)
    ones1 = torch.bincount(labels, weights=hit1.double(), minlength=c)
    ones5 = torch.bincount(labels, weights=hit5.double(), minlength=c)
    for i, name in enumerate(classes):
        m = int(counts[i])
        per_class.append(
            {
                "index": i,
                "class": name,
                "videos": m,
                "top1": float(ones1[i]) / m if m else None,
                "top5": float(ones5[i]) / m if m else None,
            }
        )
    present = [p["top1"] for p in per_class if p["videos"]]
    return {
        "videos": n,
        "top1": float(hit1.double().mean()) if n else float("nan"),
        "top5": float(hit5.double().mean()) if n else float("nan"),
        "mean_class_accuracy": float(np.mean(present)) if present else float("nan"),
        "per_class": per_class,
        "confusion": confusion.numpy().astype(np.int64),
        "top_confusions": _top_confusions(confusion, counts, classes, top_confusions),
    }


def _top_confusions(confusion: torch.Tensor, counts: torch.Tensor, classes: Sequence[str], limit: int) -> list[dict]:
    off = confusion.clone()
    off.fill_diagonal_(0)
    flat = off.flatten()
    order = torch.argsort(flat, descending=True, stable=True)[:limit]
    c = len(classes)
    out = []
    for i in order.tolist():
        count = int(flat[i])
        if count == 0:
            break
        true, predicted = divmod(i, c)
        out.append(
            {"true": classes[true], "predicted": classes[predicted], "count": count, "share": count / int(counts[true])}
        )
    return out
