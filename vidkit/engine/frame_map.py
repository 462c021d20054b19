"""Frame-level mean average precision at IoU 0.5: the AVA action-detection metric.

AVA (Gu et al., "AVA: A Video Dataset of Spatio-temporally Localized Atomic Visual Actions", CVPR 2018)
scores a detector on keyframes: each detection is a person box on one keyframe with an action class
and a score, and each ground-truth box carries an action class. For every class the detections from
all keyframes are ranked by score and matched greedily, PASCAL VOC style, against that class's
ground truth. The official evaluator is the TensorFlow object-detection API's PASCAL VOC metric
(``PascalBoxes_Precision/mAP@0.5IOU``, ``object_detection_evaluation`` / ``per_image_evaluation``),
which PySlowFast's ``ava_eval_helper`` calls; this module reproduces it in plain numpy.

The matching rule, per class, detections taken in order of decreasing score (ties keep input order):

* compute the IoU of the detection with that class's ground-truth boxes *in the same keyframe*
  and take the box with the largest IoU (the first one on a tie);
* if that IoU is ``>= iou_threshold`` and the box is not yet matched, the detection is a true
  positive and the box becomes matched;
* otherwise it is a false positive: IoU too low, no ground truth of the class in that keyframe, or
  the best box already taken -- even when another, unmatched box also overlaps by ``>= 0.5``.

Average precision is VOC 2010+ all-point interpolation (:func:`average_precision`); a class with
ground truth but no detections has AP 0, a class without ground truth has no AP (``None``) and is
left out of the mean. Boxes are ``x1 y1 x2 y2`` in any one coordinate frame (AVA's are normalised to
[0, 1]) and areas are plain ``(x2 - x1) * (y2 - y1)``, without VOC's old +1 pixel.

Around the TensorFlow evaluator, ActivityNet's ``get_ava_performance.py`` (the official AVA script) reads
at most 50 detections per keyframe, the highest-scoring over all classes (``max_per_keyframe=50``; vidkit's
AVA evaluation does so by default), and drops the keyframes of the excluded-timestamps file from both
sides (:func:`vidkit.data.ava.read_exclusions`). Detections on a keyframe the ground truth does not list
are *not* ignored there: the TensorFlow evaluator scores them against no boxes, as false positives, and
so does this module (checked in ``object_detection_evaluation.py``, 2026-12-06).

Two corners of the TensorFlow evaluator are not reproduced, and neither matters on AVA: it keeps at
most 10,000 detections per keyframe and class, and its ``argsort(...)[::-1]`` puts tied scores in
reverse input order rather than input order.

A worked example: class 0 has one ground-truth box ``A`` on keyframe ``("v", 902)`` and one ``B`` on
``("v", 903)``. Detections, best first: ``A`` itself (0.9, true positive), ``A`` again (0.8, false
positive: ``A`` is taken), nothing near ``B``. Precision is ``[1, 1/2]``, recall ``[1/2, 1/2]``, so
AP = 1/2 · 1 = 0.5; with no other class, mAP = 0.5::

    frame_map([(("v", 902), A, 0, 0.9), (("v", 902), A, 0, 0.8)],
              [(("v", 902), A, 0), (("v", 903), B, 0)], num_classes=1).map  # 0.5
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FrameMap", "average_precision", "box_iou", "frame_map"]

# Detections gathered per chunk when computing IoU against their keyframe's ground truth, as
# (detections x largest ground-truth group); bounds the [chunk, M, 4] temporaries.
_CHUNK_PAIRS = 1 << 20


def _boxes(x, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return a.reshape(0, 4)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 4:
        raise ValueError(f"{what}: expected boxes [N, 4] as x1 y1 x2 y2, got shape {tuple(a.shape)}")
    return a


def _box_column(boxes: Sequence, what: str) -> np.ndarray:
    """One ``[N, 4]`` array from N boxes (lists, arrays or tensors), converted at once: per-box
    ``np.asarray`` costs several times more at 10^5 boxes."""
    try:
        a = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}: every box must be 4 numbers x1 y1 x2 y2 ({e})") from None
    if a.size != 4 * len(boxes):
        raise ValueError(f"{what}: every box must be 4 numbers x1 y1 x2 y2, got an array of shape {tuple(a.shape)}")
    return a.reshape(len(boxes), 4)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise IoU of boxes ``[..., 4]`` that broadcast against each other; 0 where the union is empty."""
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    area_a = np.prod(np.clip(a[..., 2:] - a[..., :2], 0.0, None), axis=-1)
    area_b = np.prod(np.clip(b[..., 2:] - b[..., :2], 0.0, None), axis=-1)
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(a, b) -> np.ndarray:
    """Pairwise IoU ``[N, M]`` (float64) of boxes ``a`` ``[N, 4]`` and ``b`` ``[M, 4]`` given as
    ``x1 y1 x2 y2``. Inverted boxes count as empty; a pair whose union is empty (two zero-area
    boxes) has IoU 0, not NaN. Accepts anything ``np.asarray`` takes, torch tensors included."""
    a, b = _boxes(a, "box_iou a"), _boxes(b, "box_iou b")
    return _iou(a[:, None, :], b[None, :, :])


def _ap_ranked(is_tp: np.ndarray, num_ground_truth: int) -> float:
    """AP of detections already in rank order (best first): VOC 2010+ all-point interpolation."""
    if is_tp.size == 0:
        return 0.0
    tp = np.cumsum(is_tp, dtype=np.float64)
    precision = tp / np.arange(1, is_tp.size + 1)  # cumsum(tp) / (cumsum(tp) + cumsum(fp))
    recall = tp / num_ground_truth
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # p[i] = max(p[i], p[i + 1], ...)
    # Recall steps (by 1/num_gt) only at true positives; elsewhere the difference is exactly 0.
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def average_precision(scores, is_true_positive, num_ground_truth: int) -> float:
    """Average precision of detections with ``scores`` and true/false-positive labels against
    ``num_ground_truth`` ground-truth boxes, as the PASCAL VOC 2010+ devkit and the AVA evaluator
    compute it (Everingham et al., IJCV 2010, section 4.2; all points, not 11).

    The detections may come in any order: they are ranked by score inside, highest first, ties in
    input order. Precision is made non-increasing from the right and summed over the recall steps;
    no detections give 0. ``num_ground_truth`` must be positive: a class without ground truth has no AP.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    is_tp = np.asarray(is_true_positive, dtype=bool).reshape(-1)
    if scores.shape != is_tp.shape:
        raise ValueError(f"{scores.size} scores but {is_tp.size} true-positive labels")
    if num_ground_truth <= 0:
        raise ValueError(
            f"average precision needs at least one ground-truth box, got {num_ground_truth}; "
            "a class without ground truth has no AP (frame_map reports None)"
        )
    if int(is_tp.sum()) > num_ground_truth:
        raise ValueError(f"{int(is_tp.sum())} true positives for {num_ground_truth} ground-truth boxes")
    if np.isnan(scores).any():
        raise ValueError("detection scores contain NaN")
    order = np.argsort(-scores, kind="stable")
    return _ap_ranked(is_tp[order], num_ground_truth)


@dataclass(frozen=True)
class FrameMap:
    """Frame mAP and its per-class parts; ``ap[c]`` is ``None`` for a class without ground truth."""

    map: float
    ap: tuple[float | None, ...]
    num_ground_truth: tuple[int, ...]
    num_detections: tuple[int, ...]

    def as_dict(self, classes: Sequence[str] | None = None) -> dict:
        """``{"map", "per_class": [{"class", "ap", "num_gt", "num_det"}]}``, ready for ``json.dumps``:
        classes are named by ``classes`` (else their index), a missing AP or mAP is ``None``."""
        if classes is not None and len(classes) != len(self.ap):
            raise ValueError(f"{len(classes)} class names for {len(self.ap)} classes")
        names = list(classes) if classes is not None else list(range(len(self.ap)))
        return {
            "map": None if math.isnan(self.map) else self.map,
            "per_class": [
                {"class": name, "ap": ap, "num_gt": gt, "num_det": det}
                for name, ap, gt, det in zip(names, self.ap, self.num_ground_truth, self.num_detections)
            ],
        }


def _columns(rows: Iterable[tuple], fields: tuple[str, ...], what: str) -> list[tuple]:
    """The rows transposed into one tuple per field, by ``zip(*rows)`` rather than a Python loop per
    row: at 10^5 detections the parsing is most of :func:`frame_map`'s time."""
    columns = list(zip(*rows))
    if not columns:
        return [()] * len(fields)
    if len(columns) != len(fields):
        raise ValueError(f"{what}: expected ({', '.join(fields)}) per item, got {len(columns)} fields")
    return columns


def _class_indices(classes: tuple, num_classes: int, what: str) -> np.ndarray:
    c = np.asarray(classes)
    if c.size == 0:
        return np.zeros(0, dtype=np.int64)
    if c.ndim != 1 or c.dtype.kind not in "iuf" or (c.dtype.kind == "f" and (c != np.round(c)).any()):
        raise ValueError(f"{what}: class indices must be integers, got {c.dtype} of shape {tuple(c.shape)}")
    bad = (c < 0) | (c >= num_classes)
    if bad.any():
        raise ValueError(
            f"{what}: class index {c[bad][0]} outside [0, {num_classes}); is num_classes right, "
            "and are the labels 0-based (AVA's files count from 1)?"
        )
    return c.astype(np.int64)


def _top_per_key(keys: np.ndarray, scores: np.ndarray, most: int) -> np.ndarray:
    """Indices (in input order) of the ``most`` highest-scoring detections of each key; ties: earlier first."""
    order = np.argsort(-scores, kind="stable")
    order = order[np.argsort(keys[order], kind="stable")]  # by key, then score descending
    sorted_keys = keys[order]
    starts = np.searchsorted(sorted_keys, sorted_keys, side="left")
    rank = np.arange(order.size) - starts
    return np.sort(order[rank < most])


def frame_map(
    detections: Iterable[tuple[Hashable, object, int, float]],
    ground_truth: Iterable[tuple[Hashable, object, int]],
    *,
    num_classes: int,
    iou_threshold: float = 0.5,
    max_per_keyframe: int | None = None,
) -> FrameMap:
    """Frame mAP of ``detections`` ``(key, box, class_index, score)`` against ``ground_truth``
        ``(key, box, class_index)``: the AVA protocol described in the module docstring.

        ``key`` names the keyframe and may be any hashable that compares by value, e.g.
        ``(video_id, time_s)``; a detection on a keyframe without ground truth of its class is a false
        positive. Boxes are ``x1 y1 x2 y2``; boxes, classes and scores may be numpy or torch values, though
    plain numbers and lists convert several times faster than one tensor per detection.

    ``max_per_keyframe``: keep only the highest-scoring detections of each keyframe, over all classes — the
    official AVA evaluator (ActivityNet's ``get_ava_performance.py``) reads at most 50 per keyframe; among
    equal scores at the cut, the earlier detections stay (the evaluator's heap keeps the larger action id
    and box). None keeps every detection (PySlowFast's in-memory evaluation).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    g_key, g_box, g_cls = _columns(ground_truth, ("key", "box", "class_index"), "ground truth")
    d_key, d_box, d_cls, d_score = _columns(detections, ("key", "box", "class_index", "score"), "detections")
    key_ids: dict[Hashable, int] = {}
    g_key = [key_ids.setdefault(k, len(key_ids)) for k in g_key]
    d_key = [key_ids.setdefault(k, len(key_ids)) for k in d_key]
    g_box, d_box = _box_column(g_box, "ground truth"), _box_column(d_box, "detections")
    g_cls = _class_indices(g_cls, num_classes, "ground truth")
    d_cls = _class_indices(d_cls, num_classes, "detections")
    d_score = np.asarray(d_score, dtype=np.float64).reshape(-1)
    if d_score.size != d_cls.size:
        raise ValueError(f"detections: each score must be one number, got {d_score.size} for {d_cls.size} detections")
    if np.isnan(d_score).any():
        raise ValueError("detection scores contain NaN")
    if max_per_keyframe is not None:
        if max_per_keyframe < 1:
            raise ValueError(f"max_per_keyframe must be at least 1 (None: no cap), got {max_per_keyframe}")
        keep = _top_per_key(np.asarray(d_key, dtype=np.int64), d_score, max_per_keyframe)
        d_key, d_box, d_cls, d_score = [d_key[i] for i in keep], d_box[keep], d_cls[keep], d_score[keep]
    num_keys = max(len(key_ids), 1)
    # One integer per (class, keyframe): the unit within which boxes are matched.
    g_group = g_cls * num_keys + np.asarray(g_key, dtype=np.int64)
    d_group = d_cls * num_keys + np.asarray(d_key, dtype=np.int64)

    # Ground truth sorted by group (stable: input order within a group, as the evaluator's argmax sees
    # it), so group u's boxes are g_box[start[u] : start[u] + count[u]].
    g_order = np.argsort(g_group, kind="stable")
    g_box = g_box[g_order]
    groups, start, count = np.unique(g_group[g_order], return_index=True, return_counts=True)

    n = d_score.size
    matched_gt = np.full(n, -1, dtype=np.int64)  # the best-overlapping box, where IoU >= threshold
    if n and groups.size:
        pos = np.minimum(np.searchsorted(groups, d_group), groups.size - 1)
        has_gt = np.flatnonzero(groups[pos] == d_group)
        width = int(count.max())
        chunk = max(1, _CHUNK_PAIRS // width)
        slots = np.arange(width)
        for lo in range(0, has_gt.size, chunk):
            det = has_gt[lo : lo + chunk]
            first, m = start[pos[det]], count[pos[det]]
            cand = first[:, None] + np.minimum(slots[None, :], m[:, None] - 1)  # [chunk, width] into g_box
            iou = _iou(d_box[det, None, :], g_box[cand])
            iou[slots[None, :] >= m[:, None]] = -1.0  # padding never wins
            best = iou.argmax(axis=1)
            rows = np.arange(det.size)
            hit = iou[rows, best] >= iou_threshold
            matched_gt[det[hit]] = cand[rows, best][hit]

    # Rank: class, then score descending, ties in input order (two stable sorts).
    order = np.argsort(-d_score, kind="stable")
    order = order[np.argsort(d_cls[order], kind="stable")]
    # Greedy VOC matching: a box goes to the first detection, in rank order, whose best box it is;
    # every later detection with the same best box is a false positive.
    ranked_hits = order[matched_gt[order] >= 0]
    _, first_claim = np.unique(matched_gt[ranked_hits], return_index=True)
    is_tp = np.zeros(n, dtype=bool)
    is_tp[ranked_hits[first_claim]] = True

    num_gt = np.bincount(g_cls, minlength=num_classes)
    num_det = np.bincount(d_cls, minlength=num_classes)
    bounds = np.searchsorted(d_cls[order], np.arange(num_classes + 1))
    ap: list[float | None] = []
    for c in range(num_classes):
        ap.append(_ap_ranked(is_tp[order[bounds[c] : bounds[c + 1]]], int(num_gt[c])) if num_gt[c] else None)
    scored = [a for a in ap if a is not None]
    return FrameMap(
        map=float(np.mean(scored)) if scored else float("nan"),
        ap=tuple(ap),
        num_ground_truth=tuple(int(x) for x in num_gt),
        num_detections=tuple(int(x) for x in num_det),
    )
